//! Linear-algebra kernels: `MatMul`, `Gemm`, `MatMulInteger`, `Det` (and `Einsum` via
//! [`super::einsum`]).

use super::gemm::{gemm, GemmElem, PARALLEL_FLOPS};
use super::util::{broadcast_all, broadcast_offsets};
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use rayon::prelude::*;
use tessera_ir::half::{bf16, f16};
use tessera_ir::{checked_numel, DType, Element, Op, Storage, Tensor};

/// Runs the ops of this family.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::MatMul(_) => matmul(ins),
        Op::Gemm(g) => gemm_op(g, ins),
        Op::MatMulInteger(_) => matmul_integer(ins),
        Op::Det(_) => det(ins),
        Op::Einsum(e) => super::einsum::run(&e.equation, ins),
        _ => return None,
    })
}

/// True for the ops of this family.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul(_) | Op::Gemm(_) | Op::MatMulInteger(_) | Op::Det(_) | Op::Einsum(_)
    )
}

/// The shape plan of a numpy matmul.
pub(crate) struct MatMulPlan {
    /// Rows of each product.
    pub m: usize,
    /// Columns of each product.
    pub n: usize,
    /// Contraction length.
    pub k: usize,
    /// Per output batch: offset (in elements) of the `a` and `b` matrices.
    pub a_offs: Vec<usize>,
    /// See `a_offs`.
    pub b_offs: Vec<usize>,
    /// The output shape.
    pub out_shape: Vec<usize>,
}

