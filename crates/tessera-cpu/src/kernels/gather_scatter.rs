//! Indexed data movement: `Gather`, `GatherElements`, `GatherND`, `ScatterElements`,
//! `ScatterND`, and the data-dependent selections `Compress`, `NonZero`, `Unique` and
//! `ReverseSequence`.
//!
//! Negative indices count from the end of their axis; any index outside `[-n, n)` is an error
//! naming the op, never a panic.

use super::movement::{int_values, norm_index};
use super::util::{axis, tensor};
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use std::cmp::Ordering;
use tessera_ir::op::*;
use tessera_ir::{checked_numel, dispatch_dtype, strides_of, Op, Tensor, Value};

/// True when this module has a kernel for `op`.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::Gather(_)
            | Op::GatherElements(_)
            | Op::GatherNd(_)
            | Op::ScatterElements(_)
            | Op::ScatterNd(_)
            | Op::TensorScatter(_)
            | Op::Compress(_)
            | Op::NonZero(_)
            | Op::Unique(_)
            | Op::ReverseSequence(_)
    )
}

/// Runs `op` if it belongs to this module.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::Gather(g) => gather(g, ins),
        Op::GatherElements(g) => gather_elements(g, ins),
        Op::GatherNd(g) => gather_nd(g, ins),
        Op::ScatterElements(s) => scatter_elements(s, ins),
        Op::ScatterNd(s) => scatter_nd(s, ins),
        Op::TensorScatter(t) => tensor_scatter(t, ins),
        Op::Compress(c) => compress(c, ins),
        Op::NonZero(_) => nonzero(ins),
        Op::Unique(u) => unique(u, ins),
        Op::ReverseSequence(r) => reverse_sequence(r, ins),
        _ => return None,
    })
}

/// `TensorScatter`, dtype-generic on the element bytes.
fn tensor_scatter(t: &TensorScatter, ins: &Inputs) -> KResult<Outputs> {
    let op = "TensorScatter";
    let (past, upd) = (ins.tensor(0)?, ins.tensor(1)?);
    let ps = past.shape();
    let us = upd.shape();
    if past.dtype() != upd.dtype() {
        return Err(invalid(op, "past and update dtypes differ"));
    }
    if ps.len() < 2 || ps.len() != us.len() {
        return Err(invalid(
            op,
            format!("bad ranks: past {ps:?}, update {us:?}"),
        ));
    }
    let ax = axis(op, t.axis, ps.len())?;
    if ax == 0 {
        return Err(invalid(op, "axis must not be the batch axis"));
    }
    if (0..ps.len()).any(|d| d != ax && ps[d] != us[d]) {
        return Err(invalid(
            op,
            format!("shapes {ps:?} and {us:?} differ off axis {ax}"),
        ));
    }
    let batch = ps[0];
    let idx: Vec<i64> = match ins.opt_tensor(2)? {
        Some(w) => {
            let v = w.to_i64_vec();
            if v.len() != batch {
                return Err(invalid(
                    op,
                    format!("write_indices has {} entries, batch is {batch}", v.len()),
                ));
            }
            v
        }
        None => vec![0; batch],
    };
    let es = past.dtype().size();
    let mut out = past.to_le_bytes();
    let ub = upd.to_le_bytes();
    // Row-major blocks: [batch][mid][axis][inner].
    let mid: usize = ps[1..ax].iter().product();
    let inner: usize = ps[ax + 1..].iter().product::<usize>() * es;
    let (m, s) = (ps[ax], us[ax]);
    for (b, &w) in idx.iter().enumerate() {
        for j in 0..mid {
            for i in 0..s {
                let p = w
                    .checked_add(i as i64)
                    .ok_or_else(|| invalid(op, "index overflow"))?;
                let p = if t.circular {
                    if m == 0 {
                        return Err(invalid(op, "empty cache axis"));
                    }
                    p.rem_euclid(m as i64) as usize
                } else if p >= 0 && (p as usize) < m {
                    p as usize
                } else {
                    return Err(invalid(op, format!("write position {p} outside 0..{m}")));
                };
                let dst = ((b * mid + j) * m + p) * inner;
                let src = ((b * mid + j) * s + i) * inner;
                out[dst..dst + inner].copy_from_slice(&ub[src..src + inner]);
            }
        }
    }
    one(Tensor::from_le_bytes(past.dtype(), ps.to_vec(), &out)?)
}

