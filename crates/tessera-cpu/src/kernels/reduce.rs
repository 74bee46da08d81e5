//! Reduction kernels: `Reduce` over axes, `ArgReduce`, the softmax family, `Cumulative` and
//! `TopK`.
//!
//! Float reductions accumulate in f64 and round once; integer sums and products wrap (in i64,
//! which is exact modulo the type width); softmax computes in f32 (f64 for f64 inputs).

use super::elementwise::{FloatStore, Scalar, PAR_MIN};
use super::util::{axis as norm_axis, outer_axis_inner, tensor};
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use num_traits::Float;
use rayon::prelude::*;
use std::cmp::Ordering;
use tessera_ir::op::{ArgReduce, Cumulative, Reduce, ReduceKind, Softmax, SoftmaxKind, TopK};
use tessera_ir::{dispatch_dtype, strides_of, DType, Element, Op, Tensor, Value};

/// Runs the reduction ops; `None` for ops of other families.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::Reduce(r) => reduce(r, ins).and_then(one),
        Op::ArgReduce(a) => arg_reduce(a, ins).and_then(one),
        Op::Softmax(s) => softmax(s, ins).and_then(one),
        Op::Cumulative(c) => cumulative(c, ins).and_then(one),
        Op::TopK(t) => top_k(t, ins),
        _ => return None,
    })
}

/// True for the ops of this family.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::Reduce(_) | Op::ArgReduce(_) | Op::Softmax(_) | Op::Cumulative(_) | Op::TopK(_)
    )
}

// ---------------------------------------------------------------------------------------------
// Reduce

/// Flat offsets of every index combination of `dims` (extent, stride), row-major.
fn offsets(dims: &[(usize, usize)]) -> Vec<usize> {
    let n: usize = dims.iter().map(|d| d.0).product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; dims.len()];
    let mut cur = 0usize;
    for _ in 0..n {
        out.push(cur);
        for ax in (0..dims.len()).rev() {
            idx[ax] += 1;
            cur += dims[ax].1;
            if idx[ax] < dims[ax].0 {
                break;
            }
            cur -= dims[ax].1 * idx[ax];
            idx[ax] = 0;
        }
    }
    out
}

/// The smallest and largest value of an integer or bool dtype, as i64 bit patterns that
/// `from_i64` wraps into the type.
fn int_range(d: DType) -> (i64, i64) {
    match d {
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::U16 => (0, u16::MAX as i64),
        DType::U32 => (0, u32::MAX as i64),
        DType::U64 => (0, -1),
        DType::Bool => (0, 1),
        _ => (i64::MIN, i64::MAX),
    }
}

