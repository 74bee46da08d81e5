//! The capability check behind [`Device::supports`](tessera_hal::Device::supports): which
//! nodes the virtual NPU runs, and a reason for each one it does not.
//!
//! The answer is conservative: `Ok` means the kernels run the node for every input matching
//! the given static types. [`compile`](crate::compile) applies the same check to every node,
//! so a subgraph that was partitioned by `supports` compiles.

use crate::config::{VnpuConfig, VnpuOp};
use tessera_ir::{DType, Node, Op, TensorType, ValueType};

/// Checks `node` against `config`, given the static types of its inputs (one per node input,
/// `None` when omitted or unknown). Returns the kernel that runs it, or why none does.
pub fn check(
    config: &VnpuConfig,
    node: &Node,
    inputs: &[Option<ValueType>],
) -> Result<VnpuOp, String> {
    let name = node.op.name();
    let op = VnpuOp::of(&node.op).ok_or_else(|| format!("vnpu has no kernel for {name}"))?;
    if !config.ops.contains(&op) {
        return Err(format!(
            "{name} is not enabled on this device (ops={})",
            config.ops_string()
        ));
    }
    let present = |i: usize| node.inputs.get(i).is_some_and(|v| v.is_some());
    let tensor = |i: usize| -> Result<&TensorType, String> {
        match inputs.get(i).and_then(|t| t.as_ref()) {
            Some(ValueType::Tensor(t)) => Ok(t),
            Some(other) => Err(format!("input {i} of {name} is a {other}, not a tensor")),
            None => Err(format!("the type of input {i} of {name} is unknown")),
        }
    };
    let x = tensor(0)?;
    let dtype = x.dtype;
    let int8_ok = matches!(
        op,
        VnpuOp::Add
            | VnpuOp::Mul
            | VnpuOp::Relu
            | VnpuOp::MaxPool
            | VnpuOp::Reshape
            | VnpuOp::Flatten
            | VnpuOp::MatMulInteger
    );
    let float_ok = op != VnpuOp::MatMulInteger;
    match dtype {
        DType::F32 if float_ok => {}
        DType::I8 if int8_ok && !config.int8 => {
            return Err(format!(
                "int8 is disabled on this device (int8=false), {name} has an i8 input"
            ))
        }
        DType::I8 if int8_ok => {}
        d => {
            let allowed = match (float_ok, int8_ok) {
                (true, true) => "f32 and i8",
                (true, false) => "f32",
                _ => "i8",
            };
            return Err(format!(
                "{name} on {d} is not supported (vnpu runs it on {allowed})"
            ));
        }
    }
    // Every other data input must share the dtype; the exceptions are typed below.
    let data_inputs: &[usize] = match op {
        VnpuOp::Conv | VnpuOp::Gemm => &[1, 2],
        VnpuOp::MatMul | VnpuOp::Add | VnpuOp::Mul | VnpuOp::MatMulInteger => &[1],
        _ => &[],
    };
    for &i in data_inputs {
        if present(i) {
            let t = tensor(i)?;
            if t.dtype != dtype {
                return Err(format!(
                    "input {i} of {name} is {}, input 0 is {dtype}",
                    t.dtype
                ));
            }
        }
    }
    let rank = |t: &TensorType| t.rank();
    let need_rank = |i: usize, t: &TensorType, r: usize, why: &str| match rank(t) {
        Some(n) if n == r => Ok(()),
        Some(n) => Err(format!("{name} input {i} has rank {n}; {why}")),
        None => Err(format!("{name} input {i} has an unknown rank; {why}")),
    };
    match &node.op {
        Op::Conv(_) => {
            need_rank(0, x, 4, "vnpu runs 2-D convolution on NCHW only")?;
            need_rank(1, tensor(1)?, 4, "vnpu runs 2-D convolution on NCHW only")?;
            if present(2) {
                need_rank(2, tensor(2)?, 1, "the bias must be a vector")?;
            }
        }
        Op::Pool(p) => {
            need_rank(0, x, 4, "vnpu runs 2-D pooling on NCHW only")?;
            if p.window.kernel_shape.len() != 2 {
                return Err(format!(
                    "{name} kernel_shape {:?} is not 2-D",
                    p.window.kernel_shape
                ));
            }
            if p.ceil_mode {
                return Err(format!("{name} with ceil_mode is not supported"));
            }
            if node.outputs.get(1).is_some_and(|o| o.is_some()) {
                return Err(format!("{name} indices output is not supported"));
            }
        }
        Op::Gemm(_) => {
            need_rank(0, x, 2, "Gemm operands are matrices")?;
            need_rank(1, tensor(1)?, 2, "Gemm operands are matrices")?;
        }
        Op::MatMul(_) | Op::MatMulInteger(_) => {
            for i in 0..2 {
                if rank(tensor(i)?) == Some(0) {
                    return Err(format!("{name} input {i} is a scalar"));
                }
            }
            for i in 2..4 {
                if present(i) {
                    let t = tensor(i)?;
                    let scalar = t.concrete().is_some_and(|d| d.iter().all(|&e| e == 1));
                    if t.dtype != DType::I8 || !scalar {
                        return Err(format!(
                            "{name} zero point {i} must be a known i8 scalar, got {t}"
                        ));
                    }
                }
            }
        }
        Op::Reshape(_) => {
            let s = tensor(1)?;
            if s.dtype != DType::I64 {
                return Err(format!("Reshape shape input is {}, i64 expected", s.dtype));
            }
        }
        _ => {}
    }
    Ok(op)
}
