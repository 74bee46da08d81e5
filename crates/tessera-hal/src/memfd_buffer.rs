//! [`MemFdBuffer`]: host memory in an anonymous shared-memory file (`memfd_create`), mapped
//! `MAP_SHARED`, so it can be exported as an [`ExternalBuffer`] and mapped by another device
//! or process without a copy. Linux only.
//!
//! A new buffer's file is sealed against shrinking and growing (`F_SEAL_SHRINK`,
//! `F_SEAL_GROW`, `F_SEAL_SEAL`), so no holder of the descriptor can truncate it under a
//! mapping. [`MemFdBuffer::import`] maps any descriptor of a regular file (a memfd from
//! another process, a file on tmpfs); it checks the requested range against the file's real
//! size and seals an unsealed memfd against shrinking where it can. A file that stays
//! shrinkable can still be truncated by another process, and touching the lost pages then
//! raises `SIGBUS`: import only descriptors from a trusted exporter.
//!
//! # Ordering and aliasing
//!
//! Maps go through closures under a lock, like [`HostBuffer`](crate::HostBuffer): inside this
//! process, no two maps of the same memory overlap, even through two buffers (an export and
//! an import of one file share a lock, keyed by the file's device and inode), so the `&[u8]`
//! and `&mut [u8]` a closure receives are never aliased by another reference in this
//! process. Do not map one such buffer from inside a map of another: they share the lock.
//!
//! Another process (or a device) writing the same memory is not held off by that lock. The
//! bytes of a shared buffer are only stable while the accesses are ordered by timeline
//! points: signal a point after writing, wait for it before reading, and do not write while
//! the other side may be reading.

use crate::buffer::{Buffer, MemoryKind};
use crate::error::HalError;
use crate::external::{ExternalBuffer, ExternalKind};
use crate::host_buffer::MAX_HOST_BUFFER;
use rustix::fs::{FileType, MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use std::any::Any;
use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Identity of a file in this process: (device, inode).
type FileKey = (u64, u64);

/// One lock per file mapped by any [`MemFdBuffer`] in this process, so that maps of the
/// same memory through different buffers never overlap.
fn registry() -> MutexGuard<'static, HashMap<FileKey, std::sync::Weak<Mutex<()>>>> {
    static LOCKS: OnceLock<Mutex<HashMap<FileKey, std::sync::Weak<Mutex<()>>>>> = OnceLock::new();
    LOCKS
        .get_or_init(Default::default)
        .lock()
        // The map is only inserted into and removed from; a poisoned lock still guards it.
        .unwrap_or_else(|p| p.into_inner())
}

fn file_lock(key: FileKey) -> Arc<Mutex<()>> {
    let mut reg = registry();
    if let Some(lock) = reg.get(&key).and_then(|w| w.upgrade()) {
        return lock;
    }
    // Entries normally leave when their last buffer drops; two buffers of one file dropping
    // at once can both miss that, so dead entries are also swept now and then.
    if reg.len() >= 64 && reg.len().is_power_of_two() {
        reg.retain(|_, w| w.strong_count() > 0);
    }
    let lock = Arc::new(Mutex::new(()));
    reg.insert(key, Arc::downgrade(&lock));
    lock
}

/// A `MAP_SHARED` mapping owned by one buffer, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    /// Start of the mapping (page aligned); null when nothing is mapped.
    base: *mut c_void,
    /// Length of the mapping; 0 when nothing is mapped.
    len: usize,
    /// The buffer's first byte, inside the mapping (dangling for an empty buffer).
    data: NonNull<u8>,
}

impl Mapping {
    fn empty() -> Mapping {
        Mapping {
            base: std::ptr::null_mut(),
            len: 0,
            data: NonNull::dangling(),
        }
    }

    /// Maps `size` bytes at `offset` of `fd` for reading and writing. `size` must be
    /// non-zero and the range must lie inside the file (checked by the caller).
    fn map(fd: BorrowedFd<'_>, offset: u64, size: usize) -> Result<Mapping, HalError> {
        let page = rustix::param::page_size() as u64;
        let delta = offset % page;
        let len = usize::try_from(delta)
            .ok()
            .and_then(|d| d.checked_add(size))
            .ok_or_else(|| HalError::Invalid(format!("cannot map {size} bytes at {offset}")))?;
        // SAFETY: a fresh mapping at an address the kernel chooses (null hint), so no
        // existing memory is replaced. The file range was checked to exist, and its
        // pointer is only turned into slices under the buffer's lock, within `len`.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                offset - delta,
            )
        }
        .map_err(|e| {
            HalError::os(
                format!(
                    "mapping {size} bytes at offset {offset} of an external buffer \
                     (the descriptor must be open for reading and writing)"
                ),
                e,
            )
        })?;
        let data = NonNull::new(base.cast::<u8>())
            .map(|p| {
                // SAFETY: `delta < len`, so the result stays inside the mapping.
                unsafe { p.add(delta as usize) }
            })
            .ok_or_else(|| HalError::Invalid("mmap returned a null mapping".into()))?;
        Ok(Mapping { base, len, data })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: `base`/`len` are exactly a mapping this value created and nobody else
            // unmaps; slices into it only live inside map closures, which borrow the buffer
            // that owns this mapping, so none outlives it.
            let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
        }
    }
}

