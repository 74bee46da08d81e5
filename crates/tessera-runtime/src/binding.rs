//! Binding a run's inputs and outputs to memory the caller provides ([`IoBinding`]), so data
//! produced by another device or process goes in, and results come out, without passing
//! through Tessera-owned host buffers.
//!
//! - An **input** is a host [`Value`] or an [`ExternalTensor`]: a buffer shared by file
//!   descriptor (a memfd of the CPU or of another process, a dma-buf a driver exported) with
//!   its dtype and shape. The device that first reads the input imports the descriptor
//!   ([`Device::import`](tessera_hal::Device::import)) and reads the caller's memory in place;
//!   no byte is copied on the way in. A device that cannot import it gets the bytes staged
//!   through a host mapping instead, and [`Session::transfer_stats`](crate::Session::transfer_stats)
//!   counts them.
//! - An **output** can be bound to an [`ExternalTensor`] of exactly its dtype and shape. The
//!   device that produced the value imports the caller's buffer and its own queue copies the
//!   result into it: the result does not round-trip through host memory, and the caller
//!   reuses one buffer for every run. Bound outputs are not returned by
//!   [`Session::run_bound`](crate::Session::run_bound); the others are.

use crate::error::RuntimeError;
use tessera_hal::ExternalBuffer;
use tessera_ir::{DType, Value};

/// A tensor in memory shared by file descriptor: the buffer, and the dtype and shape of the
/// elements stored from its start (row-major, little-endian).
#[derive(Debug)]
pub struct ExternalTensor {
    /// The memory.
    pub buffer: ExternalBuffer,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
}

impl ExternalTensor {
    /// A tensor of `dtype` and `shape` at the start of `buffer`, which must be large enough to
    /// hold it.
    pub fn new(
        buffer: ExternalBuffer,
        dtype: DType,
        shape: Vec<usize>,
    ) -> Result<ExternalTensor, RuntimeError> {
        let need = tessera_hal::buffer::view_byte_len(dtype, &shape).map_err(|e| {
            RuntimeError::Binding(format!("a {dtype} tensor of shape {shape:?}: {e}"))
        })?;
        if need > buffer.size() {
            return Err(RuntimeError::Binding(format!(
                "a {dtype} tensor of shape {shape:?} needs {need} bytes; the buffer holds {}",
                buffer.size()
            )));
        }
        Ok(ExternalTensor {
            buffer,
            dtype,
            shape,
        })
    }

    /// Bytes the tensor occupies.
    pub fn byte_len(&self) -> usize {
        // Checked in `new`; a tensor built field by field gets the same check when bound.
        tessera_hal::buffer::view_byte_len(self.dtype, &self.shape).unwrap_or(usize::MAX)
    }

    /// A second handle on the same memory, with its own descriptor.
    pub fn try_clone(&self) -> Result<ExternalTensor, RuntimeError> {
        Ok(ExternalTensor {
            buffer: self
                .buffer
                .try_clone()
                .map_err(|e| RuntimeError::Binding(e.to_string()))?,
            dtype: self.dtype,
            shape: self.shape.clone(),
        })
    }
}

/// One input of a run: a host value, or a tensor in shared memory.
#[derive(Debug)]
pub enum RunInput {
    /// A value in host memory.
    Value(Value),
    /// A tensor in memory shared by file descriptor, read in place.
    External(ExternalTensor),
}

impl From<Value> for RunInput {
    fn from(v: Value) -> RunInput {
        RunInput::Value(v)
    }
}

impl From<ExternalTensor> for RunInput {
    fn from(t: ExternalTensor) -> RunInput {
        RunInput::External(t)
    }
}

impl RunInput {
    /// `"tensor"`, `"sequence"`, … as in errors.
    pub fn kind(&self) -> &'static str {
        match self {
            RunInput::Value(v) => v.kind(),
            RunInput::External(_) => "tensor",
        }
    }
}

/// The inputs of one run and the outputs bound to caller memory, by name.
///
/// ```no_run
/// # use tessera_runtime::{ExternalTensor, IoBinding, Session, SessionOptions};
/// # use tessera_ir::DType;
/// # fn shared_input() -> tessera_hal::ExternalBuffer { unimplemented!() }
/// # fn shared_output() -> tessera_hal::ExternalBuffer { unimplemented!() }
/// let session = Session::from_file("model.onnx", SessionOptions::default())?;
/// let io = IoBinding::new()
///     .input_external("image", ExternalTensor::new(shared_input(), DType::F32, vec![1, 3, 224, 224])?)
///     .output_external("probs", ExternalTensor::new(shared_output(), DType::F32, vec![1, 1000])?);
/// let rest = session.run_bound(io)?; // "probs" is in the shared buffer, not in `rest`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct IoBinding {
    pub(crate) inputs: Vec<(String, RunInput)>,
    pub(crate) outputs: Vec<(String, ExternalTensor)>,
}

impl IoBinding {
    /// Nothing bound yet.
    pub fn new() -> IoBinding {
        IoBinding::default()
    }

    /// Binds input `name` to a host value.
    pub fn input(mut self, name: impl Into<String>, value: Value) -> IoBinding {
        self.inputs.push((name.into(), RunInput::Value(value)));
        self
    }

    /// Binds input `name` to a tensor in shared memory, read in place.
    pub fn input_external(mut self, name: impl Into<String>, tensor: ExternalTensor) -> IoBinding {
        self.inputs.push((name.into(), RunInput::External(tensor)));
        self
    }

    /// Has output `name` written into a tensor in shared memory, which must have exactly the
    /// output's dtype and shape.
    pub fn output_external(mut self, name: impl Into<String>, tensor: ExternalTensor) -> IoBinding {
        self.outputs.push((name.into(), tensor));
        self
    }
}

impl From<Vec<(String, Value)>> for IoBinding {
    fn from(inputs: Vec<(String, Value)>) -> IoBinding {
        IoBinding {
            inputs: inputs
                .into_iter()
                .map(|(n, v)| (n, RunInput::Value(v)))
                .collect(),
            outputs: Vec::new(),
        }
    }
}
