//! Constant folding: a node whose inputs are all constants is evaluated once by the
//! [`Evaluator`] and replaced by constants. Ops with subgraphs, ops producing non-tensor values
//! and results larger than [`MAX_FOLDED_ELEMENTS`] are left alone (folding must not grow the
//! model by materializing, say, a huge `ConstantOfShape`).

use crate::Evaluator;
use tessera_ir::{Graph, Op};

/// Largest result (in elements) that folding materializes.
pub const MAX_FOLDED_ELEMENTS: usize = 1 << 16;

/// Folds every foldable node; returns how many were folded.
pub fn run(g: &mut Graph, eval: &dyn Evaluator) -> usize {
    run_limited(g, eval, MAX_FOLDED_ELEMENTS)
}

/// Like [`run`], with results of up to `max_elements` elements materialized.
pub fn run_limited(g: &mut Graph, eval: &dyn Evaluator, max_elements: usize) -> usize {
    let mut folded = 0;
    let mut keep = Vec::with_capacity(g.nodes.len());
    for node in std::mem::take(&mut g.nodes) {
        let foldable = !matches!(
            node.op,
            Op::If(_) | Op::Loop(_) | Op::Scan(_) | Op::Sequence(_) | Op::Optional(_)
        ) && node
            .inputs
            .iter()
            .flatten()
            .all(|i| g.constants.contains_key(i))
            && node.outputs.iter().any(|o| o.is_some());
        let result = if foldable {
            let ins: Vec<Option<&tessera_ir::Tensor>> = node
                .inputs
                .iter()
                .map(|i| i.and_then(|i| g.constants.get(&i)))
                .collect();
            eval.eval(&node.op, &ins)
        } else {
            None
        };
        match result {
            Some(outs)
                if outs.len() == node.outputs.len()
                    && node.outputs.iter().zip(&outs).all(|(o, t)| {
                        o.is_none() || t.as_ref().is_some_and(|t| t.len() <= max_elements)
                    }) =>
            {
                for (o, t) in node.outputs.iter().zip(outs) {
                    if let (Some(o), Some(t)) = (o, t) {
                        crate::set_constant(g, *o, t);
                    }
                }
                folded += 1;
            }
            _ => keep.push(node),
        }
    }
    g.nodes = keep;
    folded
}