fn reduce(r: &Reduce, ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let rank = x.rank();
    let axes = ins.opt_i64s(1)?.unwrap_or_default();
    if axes.is_empty() && r.noop_with_empty_axes {
        return Ok(x.clone());
    }
    let mut red = vec![axes.is_empty(); rank];
    for &a in &axes {
        red[norm_axis(ins.op, a, rank)?] = true;
    }
    let shape = x.shape();
    let st = strides_of(shape);
    let mut out_shape = vec![];
    let (mut kept, mut reduced) = (vec![], vec![]);
    for i in 0..rank {
        if red[i] {
            reduced.push((shape[i], st[i]));
            if r.keepdims {
                out_shape.push(1);
            }
        } else {
            kept.push((shape[i], st[i]));
            out_shape.push(shape[i]);
        }
    }
    let bases = offsets(&kept);
    let roffs = offsets(&reduced);
    let d = x.dtype();
    let name = ins.op;
    let par = x.len() >= PAR_MIN && bases.len() > 1;
    macro_rules! per_output {
        ($f:expr) => {{
            let f = $f;
            if par {
                bases.par_iter().map(|&b| f(b)).collect::<Vec<_>>()
            } else {
                bases.iter().map(|&b| f(b)).collect::<Vec<_>>()
            }
        }};
    }
    use ReduceKind::*;
    if matches!(r.kind, Max | Min) {
        return dispatch_dtype!(d, T => {
            let v = x.as_slice::<T>()?;
            let empty = if d.is_float() {
                T::from_f64(if r.kind == Max { f64::NEG_INFINITY } else { f64::INFINITY })
            } else {
                let (lo, hi) = int_range(d);
                T::from_i64(if r.kind == Max { lo } else { hi })
            };
            let max = r.kind == Max;
            tensor(out_shape, per_output!(|b: usize| {
                let mut it = roffs.iter().map(|&o| v[b + o]);
                match it.next() {
                    None => empty,
                    Some(first) => it.fold(first, |acc: T, y: T| {
                        if max { acc.max_n(y) } else { acc.min_n(y) }
                    }),
                }
            }))
        }, lowp l => Err(unsupported(
            "reduce",
            format!("dtype {l} is not supported by reduce"),
        )));
    }
    if d == DType::Bool {
        return Err(unsupported(name, format!("Reduce{:?} on bool", r.kind)));
    }
    let m = roffs.len();
    let int_exact = d.is_int() && matches!(r.kind, Sum | Prod | SumSquare | L1 | Mean);
    if int_exact {
        return dispatch_dtype!(d, T => {
            let v = x.as_slice::<T>()?;
            let signed = d.is_signed_int();
            tensor(out_shape, per_output!(|b: usize| {
                let it = roffs.iter().map(|&o| v[b + o].to_i64());
                let acc = match r.kind {
                    Prod => it.fold(1i64, |a, y| a.wrapping_mul(y)),
                    SumSquare => it.fold(0i64, |a, y| a.wrapping_add(y.wrapping_mul(y))),
                    L1 => it.fold(0i64, |a, y| a.wrapping_add(y.wrapping_abs())),
                    _ => it.fold(0i64, |a, y| a.wrapping_add(y)),
                };
                let acc = if r.kind == Mean {
                    if m == 0 {
                        0
                    } else if signed {
                        acc / m as i64
                    } else {
                        ((acc as u64) / m as u64) as i64
                    }
                } else {
                    acc
                };
                T::from_i64(acc)
            }))
        });
    }
    let kind = r.kind;
    dispatch_dtype!(d, T => {
        let v = x.as_slice::<T>()?;
        tensor(out_shape, per_output!(|b: usize| {
            let it = roffs.iter().map(|&o| v[b + o].to_f64());
            let y = match kind {
                Sum => it.sum::<f64>(),
                Mean => it.sum::<f64>() / m as f64,
                Prod => it.product::<f64>(),
                L1 => it.map(f64::abs).sum::<f64>(),
                L2 => it.map(|y| y * y).sum::<f64>().sqrt(),
                SumSquare => it.map(|y| y * y).sum::<f64>(),
                LogSum => it.sum::<f64>().ln(),
                LogSumExp => {
                    let mx = it.clone().fold(f64::NEG_INFINITY, f64::max);
                    if mx.is_infinite() {
                        // All -inf (or empty): -inf; any +inf: +inf.
                        it.map(|y| y.exp()).sum::<f64>().ln()
                    } else {
                        mx + it.map(|y| (y - mx).exp()).sum::<f64>().ln()
                    }
                }
                Max | Min => f64::NAN,
            };
            T::from_f64(y)
        }))
    })
}

// ---------------------------------------------------------------------------------------------
// ArgReduce

#[allow(clippy::bool_comparison)]
fn arg_reduce(a: &ArgReduce, ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let ax = norm_axis(ins.op, a.axis, x.rank())?;
    let (outer, n, inner) = outer_axis_inner(x.shape(), ax);
    if n == 0 {
        return Err(invalid(
            ins.op,
            "cannot take the arg-extreme of an empty axis",
        ));
    }
    let mut shape = x.shape().to_vec();
    if a.keepdims {
        shape[ax] = 1;
    } else {
        shape.remove(ax);
    }
    dispatch_dtype!(x.dtype(), T => {
        let v = x.as_slice::<T>()?;
        let mut out = vec![0i64; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                let base = o * n * inner + i;
                let mut best = v[base];
                let mut bi = 0usize;
                for k in 1..n {
                    let y = v[base + k * inner];
                    let better = if a.max {
                        y > best || (a.select_last_index && y == best)
                    } else {
                        y < best || (a.select_last_index && y == best)
                    };
                    if better {
                        best = y;
                        bi = k;
                    }
                }
                out[o * inner + i] = bi as i64;
            }
        }
        tensor(shape, out)
    }, lowp l => Err(unsupported(
            "arg_reduce",
            format!("dtype {l} is not supported by arg_reduce"),
        )))
}

