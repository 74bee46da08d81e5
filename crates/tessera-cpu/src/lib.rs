//! The Tessera CPU driver: kernels for the canonical op set and a graph executor, exposed to
//! the runtime through the HAL.
//!
//! - [`kernels`]: one file per op family, each kernel checked against a naive reference.
//! - [`exec`]: runs a graph node by node.
//! - [`device`]: the HAL driver and device ([`CpuDriver`], `cpu`, `cpu://threads=N`).
//! - [`profile`]: per-node timing of executables, off unless turned on
//!   ([`CpuExecutable::set_profiling`]).

#![warn(missing_docs)]

pub mod device;
pub mod error;
pub mod exec;
pub mod kernels;
pub mod profile;

pub use device::{CpuDevice, CpuDriver, CpuExecutable};
pub use error::{KResult, KernelError};
pub use profile::NodeTime;
