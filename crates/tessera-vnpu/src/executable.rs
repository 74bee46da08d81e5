//! [`VnpuExecutable`]: a compiled subgraph, interpreted node by node with the device's own
//! kernels on buffers in device memory.
//!
//! Inputs must already be in this device's memory: a view of any other buffer (host memory,
//! another device's memory, another virtual NPU's memory) is refused with
//! [`VnpuError::ForeignInput`]. The runtime moves values in with
//! [`Device::upload`](tessera_hal::Device::upload), which stages the bytes through a host map.
//! Outputs and intermediates are allocated in device memory (so they count against the
//! budget): outputs in exportable memory, so the runtime hands them to the next device by
//! file descriptor, intermediates in device-private memory, released as soon as their last
//! reader has run. Imported buffers ([`Device::import`](tessera_hal::Device::import)) are this
//! device's memory too and are read in place. `Reshape` and
//! `Flatten` return a new view of their input's buffer instead of copying.
//!
//! Each execute first applies the configured fault injection (`fail_at`, `fail_after`), then
//! the configured latency, then runs the nodes (failing at `fail_node` if set).

use crate::config::VnpuOp;
use crate::device::DeviceState;
use crate::error::VnpuError;
use crate::kernels::{conv, elementwise as ew, matmul, pool, shape};
use crate::memory::{VnpuBuffer, VnpuHeap};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tessera_hal::{Binding, BufferView, DeviceValue, Executable, HalError};
use tessera_ir::op::PoolKind;
use tessera_ir::{DType, Dim, Graph, Node, Op, ValueId, ValueType};

/// An optional i8 operand read from device memory: its elements and shape.
type I8Operand = Option<(Vec<i8>, Vec<usize>)>;

/// A subgraph compiled for a virtual NPU.
pub struct VnpuExecutable {
    state: Arc<DeviceState>,
    name: String,
    graph: Graph,
    kernels: Vec<VnpuOp>,
    constants: HashMap<ValueId, BufferView>,
    inputs: Vec<Binding>,
    outputs: Vec<Binding>,
}

