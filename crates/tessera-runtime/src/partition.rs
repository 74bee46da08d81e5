//! Partitioning: each node goes to the first device in the preference list whose
//! [`Device::supports`] answers yes; maximal runs of consecutive nodes on one device become
//! one [`Subgraph`]. Every refusal is recorded, so `tessera inspect` can show why a node did
//! not land on a preferred device, and a node no device accepts is an error that lists all
//! such nodes at once. The primitives of a decomposed composite come *pinned* to the device
//! chosen for the whole decomposition (see [`crate::decompose`]), so it is never split.

use crate::decompose::{Decomposed, UnusedDecomposition};
use crate::error::{RuntimeError, UnplacedNode};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use tessera_hal::{Device, Subgraph, Support};
use tessera_ir::{Graph, ValueId, ValueType};

/// One device's reason for refusing a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Device URI.
    pub device: String,
    /// The device's reason.
    pub reason: String,
}

/// Where one node runs and which devices refused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlacement {
    /// Node name.
    pub node: String,
    /// Canonical op name.
    pub op: String,
    /// URI of the device that runs it.
    pub device: String,
    /// Refusals by every other device in the list (those before the chosen one explain the
    /// choice; those after it are shown for information).
    pub refusals: Vec<Refusal>,
}

/// One subgraph of the partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    /// Part name (the graph's name when the whole graph is one part).
    pub name: String,
    /// URI of its device.
    pub device: String,
    /// The nodes it covers, as indices into the graph's node list.
    pub nodes: Range<usize>,
    /// Names of the values it receives.
    pub inputs: Vec<String>,
    /// Names of the values it produces for later parts or as model outputs.
    pub outputs: Vec<String>,
    /// The inputs that cross into this part's device from elsewhere: from another device's
    /// part, or from the caller (model inputs).
    pub receives: Vec<Crossing>,
}

/// A value crossing into a part: where from, and how big when its type is static.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    /// Value name.
    pub value: String,
    /// URI of the device whose part produced it, or `None` for a model input (which the
    /// caller provides in host memory or in a bound buffer).
    pub from: Option<String>,
    /// Its size in bytes, when its type is a tensor of static shape.
    pub bytes: Option<usize>,
}

/// The outcome of partitioning: per-node placement and the parts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Placement {
    /// The devices considered, in preference order.
    pub devices: Vec<String>,
    /// One entry per graph node, in graph order.
    pub nodes: Vec<NodePlacement>,
    /// The parts, in execution order.
    pub parts: Vec<PartInfo>,
    /// Composite nodes replaced by primitives, and the device that runs them.
    pub decomposed: Vec<Decomposed>,
    /// Decompositions considered for a device and not used there, with the reason (also
    /// appended to that device's refusal of the fused node in [`Placement::nodes`]).
    pub unused_decompositions: Vec<UnusedDecomposition>,
}

impl Placement {
    /// Number of nodes placed on `device`.
    pub fn count_on(&self, device: &str) -> usize {
        self.nodes.iter().filter(|n| n.device == device).count()
    }
}

/// A part ready to compile.
pub(crate) struct PlannedPart {
    /// Index into the session's device list.
    pub device: usize,
    pub subgraph: Subgraph,
    /// Graph values feeding the part's inputs, in order.
    pub inputs: Vec<ValueId>,
    /// Graph values the part's outputs define, in order.
    pub outputs: Vec<ValueId>,
}

pub(crate) struct Plan {
    pub placement: Placement,
    pub parts: Vec<PlannedPart>,
}

