//! The canonical op set: the contract between frontends and backends.
//!
//! Frontends lower every model operator onto these ops; backends implement these ops, never
//! a frontend's. Each variant wraps a type holding its typed attributes; inputs that a model
//! may compute at run time (shapes, axes, pads, …) stay graph inputs and become constants
//! after folding. Ops marked *composite* in their docs have a decomposition into primitives
//! for backends that do not claim them. `docs/ops.md` is generated from these doc comments.

pub mod control;
pub mod conv;
pub mod elementwise;
pub mod linalg;
pub mod loss;
pub mod movement;
pub mod norm;
pub mod quant;
pub mod recurrent;
pub mod reduce;
pub mod signal;

pub use control::*;
pub use conv::*;
pub use elementwise::*;
pub use linalg::*;
pub use loss::*;
pub use movement::*;
pub use norm::*;
pub use quant::*;
pub use recurrent::*;
pub use reduce::*;
pub use signal::*;

/// One operation of the canonical op set.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    // --- elementwise
    /// Unary elementwise map.
    Unary(UnaryOp),
    /// Binary elementwise map with broadcasting.
    Binary(BinaryOp),
    /// Select by a bool condition.
    Where(Where),
    /// Clamp into optional bounds.
    Clip(Clip),
    /// Convert the element type.
    Cast(Cast),
    /// Reinterpret the element bytes as another dtype.
    BitCast(BitCast),
    // --- linear algebra
    /// Batched matrix product.
    MatMul(MatMul),
    /// General matrix multiply with bias (composite).
    Gemm(Gemm),
    /// Integer matrix product with zero points.
    MatMulInteger(MatMulInteger),
    /// Einstein summation.
    Einsum(Einsum),
    /// Determinant.
    Det(Det),
    // --- convolution and pooling
    /// N-d convolution.
    Conv(Conv),
    /// N-d transposed convolution.
    ConvTranspose(ConvTranspose),
    /// Integer convolution with zero points.
    ConvInteger(ConvInteger),
    /// Deformable convolution.
    DeformConv(DeformConv),
    /// Sliding-window pooling.
    Pool(Pool),
    /// Inverse of max pooling.
    MaxUnpool(MaxUnpool),
    /// Sliding blocks back into an image.
    Col2Im(Col2Im),
    /// Local response normalization.
    Lrn(Lrn),
    /// Resampling.
    Resize(Resize),
    /// Depth to space.
    DepthToSpace(DepthToSpace),
    /// Space to depth.
    SpaceToDepth(SpaceToDepth),
    /// Grid sampling.
    GridSample(GridSample),
    /// Region-of-interest align pooling.
    RoiAlign(RoiAlign),
    /// Non-maximum suppression.
    NonMaxSuppression(NonMaxSuppression),
    /// Sampling grid from affine matrices.
    AffineGrid(AffineGrid),
    // --- normalization (composites)
    /// Batch normalization (inference).
    BatchNorm(BatchNorm),
    /// Instance normalization.
    InstanceNorm(InstanceNorm),
    /// Layer normalization.
    LayerNorm(LayerNorm),
    /// Group normalization.
    GroupNorm(GroupNorm),
    /// RMS normalization.
    RmsNorm(RmsNorm),
    /// Lp normalization.
    LpNorm(LpNorm),
    // --- losses (composites)
    /// Negative log-likelihood loss.
    NllLoss(NllLoss),
    /// Softmax cross-entropy loss.
    SoftmaxCrossEntropyLoss(SoftmaxCrossEntropyLoss),
    // --- reductions
    /// Reduction over axes.
    Reduce(Reduce),
    /// Index of the extreme value.
    ArgReduce(ArgReduce),
    /// Softmax, log-softmax or hardmax along an axis.
    Softmax(Softmax),
    /// Running sum or product.
    Cumulative(Cumulative),
    /// The k extreme values and their indices.
    TopK(TopK),
    // --- data movement and shapes
    /// Pass-through.
    Identity(Identity),
    /// New shape, same data.
    Reshape(Reshape),
    /// Axis permutation.
    Transpose(Transpose),
    /// Reshape to 2-D.
    Flatten(Flatten),
    /// Remove extent-1 axes.
    Squeeze(Squeeze),
    /// Insert extent-1 axes.
    Unsqueeze(Unsqueeze),
    /// Join along an axis.
    Concat(Concat),
    /// Cut along an axis.
    Split(Split),
    /// Strided slice.
    Slice(Slice),
    /// Gather along an axis.
    Gather(Gather),
    /// Gather elementwise.
    GatherElements(GatherElements),
    /// Gather slices by coordinate tuples.
    GatherNd(GatherNd),
    /// Scatter elementwise.
    ScatterElements(ScatterElements),
    /// Scatter slices by coordinate tuples.
    ScatterNd(ScatterNd),
    /// Cache update: write a block along an axis at per-batch positions.
    TensorScatter(TensorScatter),
    /// Pad or crop.
    Pad(Pad),
    /// Broadcast to a shape.
    Expand(Expand),
    /// Repeat.
    Tile(Tile),
    /// Shape as a tensor.
    ShapeOf(ShapeOf),
    /// Element count as a tensor.
    Size(Size),
    /// Filled tensor of a given shape.
    ConstantOfShape(ConstantOfShape),
    /// Arithmetic sequence.
    Range(Range),
    /// One-hot encoding.
    OneHot(OneHot),
    /// Coordinates of non-zero elements.
    NonZero(NonZero),
    /// Triangular mask.
    Trilu(Trilu),
    /// Per-batch sequence reversal.
    ReverseSequence(ReverseSequence),
    /// Boolean selection along an axis.
    Compress(Compress),
    /// Unique values.
    Unique(Unique),
    /// Identity-like matrix.
    EyeLike(EyeLike),
    // --- quantization
    /// Float → integer.
    QuantizeLinear(QuantizeLinear),
    /// Integer → float.
    DequantizeLinear(DequantizeLinear),
    /// Float → u8 with computed scale.
    DynamicQuantizeLinear(DynamicQuantizeLinear),
    /// Quantized matrix product.
    QLinearMatMul(QLinearMatMul),
    /// Quantized convolution.
    QLinearConv(QLinearConv),
    // --- signal processing
    /// Discrete Fourier transform along one axis.
    Dft(Dft),
    /// Short-time Fourier transform.
    Stft(Stft),
    /// Hann, Hamming or Blackman window.
    WindowFunction(WindowFunction),
    /// Mel filter bank matrix.
    MelWeightMatrix(MelWeightMatrix),
    // --- sequence models
    /// RNN, GRU or LSTM layer.
    Recurrent(Recurrent),
    /// Scaled dot-product attention (composite).
    Attention(Attention),
    /// Rotary positional embedding (composite).
    RotaryEmbedding(RotaryEmbedding),
    // --- control flow and containers
    /// Conditional.
    If(If),
    /// Loop.
    Loop(Loop),
    /// Scan.
    Scan(Scan),
    /// Sequence manipulation.
    Sequence(SequenceOp),
    /// Optional manipulation.
    Optional(OptionalOp),
}

