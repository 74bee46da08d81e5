//! [`Builder`]: what a decomposition rule writes with — the node being replaced, facts about
//! its inputs, and a scratch graph to emit primitive nodes into.

use super::Declined;
use std::collections::HashMap;
use tessera_ir::op::{BinaryOp, Cast, Reduce, ReduceKind, Reshape, UnaryOp};
use tessera_ir::{DType, Graph, Node, Op, Tensor, TensorType, ValueId, ValueType};

/// A scratch graph under construction for one node.
pub(crate) struct Builder<'a> {
    /// The node being replaced.
    pub node: &'a Node,
    g: Graph,
    /// Scratch ids of the node's inputs (`None` where omitted).
    ins: Vec<Option<ValueId>>,
    /// Scratch ids of the node's outputs (`None` where not requested).
    outs: Vec<Option<ValueId>>,
    /// Whether each present output has been written.
    written: Vec<bool>,
    outer: HashMap<ValueId, ValueId>,
    tmp: usize,
}

impl<'a> Builder<'a> {
    /// A scratch graph whose inputs stand for `node`'s inputs in `outer` (constants stay
    /// constants) and whose outputs stand for its outputs.
    pub fn new(outer: &Graph, node: &'a Node) -> Builder<'a> {
        let mut g = Graph::new(format!("{}.decomposed", node.name));
        let mut map = HashMap::new();
        let mut seen: HashMap<ValueId, ValueId> = HashMap::new();
        let ins = node
            .inputs
            .iter()
            .map(|i| {
                i.map(|id| {
                    if let Some(&s) = seen.get(&id) {
                        return s;
                    }
                    let info = outer.value(id);
                    let s = match outer.constant(id) {
                        Some(t) => g.add_constant(info.name.clone(), t.clone()),
                        None => {
                            let s = g.add_value(info.name.clone(), info.ty.clone());
                            g.inputs.push(s);
                            s
                        }
                    };
                    seen.insert(id, s);
                    map.insert(s, id);
                    s
                })
            })
            .collect();
        let outs: Vec<Option<ValueId>> = node
            .outputs
            .iter()
            .map(|o| {
                o.map(|id| {
                    // Typed by inference, then checked against the node's type.
                    let s = g.add_value(outer.name_of(id).to_string(), None);
                    map.insert(s, id);
                    s
                })
            })
            .collect();
        let written = vec![false; outs.len()];
        Builder {
            node,
            g,
            ins,
            outs,
            written,
            outer: map,
            tmp: 0,
        }
    }

    /// The op name, for reasons.
    pub fn op_name(&self) -> String {
        self.node.op.name()
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<ValueId, Declined> {
        self.opt_input(i)
            .ok_or_else(|| Declined::new(format!("input {i} of {} is missing", self.op_name())))
    }

    /// Input `i`, if present.
    pub fn opt_input(&self, i: usize) -> Option<ValueId> {
        self.ins.get(i).copied().flatten()
    }

    /// The static tensor type of a scratch value.
    pub fn tensor_type(&self, v: ValueId) -> Result<&TensorType, Declined> {
        match &self.g.value(v).ty {
            Some(ValueType::Tensor(t)) => Ok(t),
            Some(other) => Err(Declined::new(format!(
                "'{}' is a {other}, not a tensor",
                self.g.name_of(v)
            ))),
            None => Err(Declined::new(format!(
                "the type of '{}' is unknown",
                self.g.name_of(v)
            ))),
        }
    }

    /// The dtype of a scratch value read by the node.
    pub fn dtype(&self, v: ValueId) -> Result<DType, Declined> {
        Ok(self.tensor_type(v)?.dtype)
    }

    /// The rank of a scratch value, which must be known.
    pub fn rank(&self, v: ValueId) -> Result<usize, Declined> {
        self.tensor_type(v)?
            .rank()
            .ok_or_else(|| Declined::new(format!("the rank of '{}' is unknown", self.g.name_of(v))))
    }

    /// The rank of a scratch value, if known.
    pub fn opt_rank(&self, v: ValueId) -> Option<usize> {
        self.tensor_type(v).ok().and_then(TensorType::rank)
    }

    /// Adds a constant.
    pub fn constant(&mut self, t: Tensor) -> ValueId {
        self.tmp += 1;
        self.g.add_constant(format!("c{}", self.tmp), t)
    }

    /// A scalar constant of `dtype` holding `v` (rounded as a cast rounds).
    pub fn scalar(&mut self, v: f64, dtype: DType) -> ValueId {
        self.constant(Tensor::scalar(v).cast(dtype))
    }

    /// An i64 vector constant.
    pub fn i64s(&mut self, v: &[i64]) -> Result<ValueId, Declined> {
        let t = Tensor::from_vec(vec![v.len()], v.to_vec())
            .map_err(|e| Declined::new(format!("building a constant: {e}")))?;
        Ok(self.constant(t))
    }

    fn node_name(&self, op: &Op) -> String {
        format!("{}_{}", self.g.nodes.len(), op.name())
    }

    /// Emits `op` on `inputs` with one new intermediate output, and returns it.
    pub fn emit(&mut self, op: Op, inputs: &[ValueId]) -> ValueId {
        self.emit_opt(op, inputs.iter().copied().map(Some).collect())
    }

    /// Like [`Builder::emit`], with omitted optional inputs.
    pub fn emit_opt(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> ValueId {
        self.tmp += 1;
        let out = self.g.add_value(format!("t{}", self.tmp), None);
        let name = self.node_name(&op);
        self.g.add_node(name, op, inputs, vec![Some(out)]);
        out
    }

    /// Emits `op` on `inputs` writing the node's output `k` when it is requested (an
    /// intermediate otherwise), and returns the value written.
    pub fn emit_output(&mut self, k: usize, op: Op, inputs: &[ValueId]) -> ValueId {
        match self.outs.get(k).copied().flatten() {
            Some(out) => {
                let name = self.node_name(&op);
                let ins = inputs.iter().copied().map(Some).collect();
                self.g.add_node(name, op, ins, vec![Some(out)]);
                if let Some(w) = self.written.get_mut(k) {
                    *w = true;
                }
                out
            }
            None => self.emit(op, inputs),
        }
    }

    /// Makes the intermediate `v` the node's output `k` (when requested): the node that
    /// computed `v` writes the output instead, and readers of `v` read the output. A `v` that
    /// no emitted node computes (an input or a constant) is copied by an `Identity`.
    pub fn retarget_output(&mut self, k: usize, v: ValueId) -> Result<(), Declined> {
        let Some(out) = self.outs.get(k).copied().flatten() else {
            return Ok(());
        };
        let produced = self.g.nodes.iter().any(|n| n.output_ids().any(|o| o == v));
        if !produced || self.outs.contains(&Some(v)) {
            self.emit_output(k, Op::Identity(tessera_ir::op::Identity), &[v]);
            return Ok(());
        }
        for n in &mut self.g.nodes {
            for slot in n.inputs.iter_mut().chain(n.outputs.iter_mut()) {
                if *slot == Some(v) {
                    *slot = Some(out);
                }
            }
        }
        if let Some(w) = self.written.get_mut(k) {
            *w = true;
        }
        Ok(())
    }

    /// Writes `y`, computed in dtype `cd`, as the node's output `k` of dtype `dt`.
    pub fn output_as(
        &mut self,
        k: usize,
        y: ValueId,
        cd: DType,
        dt: DType,
    ) -> Result<(), Declined> {
        if cd == dt {
            self.retarget_output(k, y)
        } else {
            self.emit_output(k, Op::Cast(Cast::to(dt)), &[y]);
            Ok(())
        }
    }

    /// `a op b`.
    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        self.emit(Op::Binary(op), &[a, b])
    }

    /// `op(x)`.
    pub fn unary(&mut self, op: UnaryOp, x: ValueId) -> ValueId {
        self.emit(Op::Unary(op), &[x])
    }

    /// `x` as `to` (no node when it already is).
    pub fn cast(&mut self, x: ValueId, from: DType, to: DType) -> ValueId {
        if from == to {
            x
        } else {
            self.emit(Op::Cast(Cast::to(to)), &[x])
        }
    }

    /// A reduction of `x` over `axes`, keeping the reduced axes; an empty `axes` reduces
    /// nothing.
    pub fn reduce(
        &mut self,
        kind: ReduceKind,
        x: ValueId,
        axes: &[i64],
    ) -> Result<ValueId, Declined> {
        let a = self.i64s(axes)?;
        Ok(self.emit(
            Op::Reduce(Reduce {
                kind,
                keepdims: true,
                noop_with_empty_axes: true,
            }),
            &[x, a],
        ))
    }

    /// `x` reshaped to `shape` (with `Reshape`'s 0 and −1 conventions).
    pub fn reshape(&mut self, x: ValueId, shape: &[i64]) -> Result<ValueId, Declined> {
        let s = self.i64s(shape)?;
        Ok(self.emit(Op::Reshape(Reshape { allowzero: false }), &[x, s]))
    }

    /// The finished scratch graph and its map to the outer values; fails when a requested
    /// output was not written.
    pub fn finish(self) -> Result<(Graph, HashMap<ValueId, ValueId>), Declined> {
        let mut g = self.g;
        for (k, out) in self.outs.iter().enumerate() {
            if let Some(out) = out {
                if !self.written.get(k).copied().unwrap_or(false) {
                    return Err(Declined::new(format!(
                        "output {k} of {} is used but the decomposition does not produce it",
                        self.node.op.name()
                    )));
                }
                g.outputs.push(*out);
            }
        }
        Ok((g, self.outer))
    }
}

/// The dtype intermediate results of a `dtype` input are computed in: f32 for f16 and bf16,
/// the dtype itself for f32 and f64; other dtypes are declined.
pub(crate) fn compute_dtype(op: &str, dtype: DType) -> Result<DType, Declined> {
    match dtype {
        DType::F16 | DType::BF16 | DType::F32 => Ok(DType::F32),
        DType::F64 => Ok(DType::F64),
        d => Err(Declined::new(format!(
            "{op} is decomposed for float inputs only, not {d}"
        ))),
    }
}
