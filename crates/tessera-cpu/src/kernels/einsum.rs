//! `Einsum`: equation parsing (explicit and implicit output, `...` ellipsis, repeated labels
//! for diagonals) and evaluation. Two-operand contractions that are batched matrix products
//! run on the GEMM routine; everything else runs a direct summation over all labels.

use super::gemm::GemmElem;
use super::matmul::{matmul_flat, MatMulPlan};
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use tessera_ir::{checked_numel, strides_of, DType, Tensor};

/// A label: a letter, or one dim of the broadcast ellipsis (numbered from the left of the
/// broadcast ellipsis shape).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Letter(u8),
    Ellipsis(usize),
}

/// The parsed equation, resolved against the operand shapes.
#[derive(Debug)]
struct Spec {
    /// Labels of each operand, one per dim.
    inputs: Vec<Vec<Label>>,
    /// Labels of the output.
    output: Vec<Label>,
    /// Every distinct label with its extent.
    sizes: Vec<(Label, usize)>,
}

impl Spec {
    fn size(&self, l: Label) -> usize {
        self.sizes
            .iter()
            .find(|(x, _)| *x == l)
            .map_or(1, |(_, s)| *s)
    }
}

/// Splits one term into letters around an optional ellipsis.
fn parse_term(op: &str, t: &str) -> KResult<(Vec<u8>, Option<usize>)> {
    let mut letters = vec![];
    let mut ell = None;
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if ell.is_some() || !t[i..].starts_with("...") {
                    return Err(invalid(op, format!("malformed ellipsis in term '{t}'")));
                }
                ell = Some(letters.len());
                i += 3;
                continue;
            }
            c if c.is_ascii_alphabetic() => letters.push(c),
            c => {
                return Err(invalid(
                    op,
                    format!("unexpected character '{}' in equation", c as char),
                ))
            }
        }
        i += 1;
    }
    Ok((letters, ell))
}

fn parse(op: &str, equation: &str, shapes: &[&[usize]]) -> KResult<Spec> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != shapes.len() {
        return Err(invalid(
            op,
            format!(
                "equation has {} operands, node has {}",
                terms.len(),
                shapes.len()
            ),
        ));
    }
    let parsed: Vec<(Vec<u8>, Option<usize>)> = terms
        .iter()
        .map(|t| parse_term(op, t))
        .collect::<KResult<_>>()?;
    // Ellipsis rank per operand, and the broadcast ellipsis shape.
    let mut ell_ranks = vec![];
    for ((letters, ell), shape) in parsed.iter().zip(shapes) {
        let er = match ell {
            Some(_) => shape.len().checked_sub(letters.len()).ok_or_else(|| {
                invalid(
                    op,
                    format!("operand of rank {} has too many labels", shape.len()),
                )
            })?,
            None if shape.len() == letters.len() => 0,
            None => {
                return Err(invalid(
                    op,
                    format!(
                        "operand of rank {} has {} labels",
                        shape.len(),
                        letters.len()
                    ),
                ))
            }
        };
        ell_ranks.push(er);
    }
    let e_rank = ell_ranks.iter().copied().max().unwrap_or(0);
    let mut ell_shape = vec![1usize; e_rank];
    let mut sizes: Vec<(Label, usize)> = vec![];
    let mut inputs = vec![];
    for (((letters, ell), shape), &er) in parsed.iter().zip(shapes).zip(&ell_ranks) {
        let mut labels = vec![];
        for (pos, &c) in letters.iter().enumerate() {
            if *ell == Some(pos) {
                labels.extend((e_rank - er..e_rank).map(Label::Ellipsis));
            }
            labels.push(Label::Letter(c));
        }
        if *ell == Some(letters.len()) {
            labels.extend((e_rank - er..e_rank).map(Label::Ellipsis));
        }
        for (&l, &d) in labels.iter().zip(shape.iter()) {
            match l {
                Label::Ellipsis(e) => {
                    if ell_shape[e] == 1 {
                        ell_shape[e] = d;
                    } else if d != 1 && d != ell_shape[e] {
                        return Err(invalid(op, "ellipsis dims do not broadcast"));
                    }
                }
                Label::Letter(c) => match sizes.iter().find(|(x, _)| *x == l) {
                    Some(&(_, s)) if s != d => {
                        return Err(invalid(
                            op,
                            format!("label '{}' has extents {s} and {d}", c as char),
                        ))
                    }
                    Some(_) => {}
                    None => sizes.push((l, d)),
                },
            }
        }
        inputs.push(labels);
    }
    for (e, &d) in ell_shape.iter().enumerate() {
        sizes.push((Label::Ellipsis(e), d));
    }
    let output = match rhs {
        Some(r) => {
            let (letters, ell) = parse_term(op, r)?;
            let mut out = vec![];
            for (pos, &c) in letters.iter().enumerate() {
                if ell == Some(pos) {
                    out.extend((0..e_rank).map(Label::Ellipsis));
                }
                if out.contains(&Label::Letter(c)) {
                    return Err(invalid(op, format!("output repeats '{}'", c as char)));
                }
                if !sizes.iter().any(|(x, _)| *x == Label::Letter(c)) {
                    return Err(invalid(
                        op,
                        format!("output label '{}' is not in any input", c as char),
                    ));
                }
                out.push(Label::Letter(c));
            }
            if ell == Some(letters.len()) {
                out.extend((0..e_rank).map(Label::Ellipsis));
            }
            out
        }
        None => {
            // Implicit: the ellipsis dims, then letters seen exactly once, alphabetically.
            let mut out: Vec<Label> = (0..e_rank).map(Label::Ellipsis).collect();
            let mut letters: Vec<u8> = vec![];
            for (l, _) in &parsed {
                letters.extend(l);
            }
            let mut once: Vec<u8> = letters
                .iter()
                .copied()
                .filter(|c| letters.iter().filter(|x| *x == c).count() == 1)
                .collect();
            once.sort_unstable();
            out.extend(once.into_iter().map(Label::Letter));
            out
        }
    };
    Ok(Spec {
        inputs,
        output,
        sizes,
    })
}