/// Places `bytes` (the little-endian elements of a `dtype` tensor of `shape`) in a new device
/// buffer, as the device's own write (not a host map); in exportable memory when `shared`.
pub(crate) fn store(
    heap: &Arc<VnpuHeap>,
    shared: bool,
    dtype: DType,
    shape: Vec<usize>,
    bytes: &[u8],
) -> Result<BufferView, HalError> {
    let buf = if shared {
        heap.allocate_exportable(bytes.len())?
    } else {
        heap.allocate(bytes.len())?
    };
    buf.device_write(bytes)?;
    BufferView::new(buf, dtype, shape, 0)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn i8s(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&b| b as i8).collect()
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

impl VnpuExecutable {
    pub(crate) fn new(
        state: Arc<DeviceState>,
        name: String,
        graph: Graph,
        kernels: Vec<VnpuOp>,
        constants: HashMap<ValueId, BufferView>,
    ) -> VnpuExecutable {
        let binding = |id: &ValueId| Binding {
            name: graph.name_of(*id).to_string(),
            ty: graph.value(*id).ty.clone(),
        };
        let inputs = graph.inputs.iter().map(binding).collect();
        let outputs = graph.outputs.iter().map(binding).collect();
        VnpuExecutable {
            state,
            name,
            graph,
            kernels,
            constants,
            inputs,
            outputs,
        }
    }

    /// The graph this executable runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    fn error(&self, e: VnpuError) -> HalError {
        HalError::execute(&self.state.uri, &self.name, e)
    }

    /// The device buffer behind `view`, refusing any other memory.
    fn device_buffer<'a>(
        &self,
        name: &str,
        view: &'a BufferView,
    ) -> Result<&'a VnpuBuffer, HalError> {
        let foreign = |reason: String| {
            self.error(VnpuError::ForeignInput {
                input: name.to_string(),
                reason,
            })
        };
        match view.buffer.as_any().downcast_ref::<VnpuBuffer>() {
            Some(b) if b.belongs_to(&self.state.heap) => Ok(b),
            Some(_) => Err(foreign(format!(
                "the buffer belongs to another vnpu device, not {}",
                self.state.uri
            ))),
            None => Err(foreign(format!(
                "the buffer is {} memory of another device; upload it to {} first",
                view.buffer.memory_kind(),
                self.state.uri
            ))),
        }
    }

    /// Checks one executable input against its binding and this device's memory.
    fn bind_input(&self, binding: &Binding, value: &DeviceValue) -> Result<BufferView, HalError> {
        let invalid =
            |m: String| HalError::Invalid(format!("{}: input '{}': {m}", self.name, binding.name));
        let DeviceValue::Tensor(view) = value else {
            return Err(invalid(format!(
                "a {} was given, vnpu takes tensors",
                value.kind()
            )));
        };
        tessera_hal::buffer::view_byte_len(view.dtype, &view.shape)?;
        self.device_buffer(&binding.name, view)?;
        binding.check(value).map_err(invalid)?;
        if let Some(ValueType::Tensor(t)) = &binding.ty {
            if let Some(dims) = &t.shape {
                let fits = dims.len() == view.shape.len()
                    && dims.iter().zip(&view.shape).all(|(d, &n)| match d {
                        Dim::Known(k) => *k == n,
                        Dim::Sym(_) => true,
                    });
                if !fits {
                    return Err(invalid(format!(
                        "shape {:?} does not match {t}",
                        view.shape
                    )));
                }
            }
        }
        Ok(view.clone())
    }

    fn read(&self, view: &BufferView) -> Result<Vec<u8>, HalError> {
        self.device_buffer("(intermediate)", view)?
            .device_read(view.offset, view.byte_len())
    }

    /// Runs one node on its input views and returns its output view.
    fn run_node(
        &self,
        node: &Node,
        kernel: VnpuOp,
        args: &[Option<&BufferView>],
        shared: bool,
    ) -> Result<BufferView, HalError> {
        let kerr = |message: String| {
            self.error(VnpuError::Kernel {
                node: node.name.clone(),
                op: node.op.name(),
                message,
            })
        };
        let arg = |i: usize| {
            args.get(i)
                .copied()
                .flatten()
                .ok_or_else(|| kerr(format!("input {i} is missing")))
        };
        let opt = |i: usize| args.get(i).copied().flatten();
        let heap = &self.state.heap;
        let put_f32 = |(y, s): (Vec<f32>, Vec<usize>)| {
            let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
            store(heap, shared, DType::F32, s, &bytes)
        };
        let put_i8 = |(y, s): (Vec<i8>, Vec<usize>)| {
            let bytes: Vec<u8> = y.iter().map(|&v| v as u8).collect();
            store(heap, shared, DType::I8, s, &bytes)
        };
        let x = arg(0)?;
        let (d, xs) = (x.dtype, x.shape.as_slice());
        let f = |v: &BufferView| self.read(v).map(|b| f32s(&b));
        let i = |v: &BufferView| self.read(v).map(|b| i8s(&b));
        let wrong_dtype = || kerr(format!("no {} kernel for {d}", node.op.name()));
        match (&node.op, kernel, d) {
            (Op::Conv(c), VnpuOp::Conv, DType::F32) => {
                let w = arg(1)?;
                let b = opt(2).map(f).transpose()?;
                put_f32(conv::conv2d(c, &f(x)?, xs, &f(w)?, &w.shape, b.as_deref()).map_err(kerr)?)
            }
            (Op::Pool(p), VnpuOp::MaxPool, DType::F32) => {
                put_f32(pool::max_pool_f32(p, &f(x)?, xs).map_err(kerr)?)
            }
            (Op::Pool(p), VnpuOp::MaxPool, DType::I8) => {
                put_i8(pool::max_pool_i8(p, &i(x)?, xs).map_err(kerr)?)
            }
            (Op::Pool(p), VnpuOp::AveragePool, DType::F32) => {
                let PoolKind::Average { count_include_pad } = p.kind else {
                    return Err(wrong_dtype());
                };
                put_f32(pool::avg_pool_f32(p, &f(x)?, xs, count_include_pad).map_err(kerr)?)
            }
            (Op::MatMul(_), VnpuOp::MatMul, DType::F32) => {
                let b = arg(1)?;
                put_f32(matmul::matmul(&f(x)?, xs, &f(b)?, &b.shape).map_err(kerr)?)
            }
            (Op::Gemm(g), VnpuOp::Gemm, DType::F32) => {
                let b = arg(1)?;
                let c = match opt(2) {
                    Some(c) => Some((f(c)?, c.shape.clone())),
                    None => None,
                };
                let c_ref = c.as_ref().map(|(v, s)| (v.as_slice(), s.as_slice()));
                put_f32(matmul::gemm(g, &f(x)?, xs, &f(b)?, &b.shape, c_ref).map_err(kerr)?)
            }
            (Op::MatMulInteger(_), VnpuOp::MatMulInteger, DType::I8) => {
                let b = arg(1)?;
                let zp = |k: usize| -> Result<I8Operand, HalError> {
                    match opt(k) {
                        Some(v) if v.dtype == DType::I8 => Ok(Some((i(v)?, v.shape.clone()))),
                        Some(v) => Err(kerr(format!("zero point {k} is {}, i8 expected", v.dtype))),
                        None => Ok(None),
                    }
                };
                let (za, zb) = (zp(2)?, zp(3)?);
                fn view(z: &I8Operand) -> Option<(&[i8], &[usize])> {
                    z.as_ref().map(|(v, s)| (v.as_slice(), s.as_slice()))
                }
                let (y, s) =
                    matmul::matmul_integer(&i(x)?, xs, &i(b)?, &b.shape, view(&za), view(&zb))
                        .map_err(kerr)?;
                let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
                store(heap, shared, DType::I32, s, &bytes)
            }
            (Op::Binary(_), VnpuOp::Add | VnpuOp::Mul, _) => {
                let b = arg(1)?;
                if b.dtype != d {
                    return Err(kerr(format!("operands are {d} and {}", b.dtype)));
                }
                match (kernel, d) {
                    (VnpuOp::Add, DType::F32) => {
                        put_f32(ew::add_f32(&f(x)?, xs, &f(b)?, &b.shape).map_err(kerr)?)
                    }
                    (VnpuOp::Mul, DType::F32) => {
                        put_f32(ew::mul_f32(&f(x)?, xs, &f(b)?, &b.shape).map_err(kerr)?)
                    }
                    (VnpuOp::Add, DType::I8) => {
                        put_i8(ew::add_i8(&i(x)?, xs, &i(b)?, &b.shape).map_err(kerr)?)
                    }
                    (VnpuOp::Mul, DType::I8) => {
                        put_i8(ew::mul_i8(&i(x)?, xs, &i(b)?, &b.shape).map_err(kerr)?)
                    }
                    _ => Err(wrong_dtype()),
                }
            }
            (Op::Unary(_), VnpuOp::Relu, DType::F32) => {
                put_f32((ew::relu_f32(&f(x)?), xs.to_vec()))
            }
            (Op::Unary(_), VnpuOp::Relu, DType::I8) => put_i8((ew::relu_i8(&i(x)?), xs.to_vec())),
            (Op::Reshape(r), VnpuOp::Reshape, _) => {
                let s = arg(1)?;
                if s.dtype != DType::I64 {
                    return Err(kerr(format!("shape input is {}, i64 expected", s.dtype)));
                }
                let spec = i64s(&self.read(s)?);
                let out = shape::reshape(xs, &spec, r.allowzero).map_err(kerr)?;
                BufferView::new(x.buffer.clone(), d, out, x.offset)
            }
            (Op::Flatten(fl), VnpuOp::Flatten, _) => {
                let out = shape::flatten(xs, fl.axis).map_err(kerr)?;
                BufferView::new(x.buffer.clone(), d, out, x.offset)
            }
            _ => Err(wrong_dtype()),
        }
    }
}

