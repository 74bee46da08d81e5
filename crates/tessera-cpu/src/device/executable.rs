//! [`CpuExecutable`]: a verified subgraph run by [`crate::exec::run_graph`], optionally inside
//! the device's own thread pool.

use super::buffer::CpuBuffer;
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
        }
    }

    /// The graph this executable runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the graph on host values (the path [`Executable::execute`] takes after turning
    /// buffers into tensors).
    pub fn run_values(&self, inputs: Vec<Value>) -> Result<Vec<Value>, HalError> {
        let run = || crate::exec::run_graph(&self.graph, inputs);
        let result = match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        };
        result.map_err(|e| HalError::execute(&self.device, &self.name, e))
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