impl Op {
    /// The op's name as shown in dumps, histograms and errors (the variant name, with the
    /// unary/binary/reduce kind spelled out, e.g. `Relu`, `Add`, `ReduceMean`).
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => format!("{u:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("Unary")
                .to_string(),
            Op::Binary(b) => format!("{b:?}"),
            Op::Reduce(r) => format!("Reduce{:?}", r.kind),
            Op::ArgReduce(a) => (if a.max { "ArgMax" } else { "ArgMin" }).to_string(),
            Op::Softmax(s) => format!("{:?}", s.kind),
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool".into(),
                PoolKind::Average { .. } => "AveragePool".into(),
                PoolKind::Lp { .. } => "LpPool".into(),
            },
            Op::WindowFunction(w) => format!("{:?}Window", w.kind),
            Op::Cumulative(c) => (if c.product { "CumProd" } else { "CumSum" }).to_string(),
            Op::Recurrent(r) => format!("{:?}", r.cell).to_uppercase(),
            Op::Sequence(s) => format!("Sequence{s:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("Sequence")
                .to_string(),
            Op::Optional(o) => format!("Optional{o:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("Optional")
                .to_string(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("Op")
                .to_string(),
        }
    }

    /// The subgraphs this op owns (branches and bodies), for walkers.
    pub fn subgraphs(&self) -> Vec<&crate::graph::Graph> {
        match self {
            Op::If(i) => vec![&i.then_branch, &i.else_branch],
            Op::Loop(l) => vec![&l.body],
            Op::Scan(s) => vec![&s.body],
            _ => vec![],
        }
    }

    /// True for the composite ops: those documented with a decomposition into primitives
    /// (`Gemm`, `Gelu`, the normalizations, the losses, `Attention`, `RotaryEmbedding`). A
    /// backend may claim them and run them fused; for one that does not, `tessera-passes`
    /// rewrites them into primitives where it has a rule.
    pub fn is_composite(&self) -> bool {
        matches!(
            self,
            Op::Gemm(_)
                | Op::Unary(UnaryOp::Gelu { .. })
                | Op::BatchNorm(_)
                | Op::InstanceNorm(_)
                | Op::LayerNorm(_)
                | Op::GroupNorm(_)
                | Op::RmsNorm(_)
                | Op::LpNorm(_)
                | Op::NllLoss(_)
                | Op::SoftmaxCrossEntropyLoss(_)
                | Op::Attention(_)
                | Op::RotaryEmbedding(_)
        )
    }

    /// True for ops without side effects whose outputs depend only on their inputs, so they
    /// can be constant-folded and deduplicated.
    pub fn is_pure(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Op::Unary(UnaryOp::Relu).name(), "Relu");
        assert_eq!(
            Op::Unary(UnaryOp::LeakyRelu { alpha: 0.1 }).name(),
            "LeakyRelu"
        );
        assert_eq!(Op::Binary(BinaryOp::Add).name(), "Add");
        assert_eq!(
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                keepdims: true,
                noop_with_empty_axes: false
            })
            .name(),
            "ReduceMean"
        );
        assert_eq!(Op::MatMul(MatMul).name(), "MatMul");
        assert_eq!(Op::Sequence(SequenceOp::At).name(), "SequenceAt");
        assert_eq!(
            Op::Transpose(Transpose { perm: vec![] }).name(),
            "Transpose"
        );
    }

    #[test]
    fn composites() {
        assert!(Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false
        })
        .is_composite());
        assert!(Op::Unary(UnaryOp::Gelu {
            tanh_approximation: true
        })
        .is_composite());
        assert!(!Op::Unary(UnaryOp::Erf).is_composite());
        assert!(!Op::MatMul(MatMul).is_composite());
    }
}