/// Direct evaluation: iterates over every (output, summed) label assignment.
fn direct<T: GemmElem>(spec: &Spec, data: &[Vec<T>], shapes: &[&[usize]]) -> KResult<Vec<T>> {
    let mut order: Vec<Label> = spec.output.clone();
    for (l, _) in &spec.sizes {
        // Labels of no operand (in a sub-problem) are not summed over.
        if !order.contains(l) && spec.inputs.iter().any(|ls| ls.contains(l)) {
            order.push(*l);
        }
    }
    let dims: Vec<usize> = order.iter().map(|&l| spec.size(l)).collect();
    let n_out = checked_numel(&dims[..spec.output.len()])?;
    checked_numel(&dims)?;
    let n_sum: usize = dims[spec.output.len()..].iter().product();
    // Per operand, per label of `order`: the element stride (summed over repeated labels;
    // 0 where the operand lacks the label or broadcasts it).
    let strides: Vec<Vec<usize>> = spec
        .inputs
        .iter()
        .zip(shapes)
        .map(|(labels, shape)| {
            let st = strides_of(shape);
            order
                .iter()
                .map(|o| {
                    labels
                        .iter()
                        .zip(shape.iter().zip(&st))
                        .filter(|(l, (d, _))| *l == o && **d != 1)
                        .map(|(_, (_, s))| *s)
                        .sum()
                })
                .collect()
        })
        .collect();
    let mut out = vec![T::ZERO; n_out];
    if n_out == 0 {
        return Ok(out);
    }
    let nl = order.len();
    let mut idx = vec![0usize; nl];
    let mut offs = vec![0usize; data.len()];
    for o in out.iter_mut() {
        let mut acc = T::ZERO;
        for _ in 0..n_sum {
            let mut p = T::ONE;
            for (d, &off) in data.iter().zip(&offs) {
                p = p.mul(d[off]);
            }
            acc = acc.add(p);
            // Advance the summed labels (they are the fastest-moving).
            for ax in (spec.output.len()..nl).rev() {
                idx[ax] += 1;
                for (k, s) in strides.iter().enumerate() {
                    offs[k] += s[ax];
                }
                if idx[ax] < dims[ax] {
                    break;
                }
                for (k, s) in strides.iter().enumerate() {
                    offs[k] -= s[ax] * idx[ax];
                }
                idx[ax] = 0;
            }
        }
        *o = acc;
        for ax in (0..spec.output.len()).rev() {
            idx[ax] += 1;
            for (k, s) in strides.iter().enumerate() {
                offs[k] += s[ax];
            }
            if idx[ax] < dims[ax] {
                break;
            }
            for (k, s) in strides.iter().enumerate() {
                offs[k] -= s[ax] * idx[ax];
            }
            idx[ax] = 0;
        }
    }
    Ok(out)
}

