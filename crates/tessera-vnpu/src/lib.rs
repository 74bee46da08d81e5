//! `tessera-vnpu`: a configurable virtual NPU, and the template for a new Tessera backend.
//!
//! The virtual NPU is a deliberately restricted device. It has its own memory (buffers are
//! separate allocations under a byte budget, reached by the host only through map/unmap),
//! one in-order queue running on its own thread, and kernels for a small op set:
//!
//! | op | dtypes |
//! |----|--------|
//! | `Conv` (2-D NCHW; pads, strides, dilations, groups, `auto_pad`) | f32 |
//! | `MatMul` (batch broadcasting), `Gemm` | f32 |
//! | `MatMulInteger` (scalar zero points) | i8 → i32 |
//! | `Add`, `Mul` (numpy broadcasting) | f32, i8 (wrapping) |
//! | `Relu` | f32, i8 |
//! | `MaxPool` (2-D) | f32, i8 |
//! | `AveragePool` (2-D, `count_include_pad`) | f32 |
//! | `Reshape`, `Flatten` (no copy) | f32, i8 |
//!
//! Everything else is refused by [`Device::supports`](tessera_hal::Device::supports) with a
//! reason. A [`VnpuConfig`] (or the equivalent URI options) narrows the op set, turns int8
//! off, shrinks the memory budget, adds latency to every execute and injects failures, so
//! tests can force partitions, slow queues and faults:
//!
//! ```
//! use std::time::Duration;
//! use tessera_hal::{Device, DeviceUri, Driver};
//! use tessera_vnpu::{VnpuConfig, VnpuDriver, VnpuOp};
//!
//! // From a URI, as a user would name it…
//! let uri = DeviceUri::parse("vnpu://0?ops=conv+relu&latency_ms=5&fail_at=3")?;
//! let device = VnpuDriver::new().create(&uri)?;
//! assert_eq!(device.info().extra("ops"), Some("conv+relu"));
//!
//! // …or from a config, as a test would.
//! let config = VnpuConfig::new()
//!     .with_ops([VnpuOp::MatMul, VnpuOp::Add])
//!     .with_latency(Duration::from_millis(5))
//!     .with_memory_bytes(1 << 20);
//! let device = VnpuDriver::new().create_with(0, config)?;
//! assert_eq!(device.memory_stats().budget, 1 << 20);
//! # Ok::<(), tessera_hal::HalError>(())
//! ```
//!
//! # A template for vendors
//!
//! Copy this crate to start a backend (as IREE's `drivers/null` is copied); the step-by-step
//! guide is `docs/backend-guide.md`. Each file holds one concept:
//!
//! | file | what it is | what a vendor replaces |
//! |------|------------|------------------------|
//! | `driver.rs` | [`VnpuDriver`]: name, enumeration, URI → device | probe the kernel driver (`/dev/accel/*`), one entry per device |
//! | `config.rs` | [`VnpuConfig`], [`VnpuOp`]: op set and URI options | the hardware's real capabilities and tunables |
//! | `device.rs` | [`VnpuDevice`]: `Device` impl, `DeviceInfo` | device properties from firmware |
//! | `support.rs` | the `supports` rules and refusal reasons | the hardware's constraints (ranks, dtypes, attributes) |
//! | `memory.rs` | [`VnpuHeap`], [`VnpuBuffer`]: budgeted device memory, map closures | GEM/dma-buf allocations, mmap and cache maintenance |
//! | `device.rs` (queue) | `tessera_hal::InOrderQueue::continuing` over a `HostQueue`: an in-order ring on its own thread that moves on after a faulting job | job submission to the hardware ring, fences → timelines |
//! | `compile.rs` | subgraph → executable, weights uploaded once | lowering to the command stream, weight packing |
//! | `executable.rs` | [`VnpuExecutable`]: node-by-node interpretation | submitting the compiled command stream |
//! | `kernels/` | small reference kernels | nothing: hardware runs the ops (keep them as test oracles) |
//! | `error.rs` | [`VnpuError`] | the backend's own errors |
//!
//! Registering the driver is one line in `tessera-runtime`'s `drivers()`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod compile;
pub mod config;
pub mod device;
pub mod driver;
pub mod error;
pub mod executable;
pub mod kernels;
pub mod memory;
pub mod support;

pub use config::{VnpuConfig, VnpuOp};
pub use device::VnpuDevice;
pub use driver::VnpuDriver;
pub use error::VnpuError;
pub use executable::VnpuExecutable;
pub use memory::{MemoryStats, VnpuBuffer, VnpuHeap};

#[cfg(test)]
mod tests;
