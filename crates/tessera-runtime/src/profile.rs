//! Profiled runs: where the time of a run goes, node by node and per op type.
//!
//! [`Session::run_profiled`] runs the model like [`Session::run`] and also returns a
//! [`Profile`]: the run's wall time and the time of every node of the parts placed on CPU
//! devices (`tessera_cpu` times them; see [`tessera_cpu::profile`]). Parts on other devices are
//! not broken down: their time, transfers and the runtime's own work make up the difference
//! between [`Profile::wall`] and [`Profile::node_time`].
//!
//! ```
//! use tessera_ir::op::UnaryOp;
//! use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueType};
//! use tessera_runtime::{Session, SessionOptions};
//!
//! let mut g = Graph::new("neg");
//! let ty = Some(ValueType::Tensor(TensorType::known(DType::F32, &[2])));
//! let x = g.add_value("x", ty.clone());
//! let y = g.add_value("y", ty);
//! g.add_node("negate", Op::Unary(UnaryOp::Neg), vec![Some(x)], vec![Some(y)]);
//! g.inputs.push(x);
//! g.outputs.push(y);
//! let session = Session::from_graph(g, SessionOptions::default())?;
//! let t = Tensor::from_vec(vec![2], vec![1.0f32, -2.0])?;
//! let (outputs, profile) = session.run_profiled(vec![("x".into(), Value::Tensor(t))])?;
//! assert_eq!(outputs.len(), 1);
//! let ops = profile.by_op();
//! assert_eq!((ops[0].op.as_str(), ops[0].calls), ("Neg", 1));
//! assert!(profile.node_time() <= profile.wall);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::RuntimeError;
use crate::session::Session;
use crate::validate::validate;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tessera_cpu::CpuExecutable;
use tessera_ir::Value;

/// The time of one node in a profiled run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeProfile {
    /// The part (compiled subgraph) the node belongs to.
    pub part: String,
    /// The URI of the device that ran it.
    pub device: String,
    /// The node's name.
    pub node: String,
    /// Its op type (the canonical op name, e.g. `Conv`).
    pub op: String,
    /// Wall time of the node's kernel.
    pub elapsed: Duration,
}

/// The total time of one op type, from [`Profile::by_op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpTime {
    /// The op type.
    pub op: String,
    /// The time of all its nodes together.
    pub total: Duration,
    /// How many of its nodes ran.
    pub calls: usize,
}

/// Where the time of one or more runs went; see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// How many runs this profile covers (1 from [`Session::run_profiled`]; more after
    /// [`Profile::merge`]).
    pub runs: usize,
    /// Wall time of the runs, from the call to the return of the outputs.
    pub wall: Duration,
    /// Every timed node, in execution order, run after run.
    pub nodes: Vec<NodeProfile>,
}

impl Profile {
    /// The time of all timed nodes together (at most [`Profile::wall`], up to clock
    /// granularity).
    pub fn node_time(&self) -> Duration {
        self.nodes.iter().map(|n| n.elapsed).sum()
    }

    /// Time and node count per op type, longest total first (ties by name).
    pub fn by_op(&self) -> Vec<OpTime> {
        let mut by: HashMap<&str, (Duration, usize)> = HashMap::new();
        for n in &self.nodes {
            let e = by.entry(n.op.as_str()).or_default();
            e.0 += n.elapsed;
            e.1 += 1;
        }
        let mut out: Vec<OpTime> = by
            .into_iter()
            .map(|(op, (total, calls))| OpTime {
                op: op.to_string(),
                total,
                calls,
            })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.op.cmp(&b.op)));
        out
    }

    /// Adds `other`'s runs to this profile.
    pub fn merge(&mut self, other: Profile) {
        self.runs += other.runs;
        self.wall += other.wall;
        self.nodes.extend(other.nodes);
    }
}

/// Turns per-node timing of the CPU parts on, and off again when dropped (also on error).
struct Profiling<'a> {
    parts: Vec<(&'a CpuExecutable, String)>,
}

impl Drop for Profiling<'_> {
    fn drop(&mut self) {
        for (exe, _) in &self.parts {
            exe.set_profiling(false);
            // Nothing recorded here may leak into a later profile.
            exe.take_profile();
        }
    }
}

impl Session {
    /// Runs the model like [`Session::run`] and also returns where the time went: the run's
    /// wall time and the time of every node placed on a CPU device (see [`Profile`]).
    ///
    /// A profiled run has the session to itself, so that no other run's nodes are counted:
    /// it waits for the runs in flight to finish, and runs started meanwhile wait for it.
    /// Inputs are checked as in [`Session::run`]. Timing costs a clock read per node; runs
    /// that are not profiled read no clock.
    pub fn run_profiled(
        &self,
        inputs: Vec<(String, Value)>,
    ) -> Result<(Vec<(String, Value)>, Profile), RuntimeError> {
        let inputs = crate::binding::IoBinding::from(inputs).inputs;
        let values = validate(&self.inputs, &self.options.dims, inputs)?;
        let _exclusive = self.gate.enter_all();
        let profiling = Profiling {
            parts: self
                .compiled
                .parts
                .iter()
                .filter_map(|p| {
                    let exe = p.executable.as_any().downcast_ref::<CpuExecutable>()?;
                    let uri = self.compiled.devices[p.device].info().uri.clone();
                    Some((exe, uri))
                })
                .collect(),
        };
        for (exe, _) in &profiling.parts {
            exe.take_profile();
            exe.set_profiling(true);
        }
        let start = Instant::now();
        let outputs = self.compiled.run(values, Vec::new())?;
        let wall = start.elapsed();
        let mut nodes = Vec::new();
        for (exe, device) in &profiling.parts {
            let part = tessera_hal::Executable::name(*exe).to_string();
            nodes.extend(exe.take_profile().into_iter().map(|t| NodeProfile {
                part: part.clone(),
                device: device.clone(),
                node: t.node,
                op: t.op,
                elapsed: t.elapsed,
            }));
        }
        Ok((
            outputs,
            Profile {
                runs: 1,
                wall,
                nodes,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, ms: u64) -> NodeProfile {
        NodeProfile {
            part: "p".into(),
            device: "cpu".into(),
            node: format!("{op}_{ms}"),
            op: op.into(),
            elapsed: Duration::from_millis(ms),
        }
    }

    #[test]
    fn by_op_sums_and_sorts() {
        let mut p = Profile {
            runs: 1,
            wall: Duration::from_millis(20),
            nodes: vec![
                node("Add", 2),
                node("Conv", 5),
                node("Add", 4),
                node("Relu", 6),
            ],
        };
        p.merge(Profile {
            runs: 1,
            wall: Duration::from_millis(10),
            nodes: vec![node("Conv", 3)],
        });
        assert_eq!(p.runs, 2);
        assert_eq!(p.wall, Duration::from_millis(30));
        assert_eq!(p.node_time(), Duration::from_millis(20));
        let ops: Vec<(String, u64, usize)> = p
            .by_op()
            .into_iter()
            .map(|o| (o.op, o.total.as_millis() as u64, o.calls))
            .collect();
        assert_eq!(
            ops,
            [
                ("Conv".to_string(), 8, 2),
                ("Add".to_string(), 6, 2),
                ("Relu".to_string(), 6, 1)
            ]
        );
    }
}
