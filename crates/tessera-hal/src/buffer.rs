//! Buffers: device memory with a size and a [`MemoryKind`], and [`BufferView`]s that give a
//! region of a buffer a dtype and a shape.
//!
//! Host-visible buffers are mapped through closures ([`Buffer::map_read`],
//! [`Buffer::map_write`]) rather than returned guards, which keeps the trait object safe and
//! lets a driver bracket the access with whatever its memory needs (cache flushes, a lock,
//! a temporary mapping of device memory).
//!
//! Zero-copy sharing: [`Buffer::export`] hands a buffer's memory out as an
//! [`ExternalBuffer`] (an owned file descriptor, offset and size — a memfd for host memory,
//! a dma-buf where a kernel driver provides one) and
//! [`Device::import`](crate::Device::import) maps one into another device or process. Both
//! are provided methods answering "unsupported" by default; drivers that can share memory
//! override them. [`MemFdBuffer`](crate::MemFdBuffer) (Linux) is exportable host memory any
//! driver may reuse. Shared bytes are only ordered by timeline points; see `docs/buffers.md`.

use crate::error::HalError;
use crate::external::ExternalBuffer;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tessera_ir::{checked_numel, DType};

/// Where a buffer's memory lives and who can see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// Ordinary host memory. Host visible; a device may or may not access it directly.
    Host,
    /// Memory local to the device and not visible to the host; reach it with queue copies.
    DeviceLocal,
    /// Device memory that the host can also map (unified or BAR memory).
    DeviceHostVisible,
}

impl MemoryKind {
    /// True when the host can map buffers of this kind.
    pub fn is_host_visible(self) -> bool {
        !matches!(self, MemoryKind::DeviceLocal)
    }
}

impl fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryKind::Host => "host",
            MemoryKind::DeviceLocal => "device-local",
            MemoryKind::DeviceHostVisible => "device host-visible",
        })
    }
}

/// A block of memory owned by a device.
///
/// Implementations are internally synchronized: a map may be called from any thread, and maps
/// of one buffer are serialized by the implementation.
pub trait Buffer: Send + Sync + fmt::Debug {
    /// Size in bytes.
    fn size(&self) -> usize;

    /// The kind of memory.
    fn memory_kind(&self) -> MemoryKind;

    /// Calls `f` with the buffer's bytes for reading. Fails with
    /// [`HalError::NotHostVisible`] for memory the host cannot map.
    fn map_read(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), HalError>;

    /// Calls `f` with the buffer's bytes for writing. Fails with
    /// [`HalError::NotHostVisible`] for memory the host cannot map.
    fn map_write(&self, f: &mut dyn FnMut(&mut [u8])) -> Result<(), HalError>;

    /// The buffer's memory as an [`ExternalBuffer`] (a new file descriptor, offset and size)
    /// that another device or process can import without copying.
    ///
    /// The provided implementation answers [`HalError::Unsupported`]: buffers are not
    /// exportable unless their driver says so (see [`Device::allocate_exportable`]).
    /// Exporting does not end the buffer's life: it and every import share the memory until
    /// all of them (and every copy of the descriptor) are gone.
    ///
    /// [`Device::allocate_exportable`]: crate::Device::allocate_exportable
    fn export(&self) -> Result<ExternalBuffer, HalError> {
        Err(crate::external::unsupported(
            "buffer",
            format!(
                "exporting this {} buffer (allocate it as exportable)",
                self.memory_kind()
            ),
        ))
    }

    /// The concrete buffer, for downcasting by the driver that created it.
    fn as_any(&self) -> &dyn Any;
}

fn check_range(offset: usize, len: usize, size: usize) -> Result<(), HalError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(HalError::OutOfBounds { offset, len, size }),
    }
}

impl dyn Buffer {
    /// Copies `len` bytes at `offset` out of a host-visible buffer.
    pub fn read_bytes(&self, offset: usize, len: usize) -> Result<Vec<u8>, HalError> {
        check_range(offset, len, self.size())?;
        let mut out = Vec::new();
        self.map_read(&mut |bytes| out.extend_from_slice(&bytes[offset..offset + len]))?;
        Ok(out)
    }

    /// Copies `data` into a host-visible buffer at `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), HalError> {
        check_range(offset, data.len(), self.size())?;
        self.map_write(&mut |bytes| bytes[offset..offset + data.len()].copy_from_slice(data))
    }
}

/// A typed window on a buffer: `shape` elements of `dtype`, densely packed in row-major order
/// and little-endian, starting `offset` bytes into `buffer`.
#[derive(Clone, Debug)]
pub struct BufferView {
    /// The underlying buffer.
    pub buffer: Arc<dyn Buffer>,
    /// Element type.
    pub dtype: DType,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub offset: usize,
}

impl BufferView {
    /// A view, checked to lie inside the buffer.
    pub fn new(
        buffer: Arc<dyn Buffer>,
        dtype: DType,
        shape: Vec<usize>,
        offset: usize,
    ) -> Result<BufferView, HalError> {
        let len = view_byte_len(dtype, &shape)?;
        check_range(offset, len, buffer.size())?;
        Ok(BufferView {
            buffer,
            dtype,
            shape,
            offset,
        })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of the viewed bytes.
    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// Copies the viewed bytes out (the buffer must be host visible).
    pub fn read_bytes(&self) -> Result<Vec<u8>, HalError> {
        self.buffer.read_bytes(self.offset, self.byte_len())
    }
}

/// Bytes needed for `shape` elements of `dtype`, refusing sizes beyond
/// [`tessera_ir::MAX_ELEMENTS`].
pub fn view_byte_len(dtype: DType, shape: &[usize]) -> Result<usize, HalError> {
    let n = checked_numel(shape).map_err(|e| HalError::Invalid(e.to_string()))?;
    n.checked_mul(dtype.size()).ok_or_else(|| {
        HalError::Invalid(format!("a {dtype} tensor of shape {shape:?} is too large"))
    })
}