/// How scatter reductions combine two elements of one dtype (wrapping for integers, logical
/// or/and for `bool`).
trait Combine: Copy + PartialOrd {
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn combine(self, o: Self, r: ScatterReduction) -> Self {
        match r {
            ScatterReduction::None => o,
            ScatterReduction::Add => self.add(o),
            ScatterReduction::Mul => self.mul(o),
            ScatterReduction::Max => {
                if o > self {
                    o
                } else {
                    self
                }
            }
            ScatterReduction::Min => {
                if o < self {
                    o
                } else {
                    self
                }
            }
        }
    }
}

macro_rules! combine_int {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
        }
    )*};
}
combine_int!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! combine_float {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn add(self, o: Self) -> Self { self + o }
            fn mul(self, o: Self) -> Self { self * o }
        }
    )*};
}
combine_float!(f32, f64);

macro_rules! combine_half {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn add(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            fn mul(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() * o.to_f32()) }
        }
    )*};
}
combine_half!(tessera_ir::half::f16, tessera_ir::half::bf16);

impl Combine for bool {
    fn add(self, o: Self) -> Self {
        self | o
    }
    fn mul(self, o: Self) -> Self {
        self & o
    }
}

/// A total order on elements: NaN sorts after every number and equals itself.
fn total<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => {
            #[allow(clippy::eq_op)]
            let (an, bn) = (a != a, b != b);
            an.cmp(&bn)
        }
    }
}

fn gather(g: &Gather, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let it = ins.tensor(1)?;
    let a = axis(ins.op, g.axis, x.rank())?;
    let dim = x.shape()[a];
    let idx: Vec<usize> = int_values(ins.op, "indices", it)?
        .iter()
        .map(|&i| norm_index(ins.op, i, dim))
        .collect::<KResult<_>>()?;
    let shape: Vec<usize> = x.shape()[..a]
        .iter()
        .chain(it.shape())
        .chain(&x.shape()[a + 1..])
        .copied()
        .collect();
    let n = checked_numel(&shape)?;
    let outer: usize = x.shape()[..a].iter().product();
    let inner: usize = x.shape()[a + 1..].iter().product();
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        let mut out: Vec<T> = Vec::with_capacity(n);
        if n > 0 {
            for o in 0..outer {
                for &i in &idx {
                    let s = (o * dim + i) * inner;
                    out.extend_from_slice(&src[s..s + inner]);
                }
            }
        }
        one(tensor(shape, out)?)
    })
}

