//! Per-node timing of CPU executables, recorded only when asked for.
//!
//! [`CpuExecutable::set_profiling`](crate::CpuExecutable::set_profiling) turns recording on: each
//! later run of the executable adds one [`NodeTime`] per node of its graph (in execution order)
//! to the executable's record, which
//! [`CpuExecutable::take_profile`](crate::CpuExecutable::take_profile) drains. Nodes inside
//! control-flow bodies (`If`, `Loop`, `Scan`) are not timed separately: their time is the
//! enclosing node's.
//!
//! The executor takes its timing probe as a type parameter ([`Probe`]), and the unprofiled path
//! is instantiated with [`NoProbe`], whose methods are empty: with profiling off, a run reads no
//! clock and records nothing. The only cost left is one relaxed atomic load per executable run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_ir::Node;

/// The wall-clock time of one node in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTime {
    /// The node's name.
    pub node: String,
    /// Its op type (the canonical op name, e.g. `Conv`, `MatMul`).
    pub op: String,
    /// Time spent in the node's kernel, from the call to its return (kernels that run on the
    /// thread pool are timed on the calling thread, so this is wall time, not CPU time).
    pub elapsed: Duration,
}

/// What the executor does around each node: nothing ([`NoProbe`]) or time it.
pub(crate) trait Probe {
    /// Runs `f`, the kernel of `node` (of op type `op`), and returns its result.
    fn node<R>(&mut self, node: &Node, op: &str, f: impl FnOnce() -> R) -> R;
}

/// The probe of unprofiled runs: calls the kernel and nothing else.
pub(crate) struct NoProbe;

impl Probe for NoProbe {
    #[inline(always)]
    fn node<R>(&mut self, _node: &Node, _op: &str, f: impl FnOnce() -> R) -> R {
        f()
    }
}

impl Probe for Vec<NodeTime> {
    fn node<R>(&mut self, node: &Node, op: &str, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = f();
        let elapsed = start.elapsed();
        self.push(NodeTime {
            node: node.name.clone(),
            op: op.to_string(),
            elapsed,
        });
        result
    }
}

/// An executable's profiling switch and the node times recorded while it was on.
#[derive(Debug, Default)]
pub(crate) struct Profiler {
    on: AtomicBool,
    times: Mutex<Vec<NodeTime>>,
}

impl Profiler {
    /// Whether runs record node times.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Turns recording on or off (what was recorded stays until [`Profiler::take`]).
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Appends one run's node times.
    pub fn record(&self, times: Vec<NodeTime>) {
        self.lock().extend(times);
    }

    /// Everything recorded so far, leaving the record empty.
    pub fn take(&self) -> Vec<NodeTime> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<NodeTime>> {
        // Pushes and takes are whole operations; a poisoned lock still guards a valid Vec.
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }
}
