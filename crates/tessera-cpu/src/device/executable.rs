//! [`CpuExecutable`]: a verified subgraph run by [`crate::exec::run_graph`], optionally inside
//! the device's own thread pool, optionally timing every node ([`crate::profile`]).

use super::buffer::CpuBuffer;
use crate::profile::{NodeTime, Profiler};
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tessera_hal::{Binding, BufferView, DeviceValue, Executable, HalError};
use tessera_ir::{Graph, Tensor, Value};

/// A subgraph compiled for the CPU.
pub struct CpuExecutable {
    device: String,
    name: String,
    graph: Graph,
    inputs: Vec<Binding>,
    outputs: Vec<Binding>,
    pool: Option<Arc<rayon::ThreadPool>>,
    profiler: Profiler,
}

impl CpuExecutable {
    /// Wraps a verified graph. `pool`, when given, is where kernels run.
    pub(crate) fn new(
        device: String,
        name: String,
        graph: Graph,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> CpuExecutable {
        let binding = |id: &tessera_ir::ValueId| Binding {
            name: graph.name_of(*id).to_string(),
            ty: graph.value(*id).ty.clone(),
        };
        let inputs = graph.inputs.iter().map(binding).collect();
        let outputs = graph.outputs.iter().map(binding).collect();
        CpuExecutable {
            device,
            name,
            graph,
            inputs,
            outputs,
            pool,
            profiler: Profiler::default(),
        }
    }

    /// The graph this executable runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the graph on host values (the path [`Executable::execute`] takes after turning
    /// buffers into tensors).
    pub fn run_values(&self, inputs: Vec<Value>) -> Result<Vec<Value>, HalError> {
        let result = if self.profiler.is_on() {
            let mut times = Vec::with_capacity(self.graph.nodes.len());
            let result =
                self.in_pool(|| crate::exec::run_graph_timed(&self.graph, inputs, &mut times));
            self.profiler.record(times);
            result
        } else {
            self.in_pool(|| crate::exec::run_graph(&self.graph, inputs))
        };
        result.map_err(|e| HalError::execute(&self.device, &self.name, e))
    }

    fn in_pool<R: Send>(&self, run: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        }
    }

    /// Turns per-node timing of later runs on or off. While on, every run appends one
    /// [`NodeTime`] per node to this executable's record (see [`CpuExecutable::take_profile`]);
    /// off (the default), runs read no clock. Runs already under way finish as they started.
    pub fn set_profiling(&self, on: bool) {
        self.profiler.set(on);
    }

    /// Whether runs are timing their nodes.
    pub fn is_profiling(&self) -> bool {
        self.profiler.is_on()
    }

    /// The node times recorded since the last call, in execution order, run after run; the
    /// record is left empty.
    pub fn take_profile(&self) -> Vec<NodeTime> {
        self.profiler.take()
    }
}

impl fmt::Debug for CpuExecutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuExecutable")
            .field("name", &self.name)
            .field("nodes", &self.graph.nodes.len())
            .field(
                "threads",
                &self.pool.as_ref().map(|p| p.current_num_threads()),
            )
            .field("profiling", &self.profiler.is_on())
            .finish()
    }
}

/// The tensor behind a view: shared when the view is of a [`CpuBuffer`], decoded from the
/// mapped bytes of any other host-visible buffer.
pub(crate) fn view_to_tensor(view: &BufferView) -> Result<Tensor, HalError> {
    match view.buffer.as_any().downcast_ref::<CpuBuffer>() {
        Some(b) => b.tensor(view),
        None => {
            let bytes = view.read_bytes()?;
            Tensor::from_le_bytes(view.dtype, view.shape.clone(), &bytes)
                .map_err(|e| HalError::Invalid(e.to_string()))
        }
    }
}

/// A view of a new [`CpuBuffer`] sharing `t`'s storage.
pub(crate) fn tensor_to_view(t: Tensor) -> BufferView {
    let (dtype, shape) = (t.dtype(), t.shape().to_vec());
    BufferView {
        buffer: Arc::new(CpuBuffer::from_tensor(t)),
        dtype,
        shape,
        offset: 0,
    }
}

fn to_value(v: &DeviceValue) -> Result<Value, HalError> {
    Ok(match v {
        DeviceValue::Tensor(view) => Value::Tensor(view_to_tensor(view)?),
        DeviceValue::Sequence(items) => {
            Value::Sequence(items.iter().map(to_value).collect::<Result<_, _>>()?)
        }
        DeviceValue::Optional(None) => Value::Optional(None),
        DeviceValue::Optional(Some(v)) => Value::Optional(Some(Box::new(to_value(v)?))),
    })
}

fn from_value(v: Value) -> DeviceValue {
    match v {
        Value::Tensor(t) => DeviceValue::Tensor(tensor_to_view(t)),
        Value::Sequence(items) => {
            DeviceValue::Sequence(items.into_iter().map(from_value).collect())
        }
        Value::Optional(None) => DeviceValue::Optional(None),
        Value::Optional(Some(v)) => DeviceValue::Optional(Some(Box::new(from_value(*v)))),
    }
}

impl Executable for CpuExecutable {
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
        for (b, v) in self.inputs.iter().zip(inputs) {
            b.check(v).map_err(|m| {
                HalError::Invalid(format!(
                    "executable '{}': input '{}': {m}",
                    self.name, b.name
                ))
            })?;
        }
        let values = inputs.iter().map(to_value).collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .run_values(values)?
            .into_iter()
            .map(from_value)
            .collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::op::{BinaryOp, UnaryOp};
    use tessera_ir::{DType, Op, TensorType, ValueType};

    /// `y = relu(x) + x`.
    fn graph() -> Graph {
        let mut g = Graph::new("g");
        let ty = || Some(ValueType::Tensor(TensorType::known(DType::F32, &[3])));
        let x = g.add_value("x", ty());
        let r = g.add_value("r", ty());
        let y = g.add_value("y", ty());
        g.add_node(
            "relu",
            Op::Unary(UnaryOp::Relu),
            vec![Some(x)],
            vec![Some(r)],
        );
        g.add_node(
            "sum",
            Op::Binary(BinaryOp::Add),
            vec![Some(r), Some(x)],
            vec![Some(y)],
        );
        g.inputs.push(x);
        g.outputs.push(y);
        g
    }

    #[test]
    fn profiling_records_every_node_only_while_on() {
        let exe = CpuExecutable::new("cpu".into(), "g".into(), graph(), None);
        let x = || {
            vec![Value::Tensor(
                Tensor::from_vec(vec![3], vec![-1.0f32, 0.5, 2.0]).unwrap(),
            )]
        };
        let want = Value::Tensor(Tensor::from_vec(vec![3], vec![-1.0f32, 1.0, 4.0]).unwrap());
        assert!(!exe.is_profiling());
        assert_eq!(exe.run_values(x()).unwrap(), vec![want.clone()]);
        assert!(exe.take_profile().is_empty());

        exe.set_profiling(true);
        assert_eq!(exe.run_values(x()).unwrap(), vec![want.clone()]);
        assert_eq!(exe.run_values(x()).unwrap(), vec![want.clone()]);
        let times = exe.take_profile();
        let names: Vec<(&str, &str)> = times
            .iter()
            .map(|t| (t.node.as_str(), t.op.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("relu", "Relu"),
                ("sum", "Add"),
                ("relu", "Relu"),
                ("sum", "Add")
            ]
        );
        assert!(exe.take_profile().is_empty(), "taking empties the record");

        exe.set_profiling(false);
        assert_eq!(exe.run_values(x()).unwrap(), vec![want]);
        assert!(exe.take_profile().is_empty());
    }
}
