//! Rules for the normalizations. Statistics are computed in f32 for f16, bf16 and f32 inputs
//! and in f64 for f64 (the `stash_type` ONNX uses by default), with `ReduceMean` keeping the
//! reduced axes so the results broadcast back.
//!
//! - `BatchNorm`: `k = scale / √(var + ε)`, `y = x · k + (bias − mean · k)` with `k` and the
//!   offset reshaped to `[C, 1, …]` (or used as they are for per-element `[C, D1…]`
//!   parameters). With constant parameters everything but one `Mul` and one `Add` folds.
//! - `LayerNorm` (ONNX's function body): `mean = ReduceMean(x)`, `d = x − mean`,
//!   `inv = 1 / √(ReduceMean(d·d) + ε)`, `y = (d · inv) · scale + bias` over the axes
//!   `axis..rank`; `mean` and `inv` are the optional outputs.
//! - `RmsNorm`: `y = (x · 1 / √(ReduceMean(x·x) + ε)) · scale`.
//! - `InstanceNorm`: per `[n, c]` over the spatial axes, `y = (x − mean) / √(var + ε) · scale
//!   + bias` with the parameters reshaped to `[C, 1, …]`.
//! - `GroupNorm`: `x` reshaped to `[N, groups, −1]`, normalized over the last axis, reshaped
//!   back; parameters of `groups` elements apply before the reshape back (as `[groups, 1]`),
//!   parameters of `C` elements after it (as `[C, 1, …]`).
//! - `LpNorm`: `y = x / ReduceL1(x)` or `x / ReduceL2(x)` along the axis, 0 where the norm is 0.
//!
//! In the normalization the scale and bias are applied in the input's dtype after rounding,
//! as ONNX's function bodies do for `LayerNorm` and `RmsNorm`; the other rules round once at
//! the end.

use super::builder::{compute_dtype, Builder};
use super::Declined;
use tessera_ir::op::{BinaryOp, Reduce, ReduceKind, Reshape, ShapeOf, UnaryOp, Where};
use tessera_ir::{normalize_axis, DType, Dim, Op, ValueId};

fn reduce_op(kind: ReduceKind) -> Op {
    Op::Reduce(Reduce {
        kind,
        keepdims: true,
        noop_with_empty_axes: true,
    })
}

/// The axes `axis..rank` of `x` (negative when the rank is unknown and `axis` is).
fn trailing_axes(b: &Builder<'_>, x: ValueId, axis: i64) -> Result<Vec<i64>, Declined> {
    match b.opt_rank(x) {
        Some(r) => {
            let a = normalize_axis(axis, r).ok_or_else(|| {
                Declined::new(format!("axis {axis} is out of range for rank {r}"))
            })?;
            Ok((a..r).map(|i| i as i64).collect())
        }
        None if axis < 0 => Ok((axis..0).collect()),
        None => Err(Declined::new(format!(
            "the rank of the input is unknown and axis {axis} is not counted from the end"
        ))),
    }
}

/// A `LayerNorm`/`RmsNorm` parameter must broadcast over the normalized axes without
/// changing the output shape: at most as many axes as were normalized, or extra leading
/// axes of extent 1 within `x`'s rank.
fn check_affine(b: &Builder<'_>, p: ValueId, x: ValueId, n: usize) -> Result<(), Declined> {
    let t = b.tensor_type(p)?;
    let dims = t
        .shape
        .as_ref()
        .ok_or_else(|| Declined::new("the rank of a scale or bias input is unknown"))?;
    if dims.len() <= n {
        return Ok(());
    }
    let lead_ones = dims[..dims.len() - n].iter().all(|d| *d == Dim::Known(1));
    match b.opt_rank(x) {
        Some(r) if lead_ones && dims.len() <= r => Ok(()),
        _ => Err(Declined::new(format!(
            "a scale or bias of shape {t} does not broadcast over the {n} normalized axes alone"
        ))),
    }
}