fn gather_elements(g: &GatherElements, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let it = ins.tensor(1)?;
    let r = x.rank();
    if it.rank() != r {
        return Err(invalid(ins.op, "indices must have the rank of the data"));
    }
    let a = axis(ins.op, g.axis, r)?;
    for k in 0..r {
        if k != a && it.shape()[k] > x.shape()[k] {
            return Err(invalid(
                ins.op,
                format!(
                    "indices shape {:?} exceeds data shape {:?}",
                    it.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let idx = int_values(ins.op, "indices", it)?;
    let xs = strides_of(x.shape());
    let shape = it.shape().to_vec();
    let mut offs = Vec::with_capacity(idx.len());
    let mut pos = vec![0usize; r];
    for &i in &idx {
        let mut off = 0;
        for k in 0..r {
            let c = if k == a {
                norm_index(ins.op, i, x.shape()[a])?
            } else {
                pos[k]
            };
            off += c * xs[k];
        }
        offs.push(off);
        for k in (0..r).rev() {
            pos[k] += 1;
            if pos[k] < shape[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        one(tensor(shape, offs.iter().map(|&o| src[o]).collect::<Vec<T>>())?)
    })
}

/// Flat offsets (in elements of `x`) of the slices addressed by the last axis of `indices`
/// after `b` batch axes, with the slice length.
fn nd_offsets(op: &str, x: &[usize], it: &Tensor, b: usize) -> KResult<(Vec<usize>, usize)> {
    let ish = it.shape();
    if ish.is_empty() {
        return Err(invalid(op, "indices must have rank >= 1"));
    }
    let k = ish[ish.len() - 1];
    if b >= ish.len() || b > x.len() || k > x.len() - b {
        return Err(invalid(
            op,
            format!("indices shape {ish:?} does not fit data shape {x:?} with {b} batch dims"),
        ));
    }
    if ish[..b] != x[..b] {
        return Err(invalid(op, "batch dims of data and indices differ"));
    }
    let idx = int_values(op, "indices", it)?;
    let xs = strides_of(x);
    let slice: usize = x[b + k..].iter().product();
    let batch_stride: usize = x[b..].iter().product();
    let per_batch: usize = ish[b..ish.len() - 1].iter().product();
    let tuples = checked_numel(&ish[..ish.len() - 1])?;
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let bi = t.checked_div(per_batch).unwrap_or(0);
        let mut off = bi * batch_stride;
        for j in 0..k {
            off += norm_index(op, idx[t * k + j], x[b + j])? * xs[b + j];
        }
        offs.push(off);
    }
    Ok((offs, slice))
}

fn gather_nd(g: &GatherNd, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let it = ins.tensor(1)?;
    let b = g.batch_dims;
    let (offs, slice) = nd_offsets(ins.op, x.shape(), it, b)?;
    let ish = it.shape();
    let k = ish[ish.len() - 1];
    let shape: Vec<usize> = ish[..ish.len() - 1]
        .iter()
        .chain(&x.shape()[b + k..])
        .copied()
        .collect();
    let n = checked_numel(&shape)?;
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        let mut out: Vec<T> = Vec::with_capacity(n);
        if n > 0 {
            for &o in &offs {
                out.extend_from_slice(&src[o..o + slice]);
            }
        }
        one(tensor(shape, out)?)
    })
}

fn scatter_elements(s: &ScatterElements, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let it = ins.tensor(1)?;
    let up = ins.tensor(2)?;
    let r = x.rank();
    if it.shape() != up.shape() || it.rank() != r {
        return Err(invalid(
            ins.op,
            format!(
                "indices {:?} and updates {:?} must share a shape of the data's rank {r}",
                it.shape(),
                up.shape()
            ),
        ));
    }
    if up.dtype() != x.dtype() {
        return Err(invalid(ins.op, "updates must have the data's dtype"));
    }
    let a = axis(ins.op, s.axis, r)?;
    for k in 0..r {
        if k != a && it.shape()[k] > x.shape()[k] {
            return Err(invalid(
                ins.op,
                format!(
                    "indices shape {:?} exceeds data shape {:?}",
                    it.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let idx = int_values(ins.op, "indices", it)?;
    let xs = strides_of(x.shape());
    let mut offs = Vec::with_capacity(idx.len());
    let mut pos = vec![0usize; r];
    for &i in &idx {
        let mut off = 0;
        for k in 0..r {
            let c = if k == a {
                norm_index(ins.op, i, x.shape()[a])?
            } else {
                pos[k]
            };
            off += c * xs[k];
        }
        offs.push(off);
        for k in (0..r).rev() {
            pos[k] += 1;
            if pos[k] < it.shape()[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    dispatch_dtype!(x.dtype(), T => {
        let mut out = x.as_slice::<T>()?.to_vec();
        let u = up.as_slice::<T>()?;
        for (&o, &v) in offs.iter().zip(u) {
            out[o] = out[o].combine(v, s.reduction);
        }
        one(tensor(x.shape().to_vec(), out)?)
    }, lowp l => Err(unsupported(
            "scatter_elements",
            format!("dtype {l} is not supported by scatter_elements"),
        )))
}

fn scatter_nd(s: &ScatterNd, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let it = ins.tensor(1)?;
    let up = ins.tensor(2)?;
    if up.dtype() != x.dtype() {
        return Err(invalid(ins.op, "updates must have the data's dtype"));
    }
    let (offs, slice) = nd_offsets(ins.op, x.shape(), it, 0)?;
    let ish = it.shape();
    let k = ish[ish.len() - 1];
    let want: Vec<usize> = ish[..ish.len() - 1]
        .iter()
        .chain(&x.shape()[k..])
        .copied()
        .collect();
    if up.shape() != want.as_slice() {
        return Err(invalid(
            ins.op,
            format!("updates have shape {:?}, expected {want:?}", up.shape()),
        ));
    }
    dispatch_dtype!(x.dtype(), T => {
        let mut out = x.as_slice::<T>()?.to_vec();
        let u = up.as_slice::<T>()?;
        if slice > 0 {
            for (&o, chunk) in offs.iter().zip(u.chunks(slice)) {
                for (d, &v) in out[o..o + slice].iter_mut().zip(chunk) {
                    *d = d.combine(v, s.reduction);
                }
            }
        }
        one(tensor(x.shape().to_vec(), out)?)
    }, lowp l => Err(unsupported(
            "scatter_nd",
            format!("dtype {l} is not supported by scatter_nd"),
        )))
}

fn compress(c: &Compress, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let cond = ins.tensor(1)?;
    if cond.rank() != 1 {
        return Err(invalid(ins.op, "condition must be 1-D"));
    }
    let cv: Vec<bool> = cond.to_i64_vec().iter().map(|&v| v != 0).collect();
    let (outer, dim, inner, a) = match c.axis {
        None => (1, x.len(), 1, None),
        Some(ax) => {
            let a = axis(ins.op, ax, x.rank())?;
            let outer: usize = x.shape()[..a].iter().product();
            let inner: usize = x.shape()[a + 1..].iter().product();
            (outer, x.shape()[a], inner, Some(a))
        }
    };
    if cv.len() > dim && cv[dim..].iter().any(|&b| b) {
        return Err(invalid(
            ins.op,
            format!("condition has {} entries for an extent of {dim}", cv.len()),
        ));
    }
    let keep: Vec<usize> = (0..dim.min(cv.len())).filter(|&i| cv[i]).collect();
    let shape = match a {
        None => vec![keep.len()],
        Some(a) => {
            let mut s = x.shape().to_vec();
            s[a] = keep.len();
            s
        }
    };
    let n = checked_numel(&shape)?;
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        let mut out: Vec<T> = Vec::with_capacity(n);
        if n > 0 {
            for o in 0..outer {
                for &i in &keep {
                    let s = (o * dim + i) * inner;
                    out.extend_from_slice(&src[s..s + inner]);
                }
            }
        }
        one(tensor(shape, out)?)
    })
}

fn nonzero(ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let shape: Vec<usize> = if x.rank() == 0 {
        vec![1]
    } else {
        x.shape().to_vec()
    };
    let nz: Vec<usize> = dispatch_dtype!(x.dtype(), T => {
        let z = T::default();
        x.as_slice::<T>()?
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != z)
            .map(|(i, _)| i)
            .collect()
    });
    let r = shape.len();
    let st = strides_of(&shape);
    let mut out = vec![0i64; r * nz.len()];
    for (j, &f) in nz.iter().enumerate() {
        for a in 0..r {
            out[a * nz.len() + j] = ((f / st[a]) % shape[a]) as i64;
        }
    }
    one(tensor(vec![r, nz.len()], out)?)
}

fn unique(u: &Unique, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let (outer, m, inner, a) = match u.axis {
        None => (1, x.len(), 1, None),
        Some(ax) => {
            let a = axis(ins.op, ax, x.rank())?;
            let outer: usize = x.shape()[..a].iter().product();
            let inner: usize = x.shape()[a + 1..].iter().product();
            (outer, x.shape()[a], inner, Some(a))
        }
    };
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        // Slice k: the elements at position k along the axis, in row-major order.
        let elem = |k: usize, j: usize| src[(j / inner * m + k) * inner + j % inner];
        let len = outer * inner;
        let cmp = |p: &usize, q: &usize| {
            (0..len)
                .map(|j| total(&elem(*p, j), &elem(*q, j)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        };
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(cmp);
        // Groups of equal slices; the stable sort keeps each group's first occurrence first.
        let mut groups: Vec<(usize, usize)> = vec![]; // (first index, count)
        let mut group_of = vec![0usize; m];
        for (p, &k) in order.iter().enumerate() {
            if p > 0 && cmp(&order[p - 1], &k) == Ordering::Equal {
                let g = groups.len() - 1;
                groups[g].1 += 1;
                group_of[k] = g;
            } else {
                groups.push((k, 1));
                group_of[k] = groups.len() - 1;
            }
        }
        // Output position of each group.
        let mut rank_of: Vec<usize> = (0..groups.len()).collect();
        if !u.sorted {
            let mut by_first: Vec<usize> = (0..groups.len()).collect();
            by_first.sort_by_key(|&g| groups[g].0);
            for (pos, &g) in by_first.iter().enumerate() {
                rank_of[g] = pos;
            }
        }
        let nu = groups.len();
        let mut firsts = vec![0i64; nu];
        let mut counts = vec![0i64; nu];
        for (g, &(f, c)) in groups.iter().enumerate() {
            firsts[rank_of[g]] = f as i64;
            counts[rank_of[g]] = c as i64;
        }
        let inverse: Vec<i64> = (0..m).map(|k| rank_of[group_of[k]] as i64).collect();
        let yshape = match a {
            None => vec![nu],
            Some(a) => {
                let mut s = x.shape().to_vec();
                s[a] = nu;
                s
            }
        };
        let mut y: Vec<T> = Vec::with_capacity(outer * nu * inner);
        for o in 0..outer {
            for &f in &firsts {
                let s = (o * m + f as usize) * inner;
                y.extend_from_slice(&src[s..s + inner]);
            }
        }
        Ok(vec![
            Some(Value::Tensor(tensor(yshape, y)?)),
            Some(Value::Tensor(tensor(vec![nu], firsts)?)),
            Some(Value::Tensor(tensor(vec![m], inverse)?)),
            Some(Value::Tensor(tensor(vec![nu], counts)?)),
        ])
    }, lowp l => Err(unsupported(
            "unique",
            format!("dtype {l} is not supported by unique"),
        )))
}

fn reverse_sequence(r: &ReverseSequence, ins: &Inputs) -> KResult<Outputs> {
    let x = ins.tensor(0)?;
    let lens = int_values(ins.op, "sequence_lens", ins.tensor(1)?)?;
    let (ba, ta) = (r.batch_axis, r.time_axis);
    if x.rank() < 2 || ba > 1 || ta > 1 || ba == ta {
        return Err(invalid(
            ins.op,
            "needs rank >= 2 and batch/time axes 0 and 1",
        ));
    }
    let (nb, nt) = (x.shape()[ba], x.shape()[ta]);
    if lens.len() != nb {
        return Err(invalid(
            ins.op,
            format!("{} sequence lengths for a batch of {nb}", lens.len()),
        ));
    }
    let lens: Vec<usize> =
        lens.iter()
            .map(|&l| {
                usize::try_from(l).ok().filter(|&l| l <= nt).ok_or_else(|| {
                    invalid(ins.op, format!("sequence length {l} is not in [0, {nt}]"))
                })
            })
            .collect::<KResult<_>>()?;
    let inner: usize = x.shape()[2..].iter().product();
    let st = strides_of(x.shape());
    dispatch_dtype!(x.dtype(), T => {
        let src = x.as_slice::<T>()?;
        let mut out = src.to_vec();
        if inner > 0 {
            for (b, &l) in lens.iter().enumerate() {
                for t in 0..l {
                    let from = b * st[ba] + (l - 1 - t) * st[ta];
                    let to = b * st[ba] + t * st[ta];
                    out[to..to + inner].copy_from_slice(&src[from..from + inner]);
                }
            }
        }
        one(tensor(x.shape().to_vec(), out)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<T: tessera_ir::Storage>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    fn runv(op: Op, inputs: &[Tensor]) -> KResult<Vec<Tensor>> {
        let vals: Vec<Option<Value>> = inputs
            .iter()
            .map(|x| Some(Value::Tensor(x.clone())))
            .collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        let name = op.name();
        let ins = Inputs {
            op: &name,
            values: &refs,
        };
        let o = run(&op, &ins).unwrap()?;
        Ok(o.into_iter()
            .map(|v| v.unwrap().into_tensor().unwrap())
            .collect())
    }

    #[test]
    fn tensor_scatter_matches_naive() {
        // past [2, 4, 2] (batch, seq, d), update [2, 2, 2] on axis 1.
        let past = t(&[2, 4, 2], (0..16).map(|v| v as f32).collect());
        let upd = t(&[2, 2, 2], (100..108).map(|v| v as f32).collect());
        let w = t(&[2], vec![1i64, 3]);
        for circular in [false, true] {
            let r = runv(
                Op::TensorScatter(TensorScatter { axis: -2, circular }),
                &[past.clone(), upd.clone(), w.clone()],
            );
            if !circular {
                // Batch 1 writes positions 3 and 4: out of range when linear.
                assert!(r.is_err());
                continue;
            }
            let y = r.unwrap().remove(0);
            let mut want: Vec<f32> = (0..16).map(|v| v as f32).collect();
            let pv = [1i64, 3];
            for b in 0..2 {
                for i in 0..2 {
                    let p = ((pv[b] + i as i64) % 4) as usize;
                    for d in 0..2 {
                        want[(b * 4 + p) * 2 + d] = (100 + (b * 2 + i) * 2 + d) as f32;
                    }
                }
            }
            assert_eq!(y.as_slice::<f32>().unwrap(), &want[..]);
        }
    }

    #[test]
    fn gather_matches_naive() {
        let x = t(&[3, 4], (0..12).map(|v| v as f32).collect());
        let idx = t(&[2, 2], vec![0i64, -1, 2, 1]);
        let y = &runv(Op::Gather(Gather { axis: 1 }), &[x.clone(), idx.clone()]).unwrap()[0];
        assert_eq!(y.shape(), &[3, 2, 2]);
        let yv = y.as_slice::<f32>().unwrap();
        let iv = [0usize, 3, 2, 1];
        for i in 0..3 {
            for (j, &c) in iv.iter().enumerate() {
                assert_eq!(yv[i * 4 + j], (i * 4 + c) as f32);
            }
        }
        let bad = t(&[1], vec![4i32]);
        assert!(runv(Op::Gather(Gather { axis: 1 }), &[x, bad]).is_err());
    }

    #[test]
    fn gather_scatter_elements() {
        let x = t(&[2, 2], vec![1i32, 2, 3, 4]);
        let idx = t(&[2, 2], vec![0i64, 0, 1, 0]);
        let y = &runv(
            Op::GatherElements(GatherElements { axis: 1 }),
            &[x.clone(), idx.clone()],
        )
        .unwrap()[0];
        assert_eq!(y.as_slice::<i32>().unwrap(), [1, 1, 4, 3]);
        let up = t(&[2, 2], vec![10i32, 20, 30, 40]);
        let s = &runv(
            Op::ScatterElements(ScatterElements {
                axis: 1,
                reduction: ScatterReduction::Add,
            }),
            &[x, idx, up],
        )
        .unwrap()[0];
        assert_eq!(s.as_slice::<i32>().unwrap(), [31, 2, 43, 34]);
    }

    #[test]
    fn gather_nd_and_scatter_nd() {
        let x = t(&[2, 2], vec![0u8, 1, 2, 3]);
        let idx = t(&[2, 1], vec![1i64, 0]);
        let y = &runv(
            Op::GatherNd(GatherNd { batch_dims: 0 }),
            &[x.clone(), idx.clone()],
        )
        .unwrap()[0];
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_slice::<u8>().unwrap(), [2, 3, 0, 1]);
        let up = t(&[2, 2], vec![5u8, 6, 7, 8]);
        let s = &runv(
            Op::ScatterNd(ScatterNd {
                reduction: ScatterReduction::Max,
            }),
            &[x, idx, up],
        )
        .unwrap()[0];
        assert_eq!(s.as_slice::<u8>().unwrap(), [7, 8, 5, 6]);
        let bx = t(&[2, 2, 2], (0..8).map(|v| v as i64).collect());
        let bi = t(&[2, 1], vec![1i64, 0]);
        let y = &runv(Op::GatherNd(GatherNd { batch_dims: 1 }), &[bx, bi]).unwrap()[0];
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_slice::<i64>().unwrap(), [2, 3, 4, 5]);
    }

    #[test]
    fn nonzero_compress_unique_reverse() {
        let x = t(&[2, 2], vec![1.0f32, 0.0, 0.0, -2.0]);
        let nz = &runv(Op::NonZero(NonZero), std::slice::from_ref(&x)).unwrap()[0];
        assert_eq!(nz.shape(), &[2, 2]);
        assert_eq!(nz.as_slice::<i64>().unwrap(), [0, 1, 0, 1]);
        let c = &runv(
            Op::Compress(Compress { axis: Some(0) }),
            &[x.clone(), t(&[2], vec![false, true])],
        )
        .unwrap()[0];
        assert_eq!(c.as_slice::<f32>().unwrap(), [0.0, -2.0]);
        let u = t(&[6], vec![2i32, 1, 1, 3, 4, 3]);
        let o = runv(
            Op::Unique(Unique {
                axis: None,
                sorted: false,
            }),
            std::slice::from_ref(&u),
        )
        .unwrap();
        assert_eq!(o[0].as_slice::<i32>().unwrap(), [2, 1, 3, 4]);
        assert_eq!(o[1].as_slice::<i64>().unwrap(), [0, 1, 3, 4]);
        assert_eq!(o[2].as_slice::<i64>().unwrap(), [0, 1, 1, 2, 3, 2]);
        assert_eq!(o[3].as_slice::<i64>().unwrap(), [1, 2, 2, 1]);
        let o = runv(
            Op::Unique(Unique {
                axis: None,
                sorted: true,
            }),
            &[u],
        )
        .unwrap();
        assert_eq!(o[0].as_slice::<i32>().unwrap(), [1, 2, 3, 4]);
        assert_eq!(o[2].as_slice::<i64>().unwrap(), [1, 0, 0, 2, 3, 2]);
        let s = t(&[3, 2], vec![1i8, 2, 3, 4, 5, 6]);
        let r = &runv(
            Op::ReverseSequence(ReverseSequence {
                batch_axis: 1,
                time_axis: 0,
            }),
            &[s.clone(), t(&[2], vec![3i64, 2])],
        )
        .unwrap()[0];
        assert_eq!(r.as_slice::<i8>().unwrap(), [5, 4, 3, 2, 1, 6]);
        assert!(runv(
            Op::ReverseSequence(ReverseSequence {
                batch_axis: 1,
                time_axis: 0,
            }),
            &[s, t(&[2], vec![4i64, 2])],
        )
        .is_err());
    }

    #[test]
    fn gather_elements_3d_matches_naive() {
        let shape = [2usize, 3, 4];
        let x = t(&shape, (0..24).map(|v| v as f32).collect());
        let ishape = [2usize, 2, 4];
        let idx: Vec<i64> = (0..16).map(|k| (k * 7 % 5) as i64 - 2).collect();
        let it = t(&ishape, idx.clone());
        let y = &runv(Op::GatherElements(GatherElements { axis: -2 }), &[x, it]).unwrap()[0];
        assert_eq!(y.shape(), &ishape);
        let yv = y.as_slice::<f32>().unwrap();
        for a in 0..2 {
            for b in 0..2 {
                for c in 0..4 {
                    let k = (a * 2 + b) * 4 + c;
                    let i = (idx[k] + 3) % 3;
                    assert_eq!(yv[k], ((a * 3 + i as usize) * 4 + c) as f32);
                }
            }
        }
    }

    #[test]
    fn out_of_range_indices_are_errors() {
        let x = t(&[2, 3], vec![0i64; 6]);
        let bad = t(&[1, 1], vec![-4i64]);
        assert!(runv(
            Op::GatherElements(GatherElements { axis: 1 }),
            &[x.clone(), bad.clone()]
        )
        .is_err());
        assert!(runv(
            Op::ScatterElements(ScatterElements {
                axis: 1,
                reduction: ScatterReduction::None
            }),
            &[x.clone(), bad, t(&[1, 1], vec![1i64])]
        )
        .is_err());
        let nd = t(&[1, 2], vec![1i64, 3]);
        assert!(runv(
            Op::GatherNd(GatherNd { batch_dims: 0 }),
            &[x.clone(), nd.clone()]
        )
        .is_err());
        assert!(runv(
            Op::ScatterNd(ScatterNd {
                reduction: ScatterReduction::Add
            }),
            &[x.clone(), nd, t(&[1], vec![1i64])]
        )
        .is_err());
        let fidx = t(&[1], vec![0.0f32]);
        assert!(runv(Op::Gather(Gather { axis: 0 }), &[x.clone(), fidx]).is_err());
        assert!(runv(
            Op::Compress(Compress { axis: Some(0) }),
            &[x, t(&[3], vec![true, false, true])]
        )
        .is_err());
    }

    #[test]
    fn scatter_duplicates_and_reductions() {
        let x = t(&[4], vec![1.0f32, 2.0, 3.0, 4.0]);
        let idx = t(&[3], vec![1i64, 1, -1]);
        let up = t(&[3], vec![10.0f32, 5.0, 2.0]);
        let go = |r| {
            runv(
                Op::ScatterElements(ScatterElements {
                    axis: 0,
                    reduction: r,
                }),
                &[x.clone(), idx.clone(), up.clone()],
            )
            .unwrap()[0]
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        };
        assert_eq!(go(ScatterReduction::None), [1., 5., 3., 2.]);
        assert_eq!(go(ScatterReduction::Add), [1., 17., 3., 6.]);
        assert_eq!(go(ScatterReduction::Mul), [1., 100., 3., 8.]);
        assert_eq!(go(ScatterReduction::Max), [1., 10., 3., 4.]);
        assert_eq!(go(ScatterReduction::Min), [1., 2., 3., 2.]);
    }

    #[test]
    fn unique_with_axis_and_empty() {
        let x = t(&[3, 2], vec![2u8, 1, 0, 5, 2, 1]);
        let o = runv(
            Op::Unique(Unique {
                axis: Some(0),
                sorted: true,
            }),
            &[x],
        )
        .unwrap();
        assert_eq!(o[0].shape(), &[2, 2]);
        assert_eq!(o[0].as_slice::<u8>().unwrap(), [0, 5, 2, 1]);
        assert_eq!(o[1].as_slice::<i64>().unwrap(), [1, 0]);
        assert_eq!(o[2].as_slice::<i64>().unwrap(), [1, 0, 1]);
        assert_eq!(o[3].as_slice::<i64>().unwrap(), [1, 2]);
        let e = t::<f32>(&[0], vec![]);
        let o = runv(
            Op::Unique(Unique {
                axis: None,
                sorted: true,
            }),
            std::slice::from_ref(&e),
        )
        .unwrap();
        assert_eq!(o[0].shape(), &[0]);
        let nz = &runv(Op::NonZero(NonZero), &[e]).unwrap()[0];
        assert_eq!(nz.shape(), &[1, 0]);
        let f = t(&[3], vec![f32::NAN, 1.0, f32::NAN]);
        let o = runv(
            Op::Unique(Unique {
                axis: None,
                sorted: true,
            }),
            &[f],
        )
        .unwrap();
        assert_eq!(o[0].len(), 2);
        assert_eq!(o[3].as_slice::<i64>().unwrap(), [1, 2]);
    }
}
