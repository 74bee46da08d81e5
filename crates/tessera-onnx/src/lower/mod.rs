//! Lowering of ONNX nodes onto the canonical op set: the per-node context and the registry.
//!
//! Each family file lists `(op_type, lowering fn)` pairs in an `OPS` table. A lowering reads
//! attributes and inputs through [`NodeCtx`] and emits one or more canonical nodes. Opset
//! differences (attributes that became inputs, changed defaults, changed semantics) are resolved
//! here so that backends see one form.

use crate::error::OnnxError;
use crate::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};
use tessera_ir::{Graph, Op, Tensor, ValueId, ValueType};

pub(crate) mod attention;
pub(crate) mod basic;
pub(crate) mod control;
pub(crate) mod conv;
pub(crate) mod image;
pub(crate) mod linalg;
pub(crate) mod loss;
pub(crate) mod movement;
pub(crate) mod norm;
pub(crate) mod quant;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod signal;
pub(crate) mod training;

/// Signature of a lowering function.
pub type LowerFn = fn(&mut NodeCtx) -> Result<(), LowerError>;

/// Why a node could not be lowered.
#[derive(Debug)]
pub enum LowerError {
    /// The node is valid ONNX but Tessera cannot express it (yet); collected and reported
    /// together with every other such node.
    Unsupported(String),
    /// The node is invalid (bad attribute, wrong arity, …); aborts the import.
    Invalid(String),
    /// An error while importing a subgraph.
    Nested(OnnxError),
}

/// Shorthand for an unsupported-feature error.
pub fn unsupported(msg: impl Into<String>) -> LowerError {
    LowerError::Unsupported(msg.into())
}

/// Shorthand for an invalid-node error.
pub fn invalid(msg: impl Into<String>) -> LowerError {
    LowerError::Invalid(msg.into())
}

/// Looks up the lowering of `op_type` in `domain` (`""`/`ai.onnx` is the default domain;
/// `ai.onnx.preview.training` has the optimizer ops).
pub fn lookup(domain: &str, op_type: &str) -> Option<LowerFn> {
    if domain == "ai.onnx.preview.training" {
        return training::OPS
            .iter()
            .find(|(name, _)| *name == op_type)
            .map(|(_, f)| *f);
    }
    if !(domain.is_empty() || domain == "ai.onnx") {
        return None;
    }
    let tables: &[&[(&str, LowerFn)]] = &[
        basic::OPS,
        conv::OPS,
        reduce::OPS,
        linalg::OPS,
        quant::OPS,
        signal::OPS,
        movement::OPS,
        norm::OPS,
        image::OPS,
        loss::OPS,
        control::OPS,
        recurrent::OPS,
        attention::OPS,
    ];
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|(name, _)| *name == op_type)
        .map(|(_, f)| *f)
}

/// Imports a subgraph attribute on behalf of a lowering; implemented by the importer.
pub trait SubgraphImporter {
    /// Imports `g` as a nested scope. Returns the graph (formal inputs then capture inputs)
    /// and the outer-scope names of the captures, in order.
    fn import_subgraph(&mut self, g: &GraphProto) -> Result<(Graph, Vec<String>), OnnxError>;
    /// Resolves an outer-scope name to a value of the current graph.
    fn resolve(&mut self, name: &str) -> Option<ValueId>;
    /// The graph being built.
    fn graph(&self) -> &Graph;
    /// The graph being built, mutably.
    fn graph_mut(&mut self) -> &mut Graph;
}

/// Everything a lowering needs about one ONNX node, and the means to emit canonical nodes.
pub struct NodeCtx<'a> {
    /// The source node.
    pub node: &'a NodeProto,
    /// The node's (possibly generated) name.
    pub name: String,
    /// Opset version of the node's domain.
    pub opset: i64,
    /// Resolved inputs; `None` for omitted optional inputs (empty names).
    pub inputs: Vec<Option<ValueId>>,
    /// Values for the node's outputs; `None` for omitted optional outputs.
    pub outputs: Vec<Option<ValueId>>,
    /// The graph being built, subgraph import and outer-scope resolution.
    pub sub: &'a mut dyn SubgraphImporter,
    /// Counter for generated names.
    pub(crate) emitted: usize,
}

