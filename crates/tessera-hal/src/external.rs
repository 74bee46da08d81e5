//! External buffers: device memory handed across a device or process boundary as a file
//! descriptor, without copying.
//!
//! [`Buffer::export`](crate::Buffer::export) turns a buffer into an [`ExternalBuffer`]: an
//! owned file descriptor plus the offset and size of the buffer's bytes inside the memory the
//! descriptor stands for. [`Device::import`](crate::Device::import) (or
//! [`MemFdBuffer::import`](crate::MemFdBuffer::import) for host memory) maps it back into a
//! [`Buffer`](crate::Buffer) of another device or another process; both sides then see the
//! same bytes.
//!
//! The descriptor is a memfd for host memory and a dma-buf where a kernel driver provides
//! one ([`ExternalKind`]). An [`ExternalBuffer`] owns its descriptor: dropping it closes the
//! descriptor, [`ExternalBuffer::try_clone`] duplicates it, and an importer takes ownership.
//! The memory itself lives as long as any descriptor or mapping of it does.
//!
//! Between processes, [`ExternalBuffer::send`] and [`ExternalBuffer::recv`] pass one over a
//! Unix-domain socket (`SCM_RIGHTS`); [`send_with_fds`] and [`recv_with_fds`] are the
//! general form.
//!
//! Sharing memory shares no ordering: bytes written on one side are only guaranteed visible
//! and stable on the other once a timeline point orders the two accesses (see
//! [`crate::timeline_fd`] for points that cross processes).
//!
//! Only Linux can export and import; elsewhere the methods answer
//! [`HalError::Unsupported`].

use crate::error::HalError;
use std::fmt;

#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The descriptor an [`ExternalBuffer`] holds: an owned file descriptor on Unix; elsewhere
/// no external buffer can exist.
#[cfg(unix)]
pub(crate) type Fd = OwnedFd;
#[cfg(not(unix))]
pub(crate) type Fd = std::convert::Infallible;

/// What the file descriptor of an [`ExternalBuffer`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExternalKind {
    /// An anonymous shared-memory file (`memfd_create`): host memory any process can map.
    MemFd,
    /// A Linux dma-buf, exported by a kernel driver: device-reachable memory that other
    /// drivers (and, with cache-sync brackets, the host) can import.
    DmaBuf,
}

impl ExternalKind {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn code(self) -> u8 {
        match self {
            ExternalKind::MemFd => 1,
            ExternalKind::DmaBuf => 2,
        }
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn from_code(code: u8) -> Option<ExternalKind> {
        match code {
            1 => Some(ExternalKind::MemFd),
            2 => Some(ExternalKind::DmaBuf),
            _ => None,
        }
    }
}

impl fmt::Display for ExternalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExternalKind::MemFd => "memfd",
            ExternalKind::DmaBuf => "dma-buf",
        })
    }
}

/// A buffer's memory as a file descriptor, an offset and a size: what
/// [`Buffer::export`](crate::Buffer::export) produces and
/// [`Device::import`](crate::Device::import) consumes.
///
/// It owns the descriptor and closes it on drop. The buffer's bytes are the `size` bytes at
/// `offset` in the memory behind the descriptor; an importer checks that range against the
/// descriptor's real size.
#[derive(Debug)]
pub struct ExternalBuffer {
    fd: Fd,
    offset: u64,
    size: usize,
    kind: ExternalKind,
}

impl ExternalBuffer {
    /// Wraps a descriptor whose memory holds `size` bytes at `offset`. Nothing is checked
    /// here; the importer checks the range against the memory's real size.
    #[cfg(unix)]
    pub fn new(fd: OwnedFd, offset: u64, size: usize, kind: ExternalKind) -> ExternalBuffer {
        ExternalBuffer {
            fd,
            offset,
            size,
            kind,
        }
    }

    /// The descriptor, borrowed.
    #[cfg(unix)]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor, now owned by the caller.
    #[cfg(unix)]
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Byte offset of the buffer inside the descriptor's memory.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the buffer in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// What the descriptor is.
    pub fn kind(&self) -> ExternalKind {
        self.kind
    }

    /// A second handle on the same memory, with its own (duplicated) descriptor.
    pub fn try_clone(&self) -> Result<ExternalBuffer, HalError> {
        #[cfg(unix)]
        {
            let fd = self
                .fd
                .try_clone()
                .map_err(|e| HalError::os("duplicating an external buffer's descriptor", e))?;
            Ok(ExternalBuffer { fd, ..*self })
        }
        #[cfg(not(unix))]
        match self.fd {}
    }
}

#[cfg(unix)]
impl AsFd for ExternalBuffer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The error export and import answer where the platform cannot share memory as file
/// descriptors, or a buffer or device has no way to.
pub(crate) fn unsupported(device: &str, what: impl Into<String>) -> HalError {
    HalError::Unsupported {
        device: device.to_string(),
        what: what.into(),
    }
}

/// Most descriptors [`recv_with_fds`] accepts in one message (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS_PER_MESSAGE: usize = 253;

