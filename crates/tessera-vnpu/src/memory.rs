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
//! A vendor backend replaces the `Vec<u8>` behind each buffer with its allocation handle (a
//! GEM object, a carve-out offset) and the map closures with its kernel driver's mmap and
//! cache maintenance.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_hal::{Buffer, HalError, MemoryKind};

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
}

impl VnpuHeap {
    /// A heap of `budget` bytes for the device called `device` (used in errors).
    pub fn new(device: impl Into<String>, budget: usize) -> Arc<VnpuHeap> {
        Arc::new(VnpuHeap {
            device: device.into(),
            budget,
            usage: Mutex::new(Usage::default()),
            host_maps: AtomicU64::new(0),
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
        }
    }

    /// Allocates a zeroed buffer of `size` bytes, failing with [`HalError::Allocation`] when
    /// the budget would be exceeded.
    pub fn allocate(self: &Arc<Self>, size: usize) -> Result<Arc<VnpuBuffer>, HalError> {
        let fail = |reason: String| HalError::Allocation {
            size,
            kind: MemoryKind::DeviceHostVisible,
            reason,
        };
        {
            let mut u = self.usage();
            let used = u
                .used
                .checked_add(size)
                .filter(|&n| n <= self.budget)
                .ok_or_else(|| {
                    fail(format!(
                        "{} device memory exhausted ({} of {} bytes in use)",
                        self.device, u.used, self.budget
                    ))
                })?;
            u.used = used;
            u.peak = u.peak.max(used);
            u.allocations += 1;
        }
        // The bytes are reserved in the accounting; give them back if the host allocator
        // refuses.
        let mut bytes = Vec::new();
        if let Err(e) = bytes.try_reserve_exact(size) {
            self.release(size);
            return Err(fail(e.to_string()));
        }
        bytes.resize(size, 0);
        Ok(Arc::new(VnpuBuffer {
            heap: self.clone(),
            size,
            bytes: Mutex::new(bytes),
        }))
    }

    fn release(&self, size: usize) {
        let mut u = self.usage();
        u.used = u.used.saturating_sub(size);
    }
}

/// A buffer in virtual NPU memory.
pub struct VnpuBuffer {
    heap: Arc<VnpuHeap>,
    size: usize,
    bytes: Mutex<Vec<u8>>,
}

impl VnpuBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic in a map callback poisons the lock; the bytes are still plain memory.
        self.bytes.lock().unwrap_or_else(|p| p.into_inner())
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
        Ok(self.lock()[offset..end].to_vec())
    }

    /// Device-side write of `data` at offset 0; not a host map.
    pub(crate) fn device_write(&self, data: &[u8]) -> Result<(), HalError> {
        let mut b = self.lock();
        match b.get_mut(..data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Ok(())
            }
            None => Err(HalError::OutOfBounds {
                offset: 0,
                len: data.len(),
                size: self.size,
            }),
        }
    }
}

impl Drop for VnpuBuffer {
    fn drop(&mut self) {
        self.heap.release(self.size);
    }
}

impl fmt::Debug for VnpuBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VnpuBuffer")
            .field("device", &self.heap.device)
            .field("size", &self.size)
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
        let b = self.lock();
        f(&b);
        Ok(())
    }

    /// Maps the buffer for writing (counted as a host map), calls `f`, unmaps.
    fn map_write(&self, f: &mut dyn FnMut(&mut [u8])) -> Result<(), HalError> {
        self.heap.host_maps.fetch_add(1, Ordering::Relaxed);
        let mut b = self.lock();
        f(&mut b);
        Ok(())
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
}
