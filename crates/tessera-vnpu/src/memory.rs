//! Device memory: a [`VnpuHeap`] with a byte budget and accounting, and the [`VnpuBuffer`]s
//! allocated from it.
//!
//! A real NPU's memory is not the CPU's: the host reaches it only through a mapping (or a DMA
//! copy). The virtual NPU models that: every buffer is its own allocation, owned by the heap's
//! accounting, of kind [`MemoryKind::DeviceHostVisible`]; the host reads and writes it only
//! inside [`Buffer::map_read`] / [`Buffer::map_write`], which bracket the access like a
//! map/unmap pair and are counted ([`MemoryStats::host_maps`]) so tests can check that data was
//! staged. The device's own kernels read and write buffers through crate-internal accessors,
//! which are not host maps.
//!
//! Buffers come in two kinds of storage. Plain allocations are private to the device (a
//! `Vec<u8>` here). *Exportable* allocations ([`VnpuHeap::allocate_exportable`], which the
//! executables use for the values they return) and *imported* buffers ([`VnpuHeap::import`])
//! live in memory shared by file descriptor (a memfd here; a dma-buf on real hardware), so
//! [`Buffer::export`] hands them to the CPU or another process without a copy. Imported
//! buffers belong to their exporter: they are counted in [`MemoryStats::imported`], not against
//! the budget.
//!
//! A vendor backend replaces the `Vec<u8>` behind each buffer with its allocation handle (a
//! GEM object, a carve-out offset), the memfd with the dma-buf its kernel driver exports, and
//! the map closures with its kernel driver's mmap and cache maintenance.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_hal::{Buffer, ExternalBuffer, HalError, MemoryKind};

/// Accounting of one device's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// The budget in bytes.
    pub budget: usize,
    /// Bytes held by live buffers.
    pub used: usize,
    /// Highest `used` so far.
    pub peak: usize,
    /// Buffers allocated so far.
    pub allocations: u64,
    /// Host maps ([`Buffer::map_read`] and [`Buffer::map_write`] calls) so far.
    pub host_maps: u64,
    /// Buffers imported from other devices or processes so far.
    pub imported: u64,
}

#[derive(Debug, Default)]
struct Usage {
    used: usize,
    peak: usize,
    allocations: u64,
}

/// The memory of one virtual NPU: a budget and the bytes in use.
#[derive(Debug)]
pub struct VnpuHeap {
    device: String,
    budget: usize,
    usage: Mutex<Usage>,
    host_maps: AtomicU64,
    imported: AtomicU64,
}