/// Copies `x` (shape `shape`) into the axis order `perm`.
fn permute<T: Copy + Default>(x: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return x.to_vec();
    }
    let st = strides_of(shape);
    let dims: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    let mut off = 0usize;
    for _ in 0..n {
        out.push(x[off]);
        for ax in (0..dims.len()).rev() {
            idx[ax] += 1;
            off += pst[ax];
            if idx[ax] < dims[ax] {
                break;
            }
            off -= pst[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    out
}

/// An intermediate operand: data with one distinct label per dim, at full extents.
struct Operand<T> {
    data: Vec<T>,
    labels: Vec<Label>,
}

impl<T: GemmElem> Operand<T> {
    fn shape(&self, spec: &Spec) -> Vec<usize> {
        self.labels.iter().map(|&l| spec.size(l)).collect()
    }

    /// Sums away the labels `keep` rejects and takes diagonals of repeated labels, leaving
    /// distinct labels in order of first appearance.
    fn reduce(self, spec: &Spec, keep: impl Fn(Label) -> bool) -> KResult<Operand<T>> {
        let mut kept: Vec<Label> = vec![];
        for &l in &self.labels {
            if keep(l) && !kept.contains(&l) {
                kept.push(l);
            }
        }
        if kept == self.labels {
            return Ok(self);
        }
        let shape = self.shape(spec);
        let sub = Spec {
            inputs: vec![self.labels.clone()],
            output: kept.clone(),
            sizes: spec.sizes.clone(),
        };
        let data = direct(&sub, &[self.data], &[&shape])?;
        Ok(Operand { data, labels: kept })
    }
}

/// Contracts two reduced operands into one with labels `[batch…, left…, right…]`, keeping
/// the labels `keep` accepts (shared labels it rejects are contracted), on the GEMM routine.
fn pair<T: GemmElem>(
    op: &str,
    spec: &Spec,
    a: Operand<T>,
    b: Operand<T>,
    keep: impl Fn(Label) -> bool,
) -> KResult<Operand<T>> {
    let (la, lb) = (&a.labels, &b.labels);
    let (mut bl, mut ml, mut kl, mut nl) = (vec![], vec![], vec![], vec![]);
    for &l in la {
        match (lb.contains(&l), keep(l)) {
            (true, true) => bl.push(l),
            (true, false) => kl.push(l),
            _ => ml.push(l),
        }
    }
    for &l in lb {
        if !la.contains(&l) {
            nl.push(l);
        }
    }
    let pos = |ls: &[Label], l: &Label| ls.iter().position(|x| x == l).unwrap_or(0);
    let pa: Vec<usize> = bl
        .iter()
        .chain(&ml)
        .chain(&kl)
        .map(|l| pos(la, l))
        .collect();
    let pb: Vec<usize> = bl
        .iter()
        .chain(&kl)
        .chain(&nl)
        .map(|l| pos(lb, l))
        .collect();
    let prod = |ls: &[Label]| ls.iter().map(|&l| spec.size(l)).product::<usize>();
    let (nb, m, k, n) = (prod(&bl), prod(&ml), prod(&kl), prod(&nl));
    let labels: Vec<Label> = bl.iter().chain(&ml).chain(&nl).copied().collect();
    checked_numel(&labels.iter().map(|&l| spec.size(l)).collect::<Vec<_>>())?;
    let xa = permute(&a.data, &a.shape(spec), &pa);
    let xb = permute(&b.data, &b.shape(spec), &pb);
    let plan = MatMulPlan {
        m,
        n,
        k,
        a_offs: (0..nb).map(|i| i * m * k).collect(),
        b_offs: (0..nb).map(|i| i * k * n).collect(),
        out_shape: vec![],
    };
    let data = matmul_flat(op, &plan, &xa, &xb)?;
    Ok(Operand { data, labels })
}

/// Evaluates with pairwise contractions on the GEMM routine, left to right: each operand is
/// first reduced to the labels still needed, then contracted with the running result. Falls
/// back to [`direct`] for one operand or when an ellipsis dim broadcasts.
fn eval<T: GemmElem>(
    op: &str,
    spec: &Spec,
    data: Vec<Vec<T>>,
    shapes: &[&[usize]],
) -> KResult<Vec<T>> {
    let broadcasts = spec
        .inputs
        .iter()
        .zip(shapes)
        .any(|(ls, sh)| ls.iter().zip(sh.iter()).any(|(&l, &d)| spec.size(l) != d));
    if spec.inputs.len() < 2 || broadcasts {
        return direct(spec, &data, shapes);
    }
    let out = &spec.output;
    let mut ops: Vec<Operand<T>> = data
        .into_iter()
        .zip(&spec.inputs)
        .map(|(data, labels)| Operand {
            data,
            labels: labels.clone(),
        })
        .collect();
    let rest_labels = |ops: &[Operand<T>]| -> Vec<Label> {
        let mut v = out.clone();
        for o in ops {
            v.extend(o.labels.iter().copied());
        }
        v
    };
    let mut it = std::mem::take(&mut ops).into_iter();
    let Some(first) = it.next() else {
        return Err(invalid(op, "needs at least one operand"));
    };
    let mut remaining: Vec<Operand<T>> = it.collect();
    let need = rest_labels(&remaining);
    let mut acc = first.reduce(spec, |l| need.contains(&l))?;
    while !remaining.is_empty() {
        let b = remaining.remove(0);
        let after = rest_labels(&remaining);
        let acc_labels = acc.labels.clone();
        let b = b.reduce(spec, |l| after.contains(&l) || acc_labels.contains(&l))?;
        let b_labels = b.labels.clone();
        let a = acc.reduce(spec, |l| after.contains(&l) || b_labels.contains(&l))?;
        acc = pair(op, spec, a, b, |l| after.contains(&l))?;
    }
    let acc = acc.reduce(spec, |l| out.contains(&l))?;
    let perm: Vec<usize> = out
        .iter()
        .map(|l| acc.labels.iter().position(|x| x == l))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid(op, "internal: output label lost during contraction"))?;
    Ok(permute(&acc.data, &acc.shape(spec), &perm))
}

/// Runs `Einsum` with `equation` on the node's inputs.
pub fn run(equation: &str, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let ts: Vec<&Tensor> = (0..ins.len())
        .map(|i| ins.tensor(i))
        .collect::<KResult<_>>()?;
    let Some(first) = ts.first() else {
        return Err(invalid(op, "needs at least one operand"));
    };
    let dt = first.dtype();
    if ts.iter().any(|t| t.dtype() != dt) {
        return Err(invalid(op, "operands must share one dtype"));
    }
    let shapes: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
    let spec = parse(op, equation, &shapes)?;
    let out_shape: Vec<usize> = spec.output.iter().map(|&l| spec.size(l)).collect();
    checked_numel(&out_shape)?;
    let y = match dt {
        DType::F32 | DType::F16 | DType::BF16 => {
            let data: Vec<Vec<f32>> = ts
                .iter()
                .map(|t| t.to_f64_vec().into_iter().map(|x| x as f32).collect())
                .collect();
            Tensor::from_vec(out_shape, eval(op, &spec, data, &shapes)?)?.cast(dt)
        }
        DType::F64 => {
            let data: Vec<Vec<f64>> = ts.iter().map(|t| t.to_f64_vec()).collect();
            Tensor::from_vec(out_shape, eval(op, &spec, data, &shapes)?)?
        }
        d if d.is_int() => {
            let data: Vec<Vec<i64>> = ts.iter().map(|t| t.to_i64_vec()).collect();
            Tensor::from_vec(out_shape, eval(op, &spec, data, &shapes)?)?.cast(dt)
        }
        d => return Err(unsupported(op, format!("dtype {d}"))),
    };
    one(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(
            shape.to_vec(),
            (0..n)
                .map(|i| ((i * 7) % 11) as f64 - 5.0)
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn einsum(eq: &str, ts: &[Tensor]) -> Tensor {
        let vals: Vec<tessera_ir::Value> =
            ts.iter().cloned().map(tessera_ir::Value::Tensor).collect();
        let refs: Vec<Option<&tessera_ir::Value>> = vals.iter().map(Some).collect();
        let ins = Inputs {
            op: "Einsum",
            values: &refs,
        };
        match run(eq, &ins).unwrap().remove(0) {
            Some(tessera_ir::Value::Tensor(t)) => t,
            _ => panic!(),
        }
    }

    #[test]
    fn matmul_path_matches_direct() {
        let a = t(&[2, 3, 4]);
        let b = t(&[2, 4, 5]);
        let y = einsum("bij,bjk->bik", &[a.clone(), b.clone()]);
        let z = einsum("bij,bjk->bki", &[a.clone(), b.clone()]);
        assert_eq!(y.shape(), &[2, 3, 5]);
        let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
        for bb in 0..2 {
            for i in 0..3 {
                for k in 0..5 {
                    let s: f64 = (0..4)
                        .map(|j| av[bb * 12 + i * 4 + j] * bv[bb * 20 + j * 5 + k])
                        .sum();
                    assert_eq!(y.to_f64_vec()[bb * 15 + i * 5 + k], s);
                    assert_eq!(z.to_f64_vec()[bb * 15 + k * 3 + i], s);
                }
            }
        }
    }

    #[test]
    fn contractions_match_direct() {
        let cases: &[(&str, &[&[usize]])] = &[
            ("ij,jk,kl->il", &[&[3, 4], &[4, 5], &[5, 2]]),
            ("bii,bij->bj", &[&[2, 3, 3], &[2, 3, 4]]),
            ("ij,ij->", &[&[3, 4], &[3, 4]]),
            ("i,j->ij", &[&[3], &[4]]),
            ("ijk,jk->ik", &[&[2, 3, 4], &[3, 4]]),
            ("abc,cd,bd->da", &[&[2, 3, 4], &[4, 5], &[3, 5]]),
            ("...ij,...jk", &[&[2, 3, 4], &[2, 4, 5]]),
        ];
        for (eq, shapes) in cases {
            let ts: Vec<Tensor> = shapes.iter().map(|s| t(s)).collect();
            let got = einsum(eq, &ts);
            let shp: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
            let spec = parse("Einsum", eq, &shp).unwrap();
            let data: Vec<Vec<f64>> = ts.iter().map(|t| t.to_f64_vec()).collect();
            let want = direct(&spec, &data, &shp).unwrap();
            let want_shape: Vec<usize> = spec.output.iter().map(|&l| spec.size(l)).collect();
            assert_eq!(got.shape(), want_shape.as_slice(), "{eq}");
            assert_eq!(got.to_f64_vec(), want, "{eq}");
        }
    }

    #[test]
    fn diagonal_trace_implicit_and_ellipsis() {
        let x = t(&[3, 3]);
        let v = x.to_f64_vec();
        assert_eq!(
            einsum("ii", std::slice::from_ref(&x)).to_f64_vec(),
            vec![v[0] + v[4] + v[8]]
        );
        assert_eq!(
            einsum("ii->i", std::slice::from_ref(&x)).to_f64_vec(),
            vec![v[0], v[4], v[8]]
        );
        // Implicit output: transposed order is alphabetical.
        let y = einsum("ji", std::slice::from_ref(&x));
        assert_eq!(y.to_f64_vec()[1], v[3]);
        let b = t(&[2, 3, 3]);
        let d = einsum("...ii->...i", std::slice::from_ref(&b));
        assert_eq!(d.shape(), &[2, 3]);
        assert_eq!(d.to_f64_vec()[4], b.to_f64_vec()[9 + 4]);
        // Broadcast ellipsis with a size-1 dim.
        let p = t(&[2, 1, 3]);
        let q = t(&[4, 3]);
        let r = einsum("...j,...j->...", &[p, q]);
        assert_eq!(r.shape(), &[2, 4]);
    }
}