/// Assigns every node of `g` to a device and cuts the graph into parts. A node named in
/// `pins` goes to that device (index into `devices`) when it supports the node.
pub(crate) fn partition(
    g: &Graph,
    devices: &[Arc<dyn Device>],
    pins: &HashMap<String, usize>,
) -> Result<Plan, RuntimeError> {
    let uris: Vec<String> = devices.iter().map(|d| d.info().uri.clone()).collect();
    let mut placement = Placement {
        devices: uris.clone(),
        ..Placement::default()
    };
    let mut assigned = Vec::with_capacity(g.nodes.len());
    let mut unplaced = Vec::new();
    for node in &g.nodes {
        let types: Vec<Option<ValueType>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|id| g.value(id).ty.clone()))
            .collect();
        let mut chosen = None;
        let mut refusals = Vec::new();
        let pin = pins.get(&node.name).copied();
        for (i, d) in devices.iter().enumerate() {
            match d.supports(node, &types) {
                Support::Yes => {
                    if chosen.is_none() || pin == Some(i) {
                        chosen = Some(i);
                    }
                }
                Support::No { reason } => refusals.push(Refusal {
                    device: uris[i].clone(),
                    reason,
                }),
            }
        }
        match chosen {
            Some(i) => {
                assigned.push(i);
                placement.nodes.push(NodePlacement {
                    node: node.name.clone(),
                    op: node.op.name(),
                    device: uris[i].clone(),
                    refusals,
                });
            }
            None => unplaced.push(UnplacedNode {
                node: node.name.clone(),
                op: node.op.name(),
                refusals,
            }),
        }
    }
    if !unplaced.is_empty() {
        return Err(RuntimeError::Unsupported {
            devices: uris,
            nodes: unplaced,
        });
    }

    let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
    for (i, &d) in assigned.iter().enumerate() {
        match runs.last_mut() {
            Some((dev, r)) if *dev == d => r.end = i + 1,
            _ => runs.push((d, i..i + 1)),
        }
    }

    let mut parts: Vec<PlannedPart> = Vec::with_capacity(runs.len());
    if runs.len() == 1 {
        let (device, nodes) = runs.remove(0);
        parts.push(PlannedPart {
            device,
            subgraph: Subgraph::new(g.name.clone(), g.clone()),
            inputs: g.inputs.clone(),
            outputs: g.outputs.clone(),
        });
        placement
            .parts
            .push(part_info(g, &parts[0], &uris, nodes, &HashMap::new()));
    } else {
        let last_use = last_uses(g);
        // Which device produced each value crossing between parts.
        let mut produced_on: HashMap<ValueId, usize> = HashMap::new();
        for (i, (device, nodes)) in runs.into_iter().enumerate() {
            let name = format!("{}.{i}", g.name);
            let part = cut(g, nodes.clone(), name, device, &last_use);
            placement
                .parts
                .push(part_info(g, &part, &uris, nodes, &produced_on));
            for &v in &part.outputs {
                produced_on.insert(v, part.device);
            }
            parts.push(part);
        }
    }
    Ok(Plan { placement, parts })
}

fn part_info(
    g: &Graph,
    p: &PlannedPart,
    uris: &[String],
    nodes: Range<usize>,
    produced_on: &HashMap<ValueId, usize>,
) -> PartInfo {
    let names = |ids: &[ValueId]| ids.iter().map(|&i| g.name_of(i).to_string()).collect();
    let receives = p
        .inputs
        .iter()
        .filter_map(|&v| {
            let from = match produced_on.get(&v) {
                Some(&d) if d == p.device => return None,
                Some(&d) => Some(uris[d].clone()),
                None => None,
            };
            let bytes = match &g.value(v).ty {
                Some(ValueType::Tensor(t)) => t
                    .concrete()
                    .and_then(|dims| tessera_hal::buffer::view_byte_len(t.dtype, &dims).ok()),
                _ => None,
            };
            Some(Crossing {
                value: g.name_of(v).to_string(),
                from,
                bytes,
            })
        })
        .collect();
    PartInfo {
        name: p.subgraph.name.clone(),
        device: uris[p.device].clone(),
        nodes,
        inputs: names(&p.inputs),
        outputs: names(&p.outputs),
        receives,
    }
}

/// For each value, the index of the last node reading it; graph outputs count as read after
/// every node.
fn last_uses(g: &Graph) -> HashMap<ValueId, usize> {
    let mut m = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for v in n.input_ids() {
            m.insert(v, i);
        }
    }
    for &o in &g.outputs {
        m.insert(o, usize::MAX);
    }
    m
}

/// Cuts nodes `range` out of `g` as a self-contained graph.
fn cut(
    g: &Graph,
    range: Range<usize>,
    name: String,
    device: usize,
    last_use: &HashMap<ValueId, usize>,
) -> PlannedPart {
    let mut sub = Graph::new(name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for node in &g.nodes[range.clone()] {
        for v in node.input_ids() {
            if map.contains_key(&v) {
                continue;
            }
            let info = g.value(v);
            let new = match g.constant(v) {
                Some(t) => sub.add_constant(info.name.clone(), t.clone()),
                None => {
                    let id = sub.add_value(info.name.clone(), info.ty.clone());
                    sub.inputs.push(id);
                    inputs.push(v);
                    id
                }
            };
            map.insert(v, new);
        }
        let remap = |ids: &[Option<ValueId>], map: &HashMap<ValueId, ValueId>| {
            ids.iter()
                .map(|i| i.and_then(|v| map.get(&v).copied()))
                .collect::<Vec<_>>()
        };
        let ins = remap(&node.inputs, &map);
        for v in node.output_ids() {
            let info = g.value(v);
            let id = sub.add_value(info.name.clone(), info.ty.clone());
            map.insert(v, id);
            if last_use.get(&v).is_some_and(|&u| u >= range.end) {
                sub.outputs.push(id);
                outputs.push(v);
            }
        }
        let outs = remap(&node.outputs, &map);
        sub.add_node(node.name.clone(), node.op.clone(), ins, outs);
    }
    PlannedPart {
        device,
        subgraph: Subgraph::new(name, sub),
        inputs,
        outputs,
    }
}
