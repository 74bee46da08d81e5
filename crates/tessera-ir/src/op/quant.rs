//! Quantization: linear (de)quantization and integer linear ops with zero points and scales.

use crate::dtype::DType;

/// `QuantizeLinear(x, y_scale, y_zero_point?)`: `saturate(round_half_even(x / scale) + zp)`
/// into i8/u8/i16/u16/i4/u4/i2/u2 (the zero point's dtype, else `output_dtype`, else u8). For
/// the float8 and float4 outputs, `y = cast(x / scale + zp)` without integer rounding, with
/// `saturate` as in `Cast` (float4 always saturates). Scale and zero point are per-tensor,
/// per-axis or per-block.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeLinear {
    /// Per-axis/per-block axis (may be negative).
    pub axis: i64,
    /// Block length along `axis` for blocked quantization; 0 otherwise.
    pub block_size: usize,
    /// Output dtype when no zero point is given.
    pub output_dtype: Option<DType>,
    /// Float8 outputs: out-of-range values clamp to ±max (else ∞/NaN), as in `Cast`.
    pub saturate: bool,
}

/// `DequantizeLinear(x, x_scale, x_zero_point?)`: `(x − zp) · scale` in the scale's dtype; `x`
/// may be any 8/16/32-bit integer or low-precision type.
#[derive(Clone, Debug, PartialEq)]
pub struct DequantizeLinear {
    /// Per-axis/per-block axis (may be negative).
    pub axis: i64,
    /// Block length along `axis`; 0 otherwise.
    pub block_size: usize,
}

/// `DynamicQuantizeLinear(x)` → `(y: u8, y_scale: f32, y_zero_point: u8)` with the scale and
/// zero point computed from x's range (extended to include 0).
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicQuantizeLinear;

/// `QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)`: quantized `MatMul`.
///
/// `acc = (a − a_zp) · (b − b_zp)` in i32 (with `MatMul` broadcasting; zero points scalar or
/// per-row of `a` / per-column of `b`), then `y = round_half_even(acc · (a_scale · b_scale /
/// y_scale)) + y_zp`, the factor formed in the scales' dtype. As in the ONNX reference, the
/// result is converted to `y_zp`'s dtype with wrap-around, not saturation.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearMatMul;

/// `QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, b?)`: quantized `Conv`.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearConv {
    /// Window geometry.
    pub window: super::conv::Window,
    /// Number of groups.
    pub group: usize,
}
