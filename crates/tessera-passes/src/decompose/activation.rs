//! The `Gelu` rule.
//!
//! Exact: `y = x · (erf(x / √2) + 1) · 0.5`. With the tanh approximation:
//! `y = x · (tanh(√(2/π) · (x + 0.044715 · x·x·x)) + 1) · 0.5` (the cube as two `Mul`s, which
//! more devices have than `Pow`). f16 and bf16 inputs are computed in f32 and rounded once, as
//! the fused op is.

use super::builder::{compute_dtype, Builder};
use super::Declined;
use tessera_ir::op::{BinaryOp, UnaryOp};
use tessera_ir::Op;

pub(super) fn gelu(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::Unary(UnaryOp::Gelu { tanh_approximation }) = b.node.op else {
        return Err(Declined::new("not a Gelu"));
    };
    let x = b.input(0)?;
    let dt = b.dtype(x)?;
    let cd = compute_dtype("Gelu", dt)?;
    let x = b.cast(x, dt, cd);
    let inner = if tanh_approximation {
        let x2 = b.binary(BinaryOp::Mul, x, x);
        let x3 = b.binary(BinaryOp::Mul, x2, x);
        let k = b.scalar(0.044715, cd);
        let kx3 = b.binary(BinaryOp::Mul, x3, k);
        let s = b.binary(BinaryOp::Add, x, kx3);
        let c = b.scalar((2.0 / std::f64::consts::PI).sqrt(), cd);
        let t = b.binary(BinaryOp::Mul, s, c);
        b.unary(UnaryOp::Tanh, t)
    } else {
        let r2 = b.scalar(std::f64::consts::SQRT_2, cd);
        let t = b.binary(BinaryOp::Div, x, r2);
        b.unary(UnaryOp::Erf, t)
    };
    let one = b.scalar(1.0, cd);
    let p = b.binary(BinaryOp::Add, inner, one);
    let xp = b.binary(BinaryOp::Mul, x, p);
    let half = b.scalar(0.5, cd);
    let y = b.binary(BinaryOp::Mul, xp, half);
    b.output_as(0, y, cd, dt)
}
