//! Elementwise ops: unary maps, binary maps with numpy broadcasting, `Where`, `Clip`, `Cast`.

use crate::dtype::DType;

/// A unary elementwise function `y[i] = f(x[i])`; output shape equals input shape.
///
/// Float functions accept f16/bf16/f32/f64 (f16 and bf16 are computed in f32 and rounded once).
/// `Abs`, `Neg`, `Sign` also accept signed integers (`Abs` and `Sign` unsigned too); `Not` takes
/// bool; `BitwiseNot` takes integers. `IsNaN` and `IsInf` map floats to bool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// |x|.
    Abs,
    /// -x (wrapping for integers).
    Neg,
    /// -1, 0 or 1 by the sign of x (0 for NaN).
    Sign,
    /// Largest integer ≤ x.
    Floor,
    /// Smallest integer ≥ x.
    Ceil,
    /// Round half to even.
    Round,
    /// e^x.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// 1/x.
    Reciprocal,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Tangent.
    Tan,
    /// Arcsine.
    Asin,
    /// Arccosine.
    Acos,
    /// Arctangent.
    Atan,
    /// Hyperbolic sine.
    Sinh,
    /// Hyperbolic cosine.
    Cosh,
    /// Hyperbolic tangent.
    Tanh,
    /// Inverse hyperbolic sine.
    Asinh,
    /// Inverse hyperbolic cosine.
    Acosh,
    /// Inverse hyperbolic tangent.
    Atanh,
    /// Gauss error function.
    Erf,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// max(x, 0).
    Relu,
    /// ln(1 + e^x), computed without overflow for large x.
    Softplus,
    /// x / (1 + |x|).
    Softsign,
    /// x * tanh(softplus(x)).
    Mish,
    /// x * max(0, min(1, x/6 + 1/2)).
    HardSwish,
    /// Logical not (bool → bool).
    Not,
    /// Bitwise complement (integers).
    BitwiseNot,
    /// True where x is NaN (float → bool).
    IsNaN,
    /// True where x is +inf (if `detect_positive`) or -inf (if `detect_negative`) (float → bool).
    IsInf {
        /// Report -inf.
        detect_negative: bool,
        /// Report +inf.
        detect_positive: bool,
    },
    /// x if x ≥ 0 else alpha·x.
    LeakyRelu {
        /// Slope for negative x.
        alpha: f32,
    },
    /// x if x > 0 else alpha·(e^x − 1).
    Elu {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// gamma·x if x > 0 else gamma·alpha·(e^x − 1).
    Selu {
        /// Scale of the negative part.
        alpha: f32,
        /// Overall scale.
        gamma: f32,
    },
    /// max(0, x) + min(0, alpha·(e^(x/alpha) − 1)).
    Celu {
        /// Scale.
        alpha: f32,
    },
    /// max(0, min(1, alpha·x + beta)).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// x if x > alpha else 0.
    ThresholdedRelu {
        /// Threshold.
        alpha: f32,
    },
    /// x − bias if x > lambd; x + bias if x < −lambd; else 0.
    Shrink {
        /// Shift applied outside the dead zone.
        bias: f32,
        /// Half-width of the dead zone.
        lambd: f32,
    },
    /// x · sigmoid(alpha·x).
    Swish {
        /// Scale inside the sigmoid.
        alpha: f32,
    },
    /// Gaussian error linear unit: 0.5·x·(1 + erf(x/√2)), or with `tanh_approximation`
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    ///
    /// Composite; decomposition: `Mul(0.5, Mul(x, Add(1, Erf(Div(x, √2)))))`, or with the
    /// approximation `Tanh(Mul(√(2/π), Add(x, Mul(0.044715, Mul(Mul(x, x), x)))))` in place
    /// of the `Erf` term.
    Gelu {
        /// Use the tanh approximation.
        tanh_approximation: bool,
    },
}

impl UnaryOp {
    /// True when the output dtype is bool whatever the input dtype.
    pub fn yields_bool(self) -> bool {
        matches!(self, UnaryOp::IsNaN | UnaryOp::IsInf { .. })
    }
}