// ---------------------------------------------------------------------------------------------
// Softmax

fn softmax_typed<T: FloatStore>(s: &Softmax, x: &Tensor, ax: usize) -> KResult<Tensor> {
    let v = x.as_slice::<T>()?;
    let (_, n, inner) = outer_axis_inner(x.shape(), ax);
    let mut out = vec![T::default(); v.len()];
    let block = n * inner;
    if block == 0 {
        return tensor(x.shape().to_vec(), out);
    }
    let kind = s.kind;
    let body = |(o, chunk): (usize, &mut [T])| {
        let src = &v[o * block..(o + 1) * block];
        let mut buf: Vec<T::C> = vec![<T::C as num_traits::Zero>::zero(); n];
        for i in 0..inner {
            for (k, b) in buf.iter_mut().enumerate() {
                *b = src[k * inner + i].to_c();
            }
            let mut mx = buf[0];
            let mut arg = 0;
            for (k, &b) in buf.iter().enumerate().skip(1) {
                if b > mx {
                    mx = b;
                    arg = k;
                }
            }
            match kind {
                SoftmaxKind::Hardmax => {
                    for k in 0..n {
                        chunk[k * inner + i] = T::from_c(if k == arg {
                            <T::C as num_traits::One>::one()
                        } else {
                            <T::C as num_traits::Zero>::zero()
                        });
                    }
                }
                SoftmaxKind::Softmax => {
                    let mut sum = <T::C as num_traits::Zero>::zero();
                    for b in buf.iter_mut() {
                        *b = (*b - mx).exp();
                        sum = sum + *b;
                    }
                    for (k, &b) in buf.iter().enumerate() {
                        chunk[k * inner + i] = T::from_c(b / sum);
                    }
                }
                SoftmaxKind::LogSoftmax => {
                    let mut sum = <T::C as num_traits::Zero>::zero();
                    for &b in buf.iter() {
                        sum = sum + (b - mx).exp();
                    }
                    let lse = sum.ln();
                    for (k, &b) in buf.iter().enumerate() {
                        chunk[k * inner + i] = T::from_c(b - mx - lse);
                    }
                }
            }
        }
    };
    if v.len() >= PAR_MIN {
        out.par_chunks_mut(block).enumerate().for_each(body);
    } else {
        out.chunks_mut(block).enumerate().for_each(body);
    }
    tensor(x.shape().to_vec(), out)
}

fn softmax(s: &Softmax, ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let ax = norm_axis(ins.op, s.axis, x.rank())?;
    crate::dispatch_float!(x.dtype(), T => softmax_typed::<T>(s, x, ax), _ => Err(unsupported(
        ins.op,
        format!("{:?} is not defined on {}", s.kind, x.dtype()),
    )))
}

// ---------------------------------------------------------------------------------------------
// Cumulative

fn cumulative(c: &Cumulative, ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let a = ins
        .opt_i64s(1)?
        .and_then(|v| (v.len() == 1).then(|| v[0]))
        .ok_or_else(|| invalid(ins.op, "axis must be a one-element integer tensor"))?;
    let ax = norm_axis(ins.op, a, x.rank())?;
    let (outer, n, inner) = outer_axis_inner(x.shape(), ax);
    let d = x.dtype();
    if d == DType::Bool {
        return Err(unsupported(
            ins.op,
            "cumulative ops are not defined on bool",
        ));
    }
    let order: Vec<usize> = if c.reverse {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    dispatch_dtype!(d, T => {
        let v = x.as_slice::<T>()?;
        let mut out = vec![T::default(); v.len()];
        for o in 0..outer {
            for i in 0..inner {
                let base = o * n * inner + i;
                if d.is_float() {
                    let mut acc = if c.product { 1.0 } else { 0.0 };
                    for &k in &order {
                        let y = v[base + k * inner].to_f64();
                        if c.exclusive {
                            out[base + k * inner] = T::from_f64(acc);
                        }
                        acc = if c.product { acc * y } else { acc + y };
                        if !c.exclusive {
                            out[base + k * inner] = T::from_f64(acc);
                        }
                    }
                } else {
                    let mut acc: i64 = if c.product { 1 } else { 0 };
                    for &k in &order {
                        let y = v[base + k * inner].to_i64();
                        if c.exclusive {
                            out[base + k * inner] = T::from_i64(acc);
                        }
                        acc = if c.product { acc.wrapping_mul(y) } else { acc.wrapping_add(y) };
                        if !c.exclusive {
                            out[base + k * inner] = T::from_i64(acc);
                        }
                    }
                }
            }
        }
        tensor(x.shape().to_vec(), out)
    })
}

// ---------------------------------------------------------------------------------------------
// TopK

/// A total order on values: NaN is above everything (and equal to NaN).
#[inline]
fn cmp_vals<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    #[allow(clippy::eq_op)]
    a.partial_cmp(b).unwrap_or_else(|| {
        let (an, bn) = (a != a, b != b);
        an.cmp(&bn)
    })
}

