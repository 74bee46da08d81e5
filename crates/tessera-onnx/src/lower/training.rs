//! Lowering of the `ai.onnx.preview.training` optimizer ops (`Adagrad`, `Adam`, `Momentum`)
//! onto elementwise primitives. Each op updates N tensors at once: inputs are `R` (learning
//! rate, scalar), `T` (step count, i64 scalar), then N tensors of each state group; outputs
//! are the N updated tensors of each group, in the same order.

use super::{invalid, LowerError, LowerFn, NodeCtx};
use tessera_ir::op::{BinaryOp, Cast, UnaryOp, Where};
use tessera_ir::{DType, Op, Tensor, ValueId};

/// The ops this file lowers (domain `ai.onnx.preview.training`).
pub(crate) const OPS: &[(&str, LowerFn)] =
    &[("Adagrad", adagrad), ("Adam", adam), ("Momentum", momentum)];

/// Emission helpers over one float dtype.
struct B<'c, 'a> {
    ctx: &'c mut NodeCtx<'a>,
    dt: DType,
}

impl B<'_, '_> {
    fn c(&mut self, v: f64) -> ValueId {
        let t = Tensor::scalar(v).cast(self.dt);
        self.ctx.constant(t)
    }
    fn bin(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        self.ctx.emit_tmp(Op::Binary(op), vec![Some(a), Some(b)])
    }
    fn un(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        self.ctx.emit_tmp(Op::Unary(op), vec![Some(a)])
    }
    fn cast(&mut self, a: ValueId) -> ValueId {
        self.ctx
            .emit_tmp(Op::Cast(Cast::to(self.dt)), vec![Some(a)])
    }
    fn select(&mut self, c: ValueId, a: ValueId, b: ValueId) -> ValueId {
        self.ctx
            .emit_tmp(Op::Where(Where), vec![Some(c), Some(a), Some(b)])
    }
    /// Writes `v` to output `i` (when requested).
    fn out(&mut self, i: usize, v: ValueId) {
        self.ctx.alias_output(i, v);
    }
}

/// Checks the arity (`2 + groups * n` inputs, `outs * n` outputs) and returns `n`, the
/// float dtype of the updated tensors, and the learning rate and step cast to it.
fn setup(ctx: &mut NodeCtx, groups: usize, outs: usize) -> Result<(usize, DType), LowerError> {
    let k = ctx.num_inputs();
    if k < 2 + groups || (k - 2) % groups != 0 {
        return Err(invalid(format!(
            "expected 2 + {groups}·N inputs, found {k}"
        )));
    }
    let n = (k - 2) / groups;
    if ctx.outputs.len() > outs * n {
        return Err(invalid(format!("expected at most {} outputs", outs * n)));
    }
    for i in 0..k {
        ctx.req(i)?;
    }
    let dt = ctx
        .input_type(2)
        .and_then(|t| t.as_tensor())
        .map(|t| t.dtype)
        .unwrap_or(DType::F32);
    if !dt.is_float() {
        return Err(invalid(format!(
            "optimizer state must be float, found {dt}"
        )));
    }
    Ok((n, dt))
}

/// `G + norm * X`.
fn regularized(b: &mut B, x: ValueId, g: ValueId, norm: f64) -> ValueId {
    if norm == 0.0 {
        return g;
    }
    let nc = b.c(norm);
    let nx = b.bin(BinaryOp::Mul, nc, x);
    b.bin(BinaryOp::Add, nx, g)
}

fn adagrad(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let decay = ctx.float("decay_factor", 0.0) as f64;
    let eps = ctx.float("epsilon", 1e-6) as f64;
    let norm = ctx.float("norm_coefficient", 0.0) as f64;
    let (n, dt) = setup(ctx, 3, 2)?;
    let (r, t) = (ctx.req(0)?, ctx.req(1)?);
    let mut b = B { ctx, dt };
    // r = R / (1 + T * decay)
    let r = b.cast(r);
    let tf = b.cast(t);
    let dc = b.c(decay);
    let td = b.bin(BinaryOp::Mul, tf, dc);
    let one = b.c(1.0);
    let den = b.bin(BinaryOp::Add, one, td);
    let r = b.bin(BinaryOp::Div, r, den);
    let ec = b.c(eps);
    for i in 0..n {
        let (x, g, h) = (
            b.ctx.req(2 + i)?,
            b.ctx.req(2 + n + i)?,
            b.ctx.req(2 + 2 * n + i)?,
        );
        let gr = regularized(&mut b, x, g, norm);
        let g2 = b.bin(BinaryOp::Mul, gr, gr);
        let h_new = b.bin(BinaryOp::Add, h, g2);
        let hs = b.un(UnaryOp::Sqrt, h_new);
        let ha = b.bin(BinaryOp::Add, hs, ec);
        let rg = b.bin(BinaryOp::Mul, r, gr);
        let step = b.bin(BinaryOp::Div, rg, ha);
        let x_new = b.bin(BinaryOp::Sub, x, step);
        b.out(i, x_new);
        b.out(n + i, h_new);
    }
    Ok(())
}