/// `[-1, 1, …]` with `ones` trailing ones: a per-channel vector against `[N, C, spatial…]`.
fn channel_shape(ones: usize) -> Vec<i64> {
    let mut s = vec![-1];
    s.extend(std::iter::repeat_n(1, ones));
    s
}

/// The known extent of a rank-1 parameter.
fn vector_len(b: &Builder<'_>, p: ValueId, what: &str) -> Result<usize, Declined> {
    let t = b.tensor_type(p)?;
    match t.shape.as_deref() {
        Some([Dim::Known(n)]) => Ok(*n),
        _ => Err(Declined::new(format!(
            "{what} of type {t} is not a vector of known length"
        ))),
    }
}

/// The known extent of axis 1 of `x`, if any.
fn channels(b: &Builder<'_>, x: ValueId) -> Option<usize> {
    b.tensor_type(x)
        .ok()?
        .shape
        .as_ref()?
        .get(1)
        .and_then(Dim::known)
}

/// Input `i` cast to `cd`.
fn param(b: &mut Builder<'_>, i: usize, cd: DType) -> Result<ValueId, Declined> {
    let v = b.input(i)?;
    let from = b.dtype(v)?;
    Ok(b.cast(v, from, cd))
}

/// The input's rank, which must be at least 2 (`[N, C, …]`).
fn nc_rank(b: &Builder<'_>, x: ValueId) -> Result<usize, Declined> {
    let r = b.rank(x)?;
    if r < 2 {
        return Err(Declined::new(format!(
            "{} needs an input of rank ≥ 2, got rank {r}",
            b.op_name()
        )));
    }
    Ok(r)
}

pub(super) fn batch_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::BatchNorm(bn) = &b.node.op else {
        return Err(Declined::new("not a BatchNorm"));
    };
    let eps = bn.epsilon as f64;
    let x = b.input(0)?;
    let r = nc_rank(b, x)?;
    let dt = b.dtype(x)?;
    let cd = compute_dtype("BatchNorm", dt)?;
    let mut ranks = Vec::with_capacity(4);
    for i in 1..5 {
        let p = b.input(i)?;
        ranks.push(b.rank(p)?);
    }
    let pr = ranks[0];
    if ranks.iter().any(|&k| k != pr) {
        return Err(Declined::new(format!(
            "BatchNorm parameters of different ranks {ranks:?}"
        )));
    }
    let per_channel = match pr {
        1 => {
            let scale = b.input(1)?;
            if let (Ok(n), Some(c)) = (vector_len(b, scale, "scale"), channels(b, x)) {
                if n != c {
                    return Err(Declined::new(format!(
                        "BatchNorm with {n} parameters for {c} channels"
                    )));
                }
            }
            true
        }
        k if k + 1 == r => false,
        k => {
            return Err(Declined::new(format!(
                "BatchNorm parameters of rank {k} for an input of rank {r}"
            )))
        }
    };
    let [scale, bias, mean, var] = [1, 2, 3, 4].map(|i| param(b, i, cd));
    let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
    let e = b.scalar(eps, cd);
    let ve = b.binary(BinaryOp::Add, var, e);
    let sd = b.unary(UnaryOp::Sqrt, ve);
    let mut k = b.binary(BinaryOp::Div, scale, sd);
    let mk = b.binary(BinaryOp::Mul, mean, k);
    let mut off = b.binary(BinaryOp::Sub, bias, mk);
    if per_channel && r > 2 {
        let shape = channel_shape(r - 2);
        k = b.reshape(k, &shape)?;
        off = b.reshape(off, &shape)?;
    }
    let xc = b.cast(x, dt, cd);
    let xk = b.binary(BinaryOp::Mul, xc, k);
    let y = b.binary(BinaryOp::Add, xk, off);
    b.output_as(0, y, cd, dt)
}