impl<'a> NodeCtx<'a> {
    /// The attribute called `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name() == name)
    }

    /// An integer attribute or its default.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).and_then(|a| a.i).unwrap_or(default)
    }

    /// An optional integer attribute.
    pub fn opt_int(&self, name: &str) -> Option<i64> {
        self.attr(name).and_then(|a| a.i)
    }

    /// A float attribute or its default.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).and_then(|a| a.f).unwrap_or(default)
    }

    /// An optional float attribute.
    pub fn opt_float(&self, name: &str) -> Option<f32> {
        self.attr(name).and_then(|a| a.f)
    }

    /// An integer-list attribute (empty when absent).
    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.attr(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    /// An optional integer-list attribute (distinguishes absent from empty).
    pub fn opt_ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attr(name).map(|a| a.ints.clone())
    }

    /// A float-list attribute (empty when absent).
    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.attr(name)
            .map(|a| a.floats.clone())
            .unwrap_or_default()
    }

    /// A string attribute (UTF-8, lossy) or its default.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.attr(name)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_else(|| default.to_string())
    }

    /// A string-list attribute.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.attr(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A tensor attribute, decoded.
    pub fn tensor_attr(&self, name: &str) -> Result<Option<Tensor>, LowerError> {
        match self.attr(name).and_then(|a| a.t.as_ref()) {
            None => Ok(None),
            Some(t) => crate::tensor::tensor_from_proto(t, None)
                .map(Some)
                .map_err(|e| LowerError::Invalid(format!("attribute '{name}': {e}"))),
        }
    }

    /// The raw tensor attribute.
    pub fn raw_tensor_attr(&self, name: &str) -> Option<&'a TensorProto> {
        self.attr(name).and_then(|a| a.t.as_ref())
    }

    /// A non-negative integer list attribute as `usize`s.
    pub fn usizes(&self, name: &str) -> Result<Vec<usize>, LowerError> {
        self.ints(name)
            .into_iter()
            .map(|v| {
                usize::try_from(v)
                    .map_err(|_| invalid(format!("attribute '{name}' has negative value {v}")))
            })
            .collect()
    }

    /// A non-negative integer attribute as `usize`.
    pub fn usize_attr(&self, name: &str, default: usize) -> Result<usize, LowerError> {
        let v = self.int(name, default as i64);
        usize::try_from(v)
            .map_err(|_| invalid(format!("attribute '{name}' has negative value {v}")))
    }

    /// Imports a graph attribute as a subgraph.
    pub fn subgraph(&mut self, name: &str) -> Result<(Graph, Vec<String>), LowerError> {
        let g = self
            .attr(name)
            .and_then(|a| a.g.as_ref())
            .ok_or_else(|| invalid(format!("missing graph attribute '{name}'")))?;
        self.sub.import_subgraph(g).map_err(LowerError::Nested)
    }

    /// Resolves outer names (subgraph captures) to values of this graph.
    pub fn resolve_captures(
        &mut self,
        names: &[String],
    ) -> Result<Vec<Option<ValueId>>, LowerError> {
        names
            .iter()
            .map(|n| {
                self.sub
                    .resolve(n)
                    .map(Some)
                    .ok_or_else(|| invalid(format!("subgraph reads '{n}', which is not defined")))
            })
            .collect()
    }

    /// The graph being built.
    pub fn graph(&self) -> &Graph {
        self.sub.graph()
    }

    /// The graph being built, mutably.
    pub fn graph_mut(&mut self) -> &mut Graph {
        self.sub.graph_mut()
    }

    /// The `i`-th input if present.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }

    /// The `i`-th input, which must be present.
    pub fn req(&self, i: usize) -> Result<ValueId, LowerError> {
        self.input(i)
            .ok_or_else(|| invalid(format!("required input {i} is missing")))
    }

    /// The constant content of input `i`, if it is a constant.
    pub fn const_input(&self, i: usize) -> Option<&Tensor> {
        self.input(i).and_then(|v| self.graph().constant(v))
    }

    /// The static type of input `i`, if known.
    pub fn input_type(&self, i: usize) -> Option<&ValueType> {
        self.input(i)
            .and_then(|v| self.graph().value(v).ty.as_ref())
    }

    /// The `i`-th output value if requested.
    pub fn output(&self, i: usize) -> Option<ValueId> {
        self.outputs.get(i).copied().flatten()
    }

    /// Adds a constant to the graph.
    pub fn constant(&mut self, t: Tensor) -> ValueId {
        let n = self.fresh_name("const");
        self.graph_mut().add_constant(n, t)
    }

    /// Adds a fresh intermediate value.
    pub fn tmp(&mut self) -> ValueId {
        let n = self.fresh_name("tmp");
        self.graph_mut().add_value(n, None)
    }

    fn fresh_name(&mut self, kind: &str) -> String {
        self.emitted += 1;
        let mut n = format!("{}/{kind}{}", self.name, self.emitted);
        while self.graph().values.iter().any(|v| v.name == n) {
            self.emitted += 1;
            n = format!("{}/{kind}{}", self.name, self.emitted);
        }
        n
    }

    /// Emits a canonical node. The first emitted node takes the source node's name; further
    /// ones get `name/k` suffixes.
    pub fn emit(&mut self, op: Op, inputs: Vec<Option<ValueId>>, outputs: Vec<Option<ValueId>>) {
        let name = if self.graph().nodes.iter().any(|n| n.name == self.name) {
            self.fresh_name("n")
        } else {
            self.name.clone()
        };
        self.graph_mut().add_node(name, op, inputs, outputs);
    }

    /// Emits a node that reads the source node's inputs and writes its outputs unchanged.
    pub fn emit_same(&mut self, op: Op) {
        let (i, o) = (self.inputs.clone(), self.outputs.clone());
        self.emit(op, i, o);
    }

    /// Emits `op` on `inputs` into a fresh value and returns it.
    pub fn emit_tmp(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> ValueId {
        let t = self.tmp();
        self.emit(op, inputs, vec![Some(t)]);
        t
    }

    /// Emits `Identity` copying `from` into output `i` (when requested).
    pub fn alias_output(&mut self, i: usize, from: ValueId) {
        if let Some(o) = self.output(i) {
            self.emit(
                Op::Identity(tessera_ir::op::Identity),
                vec![Some(from)],
                vec![Some(o)],
            );
        }
    }

    /// The number of inputs, counting omitted ones.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Adds an i64 constant vector.
    pub fn const_i64s(&mut self, v: &[i64]) -> ValueId {
        let t =
            Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap_or_else(|_| Tensor::scalar(0i64));
        self.constant(t)
    }
}