#[cfg(target_os = "linux")]
pub use linux::{recv_with_fds, send_with_fds};

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use rustix::io::{Errno, IoSlice, IoSliceMut};
    use rustix::net::{
        RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
        SendAncillaryMessage, SendFlags,
    };
    use std::mem::MaybeUninit;

    /// Tag opening the message [`ExternalBuffer::send`] writes.
    const BUFFER_TAG: [u8; 4] = *b"TXB1";
    /// Bytes of that message: tag, kind, offset, size.
    const BUFFER_MESSAGE: usize = 4 + 1 + 8 + 8;

    /// Sends all of `data` on a connected Unix-domain stream socket, with `fds` attached to
    /// its first byte (`SCM_RIGHTS`). The receiver gets its own descriptors for the same
    /// open files; the caller keeps `fds`.
    pub fn send_with_fds(
        socket: impl AsFd,
        data: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), HalError> {
        if data.is_empty() {
            return Err(HalError::Invalid(
                "descriptors must travel with at least one byte of data".into(),
            ));
        }
        if fds.len() > MAX_FDS_PER_MESSAGE {
            return Err(HalError::Invalid(format!(
                "{} descriptors in one message; at most {MAX_FDS_PER_MESSAGE}",
                fds.len()
            )));
        }
        let socket = socket.as_fd();
        let mut space =
            vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(HalError::Invalid(
                "descriptors do not fit the control message".into(),
            ));
        }
        let sent = loop {
            match rustix::net::sendmsg(
                socket,
                &[IoSlice::new(data)],
                &mut control,
                SendFlags::NOSIGNAL,
            ) {
                Err(Errno::INTR) => continue,
                r => break r.map_err(|e| HalError::os("sending descriptors on a socket", e))?,
            }
        };
        let mut rest = &data[sent..];
        while !rest.is_empty() {
            match rustix::net::send(socket, rest, SendFlags::NOSIGNAL) {
                Err(Errno::INTR) => continue,
                Err(e) => return Err(HalError::os("sending on a socket", e)),
                Ok(n) => rest = &rest[n..],
            }
        }
        Ok(())
    }

    /// Receives exactly `data.len()` bytes from a connected Unix-domain stream socket, and
    /// the descriptors (at most `max_fds`) attached to the first of them. Received
    /// descriptors are close-on-exec. Fails if the peer closes the socket first or sends
    /// more descriptors than `max_fds` (the kernel closes the extra ones).
    pub fn recv_with_fds(
        socket: impl AsFd,
        data: &mut [u8],
        max_fds: usize,
    ) -> Result<Vec<OwnedFd>, HalError> {
        if data.is_empty() {
            return Err(HalError::Invalid(
                "descriptors arrive with at least one byte of data".into(),
            ));
        }
        if max_fds > MAX_FDS_PER_MESSAGE {
            return Err(HalError::Invalid(format!(
                "at most {MAX_FDS_PER_MESSAGE} descriptors arrive in one message, {max_fds} requested"
            )));
        }
        let socket = socket.as_fd();
        let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(max_fds))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = loop {
            match rustix::net::recvmsg(
                socket,
                &mut [IoSliceMut::new(data)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Err(Errno::INTR) => continue,
                r => break r.map_err(|e| HalError::os("receiving descriptors on a socket", e))?,
            }
        };
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = m {
                fds.extend(received);
            }
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) {
            return Err(HalError::Invalid(format!(
                "the peer sent more than {max_fds} descriptor(s); the extra ones were closed"
            )));
        }
        let mut got = msg.bytes;
        if got == 0 {
            return Err(HalError::Invalid(
                "the peer closed the socket before sending".into(),
            ));
        }
        while got < data.len() {
            match rustix::net::recv(socket, &mut data[got..], RecvFlags::empty()) {
                Err(Errno::INTR) => continue,
                Err(e) => return Err(HalError::os("receiving on a socket", e)),
                Ok((0, _)) => {
                    return Err(HalError::Invalid(format!(
                        "the peer closed the socket after {got} of {} bytes",
                        data.len()
                    )))
                }
                Ok((n, _)) => got += n,
            }
        }
        Ok(fds)
    }

    impl ExternalBuffer {
        /// Sends the buffer (its descriptor, offset, size and kind) over a connected
        /// Unix-domain stream socket, for [`ExternalBuffer::recv`] in another process. The
        /// caller keeps its own descriptor.
        pub fn send(&self, socket: impl AsFd) -> Result<(), HalError> {
            let mut msg = [0u8; BUFFER_MESSAGE];
            msg[..4].copy_from_slice(&BUFFER_TAG);
            msg[4] = self.kind.code();
            msg[5..13].copy_from_slice(&self.offset.to_le_bytes());
            msg[13..].copy_from_slice(&(self.size as u64).to_le_bytes());
            send_with_fds(socket, &msg, &[self.fd.as_fd()])
        }

        /// Receives a buffer sent with [`ExternalBuffer::send`].
        pub fn recv(socket: impl AsFd) -> Result<ExternalBuffer, HalError> {
            let mut msg = [0u8; BUFFER_MESSAGE];
            let mut fds = recv_with_fds(socket, &mut msg, 1)?;
            if msg[..4] != BUFFER_TAG {
                return Err(HalError::Invalid(
                    "the message received is not an external buffer".into(),
                ));
            }
            let kind = ExternalKind::from_code(msg[4]).ok_or_else(|| {
                HalError::Invalid(format!("unknown external buffer kind {}", msg[4]))
            })?;
            let word = |r: std::ops::Range<usize>| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&msg[r]);
                u64::from_le_bytes(b)
            };
            let offset = word(5..13);
            let size = usize::try_from(word(13..21)).map_err(|_| {
                HalError::Invalid("external buffer size does not fit this machine".into())
            })?;
            let fd = fds.pop().ok_or_else(|| {
                HalError::Invalid("an external buffer arrived without its descriptor".into())
            })?;
            Ok(ExternalBuffer::new(fd, offset, size, kind))
        }
    }
}
