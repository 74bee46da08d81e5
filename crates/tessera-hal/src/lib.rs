//! The Tessera hardware-abstraction layer: the contract between the runtime and every device
//! backend, plus the machinery backends share.
//!
//! Vocabulary follows IREE and Vulkan:
//!
//! - [`Driver`]: one per backend crate, registered explicitly in a [`DriverRegistry`]. It
//!   enumerates [`DeviceInfo`]s and creates a [`Device`] from a [`DeviceUri`] such as `cpu`,
//!   `cpu://threads=2` or `vnpu://0`.
//! - [`Device`]: answers capability queries ([`Device::supports`] → [`Support`]), compiles a
//!   [`Subgraph`] into an [`Executable`], allocates [`Buffer`]s and hands out [`Queue`]s.
//! - [`Buffer`] / [`BufferView`]: device memory with a size and a [`MemoryKind`]; host-visible
//!   buffers can be mapped. [`HostBuffer`] is a plain host-memory implementation any driver may
//!   reuse. [`DeviceValue`] mirrors `tessera_ir::Value` with buffer views as leaves.
//! - [`Timeline`]: a u64 semaphore that only grows and can fail; failures reach every waiter.
//! - [`Queue::submit`]: [`Work`] (execute, copy, fill) ordered only by explicit wait and
//!   signal lists of timeline points. [`HostQueue`] is a ready-made queue for devices whose
//!   work runs on the host; [`InOrderQueue`] makes any queue run its submissions in order.
//! - [`wait_graph`]: the process-wide wait-for graph of every pending and running submission
//!   of every queue. A submission that would close a cycle of waits is refused with
//!   [`HalError::Deadlock`], and a host [`Timeline::wait`] on a point that no pending or
//!   running work can signal fails with it instead of hanging; both reports name the
//!   submissions, queues and timeline points involved ([`DeadlockReport`]). Timelines that the
//!   host itself signals are made with [`Timeline::host_signalled`] and are never reported.
//!   `docs/fences.md` describes the model.
//!
//! Every trait is object safe: the runtime holds `Arc<dyn Device>`, `Arc<dyn Buffer>`, … .
//!
//! # Example: a whole round trip through a device
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tessera_hal::{HostQueue, Queue, Timeline, Work};
//! use tessera_hal::{Buffer, HostBuffer};
//!
//! let queue = HostQueue::new("example")?;
//! let buf: Arc<dyn Buffer> = Arc::new(HostBuffer::new(8)?);
//! let done = Arc::new(Timeline::new("done"));
//! queue.submit(
//!     Work::Fill { dst: buf.clone(), offset: 0, len: 8, pattern: vec![7] },
//!     &[],
//!     &[(done.clone(), 1)],
//! )?;
//! done.wait(1, Duration::from_secs(10))?;
//! assert_eq!(buf.read_bytes(0, 8)?, vec![7; 8]);
//! # Ok::<(), tessera_hal::HalError>(())
//! ```
//!
//! # Sharing between devices and processes
//!
//! - [`Buffer::export`] → [`ExternalBuffer`] (an owned file descriptor, offset and size) and
//!   [`Device::import`]: zero-copy sharing between devices and processes. [`MemFdBuffer`]
//!   (Linux) is exportable host memory; [`ExternalBuffer::send`] passes one to another
//!   process over a Unix socket. See `docs/buffers.md`.
//! - [`Timeline::export_point`] / [`Timeline::import_point`]: timeline points as file
//!   descriptors (eventfds), readable once the point is reached or failed
//!   ([`timeline_fd`]).
//!
//! # Not yet here
//!
//! - Importing dma-bufs: the types carry [`ExternalKind::DmaBuf`], but no driver maps one
//!   yet (the host needs `DMA_BUF_IOCTL_SYNC` brackets around its maps).
//! - Timeline points as DRM syncobjs (for kernel drivers that wait on them directly).

#![warn(missing_docs)]

pub mod buffer;
pub mod device;
pub mod driver;
pub mod error;
pub mod executable;
pub mod external;
pub mod host_buffer;
pub mod host_queue;
pub mod in_order_queue;
pub mod info;
#[cfg(target_os = "linux")]
pub mod memfd_buffer;
pub mod queue;
pub mod subgraph;
pub mod support;
pub mod timeline;
pub mod timeline_fd;
pub mod uri;
pub mod value;
pub mod wait_graph;

pub use buffer::{Buffer, BufferView, MemoryKind};
pub use device::Device;
pub use driver::{Driver, DriverRegistry};
pub use error::HalError;
pub use executable::{Binding, Executable};
pub use external::{ExternalBuffer, ExternalKind};
pub use host_buffer::HostBuffer;
pub use host_queue::HostQueue;
pub use in_order_queue::{InOrderQueue, OnFailure};
pub use info::{DeviceInfo, DeviceKind};
#[cfg(target_os = "linux")]
pub use memfd_buffer::MemFdBuffer;
pub use queue::{OutputSlot, Queue, TimePoint, Work};
pub use subgraph::Subgraph;
pub use support::Support;
pub use timeline::Timeline;
pub use timeline_fd::{PointState, TimelinePointFd};
pub use uri::DeviceUri;
pub use value::DeviceValue;
pub use wait_graph::DeadlockReport;
