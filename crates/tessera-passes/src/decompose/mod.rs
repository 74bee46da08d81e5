//! Decomposition of composite ops into primitives, one node at a time.
//!
//! A composite op ([`Op::is_composite`]) is one a backend may run fused or not at all; for
//! a device that lacks it, a *rule* rewrites the node into primitive ops the device is more
//! likely to have. Rules are scoped to one op: a rule sees one node, the static types of its
//! inputs and the constant tensors among them, and writes the replacement into a *scratch*
//! graph whose inputs are the node's inputs and whose outputs are the node's outputs. Nothing
//! touches the real graph until the caller has looked at the result:
//!
//! 1. [`decompose`] builds the scratch graph with the node's rule, constant-folds it with the
//!    caller's [`Evaluator`] (so a `BatchNorm` with constant parameters becomes one `Mul` and
//!    one `Add`), re-infers its types and checks that every output the node has is produced
//!    with the node's type. A rule that cannot apply — no rule for the op, an unknown rank, an
//!    unsupported attribute combination — answers [`Declined`] with the reason.
//! 2. The caller inspects [`Decomposition::nodes`] (the runtime asks a device whether it
//!    supports each of them, with [`Decomposition::input_types`]).
//! 3. [`splice`] replaces the node by the scratch graph's nodes, named
//!    `<node>/<k>_<Op>`, and adds their intermediate values and constants. Every output id of
//!    the original node is kept, so its consumers are untouched.
//!
//! The rules, one file per op family:
//!
//! - `linalg.rs`: `Gemm` (`alpha`, `beta`, `trans_a`, `trans_b`, optional `c`).
//! - `norm.rs`: `BatchNorm`, `LayerNorm` (with its optional mean and inverse standard deviation
//!   outputs), `RmsNorm`, `InstanceNorm`, `GroupNorm` and `LpNorm`.
//! - `activation.rs`: `Gelu`, exact and with the tanh approximation.
//!
//! Each follows its op's documented semantics (and the function body ONNX gives the operator,
//! where it has one). Intermediate results of f16 and bf16 inputs are computed in f32, as the
//! fused kernels do. The other composites (`Attention`, `RotaryEmbedding`, the losses) have no
//! rule yet: they run only where a device claims them.

mod activation;
mod builder;
mod linalg;
mod norm;

use crate::{const_fold, dce, shape_fold, Evaluator, PassError};
use builder::Builder;
use std::collections::{HashMap, HashSet};
use tessera_ir::{Graph, Node, Op, Tensor, ValueId, ValueType};

/// Why a node was not decomposed: shown to users next to the device's refusal of the fused
/// op, so it names what is missing (`the rank of input 0 is unknown`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Declined {
    /// The reason.
    pub reason: String,
}

impl Declined {
    /// A refusal with `reason`.
    pub fn new(reason: impl Into<String>) -> Declined {
        Declined {
            reason: reason.into(),
        }
    }
}

/// One node rewritten into primitives, not yet spliced into its graph.
#[derive(Clone, Debug)]
pub struct Decomposition {
    /// Name of the node it replaces.
    pub node: String,
    /// Canonical op name of that node.
    pub op: String,
    /// The scratch graph, folded and typed. Its inputs are the node's non-constant inputs,
    /// its constants include the node's constant inputs still read, and its outputs are the
    /// node's present outputs, in order.
    pub graph: Graph,
    /// Scratch value → the value of the real graph it stands for (the node's inputs and
    /// outputs).
    outer: HashMap<ValueId, ValueId>,
}

impl Decomposition {
    /// The primitive nodes that replace the node, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.graph.nodes
    }

    /// The static types of `node`'s inputs (one of [`Decomposition::nodes`]), one per input,
    /// `None` for an omitted input or an unknown type — what `Device::supports` takes.
    pub fn input_types(&self, node: &Node) -> Vec<Option<ValueType>> {
        node.inputs
            .iter()
            .map(|i| i.and_then(|id| self.graph.value(id).ty.clone()))
            .collect()
    }
}

/// True when a rule exists for `op` (it may still decline a particular node).
pub fn has_rule(op: &Op) -> bool {
    rule(op).is_some()
}