impl VnpuHeap {
    /// A heap of `budget` bytes for the device called `device` (used in errors).
    pub fn new(device: impl Into<String>, budget: usize) -> Arc<VnpuHeap> {
        Arc::new(VnpuHeap {
            device: device.into(),
            budget,
            usage: Mutex::new(Usage::default()),
            host_maps: AtomicU64::new(0),
            imported: AtomicU64::new(0),
        })
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        // Usage updates are plain arithmetic; a poisoned lock still holds consistent numbers.
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current accounting.
    pub fn stats(&self) -> MemoryStats {
        let u = self.usage();
        MemoryStats {
            budget: self.budget,
            used: u.used,
            peak: u.peak,
            allocations: u.allocations,
            host_maps: self.host_maps.load(Ordering::Relaxed),
            imported: self.imported.load(Ordering::Relaxed),
        }
    }

    /// Allocates a zeroed buffer of `size` bytes in device-private memory, failing with
    /// [`HalError::Allocation`] when the budget would be exceeded.
    pub fn allocate(self: &Arc<Self>, size: usize) -> Result<Arc<VnpuBuffer>, HalError> {
        self.reserve(size)?;
        // The bytes are reserved in the accounting; give them back if the host allocator
        // refuses.
        let mut bytes = Vec::new();
        if let Err(e) = bytes.try_reserve_exact(size) {
            self.release(size);
            return Err(allocation_error(size, e.to_string()));
        }
        bytes.resize(size, 0);
        Ok(self.wrap(size, Storage::Local(Mutex::new(bytes)), true))
    }

    /// Allocates a zeroed buffer of `size` bytes that [`Buffer::export`] can share (a memfd;
    /// Linux only), counted against the budget like any allocation.
    pub fn allocate_exportable(self: &Arc<Self>, size: usize) -> Result<Arc<VnpuBuffer>, HalError> {
        self.reserve(size)?;
        #[cfg(target_os = "linux")]
        {
            match tessera_hal::MemFdBuffer::new(size) {
                Ok(m) => Ok(self.wrap(size, Storage::Shared(m), true)),
                Err(e) => {
                    self.release(size);
                    Err(e)
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.release(size);
            Err(allocation_error(
                size,
                "exportable memory needs Linux (memfd)".into(),
            ))
        }
    }

    /// Maps a buffer exported by another device or process into this device, without a copy.
    /// It stays the exporter's memory: not counted against the budget.
    pub fn import(self: &Arc<Self>, ext: ExternalBuffer) -> Result<Arc<VnpuBuffer>, HalError> {
        match ext.kind() {
            #[cfg(target_os = "linux")]
            tessera_hal::ExternalKind::MemFd => {
                let m = tessera_hal::MemFdBuffer::import(ext)?;
                self.imported.fetch_add(1, Ordering::Relaxed);
                Ok(self.wrap(m.size(), Storage::Shared(m), false))
            }
            kind => Err(HalError::Unsupported {
                device: self.device.clone(),
                what: format!("importing a {kind} buffer"),
            }),
        }
    }

    /// Takes `size` bytes of the budget.
    fn reserve(&self, size: usize) -> Result<(), HalError> {
        let mut u = self.usage();
        let used = u
            .used
            .checked_add(size)
            .filter(|&n| n <= self.budget)
            .ok_or_else(|| {
                allocation_error(
                    size,
                    format!(
                        "{} device memory exhausted ({} of {} bytes in use)",
                        self.device, u.used, self.budget
                    ),
                )
            })?;
        u.used = used;
        u.peak = u.peak.max(used);
        u.allocations += 1;
        Ok(())
    }

    fn wrap(self: &Arc<Self>, size: usize, storage: Storage, owned: bool) -> Arc<VnpuBuffer> {
        Arc::new(VnpuBuffer {
            heap: self.clone(),
            size,
            storage,
            owned,
        })
    }

    fn release(&self, size: usize) {
        let mut u = self.usage();
        u.used = u.used.saturating_sub(size);
    }
}

fn allocation_error(size: usize, reason: String) -> HalError {
    HalError::Allocation {
        size,
        kind: MemoryKind::DeviceHostVisible,
        reason,
    }
}

/// Where a buffer's bytes are.
enum Storage {
    /// Device-private memory.
    Local(Mutex<Vec<u8>>),
    /// Memory shared by file descriptor: exportable allocations and imports.
    #[cfg(target_os = "linux")]
    Shared(tessera_hal::MemFdBuffer),
}

/// A buffer in virtual NPU memory.
pub struct VnpuBuffer {
    heap: Arc<VnpuHeap>,
    size: usize,
    storage: Storage,
    /// Allocated from the heap's budget (false for imports).
    owned: bool,
}

impl VnpuBuffer {
    /// Calls `f` on the bytes: the one place every access (device or host) goes through.
    fn with_bytes<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, HalError> {
        match &self.storage {
            // A panic in a map callback poisons the lock; the bytes are still plain memory.
            Storage::Local(m) => Ok(f(&mut m.lock().unwrap_or_else(|p| p.into_inner()))),
            #[cfg(target_os = "linux")]
            Storage::Shared(m) => {
                let mut f = Some(f);
                let mut out = None;
                m.map_write(&mut |b| {
                    if let Some(f) = f.take() {
                        out = Some(f(b));
                    }
                })?;
                out.ok_or_else(|| HalError::Invalid("a memfd map did not run".into()))
            }
        }
    }

    /// True when the buffer lives in memory shared by file descriptor (exportable or
    /// imported).
    pub fn is_shared(&self) -> bool {
        !matches!(self.storage, Storage::Local(_))
    }

    /// True when the buffer was allocated from `heap`.
    pub fn belongs_to(&self, heap: &Arc<VnpuHeap>) -> bool {
        Arc::ptr_eq(&self.heap, heap)
    }

    /// Device-side read of `len` bytes at `offset` (what a kernel's DMA would fetch); not a
    /// host map.
    pub(crate) fn device_read(&self, offset: usize, len: usize) -> Result<Vec<u8>, HalError> {
        let end =
            offset
                .checked_add(len)
                .filter(|&e| e <= self.size)
                .ok_or(HalError::OutOfBounds {
                    offset,
                    len,
                    size: self.size,
                })?;
        self.with_bytes(|b| b[offset..end].to_vec())
    }

    /// Device-side write of `data` at offset 0; not a host map.
    pub(crate) fn device_write(&self, data: &[u8]) -> Result<(), HalError> {
        let size = self.size;
        self.with_bytes(|b| match b.get_mut(..data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Ok(())
            }
            None => Err(HalError::OutOfBounds {
                offset: 0,
                len: data.len(),
                size,
            }),
        })?
    }
}

impl Drop for VnpuBuffer {
    fn drop(&mut self) {
        if self.owned {
            self.heap.release(self.size);
        }
    }
}

impl fmt::Debug for VnpuBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VnpuBuffer")
            .field("device", &self.heap.device)
            .field("size", &self.size)
            .field("shared", &self.is_shared())
            .field("owned", &self.owned)
            .finish()
    }
}

