//! Linear algebra: matrix products and `Einsum`.

/// `MatMul(a, b)` with numpy semantics: rank-1 operands are promoted (and the added dim
/// removed), leading batch dims broadcast. Float dtypes and i32/i64/u32/u64.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul;

/// `Gemm(a, b, c?)`: `alpha · op(a) · op(b) + beta · c` for rank-2 `a` and `b`, where `op`
/// transposes when the flag is set; `c` broadcasts unidirectionally to `[M, N]`.
///
/// Composite over `MatMul`, `Transpose`, `Mul` and `Add`: `Transpose` only for a set flag,
/// `Mul` only for a scale other than 1, and `c` is not read when `beta` is 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `c`.
    pub beta: f32,
    /// Transpose `a` first.
    pub trans_a: bool,
    /// Transpose `b` first.
    pub trans_b: bool,
}

/// `MatMulInteger(a, b, a_zero_point?, b_zero_point?)`: `(a − a_zp) · (b − b_zp)` in i32, with
/// `MatMul` broadcasting. `a`, `b` are u8 or i8; zero points are scalars or per-row (a) /
/// per-column (b) vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMulInteger;

/// `Einsum(inputs…)`: Einstein summation over the `equation` (explicit `->` form or implicit,
/// with `...` ellipsis), in the inputs' common numeric dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Einsum {
    /// The equation, e.g. `"bij,bjk->bik"`.
    pub equation: String,
}

/// `Det(x)`: determinant of the trailing square matrices of `x` (shape `[*, n, n]` → `[*]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Det;