/// Host memory in a memfd, mapped shared: exportable to other devices and processes.
///
/// Zero-initialized when created with [`MemFdBuffer::new`]. See the
/// [module documentation](self) for the ordering rules of shared memory.
#[derive(Debug)]
pub struct MemFdBuffer {
    fd: OwnedFd,
    offset: u64,
    size: usize,
    map: Mapping,
    key: FileKey,
    lock: Arc<Mutex<()>>,
}

// SAFETY: the raw pointers in `map` refer to a shared mapping owned by this buffer and valid
// until it drops; every access to the bytes goes through `with_bytes`, which holds the
// per-file lock, so the buffer can move to and be shared between threads.
unsafe impl Send for MemFdBuffer {}
// SAFETY: as above: concurrent `&self` accesses are serialized by the per-file lock.
unsafe impl Sync for MemFdBuffer {}

fn alloc_error(size: usize, reason: impl Into<String>) -> HalError {
    HalError::Allocation {
        size,
        kind: MemoryKind::Host,
        reason: reason.into(),
    }
}

impl MemFdBuffer {
    /// Allocates `size` zeroed bytes in a new memfd, sealed at that size. Fails when `size`
    /// exceeds [`MAX_HOST_BUFFER`] or the kernel refuses.
    pub fn new(size: usize) -> Result<MemFdBuffer, HalError> {
        if size > MAX_HOST_BUFFER {
            return Err(alloc_error(
                size,
                format!("larger than the limit of {MAX_HOST_BUFFER}"),
            ));
        }
        let fd = rustix::fs::memfd_create(
            "tessera-buffer",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| alloc_error(size, format!("memfd_create: {e}")))?;
        rustix::fs::ftruncate(&fd, size as u64)
            .map_err(|e| alloc_error(size, format!("sizing the memfd: {e}")))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(|e| alloc_error(size, format!("sealing the memfd: {e}")))?;
        MemFdBuffer::from_fd(fd, 0, size)
    }

    /// Maps an external buffer's memory, without copying: writes through either side are
    /// seen by the other.
    ///
    /// Accepts [`ExternalKind::MemFd`] descriptors of regular files (memfds, tmpfs files).
    /// Fails with [`HalError::ExternalRange`] when `offset + size` overflows or lies past the
    /// file's real size, and with [`HalError::Unsupported`] for a dma-buf (mapping one on
    /// the host needs the exporter's cache-sync brackets).
    pub fn import(ext: ExternalBuffer) -> Result<MemFdBuffer, HalError> {
        if ext.kind() != ExternalKind::MemFd {
            return Err(crate::external::unsupported(
                "host",
                format!("mapping a {} as host memory", ext.kind()),
            ));
        }
        let (offset, size) = (ext.offset(), ext.size());
        if size > MAX_HOST_BUFFER {
            return Err(HalError::Invalid(format!(
                "external buffer of {size} bytes exceeds the host buffer limit of \
                 {MAX_HOST_BUFFER}"
            )));
        }
        let fd = ext.into_fd();
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| HalError::os("inspecting an external buffer's descriptor", e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(HalError::Invalid(
                "an external memfd buffer's descriptor is not a memfd or regular file".into(),
            ));
        }
        let available = u64::try_from(st.st_size).unwrap_or(0);
        match offset.checked_add(size as u64) {
            Some(end) if end <= available => {}
            _ => {
                return Err(HalError::ExternalRange {
                    offset,
                    size: size as u64,
                    available,
                })
            }
        }
        // Best effort: keep the file from shrinking under the mapping. Files that do not
        // support sealing (or are sealed against further seals) answer an error, which is
        // fine; the module documentation states the risk.
        let _ = rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK);
        MemFdBuffer::from_fd(fd, offset, size)
    }

    fn from_fd(fd: OwnedFd, offset: u64, size: usize) -> Result<MemFdBuffer, HalError> {
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| HalError::os("inspecting a memfd buffer's descriptor", e))?;
        let key = (st.st_dev, st.st_ino);
        let map = if size == 0 {
            Mapping::empty()
        } else {
            Mapping::map(fd.as_fd(), offset, size)?
        };
        Ok(MemFdBuffer {
            fd,
            offset,
            size,
            map,
            key,
            lock: file_lock(key),
        })
    }

    /// The memfd, borrowed (for `fstat`, or passing on without [`Buffer::export`]).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Offset of the buffer's first byte in the memfd.
    pub fn file_offset(&self) -> u64 {
        self.offset
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // A panic inside a map callback poisons the lock; the bytes are still plain memory,
        // so continuing with them is sound.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `data` points at `size` mapped, initialized bytes (or is dangling with
        // size 0) that stay mapped while `self` lives. The per-file lock is held for the
        // slice's whole life, so no other reference into this memory exists in this process
        // meanwhile (every buffer mapping this file takes the same lock).
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.map.data.as_ptr(), self.size) };
        f(bytes)
    }
}