fn top_k_typed<T: Scalar>(t: &TopK, x: &Tensor, ax: usize, k: usize) -> KResult<(Tensor, Tensor)> {
    let v = x.as_slice::<T>()?;
    let (outer, n, inner) = outer_axis_inner(x.shape(), ax);
    let mut shape = x.shape().to_vec();
    shape[ax] = k;
    let mut vals = Vec::with_capacity(outer * k * inner);
    let mut idxs = vec![0i64; outer * k * inner];
    vals.resize(outer * k * inner, T::default());
    let mut lane: Vec<usize> = Vec::with_capacity(n);
    for o in 0..outer {
        for i in 0..inner {
            let base = o * n * inner + i;
            let at = |j: usize| &v[base + j * inner];
            let cmp = |p: &usize, q: &usize| {
                let c = if t.largest {
                    cmp_vals(at(*q), at(*p))
                } else {
                    cmp_vals(at(*p), at(*q))
                };
                c.then(p.cmp(q))
            };
            lane.clear();
            lane.extend(0..n);
            if k > 0 && k < n {
                lane.select_nth_unstable_by(k - 1, cmp);
            }
            lane.truncate(k);
            lane.sort_unstable_by(cmp);
            for (j, &src) in lane.iter().enumerate() {
                let dst = o * k * inner + j * inner + i;
                vals[dst] = *at(src);
                idxs[dst] = src as i64;
            }
        }
    }
    Ok((tensor(shape.clone(), vals)?, tensor(shape, idxs)?))
}

