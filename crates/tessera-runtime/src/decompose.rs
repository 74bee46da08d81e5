//! Where composite ops run: fused on a device that claims them, or decomposed into
//! primitives for a device that runs every one of those — decided after the devices are
//! created and before partitioning.
//!
//! For each composite node (`LayerNorm`, `Gemm`, `Gelu`, …; see
//! [`Op::is_composite`](tessera_ir::Op::is_composite)) the devices are tried in preference
//! order. Under [`DecomposePolicy::Auto`], a device that supports the node keeps it fused
//! and the search stops. Otherwise, where `tessera_passes::decompose` has a rule, the node's
//! decomposition is built and folded once, and the first device that supports every one of
//! its primitive nodes gets all of them: they are spliced into the graph and pinned to that
//! device, so a composite is never split between devices. Each device whose turn did not end
//! that way leaves a reason, which [`Placement`] keeps and `tessera inspect` shows next to the
//! device's refusal of the fused node. [`DecomposePolicy::All`] skips the fused check, so every
//! composite with an applicable rule is decomposed. Nodes inside `If`/`Loop`/`Scan` bodies are
//! left alone: they run wherever their control-flow node runs.

use crate::error::RuntimeError;
use crate::fold::CpuEvaluator;
use crate::options::DecomposePolicy;
use crate::partition::{Placement, Refusal};
use std::collections::HashMap;
use std::sync::Arc;
use tessera_hal::{Device, Support};
use tessera_ir::{Graph, ValueType};
use tessera_passes::decompose::{decompose, has_rule, splice, Declined, Decomposition};

/// A composite node replaced by primitive nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decomposed {
    /// Name of the composite node.
    pub node: String,
    /// Its canonical op name.
    pub op: String,
    /// URI of the device that runs all of its primitives.
    pub device: String,
    /// The names of the primitive nodes that replace it, in graph order.
    pub nodes: Vec<String>,
}

/// A decomposition considered for one device and not used there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusedDecomposition {
    /// Name of the composite node.
    pub node: String,
    /// Its canonical op name.
    pub op: String,
    /// URI of the device.
    pub device: String,
    /// Why not: the primitive the device lacks and the device's reason, or why the rule did
    /// not apply.
    pub reason: String,
}

/// The outcome of [`decide`]: where the partitioner must put the new nodes, and what to show.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    /// Node name → index of the device that runs it (the primitives of a decomposition).
    pub pins: HashMap<String, usize>,
    /// Decompositions made.
    pub decomposed: Vec<Decomposed>,
    /// Decompositions considered and not used.
    pub unused: Vec<UnusedDecomposition>,
}

/// The first primitive of `d` that `device` does not support, as a reason.
fn first_refusal(d: &Decomposition, device: &dyn Device) -> Option<String> {
    d.nodes()
        .iter()
        .find_map(|n| match device.supports(n, &d.input_types(n)) {
            Support::Yes => None,
            Support::No { reason } => Some(format!(
                "decomposed {} needs {}: {reason}",
                d.op,
                n.op.name()
            )),
        })
}

/// Decides, for every composite node of `g`, whether it runs fused or decomposed and on which
/// device, and splices the decompositions into `g`.
pub(crate) fn decide(
    g: &mut Graph,
    devices: &[Arc<dyn Device>],
    policy: DecomposePolicy,
) -> Result<Decisions, RuntimeError> {
    let mut out = Decisions::default();
    let mut i = 0;
    while i < g.nodes.len() {
        let node = &g.nodes[i];
        if !node.op.is_composite() || !has_rule(&node.op) {
            i += 1;
            continue;
        }
        let types: Vec<Option<ValueType>> = node
            .inputs
            .iter()
            .map(|v| v.and_then(|id| g.value(id).ty.clone()))
            .collect();
        let (name, op) = (node.name.clone(), node.op.name());
        let mut built: Option<Result<Decomposition, Declined>> = None;
        let mut chosen = None;
        for (di, device) in devices.iter().enumerate() {
            if policy == DecomposePolicy::Auto && device.supports(&g.nodes[i], &types).is_yes() {
                break;
            }
            let reason = match built.get_or_insert_with(|| decompose(g, i, &CpuEvaluator)) {
                Ok(d) => match first_refusal(d, device.as_ref()) {
                    None => {
                        chosen = Some(di);
                        break;
                    }
                    Some(reason) => reason,
                },
                Err(declined) => format!("{op} is not decomposed: {declined}"),
            };
            out.unused.push(UnusedDecomposition {
                node: name.clone(),
                op: op.clone(),
                device: device.info().uri.clone(),
                reason,
            });
            // A rule that declines declines for every device; only a device that claims the
            // fused op can still take the node.
            if policy == DecomposePolicy::All && matches!(built, Some(Err(_))) {
                break;
            }
        }
        match (chosen, built) {
            (Some(di), Some(Ok(d))) => {
                let names = splice(g, i, d)?;
                i += names.len();
                for n in &names {
                    out.pins.insert(n.clone(), di);
                }
                out.decomposed.push(Decomposed {
                    node: name,
                    op,
                    device: devices[di].info().uri.clone(),
                    nodes: names,
                });
            }
            _ => i += 1,
        }
    }
    if !out.decomposed.is_empty() {
        tessera_ir::verify(g)?;
    }
    Ok(out)
}

impl Decisions {
    /// The note to append to `device`'s refusal of `node`, if a decomposition was considered.
    fn note(&self, node: &str, device: &str) -> Option<&str> {
        self.unused
            .iter()
            .find(|u| u.node == node && u.device == device)
            .map(|u| u.reason.as_str())
    }

    fn annotate_refusals(&self, node: &str, refusals: &mut [Refusal]) {
        for r in refusals {
            if let Some(note) = self.note(node, &r.device) {
                r.reason = format!("{}; {note}", r.reason);
            }
        }
    }

    /// Records the decisions in `placement`, and appends to each device's refusal of a fused
    /// composite why its decomposition was not used there.
    pub fn annotate(self, placement: &mut Placement) {
        for n in &mut placement.nodes {
            self.annotate_refusals(&n.node, &mut n.refusals);
        }
        placement.decomposed = self.decomposed;
        placement.unused_decompositions = self.unused;
    }

    /// The same notes on the refusals listed by a partitioning error.
    pub fn annotate_error(&self, e: RuntimeError) -> RuntimeError {
        match e {
            RuntimeError::Unsupported { devices, mut nodes } => {
                for n in &mut nodes {
                    self.annotate_refusals(&n.node, &mut n.refusals);
                }
                RuntimeError::Unsupported { devices, nodes }
            }
            other => other,
        }
    }
}
