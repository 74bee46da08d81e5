//! External buffers: a memfd buffer exported to a second process over a Unix socket
//! (`SCM_RIGHTS`), written there and read here without a copy; export and import within
//! one process; range checks; no leaked descriptors.

#![cfg(target_os = "linux")]

mod common;

use common::{assert_fd_count_returns_to, child_role, fd_count, serial, spawn_child};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use tessera_hal::{Buffer, ExternalBuffer, ExternalKind, HalError, HostBuffer, MemFdBuffer};

/// Not a multiple of the page size, so the last page is partly used.
const SIZE: usize = 3 * 4096 + 17;

fn pattern(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// The child side of `another_process_writes_into_an_exported_buffer`.
#[test]
fn child_writes_into_a_received_buffer() {
    let Some((mut stream, _)) = child_role() else {
        return;
    };
    let ext = ExternalBuffer::recv(&stream).unwrap();
    assert_eq!(
        (ext.size(), ext.offset(), ext.kind()),
        (SIZE, 0, ExternalKind::MemFd)
    );
    let buf = MemFdBuffer::import(ext).unwrap();
    // The parent wrote a marker first.
    buf.map_read(&mut |b| assert_eq!(&b[..3], b"abc")).unwrap();
    buf.map_write(&mut |b| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = pattern(i);
        }
    })
    .unwrap();
    stream.write_all(b"w").unwrap();
}

#[test]
fn another_process_writes_into_an_exported_buffer() {
    let _s = serial();
    let buf: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(SIZE).unwrap());
    buf.write_bytes(0, b"abc").unwrap();
    let mut child = spawn_child("child_writes_into_a_received_buffer", "");
    buf.export().unwrap().send(&child.stream).unwrap();
    let mut ack = [0u8; 1];
    child.stream.read_exact(&mut ack).unwrap();
    assert_eq!(&ack, b"w");
    child.finish();
    // The child's writes are in this process's mapping: nothing was copied back.
    let bytes = buf.read_bytes(0, SIZE).unwrap();
    assert!(bytes.iter().enumerate().all(|(i, &b)| b == pattern(i)));
}

#[test]
fn export_and_import_in_one_process_share_the_bytes() {
    let _s = serial();
    let a: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(SIZE).unwrap());
    // Through a socket pair, as another process would receive it.
    let (left, right) = UnixStream::pair().unwrap();
    a.export().unwrap().send(&left).unwrap();
    let b: Arc<dyn Buffer> =
        Arc::new(MemFdBuffer::import(ExternalBuffer::recv(&right).unwrap()).unwrap());
    a.write_bytes(10, &[1, 2, 3]).unwrap();
    assert_eq!(b.read_bytes(9, 5).unwrap(), vec![0, 1, 2, 3, 0]);
    b.write_bytes(SIZE - 1, &[42]).unwrap();
    assert_eq!(a.read_bytes(SIZE - 1, 1).unwrap(), vec![42]);
    // A clone of an export is another handle on the same memory.
    let ext = b.export().unwrap();
    let c = MemFdBuffer::import(ext.try_clone().unwrap()).unwrap();
    drop(ext);
    let c: Arc<dyn Buffer> = Arc::new(c);
    assert_eq!(c.read_bytes(10, 3).unwrap(), vec![1, 2, 3]);
}

#[test]
fn ranges_outside_the_memory_are_refused() {
    let _s = serial();
    let a = MemFdBuffer::new(100).unwrap();
    let fd = || a.export().unwrap().into_fd();
    let e =
        MemFdBuffer::import(ExternalBuffer::new(fd(), 50, 51, ExternalKind::MemFd)).unwrap_err();
    assert!(
        matches!(
            e,
            HalError::ExternalRange {
                offset: 50,
                size: 51,
                available: 100
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("does not fit the 100 bytes"), "{e}");
    let e = MemFdBuffer::import(ExternalBuffer::new(fd(), u64::MAX, 2, ExternalKind::MemFd))
        .unwrap_err();
    assert!(matches!(e, HalError::ExternalRange { .. }), "{e}");
    // The whole range, and an empty one at the very end, are fine.
    assert_eq!(
        MemFdBuffer::import(ExternalBuffer::new(fd(), 0, 100, ExternalKind::MemFd))
            .unwrap()
            .size(),
        100
    );
    assert_eq!(
        MemFdBuffer::import(ExternalBuffer::new(fd(), 100, 0, ExternalKind::MemFd))
            .unwrap()
            .size(),
        0
    );
    // Not every descriptor is memory.
    let (left, _right) = UnixStream::pair().unwrap();
    let e = MemFdBuffer::import(ExternalBuffer::new(left.into(), 0, 1, ExternalKind::MemFd))
        .unwrap_err();
    assert!(e.to_string().contains("not a memfd"), "{e}");
}

#[test]
fn plain_buffers_are_not_exportable() {
    let _s = serial();
    let h: Arc<dyn Buffer> = Arc::new(HostBuffer::new(8).unwrap());
    let e = h.export().unwrap_err();
    assert!(matches!(e, HalError::Unsupported { .. }), "{e}");
}

#[test]
fn no_descriptor_leaks() {
    let _s = serial();
    let before = fd_count();
    for i in 0..200 {
        let a: Arc<dyn Buffer> = Arc::new(MemFdBuffer::new(i * 97).unwrap());
        let (left, right) = UnixStream::pair().unwrap();
        let ext = a.export().unwrap();
        ext.send(&left).unwrap();
        drop(ext);
        let b = MemFdBuffer::import(ExternalBuffer::recv(&right).unwrap()).unwrap();
        assert_eq!(b.size(), i * 97);
        let c = MemFdBuffer::import(b.export().unwrap().try_clone().unwrap()).unwrap();
        // Failed imports close what they were given too.
        let bad = ExternalBuffer::new(
            a.export().unwrap().into_fd(),
            1,
            i * 97,
            ExternalKind::MemFd,
        );
        assert!(MemFdBuffer::import(bad).is_err());
        drop((a, b, c));
    }
    assert_fd_count_returns_to(before);
}