fn top_k(t: &TopK, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let ax = norm_axis(ins.op, t.axis, x.rank())?;
    let k = ins
        .opt_i64s(1)?
        .and_then(|v| (v.len() == 1).then(|| v[0]))
        .ok_or_else(|| invalid(ins.op, "k must be a one-element integer tensor"))?;
    let n = x.shape()[ax];
    let k = usize::try_from(k).ok().filter(|&k| k <= n).ok_or_else(|| {
        invalid(
            ins.op,
            format!("k = {k} is out of range for axis extent {n}"),
        )
    })?;
    let (vals, idxs) = dispatch_dtype!(x.dtype(), T => top_k_typed::<T>(t, x, ax, k), lowp l => Err(unsupported(
        "top_k",
        format!("dtype {l} is not supported by top_k"),
    )))?;
    Ok(vec![Some(Value::Tensor(vals)), Some(Value::Tensor(idxs))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_op(op: Op, inputs: &[Option<Tensor>]) -> KResult<Vec<Tensor>> {
        let vals: Vec<Option<Value>> = inputs
            .iter()
            .map(|t| t.clone().map(Value::Tensor))
            .collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        let name = op.name();
        let ins = Inputs {
            op: &name,
            values: &refs,
        };
        let out = run(&op, &ins).expect("reduce-family op")?;
        Ok(out
            .into_iter()
            .map(|v| match v {
                Some(Value::Tensor(t)) => t,
                _ => panic!("missing output"),
            })
            .collect())
    }

    fn t<T: tessera_ir::Storage>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    fn red(kind: ReduceKind, keepdims: bool) -> Op {
        Op::Reduce(Reduce {
            kind,
            keepdims,
            noop_with_empty_axes: false,
        })
    }

    /// Naive reduction of a [2,3,4] tensor over a set of axes.
    fn naive(x: &[f64], axes: &[usize], kind: ReduceKind) -> Vec<f64> {
        let dims = [2usize, 3, 4];
        let mut groups: std::collections::BTreeMap<Vec<usize>, Vec<f64>> = Default::default();
        for i in 0..2 {
            for j in 0..3 {
                for l in 0..4 {
                    let idx = [i, j, l];
                    let key: Vec<usize> = (0..3)
                        .map(|a| if axes.contains(&a) { 0 } else { idx[a] })
                        .collect();
                    groups.entry(key).or_default().push(x[i * 12 + j * 4 + l]);
                }
            }
        }
        let _ = dims;
        groups
            .values()
            .map(|g| match kind {
                ReduceKind::Sum => g.iter().sum(),
                ReduceKind::Mean => g.iter().sum::<f64>() / g.len() as f64,
                ReduceKind::Max => g.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                ReduceKind::Min => g.iter().cloned().fold(f64::INFINITY, f64::min),
                ReduceKind::Prod => g.iter().product(),
                ReduceKind::L1 => g.iter().map(|v| v.abs()).sum(),
                ReduceKind::L2 => g.iter().map(|v| v * v).sum::<f64>().sqrt(),
                ReduceKind::SumSquare => g.iter().map(|v| v * v).sum(),
                ReduceKind::LogSum => g.iter().sum::<f64>().ln(),
                ReduceKind::LogSumExp => g.iter().map(|v| v.exp()).sum::<f64>().ln(),
            })
            .collect()
    }

    #[test]
    fn reduce_matches_naive() {
        let xv: Vec<f64> = (0..24)
            .map(|i| ((i * 7) % 11) as f64 * 0.25 + 0.5)
            .collect();
        let x = t(&[2, 3, 4], xv.clone());
        use ReduceKind::*;
        for kind in [
            Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp,
        ] {
            for axes in [vec![0usize], vec![1], vec![2], vec![0, 2], vec![0, 1, 2]] {
                let a = t(&[axes.len()], axes.iter().map(|&a| a as i64).collect());
                let y = run_op(red(kind, true), &[Some(x.clone()), Some(a)]).unwrap();
                let want = naive(&xv, &axes, kind);
                let got = y[0].to_f64_vec();
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "{kind:?} {axes:?}"
                    );
                }
                let mut shape = [2, 3, 4];
                for &a in &axes {
                    shape[a] = 1;
                }
                assert_eq!(y[0].shape(), &shape[..]);
            }
        }
    }

    #[test]
    fn reduce_defaults_ints_and_empty() {
        let x = t(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]);
        let y = run_op(red(ReduceKind::Sum, false), &[Some(x.clone())]).unwrap();
        assert_eq!(y[0].shape(), &[] as &[usize]);
        assert_eq!(y[0].to_i64_vec(), vec![21]);
        let y = run_op(
            red(ReduceKind::Mean, false),
            &[Some(x.clone()), Some(t(&[1], vec![-1i64]))],
        )
        .unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![2, 5]);
        let noop = Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            keepdims: true,
            noop_with_empty_axes: true,
        });
        let y = run_op(noop, &[Some(x), Some(t(&[0], Vec::<i64>::new()))]).unwrap();
        assert_eq!(y[0].shape(), &[2, 3]);
        let e = t(&[2, 0, 4], Vec::<f32>::new());
        let axes = Some(t(&[1], vec![1i64]));
        let y = run_op(red(ReduceKind::Sum, true), &[Some(e.clone()), axes.clone()]).unwrap();
        assert_eq!(y[0].to_f64_vec(), vec![0.0; 8]);
        let y = run_op(red(ReduceKind::Max, true), &[Some(e), axes]).unwrap();
        assert!(y[0].to_f64_vec().iter().all(|v| *v == f64::NEG_INFINITY));
        let b = t(&[2, 2], vec![true, false, false, false]);
        let y = run_op(
            red(ReduceKind::Max, false),
            &[Some(b), Some(t(&[1], vec![1i64]))],
        )
        .unwrap();
        assert_eq!(y[0].as_slice::<bool>().unwrap(), &[true, false]);
    }

    #[test]
    fn argmax_argmin() {
        let x = t(&[2, 3], vec![1.0f32, 5.0, 5.0, 7.0, 2.0, 7.0]);
        let arg = |max, axis, last| {
            Op::ArgReduce(ArgReduce {
                max,
                axis,
                keepdims: false,
                select_last_index: last,
            })
        };
        let y = run_op(arg(true, 1, false), &[Some(x.clone())]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![1, 0]);
        let y = run_op(arg(true, 1, true), &[Some(x.clone())]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![2, 2]);
        let y = run_op(arg(false, 0, false), &[Some(x)]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![0, 1, 0]);
    }

    #[test]
    fn softmax_family() {
        let xv = vec![1.0f32, 2.0, 3.0, 1.0, 1.0, 1.0];
        let x = t(&[2, 3], xv.clone());
        let sm = |kind, axis| Op::Softmax(Softmax { kind, axis });
        let y = run_op(sm(SoftmaxKind::Softmax, -1), &[Some(x.clone())]).unwrap();
        let y = y[0].to_f64_vec();
        for r in 0..2 {
            let row: Vec<f64> = xv[r * 3..r * 3 + 3].iter().map(|&v| v as f64).collect();
            let s: f64 = row.iter().map(|v| v.exp()).sum();
            for k in 0..3 {
                assert!((y[r * 3 + k] - row[k].exp() / s).abs() < 1e-6);
            }
        }
        let y = run_op(sm(SoftmaxKind::LogSoftmax, 0), &[Some(x.clone())]).unwrap();
        let y = y[0].to_f64_vec();
        for c in 0..3 {
            let (a, b) = (xv[c] as f64, xv[3 + c] as f64);
            let lse = (a.exp() + b.exp()).ln();
            assert!((y[c] - (a - lse)).abs() < 1e-6);
            assert!((y[3 + c] - (b - lse)).abs() < 1e-6);
        }
        let y = run_op(sm(SoftmaxKind::Hardmax, 1), &[Some(x)]).unwrap();
        assert_eq!(y[0].to_f64_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn cumulative_ops() {
        let x = t(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]);
        let cum = |product, exclusive, reverse| {
            Op::Cumulative(Cumulative {
                product,
                exclusive,
                reverse,
            })
        };
        let ax = |a: i64| Some(t(&[], vec![a]));
        let y = run_op(cum(false, false, false), &[Some(x.clone()), ax(1)]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![1, 3, 6, 4, 9, 15]);
        let y = run_op(cum(false, true, true), &[Some(x.clone()), ax(1)]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![5, 3, 0, 11, 6, 0]);
        let y = run_op(cum(true, false, false), &[Some(x), ax(0)]).unwrap();
        assert_eq!(y[0].to_i64_vec(), vec![1, 2, 3, 4, 10, 18]);
    }

    #[test]
    fn top_k_matches_naive_sort() {
        let xv = vec![3.0f32, 1.0, 3.0, 2.0, f32::NAN, 0.0, 5.0, 5.0];
        let x = t(&[2, 4], xv);
        let tk = |largest| {
            Op::TopK(TopK {
                axis: -1,
                largest,
                sorted: true,
            })
        };
        let k = Some(t(&[1], vec![2i64]));
        let y = run_op(tk(true), &[Some(x.clone()), k.clone()]).unwrap();
        assert_eq!(y[1].to_i64_vec(), vec![0, 2, 0, 2]);
        let v = y[0].to_f64_vec();
        assert_eq!(v[0], 3.0);
        assert!(v[2].is_nan());
        let y = run_op(tk(false), &[Some(x), k]).unwrap();
        assert_eq!(y[1].to_i64_vec(), vec![1, 3, 1, 2]);
        let u = t(&[3], vec![u64::MAX, u64::MAX - 1, 7]);
        let y = run_op(tk(true), &[Some(u), Some(t(&[1], vec![2i64]))]).unwrap();
        assert_eq!(y[0].as_slice::<u64>().unwrap(), &[u64::MAX, u64::MAX - 1]);
    }
}