type Rule = fn(&mut Builder<'_>) -> Result<(), Declined>;

fn rule(op: &Op) -> Option<Rule> {
    Some(match op {
        Op::Gemm(_) => linalg::gemm,
        Op::Unary(tessera_ir::op::UnaryOp::Gelu { .. }) => activation::gelu,
        Op::BatchNorm(_) => norm::batch_norm,
        Op::LayerNorm(_) => norm::layer_norm,
        Op::RmsNorm(_) => norm::rms_norm,
        Op::InstanceNorm(_) => norm::instance_norm,
        Op::GroupNorm(_) => norm::group_norm,
        Op::LpNorm(_) => norm::lp_norm,
        _ => return None,
    })
}

/// Builds the decomposition of `g.nodes[index]`: runs its rule into a scratch graph,
/// constant-folds that with `eval`, re-infers its types and checks its outputs against the
/// node's. `g` is not modified.
pub fn decompose(g: &Graph, index: usize, eval: &dyn Evaluator) -> Result<Decomposition, Declined> {
    let node = g
        .nodes
        .get(index)
        .ok_or_else(|| Declined::new(format!("no node at index {index}")))?;
    let name = node.op.name();
    let rule = rule(&node.op).ok_or_else(|| Declined::new(format!("no rule decomposes {name}")))?;
    let mut b = Builder::new(g, node);
    rule(&mut b)?;
    let (mut scratch, outer) = b.finish()?;
    // Folding must not grow the model, but may produce constants as large as those the node
    // reads (a transposed weight matrix replaces the weights).
    let limit = node
        .input_ids()
        .filter_map(|i| g.constant(i))
        .map(Tensor::len)
        .max()
        .unwrap_or(0)
        .max(const_fold::MAX_FOLDED_ELEMENTS);
    fold(&mut scratch, eval, limit)?;
    check_outputs(g, node, &scratch)?;
    Ok(Decomposition {
        node: node.name.clone(),
        op: name,
        graph: scratch,
        outer,
    })
}

fn infer(g: &mut Graph) -> Result<(), Declined> {
    tessera_ir::infer::infer_graph(g)
        .map_err(|e| Declined::new(format!("the decomposition does not type-check: {e}")))
}

/// Shape folding, constant folding and DCE on the scratch graph to a fixed point.
fn fold(g: &mut Graph, eval: &dyn Evaluator, limit: usize) -> Result<(), Declined> {
    infer(g)?;
    loop {
        let folded = shape_fold::run(g) + const_fold::run_limited(g, eval, limit);
        let removed = dce::run(g);
        if folded == 0 && removed == 0 {
            return Ok(());
        }
        infer(g)?;
    }
}

/// Every present output of `node` must be defined by the scratch graph with a type that
/// agrees with the node's (dtype always, shape where both are fully known).
fn check_outputs(g: &Graph, node: &Node, scratch: &Graph) -> Result<(), Declined> {
    for (k, (outer, &inner)) in node.output_ids().zip(&scratch.outputs).enumerate() {
        let want = g.value(outer).ty.as_ref().and_then(ValueType::as_tensor);
        let got = scratch
            .value(inner)
            .ty
            .as_ref()
            .and_then(ValueType::as_tensor);
        let (Some(want), Some(got)) = (want, got) else {
            continue;
        };
        let shapes_differ = matches!(
            (want.concrete(), got.concrete()),
            (Some(a), Some(b)) if a != b
        );
        if want.dtype != got.dtype || shapes_differ {
            return Err(Declined::new(format!(
                "the decomposition yields {got} for output {k}, the node declares {want}"
            )));
        }
    }
    Ok(())
}

/// Replaces `g.nodes[index]` by `d`'s nodes and returns their names. New nodes are named
/// `<node>/<k>_<Op>` (made unique if needed), new values after the node that produces them,
/// new constants `<node>/c<k>`. The original node's output ids stay (an output the folding
/// turned into a constant becomes a constant of `g`), so consumers need no change.
///
/// `d` must come from [`decompose`] on this graph and index.
pub fn splice(g: &mut Graph, index: usize, d: Decomposition) -> Result<Vec<String>, PassError> {
    let node_name = d.node.clone();
    let stale = |why: String| PassError::Splice {
        node: node_name.clone(),
        reason: why,
    };
    match g.nodes.get(index) {
        Some(n) if n.name == d.node => {}
        _ => return Err(stale(format!("the node is not at index {index}"))),
    }
    let mut value_names: HashSet<String> = g.values.iter().map(|v| v.name.clone()).collect();
    let mut node_names: HashSet<String> = g.nodes.iter().map(|n| n.name.clone()).collect();
    let unique = |taken: &mut HashSet<String>, base: String| {
        let mut name = base.clone();
        let mut n = 1;
        while taken.contains(&name) {
            name = format!("{base}#{n}");
            n += 1;
        }
        taken.insert(name.clone());
        name
    };

    let Decomposition {
        node: base,
        graph: scratch,
        mut outer,
        ..
    } = d;
    // Constants: the node's own stay; new ones are added.
    for (k, (id, t)) in scratch.constants.iter().enumerate() {
        match outer.get(id) {
            Some(&o) if g.constants.contains_key(&o) => {}
            Some(&o) => {
                // A node output that folding made constant.
                crate::set_constant(g, o, t.clone());
            }
            None => {
                let name = unique(&mut value_names, format!("{base}/c{k}"));
                let new = g.add_constant(name, t.clone());
                outer.insert(*id, new);
            }
        }
    }
    let mut nodes = Vec::with_capacity(scratch.nodes.len());
    let mut names = Vec::with_capacity(scratch.nodes.len());
    for (k, n) in scratch.nodes.iter().enumerate() {
        let name = unique(&mut node_names, format!("{base}/{k}_{}", n.op.name()));
        let mut outputs = Vec::with_capacity(n.outputs.len());
        for (j, o) in n.outputs.iter().enumerate() {
            let Some(o) = *o else {
                outputs.push(None);
                continue;
            };
            let id = match outer.get(&o) {
                Some(&id) => id,
                None => {
                    let vname = if n.outputs.len() == 1 {
                        name.clone()
                    } else {
                        format!("{name}:{j}")
                    };
                    let vname = unique(&mut value_names, vname);
                    let id = g.add_value(vname, scratch.value(o).ty.clone());
                    outer.insert(o, id);
                    id
                }
            };
            outputs.push(Some(id));
        }
        let inputs = n
            .inputs
            .iter()
            .map(|i| match i {
                None => Ok(None),
                Some(i) => outer.get(i).copied().map(Some).ok_or_else(|| {
                    stale(format!(
                        "scratch value '{}' is not defined",
                        scratch.name_of(*i)
                    ))
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        names.push(name.clone());
        nodes.push(Node {
            name,
            op: n.op.clone(),
            inputs,
            outputs,
        });
    }
    g.nodes.splice(index..=index, nodes);
    Ok(names)
}

#[cfg(test)]
mod tests;