impl Buffer for VnpuBuffer {
    fn size(&self) -> usize {
        self.size
    }

    fn memory_kind(&self) -> MemoryKind {
        MemoryKind::DeviceHostVisible
    }

    /// Maps the buffer for reading (counted as a host map), calls `f`, unmaps.
    fn map_read(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), HalError> {
        self.heap.host_maps.fetch_add(1, Ordering::Relaxed);
        self.with_bytes(|b| f(b))
    }

    /// Maps the buffer for writing (counted as a host map), calls `f`, unmaps.
    fn map_write(&self, f: &mut dyn FnMut(&mut [u8])) -> Result<(), HalError> {
        self.heap.host_maps.fetch_add(1, Ordering::Relaxed);
        self.with_bytes(|b| f(b))
    }

    /// Shares exportable and imported buffers by file descriptor; device-private ones are
    /// refused.
    fn export(&self) -> Result<ExternalBuffer, HalError> {
        match &self.storage {
            #[cfg(target_os = "linux")]
            Storage::Shared(m) => m.export(),
            Storage::Local(_) => Err(HalError::Unsupported {
                device: self.heap.device.clone(),
                what: format!(
                    "exporting a {}-byte device-private buffer (allocate it exportable)",
                    self.size
                ),
            }),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_accounting_and_maps() {
        let heap = VnpuHeap::new("vnpu://0", 100);
        let a = heap.allocate(60).unwrap();
        assert_eq!(heap.stats().used, 60);
        let e = heap.allocate(41).unwrap_err();
        assert!(matches!(e, HalError::Allocation { size: 41, .. }), "{e}");
        assert!(e.to_string().contains("60 of 100 bytes in use"), "{e}");
        assert!(heap.allocate(usize::MAX).is_err());
        let b = heap.allocate(40).unwrap();
        drop(a);
        assert_eq!(heap.stats().used, 40);
        assert_eq!(heap.stats().peak, 100);
        assert_eq!(heap.stats().allocations, 2);
        let dynb: Arc<dyn Buffer> = b.clone();
        assert_eq!(dynb.memory_kind(), MemoryKind::DeviceHostVisible);
        dynb.write_bytes(1, &[7, 8]).unwrap();
        assert_eq!(dynb.read_bytes(0, 3).unwrap(), vec![0, 7, 8]);
        assert_eq!(heap.stats().host_maps, 2);
        // Device-side access is not a host map.
        assert_eq!(b.device_read(1, 2).unwrap(), vec![7, 8]);
        b.device_write(&[1]).unwrap();
        assert!(b.device_read(39, 2).is_err());
        assert!(b.device_write(&[0; 41]).is_err());
        assert_eq!(heap.stats().host_maps, 2);
        assert!(b.belongs_to(&heap));
        assert!(!b.belongs_to(&VnpuHeap::new("other", 1)));
        drop((dynb, b));
        assert_eq!(heap.stats().used, 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn exportable_buffers_share_bytes_and_imports_are_not_budgeted() {
        let heap = VnpuHeap::new("vnpu://0", 64);
        let private = heap.allocate(8).unwrap();
        assert!(!private.is_shared());
        let e = private.export().unwrap_err();
        assert!(matches!(e, HalError::Unsupported { .. }), "{e}");

        let a = heap.allocate_exportable(16).unwrap();
        assert!(a.is_shared());
        assert_eq!(heap.stats().used, 24);
        a.device_write(&[1, 2, 3]).unwrap();
        // Another heap (another device) maps the same memory.
        let other = VnpuHeap::new("vnpu://1", 4);
        let b = other.import(a.export().unwrap()).unwrap();
        assert_eq!(b.size(), 16);
        assert_eq!(b.device_read(0, 3).unwrap(), vec![1, 2, 3]);
        b.device_write(&[9]).unwrap();
        assert_eq!(a.device_read(0, 1).unwrap(), vec![9]);
        // The import is the exporter's memory: not against the importer's 4-byte budget.
        assert_eq!(other.stats().used, 0);
        assert_eq!(other.stats().imported, 1);
        assert!(b.belongs_to(&other));
        drop(b);
        assert_eq!(other.stats().used, 0);
        // Budget exhaustion is reported for exportable allocations too.
        assert!(heap.allocate_exportable(41).is_err());
        drop((a, private));
        assert_eq!(heap.stats().used, 0);
    }
}