/// `LayerNorm` (with `bias` and the statistics outputs) and `RmsNorm` (without).
fn normalize_trailing(b: &mut Builder<'_>, axis: i64, eps: f64, rms: bool) -> Result<(), Declined> {
    let op = b.op_name();
    let x = b.input(0)?;
    let scale = b.input(1)?;
    let bias = if rms { None } else { b.opt_input(2) };
    let dt = b.dtype(x)?;
    let cd = compute_dtype(&op, dt)?;
    let axes = trailing_axes(b, x, axis)?;
    for p in std::iter::once(scale).chain(bias) {
        check_affine(b, p, x, axes.len())?;
    }
    let xc = b.cast(x, dt, cd);
    let a = b.i64s(&axes)?;
    let (centred, var) = if rms {
        let sq = b.binary(BinaryOp::Mul, xc, xc);
        (xc, b.emit(reduce_op(ReduceKind::Mean), &[sq, a]))
    } else {
        let mean = b.emit_output(1, reduce_op(ReduceKind::Mean), &[xc, a]);
        let d = b.binary(BinaryOp::Sub, xc, mean);
        let dd = b.binary(BinaryOp::Mul, d, d);
        (d, b.emit(reduce_op(ReduceKind::Mean), &[dd, a]))
    };
    let e = b.scalar(eps, cd);
    let ve = b.binary(BinaryOp::Add, var, e);
    let sd = b.unary(UnaryOp::Sqrt, ve);
    let inv = if rms {
        b.unary(UnaryOp::Reciprocal, sd)
    } else {
        b.emit_output(2, Op::Unary(UnaryOp::Reciprocal), &[sd])
    };
    let n = b.binary(BinaryOp::Mul, centred, inv);
    let n = b.cast(n, cd, dt);
    let mut y = b.binary(BinaryOp::Mul, n, scale);
    if let Some(bias) = bias {
        y = b.binary(BinaryOp::Add, y, bias);
    }
    b.retarget_output(0, y)
}

pub(super) fn layer_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::LayerNorm(ln) = &b.node.op else {
        return Err(Declined::new("not a LayerNorm"));
    };
    let (axis, eps) = (ln.axis, ln.epsilon as f64);
    normalize_trailing(b, axis, eps, false)
}

pub(super) fn rms_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::RmsNorm(rn) = &b.node.op else {
        return Err(Declined::new("not an RmsNorm"));
    };
    let (axis, eps) = (rn.axis, rn.epsilon as f64);
    normalize_trailing(b, axis, eps, true)
}

/// `(v − mean) / √(var + ε)` over `axes` (a constant already emitted).
fn standardize(b: &mut Builder<'_>, v: ValueId, a: ValueId, eps: f64, cd: DType) -> ValueId {
    let mean = b.emit(reduce_op(ReduceKind::Mean), &[v, a]);
    let d = b.binary(BinaryOp::Sub, v, mean);
    let dd = b.binary(BinaryOp::Mul, d, d);
    let var = b.emit(reduce_op(ReduceKind::Mean), &[dd, a]);
    let e = b.scalar(eps, cd);
    let ve = b.binary(BinaryOp::Add, var, e);
    let sd = b.unary(UnaryOp::Sqrt, ve);
    b.binary(BinaryOp::Div, d, sd)
}

pub(super) fn instance_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::InstanceNorm(n) = &b.node.op else {
        return Err(Declined::new("not an InstanceNorm"));
    };
    let eps = n.epsilon as f64;
    let x = b.input(0)?;
    let r = nc_rank(b, x)?;
    let dt = b.dtype(x)?;
    let cd = compute_dtype("InstanceNorm", dt)?;
    for i in [1, 2] {
        let p = b.input(i)?;
        if b.rank(p)? != 1 {
            return Err(Declined::new("InstanceNorm parameters must be vectors"));
        }
    }
    let xc = b.cast(x, dt, cd);
    let axes: Vec<i64> = (2..r as i64).collect();
    let a = b.i64s(&axes)?;
    let n = standardize(b, xc, a, eps, cd);
    let shape = channel_shape(r - 2);
    let scale = param(b, 1, cd)?;
    let scale = b.reshape(scale, &shape)?;
    let bias = param(b, 2, cd)?;
    let bias = b.reshape(bias, &shape)?;
    let y = b.binary(BinaryOp::Mul, n, scale);
    let y = b.binary(BinaryOp::Add, y, bias);
    b.output_as(0, y, cd, dt)
}