/// Plans `a @ b` with numpy semantics (1-D promotion, batch broadcasting).
pub(crate) fn plan_matmul(op: &str, a: &[usize], b: &[usize]) -> KResult<MatMulPlan> {
    if a.is_empty() || b.is_empty() {
        return Err(invalid(op, "operands must have rank ≥ 1"));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(invalid(
            op,
            format!("inner dimensions differ: {a:?} @ {b:?}"),
        ));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast_all(op, &[ab, bb])?;
    let mut out_shape = batch.clone();
    if a.len() > 1 {
        out_shape.push(m);
    }
    if b.len() > 1 {
        out_shape.push(n);
    }
    checked_numel(&out_shape)?;
    let a_offs = broadcast_offsets(ab, &batch)
        .into_iter()
        .map(|o| o * m * k)
        .collect();
    let b_offs = broadcast_offsets(bb, &batch)
        .into_iter()
        .map(|o| o * k * n)
        .collect();
    Ok(MatMulPlan {
        m,
        n,
        k,
        a_offs,
        b_offs,
        out_shape,
    })
}

/// Batched `a @ b` on flat row-major data per `plan`.
pub(crate) fn matmul_flat<T: GemmElem>(
    op: &str,
    p: &MatMulPlan,
    a: &[T],
    b: &[T],
) -> KResult<Vec<T>> {
    let (m, n, k) = (p.m, p.n, p.k);
    let batches = p.a_offs.len();
    let per = m * n;
    let mut out = vec![T::ZERO; batches * per];
    if out.is_empty() {
        return Ok(out);
    }
    let err = |e: super::gemm::GemmError| invalid(op, e.to_string());
    // `b` shared by every batch and `a` batches contiguous: one tall product.
    let a_contig = p.a_offs.iter().enumerate().all(|(i, &o)| o == i * m * k);
    if batches > 1 && a_contig && p.b_offs.iter().all(|&o| o == 0) {
        gemm(
            batches * m,
            n,
            k,
            a,
            k,
            false,
            b,
            n,
            false,
            &mut out,
            n,
            T::ONE,
            T::ZERO,
            true,
        )
        .map_err(err)?;
        return Ok(out);
    }
    let small = m.saturating_mul(n).saturating_mul(k) < PARALLEL_FLOPS;
    let one_batch = |(i, c): (usize, &mut [T])| {
        let (ao, bo) = (p.a_offs[i], p.b_offs[i]);
        gemm(
            m,
            n,
            k,
            &a[ao..ao + m * k],
            k,
            false,
            &b[bo..bo + k * n],
            n,
            false,
            c,
            n,
            T::ONE,
            T::ZERO,
            !small,
        )
    };
    if small && batches > 1 {
        out.par_chunks_mut(per)
            .enumerate()
            .try_for_each(one_batch)
            .map_err(err)?;
    } else {
        out.chunks_mut(per)
            .enumerate()
            .try_for_each(one_batch)
            .map_err(err)?;
    }
    Ok(out)
}

fn typed_matmul<T: GemmElem + Storage>(op: &str, a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    let p = plan_matmul(op, a.shape(), b.shape())?;
    let out = matmul_flat(op, &p, a.as_slice::<T>()?, b.as_slice::<T>()?)?;
    Ok(Tensor::from_vec(p.out_shape, out)?)
}

/// Half-precision operands are widened to f32, multiplied, and rounded back.
fn half_matmul<H: Storage>(op: &str, a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    let p = plan_matmul(op, a.shape(), b.shape())?;
    let (af, bf) = (widen::<H>(a)?, widen::<H>(b)?);
    let out = matmul_flat(op, &p, &af, &bf)?;
    Ok(Tensor::from_vec(p.out_shape, narrow::<H>(&out))?)
}

pub(crate) fn widen<H: Storage>(t: &Tensor) -> KResult<Vec<f32>> {
    Ok(t.as_slice::<H>()?
        .iter()
        .map(|x| x.to_f64() as f32)
        .collect())
}

pub(crate) fn narrow<H: Storage>(v: &[f32]) -> Vec<H> {
    v.iter().map(|&x| H::from_f64(x as f64)).collect()
}

fn matmul(ins: &Inputs) -> KResult<Outputs> {
    let (a, b) = (ins.tensor(0)?, ins.tensor(1)?);
    if a.dtype() != b.dtype() {
        return Err(invalid(
            ins.op,
            format!("operand dtypes differ: {} and {}", a.dtype(), b.dtype()),
        ));
    }
    let op = ins.op;
    one(match a.dtype() {
        DType::F32 => typed_matmul::<f32>(op, a, b)?,
        DType::F64 => typed_matmul::<f64>(op, a, b)?,
        DType::F16 => half_matmul::<f16>(op, a, b)?,
        DType::BF16 => half_matmul::<bf16>(op, a, b)?,
        DType::I32 => typed_matmul::<i32>(op, a, b)?,
        DType::I64 => typed_matmul::<i64>(op, a, b)?,
        DType::U32 => typed_matmul::<u32>(op, a, b)?,
        DType::U64 => typed_matmul::<u64>(op, a, b)?,
        d => return Err(unsupported(op, format!("dtype {d}"))),
    })
}

fn gemm_typed<T: GemmElem + Storage>(
    op: &str,
    g: &tessera_ir::op::Gemm,
    a: &[T],
    b: &[T],
    c: Option<(&[T], &[usize])>,
    (m, n, k): (usize, usize, usize),
    (alpha, beta): (T, T),
) -> KResult<Vec<T>> {
    let mut out = vec![T::ZERO; checked_numel(&[m, n])?];
    let beta = match c {
        Some((cv, cs)) => {
            broadcast_all(op, &[cs, &[m, n]]).and_then(|s| {
                if s == [m, n] {
                    Ok(())
                } else {
                    Err(invalid(
                        op,
                        format!("C of shape {cs:?} does not broadcast to [{m}, {n}]"),
                    ))
                }
            })?;
            for (o, off) in out.iter_mut().zip(broadcast_offsets(cs, &[m, n])) {
                *o = cv[off];
            }
            beta
        }
        None => T::ZERO,
    };
    let lda = if g.trans_a { m } else { k };
    let ldb = if g.trans_b { k } else { n };
    gemm(
        m, n, k, a, lda, g.trans_a, b, ldb, g.trans_b, &mut out, n, alpha, beta, true,
    )
    .map_err(|e| invalid(op, e.to_string()))?;
    Ok(out)
}

fn gemm_op(g: &tessera_ir::op::Gemm, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let (a, b) = (ins.tensor(0)?, ins.tensor(1)?);
    let c = ins.opt_tensor(2)?;
    let (&[ar, ac], &[br, bc]) = (a.shape(), b.shape()) else {
        return Err(invalid(op, "A and B must be rank 2"));
    };
    let (m, ka) = if g.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if g.trans_b { (bc, br) } else { (br, bc) };
    if ka != kb {
        return Err(invalid(
            op,
            format!(
                "inner dimensions differ: {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let dt = a.dtype();
    if b.dtype() != dt || c.is_some_and(|c| c.dtype() != dt) {
        return Err(invalid(op, "operands must share one dtype"));
    }
    let dims = (m, n, ka);
    macro_rules! typed {
        ($t:ty) => {{
            let cv = match c {
                Some(c) => Some((c.as_slice::<$t>()?, c.shape())),
                None => None,
            };
            let v = gemm_typed::<$t>(
                op,
                g,
                a.as_slice()?,
                b.as_slice()?,
                cv,
                dims,
                (
                    <$t>::from_f64(g.alpha as f64),
                    <$t>::from_f64(g.beta as f64),
                ),
            )?;
            Tensor::from_vec(vec![m, n], v)?
        }};
    }
    macro_rules! half {
        ($t:ty) => {{
            let cw = match c {
                Some(c) => Some(widen::<$t>(c)?),
                None => None,
            };
            let cv = cw.as_deref().zip(c.map(|c| c.shape()));
            let v = gemm_typed::<f32>(
                op,
                g,
                &widen::<$t>(a)?,
                &widen::<$t>(b)?,
                cv,
                dims,
                (g.alpha, g.beta),
            )?;
            Tensor::from_vec(vec![m, n], narrow::<$t>(&v))?
        }};
    }
    one(match dt {
        DType::F32 => typed!(f32),
        DType::F64 => typed!(f64),
        DType::I32 => typed!(i32),
        DType::I64 => typed!(i64),
        DType::U32 => typed!(u32),
        DType::U64 => typed!(u64),
        DType::F16 => half!(f16),
        DType::BF16 => half!(bf16),
        d => return Err(unsupported(op, format!("dtype {d}"))),
    })
}

/// Integer operand minus its zero point, widened to i32. `zp` is a scalar, or a vector applied
/// along `axis_from_end` (1: rows of `a`, 0: columns of `b`) of the matrix dims.
pub(crate) fn centered(
    op: &str,
    x: &Tensor,
    zp: Option<&Tensor>,
    row_wise: bool,
) -> KResult<Vec<i32>> {
    let xs = x.to_i64_vec();
    if !matches!(x.dtype(), DType::I8 | DType::U8 | DType::I16 | DType::U16) {
        return Err(unsupported(
            op,
            format!("integer operand of dtype {}", x.dtype()),
        ));
    }
    let Some(zp) = zp else {
        return Ok(xs.into_iter().map(|v| v as i32).collect());
    };
    if zp.dtype() != x.dtype() {
        return Err(invalid(op, "zero point dtype differs from its operand"));
    }
    let z = zp.to_i64_vec();
    if z.len() == 1 {
        return Ok(xs.into_iter().map(|v| (v - z[0]) as i32).collect());
    }
    let r = x.rank();
    let (rows, cols) = match r {
        0 => (1, 1),
        1 => {
            if row_wise {
                (1, x.shape()[0])
            } else {
                (x.shape()[0], 1)
            }
        }
        _ => (x.shape()[r - 2], x.shape()[r - 1]),
    };
    let want = if row_wise { rows } else { cols };
    if z.len() == want {
        return Ok(xs
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let idx = if row_wise {
                    (i / cols) % rows
                } else {
                    i % cols
                };
                (v - z[idx]) as i32
            })
            .collect());
    }
    // Zero points shaped like the operand's batch: broadcast them against it.
    let zs = zp.shape();
    let full = broadcast_all(op, &[x.shape(), zs])?;
    if full != x.shape() {
        return Err(invalid(
            op,
            format!(
                "zero point of shape {zs:?} does not fit operand {:?}",
                x.shape()
            ),
        ));
    }
    let offs = broadcast_offsets(zs, x.shape());
    Ok(xs
        .iter()
        .zip(offs)
        .map(|(&v, o)| (v - z[o]) as i32)
        .collect())
}

fn matmul_integer(ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let (a, b) = (ins.tensor(0)?, ins.tensor(1)?);
    let ac = centered(op, a, ins.opt_tensor(2)?, true)?;
    let bc = centered(op, b, ins.opt_tensor(3)?, false)?;
    let p = plan_matmul(op, a.shape(), b.shape())?;
    let out = matmul_flat(op, &p, &ac, &bc)?;
    one(Tensor::from_vec(p.out_shape, out)?)
}

/// Determinant by LU decomposition with partial pivoting, in f64.
pub(crate) fn det_f64(n: usize, m: &mut [f64]) -> f64 {
    let mut d = 1.0;
    for col in 0..n {
        let mut piv = col;
        let mut best = m[col * n + col].abs();
        for r in col + 1..n {
            let v = m[r * n + col].abs();
            if v > best {
                best = v;
                piv = r;
            }
        }
        if best == 0.0 {
            return 0.0;
        }
        if piv != col {
            for c in 0..n {
                m.swap(col * n + c, piv * n + c);
            }
            d = -d;
        }
        let p = m[col * n + col];
        d *= p;
        for r in col + 1..n {
            let f = m[r * n + col] / p;
            if f != 0.0 {
                for c in col..n {
                    m[r * n + c] -= f * m[col * n + c];
                }
            }
        }
    }
    d
}

fn det(ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let x = ins.tensor(0)?;
    let r = x.rank();
    if r < 2 || x.shape()[r - 1] != x.shape()[r - 2] {
        return Err(invalid(
            op,
            format!("input must be [*, n, n], got {:?}", x.shape()),
        ));
    }
    if !x.dtype().is_float() {
        return Err(unsupported(op, format!("dtype {}", x.dtype())));
    }
    let n = x.shape()[r - 1];
    let v = x.to_f64_vec();
    let out_shape = x.shape()[..r - 2].to_vec();
    let dets: Vec<f64> = if n == 0 {
        vec![1.0; checked_numel(&out_shape)?]
    } else {
        v.chunks(n * n)
            .map(|c| det_f64(n, &mut c.to_vec()))
            .collect()
    };
    let t = Tensor::from_vec(out_shape, dets)?.cast(x.dtype());
    one(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::Value;

    fn run_op(op: Op, ins: Vec<Tensor>) -> Tensor {
        let vals: Vec<Value> = ins.into_iter().map(Value::Tensor).collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(Some).collect();
        let i = Inputs {
            op: "test",
            values: &refs,
        };
        let mut o = run(&op, &i).unwrap().unwrap();
        match o.remove(0) {
            Some(Value::Tensor(t)) => t,
            _ => panic!("no tensor"),
        }
    }

    fn naive_bmm(a: &[f64], b: &[f64], bs: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; bs * m * n];
        for z in 0..bs {
            for i in 0..m {
                for j in 0..n {
                    c[z * m * n + i * n + j] = (0..k)
                        .map(|p| a[z * m * k + i * k + p] * b[z * k * n + p * n + j])
                        .sum();
                }
            }
        }
        c
    }

    #[test]
    fn matmul_broadcast_and_promotion() {
        let a: Vec<f32> = (0..2 * 3 * 4).map(|x| x as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..4 * 5).map(|x| (x % 7) as f32 - 2.0).collect();
        let ta = Tensor::from_vec(vec![2, 3, 4], a.clone()).unwrap();
        let tb = Tensor::from_vec(vec![4, 5], b.clone()).unwrap();
        let y = run_op(Op::MatMul(tessera_ir::op::MatMul), vec![ta, tb]);
        assert_eq!(y.shape(), &[2, 3, 5]);
        let bb: Vec<f64> = b.iter().chain(b.iter()).map(|&x| x as f64).collect();
        let af: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        let want = naive_bmm(&af, &bb, 2, 3, 4, 5);
        assert_eq!(y.to_f64_vec(), want);
        // 1-D @ 1-D → scalar
        let v = Tensor::from_vec(vec![3], vec![1i64, 2, 3]).unwrap();
        let y = run_op(Op::MatMul(tessera_ir::op::MatMul), vec![v.clone(), v]);
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(y.to_i64_vec(), vec![14]);
    }

    #[test]
    fn matmul_dtypes_and_broadcast_match_naive() {
        // [2, 1, 3, 5] @ [4, 5, 2] → [2, 4, 3, 2]; B broadcast over the first dim, A over
        // the second.
        let (sa, sb) = ([2usize, 1, 3, 5], [4usize, 5, 2]);
        let av: Vec<f64> = (0..30).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
        let bv: Vec<f64> = (0..40).map(|i| ((i * 5) % 9) as f64 - 4.0).collect();
        let mut want = vec![];
        for z in 0..2 {
            for w in 0..4 {
                for i in 0..3 {
                    for j in 0..2 {
                        want.push(
                            (0..5)
                                .map(|p| av[z * 15 + i * 5 + p] * bv[w * 10 + p * 2 + j])
                                .sum::<f64>(),
                        );
                    }
                }
            }
        }
        for dt in [
            DType::F32,
            DType::F64,
            DType::F16,
            DType::BF16,
            DType::I32,
            DType::I64,
        ] {
            let a = Tensor::from_vec(sa.to_vec(), av.clone()).unwrap().cast(dt);
            let b = Tensor::from_vec(sb.to_vec(), bv.clone()).unwrap().cast(dt);
            let y = run_op(Op::MatMul(tessera_ir::op::MatMul), vec![a, b]);
            assert_eq!(y.dtype(), dt);
            assert_eq!(y.shape(), &[2, 4, 3, 2]);
            assert_eq!(y.to_f64_vec(), want, "{dt}");
        }
    }

    #[test]
    fn matmul_integer_per_row_zero_point() {
        let a = Tensor::from_vec(vec![2, 2], vec![10u8, 12, 20, 22]).unwrap();
        let b = Tensor::from_vec(vec![2, 1], vec![3u8, 4]).unwrap();
        let azp = Tensor::from_vec(vec![2], vec![10u8, 20]).unwrap();
        let bzp = Tensor::scalar(2u8);
        let y = run_op(
            Op::MatMulInteger(tessera_ir::op::MatMulInteger),
            vec![a, b, azp, bzp],
        );
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.to_i64_vec(), vec![4, 4]);
    }

    #[test]
    fn gemm_with_bias() {
        let a = Tensor::from_vec(vec![2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = Tensor::from_vec(vec![2, 2], vec![1.0f64, 0.0, 0.0, 1.0]).unwrap();
        let c = Tensor::from_vec(vec![2], vec![10.0f64, 20.0]).unwrap();
        let g = tessera_ir::op::Gemm {
            alpha: 2.0,
            beta: 0.5,
            trans_a: true,
            trans_b: false,
        };
        let y = run_op(Op::Gemm(g), vec![a, b, c]);
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_f64_vec(), vec![7.0, 18.0, 9.0, 20.0, 11.0, 22.0]);
    }

    #[test]
    fn det_values() {
        let x = Tensor::from_vec(
            vec![2, 2, 2],
            vec![1.0f32, 2.0, 3.0, 4.0, 0.0, 1.0, 1.0, 0.0],
        )
        .unwrap();
        let y = run_op(Op::Det(tessera_ir::op::Det), vec![x]);
        let v = y.to_f64_vec();
        assert!((v[0] + 2.0).abs() < 1e-6 && (v[1] + 1.0).abs() < 1e-6);
    }
}
