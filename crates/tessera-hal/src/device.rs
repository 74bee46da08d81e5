//! [`Device`]: one accelerator (or the host CPU) as the runtime sees it.

use crate::buffer::{view_byte_len, Buffer, BufferView, MemoryKind};
use crate::error::HalError;
use crate::executable::Executable;
use crate::external::ExternalBuffer;
use crate::info::DeviceInfo;
use crate::queue::Queue;
use crate::subgraph::Subgraph;
use crate::support::Support;
use std::sync::Arc;
use tessera_ir::{Node, Tensor, ValueType};

/// A device created by a [`Driver`](crate::Driver).
///
/// The runtime asks [`Device::supports`] for every node while partitioning, hands each part
/// to [`Device::compile`], moves data with [`Device::upload`] / [`Device::download`] (or
/// buffers and queue copies) and runs executables by submitting work to [`Device::queue`].
pub trait Device: Send + Sync {
    /// What the device is.
    fn info(&self) -> &DeviceInfo;

    /// Whether the device runs `node`, given the static types of its inputs (one entry per
    /// node input, `None` for an omitted optional input or an unknown type).
    ///
    /// The answer must be conservative: a node answered [`Support::Yes`] is one the compiled
    /// executable will run for every input matching those types.
    fn supports(&self, node: &Node, inputs: &[Option<ValueType>]) -> Support;

    /// Compiles a subgraph whose nodes this device supports.
    fn compile(&self, subgraph: &Subgraph) -> Result<Arc<dyn Executable>, HalError>;

    /// The memory kinds [`Device::allocate`] accepts, preferred first.
    fn memory_kinds(&self) -> &[MemoryKind];

    /// Allocates `size` bytes of `kind` memory.
    fn allocate(&self, size: usize, kind: MemoryKind) -> Result<Arc<dyn Buffer>, HalError>;

    /// Allocates `size` bytes that [`Buffer::export`] can hand to another device or
    /// process.
    ///
    /// Kept apart from [`Device::allocate`] because shareable memory usually costs more to
    /// create (a file descriptor, a shared mapping) than the memory a runtime allocates for
    /// intermediate values. The provided implementation answers [`HalError::Unsupported`].
    fn allocate_exportable(&self, size: usize) -> Result<Arc<dyn Buffer>, HalError> {
        let _ = size;
        Err(crate::external::unsupported(
            &self.info().name,
            "exportable allocations",
        ))
    }

    /// Maps an [`ExternalBuffer`] exported by another device or process, without copying.
    ///
    /// The provided implementation answers [`HalError::Unsupported`]. Implementations check
    /// the offset and size against the memory behind the descriptor, and take ownership of
    /// the descriptor (closing it when the buffer drops, or at once if they no longer need
    /// it).
    fn import(&self, ext: ExternalBuffer) -> Result<Arc<dyn Buffer>, HalError> {
        Err(crate::external::unsupported(
            &self.info().name,
            format!("importing a {} buffer", ext.kind()),
        ))
    }

    /// Number of queues.
    fn queue_count(&self) -> usize;

    /// Queue `index` (`0 ≤ index < queue_count()`).
    fn queue(&self, index: usize) -> Result<Arc<dyn Queue>, HalError>;

    /// Places a host tensor in device memory.
    ///
    /// The provided implementation allocates the first host-visible memory kind of
    /// [`Device::memory_kinds`] and copies the bytes in; a driver that can share host memory
    /// (the CPU) overrides it to avoid the copy, one without host-visible memory overrides it
    /// with a staging copy.
    fn upload(&self, tensor: &Tensor) -> Result<BufferView, HalError> {
        let kind = self
            .memory_kinds()
            .iter()
            .copied()
            .find(|k| k.is_host_visible())
            .ok_or_else(|| HalError::Unsupported {
                device: self.info().name.clone(),
                what: "uploading without host-visible memory".into(),
            })?;
        let buffer = self.allocate(tensor.byte_len(), kind)?;
        buffer.write_bytes(0, &tensor.to_le_bytes())?;
        BufferView::new(buffer, tensor.dtype(), tensor.shape().to_vec(), 0)
    }

    /// Copies a tensor out of device memory.
    ///
    /// The provided implementation maps the view's buffer, which must be host visible.
    fn download(&self, view: &BufferView) -> Result<Tensor, HalError> {
        view_byte_len(view.dtype, &view.shape)?;
        let bytes = view.read_bytes()?;
        Tensor::from_le_bytes(view.dtype, view.shape.clone(), &bytes)
            .map_err(|e| HalError::Invalid(e.to_string()))
    }
}
