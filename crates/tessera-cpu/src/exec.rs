//! The graph executor: runs a [`Graph`] node by node on host values, releasing each
//! intermediate value after its last use. [`run_graph_timed`] also times every node.

use crate::error::{invalid, KResult, KernelError};
use crate::kernels::{self, Inputs};
use crate::profile::{NoProbe, NodeTime, Probe};
use tessera_ir::{Graph, Value};

/// Runs `g` on `inputs` (one per graph input, in order) and returns one value per graph
/// output.
pub fn run_graph(g: &Graph, inputs: Vec<Value>) -> KResult<Vec<Value>> {
    run_probed(g, inputs, &mut NoProbe)
}

/// [`run_graph`], appending the wall time of each node (in execution order) to `times`.
/// Nodes that ran before a failing one are recorded too.
pub fn run_graph_timed(
    g: &Graph,
    inputs: Vec<Value>,
    times: &mut Vec<NodeTime>,
) -> KResult<Vec<Value>> {
    run_probed(g, inputs, times)
}

fn run_probed<P: Probe>(g: &Graph, inputs: Vec<Value>, probe: &mut P) -> KResult<Vec<Value>> {
    if inputs.len() != g.inputs.len() {
        return Err(invalid(
            &g.name,
            format!(
                "graph takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            ),
        ));
    }
    let mut slots: Vec<Option<Value>> = vec![None; g.values.len()];
    for (&id, v) in g.inputs.iter().zip(inputs) {
        slots[id.0] = Some(v);
    }
    for (&id, t) in &g.constants {
        slots[id.0] = Some(Value::Tensor(t.clone()));
    }
    // Remaining uses per value; graph outputs are never released.
    let mut uses = vec![0usize; g.values.len()];
    for n in &g.nodes {
        for i in n.input_ids() {
            uses[i.0] += 1;
        }
    }
    for &o in &g.outputs {
        uses[o.0] += 1;
    }
    for node in &g.nodes {
        let name = node.op.name();
        let outs = {
            let vals: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|i| i.and_then(|i| slots[i.0].as_ref()))
                .collect();
            if let Some(pos) = node
                .inputs
                .iter()
                .zip(&vals)
                .position(|(i, v)| i.is_some() && v.is_none())
            {
                return Err(invalid(&name, format!("input {pos} was never computed")));
            }
            let ins = Inputs {
                op: &name,
                values: &vals,
            };
            probe
                .node(node, &name, || kernels::run(&node.op, &ins))
                .map_err(|e| KernelError::AtNode {
                    node: node.name.clone(),
                    source: Box::new(e),
                })?
        };
        for i in node.input_ids() {
            uses[i.0] -= 1;
            if uses[i.0] == 0 {
                slots[i.0] = None;
            }
        }
        for (slot, v) in node.outputs.iter().zip(outs) {
            if let Some(o) = slot {
                slots[o.0] = v;
            }
        }
    }
    g.outputs
        .iter()
        .map(|&o| {
            slots[o.0]
                .clone()
                .or_else(|| g.constants.get(&o).map(|t| Value::Tensor(t.clone())))
                .ok_or_else(|| {
                    invalid(
                        &g.name,
                        format!("output '{}' was not computed", g.name_of(o)),
                    )
                })
        })
        .collect()
}
