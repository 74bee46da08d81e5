//! Graph rewrites shared by every backend.
//!
//! - [`dce`]: dead-code elimination (nodes and constants nobody reads).
//! - [`decompose`]: composite ops rewritten into primitives, node by node, for devices that
//!   lack the fused op (the runtime decides where, between optimization and partitioning).
//! - [`shape_fold`]: `Shape`/`Size` of statically known shapes become constants.
//! - [`const_fold`]: nodes whose inputs are all constants are evaluated once, at compile time,
//!   by an [`Evaluator`] the caller supplies (the runtime passes the CPU kernels), so this crate
//!   depends on the IR only.
//!
//! [`optimize`] runs the first three to a fixed point, then re-infers types and verifies the
//! graph.

#![warn(missing_docs)]

pub mod const_fold;
pub mod dce;
pub mod decompose;
pub mod shape_fold;

use tessera_ir::{Graph, IrError, Op, Tensor};

/// Evaluates one op on constant inputs; `None` when it cannot (no kernel, or the op should not
/// be folded).
pub trait Evaluator {
    /// Runs `op` on `inputs` (`None` for omitted optional inputs).
    fn eval(&self, op: &Op, inputs: &[Option<&Tensor>]) -> Option<Vec<Option<Tensor>>>;
}

/// An error raised by a pass.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The graph became (or was) invalid.
    #[error("after pass '{pass}': {source}")]
    Invalid {
        /// The pass that ran last.
        pass: &'static str,
        /// The verifier's finding.
        #[source]
        source: IrError,
    },
    /// A decomposition could not be spliced into the graph it was built from.
    #[error("splicing the decomposition of node '{node}': {reason}")]
    Splice {
        /// The decomposed node.
        node: String,
        /// What did not match.
        reason: String,
    },
}

/// What [`optimize`] changed, for `tessera inspect` and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Nodes folded into constants.
    pub folded: usize,
    /// Nodes removed as dead.
    pub removed: usize,
}

/// Infers the types not yet known, runs shape folding, constant folding and DCE until nothing
/// changes (re-inferring types after each round), then verifies the graph. Subgraphs are
/// optimized too.
pub fn optimize(g: &mut Graph, eval: &dyn Evaluator) -> Result<Report, PassError> {
    let mut report = Report::default();
    // Shape folding needs the types, and a graph built by hand may come without them.
    tessera_ir::infer::infer_graph(g).map_err(|source| PassError::Invalid {
        pass: "infer",
        source,
    })?;
    loop {
        let folded = shape_fold::run(g) + const_fold::run(g, eval);
        let removed = dce::run(g);
        report.folded += folded;
        report.removed += removed;
        if folded == 0 && removed == 0 {
            break;
        }
        tessera_ir::infer::infer_graph(g).map_err(|source| PassError::Invalid {
            pass: "infer",
            source,
        })?;
    }
    for node in &mut g.nodes {
        for sub in subgraphs_mut(&mut node.op) {
            let r = optimize_subgraph(sub, eval)?;
            report.folded += r.folded;
            report.removed += r.removed;
        }
    }
    tessera_ir::verify(g).map_err(|source| PassError::Invalid {
        pass: "optimize",
        source,
    })?;
    Ok(report)
}

/// Subgraphs keep their inputs (a body's signature is fixed by its parent op), so only folding
/// and node DCE apply.
fn optimize_subgraph(g: &mut Graph, eval: &dyn Evaluator) -> Result<Report, PassError> {
    optimize(g, eval)
}

/// Makes `id` a constant holding `t`, with the matching concrete static type.
pub(crate) fn set_constant(g: &mut Graph, id: tessera_ir::ValueId, t: Tensor) {
    g.values[id.0].ty = Some(tessera_ir::ValueType::Tensor(
        tessera_ir::TensorType::known(t.dtype(), t.shape()),
    ));
    g.constants.insert(id, t);
}

fn subgraphs_mut(op: &mut Op) -> Vec<&mut Graph> {
    match op {
        Op::If(i) => vec![&mut *i.then_branch, &mut *i.else_branch],
        Op::Loop(l) => vec![&mut *l.body],
        Op::Scan(s) => vec![&mut *s.body],
        _ => vec![],
    }
}