impl fmt::Debug for VnpuExecutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VnpuExecutable")
            .field("device", &self.state.uri)
            .field("name", &self.name)
            .field("nodes", &self.graph.nodes.len())
            .finish()
    }
}

impl Executable for VnpuExecutable {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> &[Binding] {
        &self.inputs
    }

    fn outputs(&self) -> &[Binding] {
        &self.outputs
    }

    fn execute(&self, inputs: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError> {
        if inputs.len() != self.inputs.len() {
            return Err(HalError::Invalid(format!(
                "executable '{}' takes {} inputs, {} given",
                self.name,
                self.inputs.len(),
                inputs.len()
            )));
        }
        let config = &self.state.config;
        let n = self.state.executes.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(why) = config.injected_execute_failure(n) {
            return Err(self.error(VnpuError::Injected(why)));
        }
        if !config.latency.is_zero() {
            std::thread::sleep(config.latency);
        }
        let mut env: HashMap<ValueId, BufferView> = HashMap::new();
        for ((id, binding), value) in self.graph.inputs.iter().zip(&self.inputs).zip(inputs) {
            env.insert(*id, self.bind_input(binding, value)?);
        }
        let mut uses = self.graph.use_counts();
        for (node, &kernel) in self.graph.nodes.iter().zip(&self.kernels) {
            if config.fail_node.as_deref() == Some(node.name.as_str()) {
                return Err(self.error(VnpuError::Injected(format!(
                    "node '{}' fails (fail_node)",
                    node.name
                ))));
            }
            let args: Vec<Option<&BufferView>> = node
                .inputs
                .iter()
                .map(|i| i.and_then(|id| env.get(&id).or_else(|| self.constants.get(&id))))
                .collect();
            // Values the executable returns go to exportable memory, so another device can
            // import them without a copy.
            let shared = node
                .outputs
                .first()
                .and_then(|o| *o)
                .is_some_and(|o| self.graph.outputs.contains(&o));
            let out = self.run_node(node, kernel, &args, shared)?;
            if let Some(Some(o)) = node.outputs.first() {
                env.insert(*o, out);
            }
            // Release intermediates whose last reader has run.
            for id in node.input_ids() {
                if let Some(n) = uses.get_mut(&id) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        env.remove(&id);
                    }
                }
            }
        }
        self.graph
            .outputs
            .iter()
            .map(|id| {
                env.get(id)
                    .or_else(|| self.constants.get(id))
                    .cloned()
                    .map(DeviceValue::Tensor)
                    .ok_or_else(|| {
                        HalError::Invalid(format!(
                            "{}: output '{}' was not computed",
                            self.name,
                            self.graph.name_of(*id)
                        ))
                    })
            })
            .collect()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
