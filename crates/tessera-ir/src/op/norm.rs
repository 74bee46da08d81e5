//! Normalizations. Each is a composite op with a documented decomposition into primitives.

/// `BatchNormalization(x, scale, bias, mean, var)` in inference mode:
/// `y = (x − mean) / √(var + epsilon) · scale + bias`, per channel (axis 1). The four
/// parameter vectors have shape `[C]`, or all `[C, D1…]` (per element of a sample: the legacy
/// ONNX `spatial=0` form).
///
/// Decomposition: `Add(Mul(x, k'), Sub(bias, Mul(mean, k))')` with `k = scale / √(var + ε)`,
/// where `v'` is the per-channel vector `v` reshaped to `[C, 1, …]`; with constant parameters
/// it folds to one `Mul` and one `Add`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// Added to the variance.
    pub epsilon: f32,
}

/// `InstanceNormalization(x, scale, bias)`: normalizes each `[n, c]` slice over its spatial
/// axes, then applies the per-channel `scale` and `bias`.
///
/// Decomposition: `d = x − ReduceMean(x)`, `y = d / √(ReduceMean(d²) + ε) · scale' + bias'`
/// over axes `2..rank`, with `scale` and `bias` reshaped to `[C, 1, …]`.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNorm {
    /// Added to the variance.
    pub epsilon: f32,
}

/// `LayerNormalization(x, scale, bias?)`: normalizes over the axes `axis..rank` and applies
/// `scale` and `bias` (broadcast over those axes). Optional outputs: mean and inverse standard
/// deviation (shape of `x` with normalized axes set to 1).
///
/// Decomposition: `d = x − ReduceMean(x)`, `inv = Reciprocal(Sqrt(ReduceMean(d²) + ε))`,
/// `y = (d · inv) · scale + bias`, with the statistics computed in f32 at least (f64 for f64
/// inputs); `ReduceMean(x)` and `inv` are the optional outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// First normalized axis (may be negative).
    pub axis: i64,
    /// Added to the variance.
    pub epsilon: f32,
}

/// `GroupNormalization(x, scale, bias)`: normalizes groups of `C / num_groups` channels
/// (with their spatial extent), then applies `scale` and `bias`: per channel when they have `C`
/// elements (ONNX opset 21), per group when they have `num_groups` elements (opset 18; the two
/// agree when `num_groups == C`).
///
/// Decomposition: `x` reshaped to `[N, num_groups, −1]` and standardized over the last axis as
/// in `InstanceNorm`, then reshaped back; per-group parameters apply before that reshape, per
/// channel ones after it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    /// Added to the variance.
    pub epsilon: f32,
    /// Number of channel groups.
    pub num_groups: usize,
}

/// `RMSNormalization(x, scale)`: `x / √(mean(x²) + ε) · scale` over axes `axis..rank`.
///
/// Decomposition: `Mul(Mul(x, Reciprocal(Sqrt(Add(ReduceMean(Mul(x, x)), ε)))), scale)`,
/// computed in f32 at least.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsNorm {
    /// First normalized axis (may be negative).
    pub axis: i64,
    /// Added to the mean square.
    pub epsilon: f32,
}

/// `LpNormalization(x)`: divides by the L1 or L2 norm along `axis`; where the norm is 0 the
/// result is 0.
///
/// Decomposition: `Where(Equal(n, 0), 0, Div(x, n))` with `n = ReduceL1(x)` or `ReduceL2(x)`
/// along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct LpNorm {
    /// The axis (may be negative).
    pub axis: i64,
    /// 1 or 2.
    pub p: u8,
}
