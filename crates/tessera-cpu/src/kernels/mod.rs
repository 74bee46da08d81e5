//! The CPU kernel registry.
//!
//! Each family module (one file per op family) exposes
//! `fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>>`, answering `None` for ops outside
//! its family, and `fn supports(op: &Op) -> bool`. [`run`] asks each family in turn.

pub mod attention;
pub mod control;
pub mod conv;
pub mod depth_space;
pub mod einsum;
pub mod elementwise;
pub mod gather_scatter;
pub mod gemm;
pub mod image;
pub mod loss;
pub mod matmul;
pub mod movement;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod recurrent;
pub mod reduce;
pub mod resize;
pub mod sequence;
pub mod signal;
pub mod util;

use crate::error::{invalid, unsupported, KResult};
use tessera_ir::{Op, Tensor, Value};

/// A kernel's outputs, one per node output (`None` for an optional output not produced).
pub type Outputs = Vec<Option<Value>>;

/// The inputs of one node invocation, with checked accessors that name the op in errors.
pub struct Inputs<'a> {
    /// Op name for error messages.
    pub op: &'a str,
    /// One entry per node input; `None` for an omitted optional input.
    pub values: &'a [Option<&'a Value>],
}

impl<'a> Inputs<'a> {
    /// Number of inputs (including omitted optional ones).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the node has no inputs.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `i`-th input, which must be present and a tensor.
    pub fn tensor(&self, i: usize) -> KResult<&'a Tensor> {
        self.opt_tensor(i)?
            .ok_or_else(|| invalid(self.op, format!("required input {i} is missing")))
    }

    /// The `i`-th input if present; it must be a tensor.
    pub fn opt_tensor(&self, i: usize) -> KResult<Option<&'a Tensor>> {
        match self.values.get(i).copied().flatten() {
            None => Ok(None),
            Some(Value::Tensor(t)) => Ok(Some(t)),
            Some(v) => Err(invalid(
                self.op,
                format!("input {i} is a {}, expected a tensor", v.kind()),
            )),
        }
    }

    /// The `i`-th input value of any kind, if present.
    pub fn value(&self, i: usize) -> Option<&'a Value> {
        self.values.get(i).copied().flatten()
    }

    /// The `i`-th input as i64 values (for shape, axes and index inputs), if present.
    pub fn opt_i64s(&self, i: usize) -> KResult<Option<Vec<i64>>> {
        Ok(self.opt_tensor(i)?.map(|t| t.to_i64_vec()))
    }
}

/// A family's entry point: `None` when `op` is not in the family.
pub type FamilyRun = fn(&Op, &Inputs) -> Option<KResult<Outputs>>;

/// Wraps a single tensor result.
pub fn one(t: Tensor) -> KResult<Outputs> {
    Ok(vec![Some(Value::Tensor(t))])
}

/// Runs `op` on `ins`.
pub fn run(op: &Op, ins: &Inputs) -> KResult<Outputs> {
    let families: &[FamilyRun] = &[
        conv::run,
        pool::run,
        depth_space::run,
        elementwise::run,
        reduce::run,
        matmul::run,
        quant::run,
        signal::run,
        movement::run,
        gather_scatter::run,
        norm::run,
        resize::run,
        image::run,
        loss::run,
        sequence::run,
        control::run,
        recurrent::run,
        attention::run,
    ];
    for f in families {
        if let Some(r) = f(op, ins) {
            return r;
        }
    }
    Err(unsupported(ins.op, "no CPU kernel for this op"))
}

/// True when a CPU kernel exists for `op` (it may still reject particular dtypes at run time).
pub fn supports(op: &Op) -> bool {
    let families: &[fn(&Op) -> bool] = &[
        conv::supports,
        pool::supports,
        depth_space::supports,
        elementwise::supports,
        reduce::supports,
        matmul::supports,
        quant::supports,
        signal::supports,
        movement::supports,
        gather_scatter::supports,
        norm::supports,
        resize::supports,
        image::supports,
        loss::supports,
        sequence::supports,
        control::supports,
        recurrent::supports,
        attention::supports,
    ];
    families.iter().any(|f| f(op))
}