/// A binary elementwise function `y = f(a, b)` with numpy (multidirectional) broadcasting.
///
/// Both inputs share one dtype (the importer inserts no implicit casts; ONNX requires equal
/// types). Comparisons and logical ops yield bool; everything else yields the input dtype.
/// Integer division truncates toward zero; integer arithmetic wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// a + b.
    Add,
    /// a − b.
    Sub,
    /// a · b.
    Mul,
    /// a / b.
    Div,
    /// a^b. The exponent may have a different numeric dtype than the base (ONNX `Pow`); the
    /// output has the base's dtype.
    Pow,
    /// Remainder with the sign of the divisor (Python `%`); integers only.
    Mod,
    /// Remainder with the sign of the dividend (C `fmod`).
    Fmod,
    /// Elementwise minimum (NaN propagates).
    Min,
    /// Elementwise maximum (NaN propagates).
    Max,
    /// Logical and (bool).
    And,
    /// Logical or (bool).
    Or,
    /// Logical xor (bool).
    Xor,
    /// a == b (→ bool).
    Equal,
    /// a < b (→ bool).
    Less,
    /// a ≤ b (→ bool).
    LessOrEqual,
    /// a > b (→ bool).
    Greater,
    /// a ≥ b (→ bool).
    GreaterOrEqual,
    /// a << b (unsigned integers).
    BitShiftLeft,
    /// a >> b (unsigned integers).
    BitShiftRight,
    /// Bitwise and (integers).
    BitwiseAnd,
    /// Bitwise or (integers).
    BitwiseOr,
    /// Bitwise xor (integers).
    BitwiseXor,
    /// a if a ≥ 0 else slope·a, where b is the slope (broadcast unidirectionally to a).
    PRelu,
}

impl BinaryOp {
    /// True for ops whose output dtype is bool.
    pub fn yields_bool(self) -> bool {
        use BinaryOp::*;
        matches!(
            self,
            And | Or | Xor | Equal | Less | LessOrEqual | Greater | GreaterOrEqual
        )
    }
}

/// `Where(cond, x, y)`: picks `x` where `cond` is true, else `y`; all three broadcast together.
/// `cond` is bool; `x` and `y` share a dtype, which is the output dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Where;

/// `Clip(x, min?, max?)`: clamps x into [min, max]; a missing bound is unbounded. Bounds are
/// scalars of x's dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip;

/// `Cast(x)`: converts each element to `to`. Float → int truncates toward zero (out of range
/// values are undefined in ONNX; Tessera wraps), int → float rounds to nearest, anything → bool
/// is `x != 0`, float narrowing rounds to nearest even. Low-precision targets follow
/// [`crate::lowp`]: `saturate` and `round_mode` only matter for float8 targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    /// Target dtype.
    pub to: DType,
    /// Float8 targets: clamp out-of-range values (and ±∞) to ±max instead of ∞/NaN.
    pub saturate: bool,
    /// FLOAT8E8M0 target: rounding direction.
    pub round_mode: crate::lowp::RoundMode,
}

impl Cast {
    /// A cast with the default options (saturating, rounding up).
    pub fn to(to: DType) -> Cast {
        Cast {
            to,
            saturate: true,
            round_mode: crate::lowp::RoundMode::Up,
        }
    }
}

/// `BitCast(x)`: reinterprets the little-endian bytes of x as elements of dtype `to`; no value
/// conversion. Let `w_in`, `w_out` be the element widths in bytes (bool is one byte, 0 or 1;
/// reinterpreting bytes as bool maps non-zero to `true`).
/// - `w_in == w_out`: the output has x's shape.
/// - `w_in > w_out` (w_in a multiple of w_out): a trailing axis of extent `w_in / w_out` is
///   appended; element `[..., j]` holds bytes `j*w_out .. (j+1)*w_out` of the input element.
/// - `w_in < w_out`: x's last axis must have extent `w_out / w_in` and is removed; its
///   elements, in order, form the bytes of one output element. A scalar input is an error.
#[derive(Clone, Debug, PartialEq)]
pub struct BitCast {
    /// Target dtype.
    pub to: DType,
}

impl BitCast {
    /// The output shape for an input of `shape` and dtype `from`, or `None` when the widths
    /// are incompatible with the shape.
    pub fn out_shape(&self, from: DType, shape: &[usize]) -> Option<Vec<usize>> {
        let (wi, wo) = (from.size(), self.to.size());
        let mut s = shape.to_vec();
        if wi == wo {
            Some(s)
        } else if wi > wo {
            if wi % wo != 0 {
                return None;
            }
            s.push(wi / wo);
            Some(s)
        } else {
            if wo % wi != 0 {
                return None;
            }
            let last = s.pop()?;
            (last == wo / wi).then_some(s)
        }
    }
}