fn momentum(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let alpha = ctx.float("alpha", 0.0) as f64;
    let beta = ctx.float("beta", 0.0) as f64;
    let norm = ctx.float("norm_coefficient", 0.0) as f64;
    let nesterov = match ctx.string("mode", "standard").as_str() {
        "standard" => false,
        "nesterov" => true,
        m => return Err(invalid(format!("unknown Momentum mode '{m}'"))),
    };
    let (n, dt) = setup(ctx, 3, 2)?;
    let (r, t) = (ctx.req(0)?, ctx.req(1)?);
    let mut b = B { ctx, dt };
    let r = b.cast(r);
    // beta_adjusted = T > 0 ? beta : 1
    let tf = b.cast(t);
    let zero = b.c(0.0);
    let pos = b.bin(BinaryOp::Greater, tf, zero);
    let bc = b.c(beta);
    let one = b.c(1.0);
    let beta_adj = b.select(pos, bc, one);
    let ac = b.c(alpha);
    for i in 0..n {
        let (x, g, v) = (
            b.ctx.req(2 + i)?,
            b.ctx.req(2 + n + i)?,
            b.ctx.req(2 + 2 * n + i)?,
        );
        let gr = regularized(&mut b, x, g, norm);
        let av = b.bin(BinaryOp::Mul, ac, v);
        let bg = b.bin(BinaryOp::Mul, beta_adj, gr);
        let v_new = b.bin(BinaryOp::Add, av, bg);
        let dir = if nesterov {
            let av_new = b.bin(BinaryOp::Mul, ac, v_new);
            b.bin(BinaryOp::Add, gr, av_new)
        } else {
            v_new
        };
        let step = b.bin(BinaryOp::Mul, r, dir);
        let x_new = b.bin(BinaryOp::Sub, x, step);
        b.out(i, x_new);
        b.out(n + i, v_new);
    }
    Ok(())
}

fn adam(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let alpha = ctx.float("alpha", 0.9) as f64;
    let beta = ctx.float("beta", 0.999) as f64;
    let eps = ctx.float("epsilon", 1e-6) as f64;
    let norm = ctx.float("norm_coefficient", 0.0) as f64;
    let norm_post = ctx.float("norm_coefficient_post", 0.0) as f64;
    let (n, dt) = setup(ctx, 4, 3)?;
    let (r, t) = (ctx.req(0)?, ctx.req(1)?);
    let mut b = B { ctx, dt };
    let r = b.cast(r);
    // R_adjusted = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R
    let tf = b.cast(t);
    let zero = b.c(0.0);
    let pos = b.bin(BinaryOp::Greater, tf, zero);
    let one = b.c(1.0);
    let ac = b.c(alpha);
    let bc = b.c(beta);
    let at = b.bin(BinaryOp::Pow, ac, tf);
    let bt = b.bin(BinaryOp::Pow, bc, tf);
    let one_at = b.bin(BinaryOp::Sub, one, at);
    let one_bt = b.bin(BinaryOp::Sub, one, bt);
    let sq = b.un(UnaryOp::Sqrt, one_bt);
    let rs = b.bin(BinaryOp::Mul, r, sq);
    let radj = b.bin(BinaryOp::Div, rs, one_at);
    let r = b.select(pos, radj, r);
    let one_a = b.c(1.0 - alpha);
    let one_b = b.c(1.0 - beta);
    let ec = b.c(eps);
    let post = b.c(1.0 - norm_post);
    for i in 0..n {
        let x = b.ctx.req(2 + i)?;
        let g = b.ctx.req(2 + n + i)?;
        let v = b.ctx.req(2 + 2 * n + i)?;
        let h = b.ctx.req(2 + 3 * n + i)?;
        let gr = regularized(&mut b, x, g, norm);
        let av = b.bin(BinaryOp::Mul, ac, v);
        let ag = b.bin(BinaryOp::Mul, one_a, gr);
        let v_new = b.bin(BinaryOp::Add, av, ag);
        let bh = b.bin(BinaryOp::Mul, bc, h);
        let g2 = b.bin(BinaryOp::Mul, gr, gr);
        let bg = b.bin(BinaryOp::Mul, one_b, g2);
        let h_new = b.bin(BinaryOp::Add, bh, bg);
        let hs = b.un(UnaryOp::Sqrt, h_new);
        let hse = b.bin(BinaryOp::Add, hs, ec);
        let q = b.bin(BinaryOp::Div, v_new, hse);
        let step = b.bin(BinaryOp::Mul, r, q);
        let x_new = b.bin(BinaryOp::Sub, x, step);
        let x_fin = if norm_post == 0.0 {
            x_new
        } else {
            b.bin(BinaryOp::Mul, post, x_new)
        };
        b.out(i, x_fin);
        b.out(n + i, v_new);
        b.out(2 * n + i, h_new);
    }
    Ok(())
}
