//! The Tessera runtime: the one API that the CLI, the C ABI and the Python bindings sit on.
//!
//! A [`Session`] takes a model through load (`tessera_onnx`) → specialization of symbolic
//! dims → optimization (`tessera_passes`) → decomposition of the composite ops the devices
//! lack → partitioning over the devices in the user's preference list → compilation per
//! device, and then runs it with checked inputs:
//!
//! ```no_run
//! use tessera_ir::{DType, Tensor, Value};
//! use tessera_runtime::{Session, SessionOptions};
//!
//! let options = SessionOptions::default().with_dim("batch", 1);
//! let session = Session::from_file("model.onnx", options)?;
//! for input in session.inputs() {
//!     println!("input {}: {:?}", input.name, input.ty);
//! }
//! let x = Tensor::zeros(DType::F32, vec![1, 3, 224, 224])?;
//! let outputs = session.run(vec![("input".to_string(), Value::Tensor(x))])?;
//! for (name, value) in &outputs {
//!     if let Some(t) = value.as_tensor() {
//!         println!("{name}: {}", t.summary());
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same with a graph built in code, which runs as a doc test:
//!
//! ```
//! use tessera_ir::{DType, Graph, Tensor, TensorType, Value, ValueType};
//! use tessera_runtime::{Session, SessionOptions};
//!
//! let mut g = Graph::new("passthrough");
//! let x = g.add_value("x", Some(ValueType::Tensor(TensorType::known(DType::F32, &[2]))));
//! g.inputs.push(x);
//! g.outputs.push(x);
//! let session = Session::from_graph(g, SessionOptions::default())?;
//! let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0])?;
//! let outputs = session.run(vec![("x".to_string(), Value::Tensor(t.clone()))])?;
//! assert_eq!(outputs[0].1, Value::Tensor(t));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules:
//!
//! - [`session`]: [`Session`], its inputs/outputs, timings and model facts.
//! - [`binding`]: inputs and outputs bound to caller memory shared by file descriptor
//!   ([`IoBinding`], [`ExternalTensor`]) for [`Session::run_bound`] and [`Session::submit_bound`].
//! - [`profile`]: [`Session::run_profiled`] and the [`Profile`] of a run (time per node and
//!   per op type).
//! - [`decompose`]: which composite ops run fused and which decomposed into primitives, for
//!   which device ([`DecomposePolicy`]).
//! - [`partition`]: node placement and the parts ([`Placement`]).
//! - [`dot`]: the placement as a Graphviz graph ([`placement_dot`]).
//! - [`io`]: `.npy` / `.npz` reading and writing.
//! - [`fold`]: the CPU kernels as the constant-folding evaluator of the optimizer.
//! - [`drivers()`]: the registry of built-in drivers (`cpu`, `vnpu`).
//!
//! Within a run, parts run one after the other, each submitted to its device's queue and
//! ordered by a per-run [`Timeline`](tessera_hal::Timeline). Values stay in the memory of the
//! device that produced them until another device needs them; they then cross zero-copy where
//! the buffer exports and the target imports, through the host otherwise
//! ([`Session::transfer_stats`] counts both). [`Session::submit`] puts several runs in flight,
//! so parts on different devices overlap. Not here yet: per-shape plan caching and arena memory
//! planning.

#![warn(missing_docs)]

pub mod binding;
pub mod decompose;
pub mod dot;
pub mod error;
mod execute;
pub mod fold;
pub mod io;
pub mod options;
pub mod partition;
pub mod pending;
pub mod profile;
pub mod session;
mod specialize;
mod validate;

pub use binding::{ExternalTensor, IoBinding, RunInput};
pub use decompose::{Decomposed, UnusedDecomposition};
pub use dot::placement_dot;
pub use error::{InputProblem, RuntimeError, UnplacedNode};
pub use options::{DecomposePolicy, SessionOptions};
pub use partition::{Crossing, NodePlacement, PartInfo, Placement, Refusal};
pub use pending::PendingRun;
pub use profile::{NodeProfile, OpTime, Profile};
pub use session::{IoInfo, ModelInfo, ModelSource, Session, Timings, TransferStats};
pub use tessera_hal as hal;

use std::sync::{Arc, OnceLock};
use tessera_hal::DriverRegistry;

/// A new registry holding every driver built into this crate — [`tessera_cpu::CpuDriver`]
/// (`cpu`) and [`tessera_vnpu::VnpuDriver`] (`vnpu`, the configurable virtual NPU that
/// exercises partitioning, transfers and queues, and that vendors copy to start a backend) —
/// to which an application may add its own before building sessions with [`Session::load`].
pub fn builtin_drivers() -> DriverRegistry {
    let mut r = DriverRegistry::new();
    // The names differ, so registering into an empty registry cannot collide.
    let _ = r.register(Arc::new(tessera_cpu::CpuDriver));
    let _ = r.register(Arc::new(tessera_vnpu::VnpuDriver::with_devices(2)));
    r
}

/// The process-wide registry of built-in drivers, created on first use (no life-before-main
/// registration). `tessera devices` lists what it enumerates.
pub fn drivers() -> &'static DriverRegistry {
    static REGISTRY: OnceLock<DriverRegistry> = OnceLock::new();
    REGISTRY.get_or_init(builtin_drivers)
}
