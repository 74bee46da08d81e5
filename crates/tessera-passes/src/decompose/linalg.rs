//! The `Gemm` rule: `alpha · op(a) · op(b) + beta · c` as `Transpose`, `MatMul`, `Mul` and
//! `Add`.
//!
//! `Transpose` is emitted only for a set flag and folds away for a constant operand (weights);
//! `Mul` only for a scale other than 1; `c` is dropped when absent or when `beta` is 0 (as the
//! fused kernel does). f16 and bf16 operands are multiplied in f32 and the result rounded
//! once, as the fused kernel does. Integer operands take `alpha` and `beta` converted to their
//! dtype (truncated).

use super::builder::Builder;
use super::Declined;
use tessera_ir::op::{BinaryOp, MatMul, Transpose};
use tessera_ir::{DType, Op};

pub(super) fn gemm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::Gemm(attrs) = &b.node.op else {
        return Err(Declined::new("not a Gemm"));
    };
    let attrs = attrs.clone();
    let (a, w) = (b.input(0)?, b.input(1)?);
    for v in [a, w] {
        let r = b.rank(v)?;
        if r != 2 {
            return Err(Declined::new(format!("Gemm operand of rank {r}")));
        }
    }
    let dt = b.dtype(a)?;
    let cd = match dt {
        DType::F16 | DType::BF16 => DType::F32,
        DType::F32 | DType::F64 | DType::I32 | DType::I64 | DType::U32 | DType::U64 => dt,
        d => return Err(Declined::new(format!("Gemm on {d} is not decomposed"))),
    };
    let operand = |b: &mut Builder<'_>, v, transposed: bool| -> Result<_, Declined> {
        let from = b.dtype(v)?;
        let v = b.cast(v, from, cd);
        Ok(if transposed {
            b.emit(Op::Transpose(Transpose { perm: vec![1, 0] }), &[v])
        } else {
            v
        })
    };
    let a = operand(b, a, attrs.trans_a)?;
    let w = operand(b, w, attrs.trans_b)?;
    let mut y = b.emit(Op::MatMul(MatMul), &[a, w]);
    if attrs.alpha != 1.0 {
        let alpha = b.scalar(attrs.alpha as f64, cd);
        y = b.binary(BinaryOp::Mul, y, alpha);
    }
    if let Some(c) = b.opt_input(2).filter(|_| attrs.beta != 0.0) {
        let from = b.dtype(c)?;
        let mut c = b.cast(c, from, cd);
        if attrs.beta != 1.0 {
            let beta = b.scalar(attrs.beta as f64, cd);
            c = b.binary(BinaryOp::Mul, c, beta);
        }
        y = b.binary(BinaryOp::Add, y, c);
    }
    b.output_as(0, y, cd, dt)
}