impl Drop for MemFdBuffer {
    fn drop(&mut self) {
        // Forget the per-file lock when this is its last holder. Upgrades happen under the
        // registry lock, so the count cannot grow while it is held.
        let mut reg = registry();
        if Arc::strong_count(&self.lock) == 1 {
            reg.remove(&self.key);
        }
    }
}

impl Buffer for MemFdBuffer {
    fn size(&self) -> usize {
        self.size
    }

    fn memory_kind(&self) -> MemoryKind {
        MemoryKind::Host
    }

    fn map_read(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), HalError> {
        self.with_bytes(|b| f(b));
        Ok(())
    }

    fn map_write(&self, f: &mut dyn FnMut(&mut [u8])) -> Result<(), HalError> {
        self.with_bytes(|b| f(b));
        Ok(())
    }

    fn export(&self) -> Result<ExternalBuffer, HalError> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| HalError::os("duplicating a memfd buffer's descriptor", e))?;
        Ok(ExternalBuffer::new(
            fd,
            self.offset,
            self.size,
            ExternalKind::MemFd,
        ))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_import_share_bytes() {
        let a: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(10).unwrap());
        assert_eq!(a.read_bytes(0, 10).unwrap(), vec![0; 10]);
        let b: Arc<dyn Buffer> = Arc::new(MemFdBuffer::import(a.export().unwrap()).unwrap());
        a.write_bytes(2, &[1, 2, 3]).unwrap();
        assert_eq!(b.read_bytes(0, 6).unwrap(), vec![0, 0, 1, 2, 3, 0]);
        b.write_bytes(9, &[9]).unwrap();
        assert_eq!(a.read_bytes(9, 1).unwrap(), vec![9]);
        // Both buffers share one per-file lock.
        let (ma, mb) = (
            a.as_any().downcast_ref::<MemFdBuffer>().unwrap(),
            b.as_any().downcast_ref::<MemFdBuffer>().unwrap(),
        );
        assert!(Arc::ptr_eq(&ma.lock, &mb.lock));
    }

    #[test]
    fn sub_range_at_unaligned_offset() {
        let page = rustix::param::page_size();
        let a: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(page + 100).unwrap());
        let pattern: Vec<u8> = (0..100u8).collect();
        a.write_bytes(page - 30, &pattern).unwrap();
        let ext = a.export().unwrap();
        let sub = ExternalBuffer::new(ext.into_fd(), (page - 30) as u64, 100, ExternalKind::MemFd);
        let b: Arc<dyn Buffer> = Arc::new(MemFdBuffer::import(sub).unwrap());
        assert_eq!(b.read_bytes(0, 100).unwrap(), pattern);
        assert!(b.read_bytes(1, 100).is_err());
    }

    #[test]
    fn empty_buffers_map_nothing() {
        let a: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(0).unwrap());
        assert_eq!(a.read_bytes(0, 0).unwrap(), Vec::<u8>::new());
        let b = MemFdBuffer::import(a.export().unwrap()).unwrap();
        assert_eq!(b.size(), 0);
        assert!(MemFdBuffer::new(usize::MAX).is_err());
    }

    #[test]
    fn refuses_ranges_past_the_file() {
        let a = MemFdBuffer::new(64).unwrap();
        let fd = || a.export().unwrap().into_fd();
        for (offset, size) in [(0u64, 65usize), (60, 5), (u64::MAX, 1), (65, 0)] {
            let e =
                MemFdBuffer::import(ExternalBuffer::new(fd(), offset, size, ExternalKind::MemFd))
                    .unwrap_err();
            assert!(
                matches!(e, HalError::ExternalRange { available: 64, .. }),
                "{e}"
            );
        }
        let e =
            MemFdBuffer::import(ExternalBuffer::new(fd(), 0, 8, ExternalKind::DmaBuf)).unwrap_err();
        assert!(matches!(e, HalError::Unsupported { .. }), "{e}");
        // A memfd made here is sealed at its size.
        assert!(rustix::fs::ftruncate(a.fd(), 8).is_err());
    }
}