pub(super) fn group_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::GroupNorm(gn) = &b.node.op else {
        return Err(Declined::new("not a GroupNorm"));
    };
    let (eps, groups) = (gn.epsilon as f64, gn.num_groups);
    let x = b.input(0)?;
    let r = nc_rank(b, x)?;
    let dt = b.dtype(x)?;
    let cd = compute_dtype("GroupNorm", dt)?;
    let scale_in = b.input(1)?;
    let bias_in = b.input(2)?;
    let (ns, nb) = (
        vector_len(b, scale_in, "scale")?,
        vector_len(b, bias_in, "bias")?,
    );
    let per_group = match (ns == groups, nb == groups) {
        (true, true) => true,
        (false, false) => false,
        _ => {
            return Err(Declined::new(format!(
                "GroupNorm with {ns} scales and {nb} biases for {groups} groups"
            )))
        }
    };
    if let Some(c) = channels(b, x) {
        if groups == 0 || c % groups != 0 {
            return Err(Declined::new(format!(
                "{c} channels do not divide into {groups} groups"
            )));
        }
        if !per_group && (ns != c || nb != c) {
            return Err(Declined::new(format!(
                "GroupNorm with {ns} scales and {nb} biases for {c} channels"
            )));
        }
    }
    let g = i64::try_from(groups).map_err(|_| Declined::new("too many groups"))?;
    let xc = b.cast(x, dt, cd);
    let grouped = b.reshape(xc, &[0, g, -1])?;
    let a = b.i64s(&[2])?;
    let mut n = standardize(b, grouped, a, eps, cd);
    let scale = param(b, 1, cd)?;
    let bias = param(b, 2, cd)?;
    let affine = |b: &mut Builder<'_>, n, shape: &[i64]| -> Result<ValueId, Declined> {
        let s = b.reshape(scale, shape)?;
        let o = b.reshape(bias, shape)?;
        let y = b.binary(BinaryOp::Mul, n, s);
        Ok(b.binary(BinaryOp::Add, y, o))
    };
    if per_group {
        n = affine(b, n, &[g, 1])?;
    }
    let shape = b.emit(
        Op::ShapeOf(ShapeOf {
            start: 0,
            end: None,
        }),
        &[x],
    );
    let mut y = b.emit(Op::Reshape(Reshape { allowzero: true }), &[n, shape]);
    if !per_group {
        y = affine(b, y, &channel_shape(r - 2))?;
    }
    b.output_as(0, y, cd, dt)
}

pub(super) fn lp_norm(b: &mut Builder<'_>) -> Result<(), Declined> {
    let Op::LpNorm(lp) = &b.node.op else {
        return Err(Declined::new("not an LpNorm"));
    };
    let kind = match lp.p {
        1 => ReduceKind::L1,
        2 => ReduceKind::L2,
        p => return Err(Declined::new(format!("LpNorm with p = {p}"))),
    };
    let axis = lp.axis;
    let x = b.input(0)?;
    let dt = b.dtype(x)?;
    let cd = compute_dtype("LpNorm", dt)?;
    if let Some(r) = b.opt_rank(x) {
        if normalize_axis(axis, r).is_none() {
            return Err(Declined::new(format!(
                "axis {axis} is out of range for rank {r}"
            )));
        }
    }
    let xc = b.cast(x, dt, cd);
    let norm = b.reduce(kind, xc, &[axis])?;
    let q = b.binary(BinaryOp::Div, xc, norm);
    let zero = b.scalar(0.0, cd);
    let is_zero = b.binary(BinaryOp::Equal, norm, zero);
    let y = b.emit(Op::Where(Where), &[is_zero, zero, q]);
    b.output_as(0, y, cd, dt)
}
