//! Data movement and shape ops: reshaping, transposition, slicing, gathering, scattering,
//! padding, tiling, and ops that produce or inspect shapes.

use crate::dtype::DType;
use crate::tensor::Tensor;

/// `Identity(x)`: returns `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity;

/// `Reshape(x, shape)`: same elements, new shape from the i64 `shape` input. A 0 copies the
/// input extent at that position (unless `allowzero`), one −1 is inferred.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// 0 means an empty extent instead of "copy".
    pub allowzero: bool,
}

/// `Transpose(x)`: permutes axes; output axis `i` is input axis `perm[i]`. An empty `perm`
/// reverses the axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    /// The permutation.
    pub perm: Vec<usize>,
}

/// `Flatten(x)`: reshapes to 2-D `[Π d[..axis], Π d[axis..]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    /// Split point (may be negative).
    pub axis: i64,
}

/// `Squeeze(x, axes?)`: removes the listed extent-1 axes (all extent-1 axes if none).
#[derive(Clone, Debug, PartialEq)]
pub struct Squeeze;

/// `Unsqueeze(x, axes)`: inserts extent-1 axes at the listed output positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsqueeze;

/// `Concat(x…)`: joins the inputs along `axis`; other extents must agree.
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    /// The joined axis (may be negative).
    pub axis: i64,
}

/// `Split(x, split?)`: cuts `x` along `axis` into the extents in `split`, or into
/// `num_outputs` parts (the last one smaller when uneven).
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The cut axis (may be negative).
    pub axis: i64,
    /// Number of outputs.
    pub num_outputs: usize,
}

/// `Slice(x, starts, ends, axes?, steps?)` with numpy semantics: indices clamp, negative
/// values count from the end, steps may be negative.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice;

/// `Gather(x, indices)`: picks entries of `x` along `axis`; output shape
/// `x[..axis] ++ indices ++ x[axis+1..]`. Negative indices count from the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    /// The indexed axis (may be negative).
    pub axis: i64,
}

/// `GatherElements(x, indices)`: `y[i…] = x[i… with axis replaced by indices[i…]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GatherElements {
    /// The indexed axis (may be negative).
    pub axis: i64,
}

/// `GatherND(x, indices)`: gathers slices of `x` addressed by the last axis of `indices`, after
/// `batch_dims` shared leading axes.
#[derive(Clone, Debug, PartialEq)]
pub struct GatherNd {
    /// Shared leading batch axes.
    pub batch_dims: usize,
}

/// How scatter ops combine an update with the existing value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterReduction {
    /// Replace.
    None,
    /// Add.
    Add,
    /// Multiply.
    Mul,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

/// `ScatterElements(x, indices, updates)`: the inverse of `GatherElements`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterElements {
    /// The indexed axis (may be negative).
    pub axis: i64,
    /// How updates combine.
    pub reduction: ScatterReduction,
}

/// `ScatterND(x, indices, updates)`: the inverse of `GatherND` with no batch dims.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterNd {
    /// How updates combine.
    pub reduction: ScatterReduction,
}

/// `TensorScatter(past, update, write_indices?)`: writes a block of `update` into a copy of the
/// cache tensor `past` along `axis` (a KV-cache update). `past` and `update` have equal rank
/// (>= 2) and equal extents except on `axis` (normalized, never the batch axis 0), where
/// `update` has extent `s` and `past` has extent `m`. `write_indices` is an optional i64 (or
/// i32) vector of length `batch = past.shape[0]` (all zeros when omitted). For every batch `b`
/// and `i` in `0..s`, the slice `update[b, .., i, ..]` (index `i` on `axis`) is written at
/// position `p = write_indices[b] + i` on `axis` of the output; with `circular` the position
/// is `p mod m`, otherwise `p` must lie in `0..m` (an error if not). Every other element is
/// copied from `past`. Output dtype and shape are those of `past`; `update` has past's dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorScatter {
    /// The sequence axis (may be negative, counted from the end).
    pub axis: i64,
    /// Wrap write positions modulo the cache extent.
    pub circular: bool,
}

/// How `Pad` fills the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// The `constant_value` input (0 by default).
    Constant,
    /// Mirror without repeating the edge.
    Reflect,
    /// Repeat the edge.
    Edge,
    /// Wrap around.
    Wrap,
}

/// `Pad(x, pads, constant_value?, axes?)`: pads (or crops, for negative pads) each listed axis;
/// `pads` holds all begins then all ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    /// Border mode.
    pub mode: PadMode,
}

/// `Expand(x, shape)`: broadcasts `x` against the i64 `shape` input (bidirectionally).
#[derive(Clone, Debug, PartialEq)]
pub struct Expand;

/// `Tile(x, repeats)`: repeats `x` `repeats[i]` times along axis `i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile;

/// `Shape(x)`: the i64 vector of `x`'s extents in `[start, end)` (clamped, negatives count from
/// the end).
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeOf {
    /// First axis.
    pub start: i64,
    /// One past the last axis; `None` means the rank.
    pub end: Option<i64>,
}

/// `Size(x)`: the i64 scalar element count of `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Size;

/// `ConstantOfShape(shape)`: a tensor of the given i64 shape filled with `value` (a one-element
/// tensor that also fixes the dtype).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    /// The fill value.
    pub value: Tensor,
}

/// `Range(start, limit, delta)`: `[start, start + delta, …)` up to `limit` (exclusive), as
/// scalars of one numeric dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Range;

/// `OneHot(indices, depth, values)`: inserts an axis of extent `depth` at `axis` holding
/// `values[1]` at the index and `values[0]` elsewhere.
#[derive(Clone, Debug, PartialEq)]
pub struct OneHot {
    /// Position of the new axis (may be negative).
    pub axis: i64,
}

/// `NonZero(x)`: i64 `[rank, count]` coordinates of the non-zero elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NonZero;

/// `Trilu(x, k?)`: keeps the upper (or lower) triangle of the trailing matrices from diagonal
/// `k`, zeroing the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Trilu {
    /// Keep the upper triangle.
    pub upper: bool,
}

/// `ReverseSequence(x, lengths)`: reverses the first `lengths[b]` entries along `time_axis` for
/// each batch entry `b` along `batch_axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReverseSequence {
    /// Batch axis (0 or 1).
    pub batch_axis: usize,
    /// Time axis (1 or 0).
    pub time_axis: usize,
}

/// `Compress(x, condition)`: keeps entries along `axis` (or of the flattened input when
/// `None`) where the bool `condition` is true.
#[derive(Clone, Debug, PartialEq)]
pub struct Compress {
    /// The filtered axis; `None` flattens first.
    pub axis: Option<i64>,
}

/// `Unique(x)`: the unique values (or slices along `axis`) with first-occurrence indices,
/// inverse indices and counts, sorted ascending when `sorted`.
#[derive(Clone, Debug, PartialEq)]
pub struct Unique {
    /// Axis of the compared slices; `None` flattens first.
    pub axis: Option<i64>,
    /// Sort the unique values.
    pub sorted: bool,
}

/// `EyeLike(x)`: a 2-D tensor of `x`'s shape with ones on diagonal `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct EyeLike {
    /// Output dtype; `None` keeps `x`'s.
    pub dtype: Option<DType>,
    /// Diagonal offset.
    pub k: i64,
}
