//! Matrix products: `MatMul` (f32, numpy batch broadcasting and rank-1 promotion), `Gemm`
//! (f32) and `MatMulInteger` (i8 operands with scalar zero points, i32 result).

use super::{broadcast_map, check_len, numel, KResult};
use tessera_ir::broadcast_shapes;
use tessera_ir::op::Gemm;

/// An accumulator type: `acc + a·b`, wrapping for integers.
pub trait Acc: Copy + Default {
    /// `self + a·b`.
    fn mul_add(self, a: Self, b: Self) -> Self;
}

impl Acc for f32 {
    fn mul_add(self, a: f32, b: f32) -> f32 {
        self + a * b
    }
}

impl Acc for i32 {
    fn mul_add(self, a: i32, b: i32) -> i32 {
        self.wrapping_add(a.wrapping_mul(b))
    }
}

/// `MatMul(a, b)`: `a: [..., M, K]`, `b: [..., K, N]` → `[batch..., M, N]` with the batch
/// axes broadcast; a rank-1 `a` is `[1, K]` and a rank-1 `b` is `[K, 1]`, and the added axis
/// is removed from the result.
pub fn matmul<T: Acc>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
) -> KResult<(Vec<T>, Vec<usize>)> {
    check_len(a, a_shape, "a")?;
    check_len(b, b_shape, "b")?;
    let a2: Vec<usize> = match a_shape {
        [] => return Err("a is a scalar; MatMul needs rank ≥ 1".into()),
        [k] => vec![1, *k],
        s => s.to_vec(),
    };
    let b2: Vec<usize> = match b_shape {
        [] => return Err("b is a scalar; MatMul needs rank ≥ 1".into()),
        [k] => vec![*k, 1],
        s => s.to_vec(),
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k) = (a2[ra - 2], a2[ra - 1]);
    let (k2, n) = (b2[rb - 2], b2[rb - 1]);
    if k != k2 {
        return Err(format!(
            "inner extents differ: a {a_shape:?}, b {b_shape:?}"
        ));
    }
    let batch = broadcast_shapes(&a2[..ra - 2], &b2[..rb - 2])
        .ok_or_else(|| format!("batch axes of a {a_shape:?} and b {b_shape:?} do not broadcast"))?;
    let a_map = broadcast_map(&a2[..ra - 2], &batch)?;
    let b_map = broadcast_map(&b2[..rb - 2], &batch)?;
    let mut out_shape = batch.clone();
    if a_shape.len() > 1 {
        out_shape.push(m);
    }
    if b_shape.len() > 1 {
        out_shape.push(n);
    }
    let mut y = vec![T::default(); numel(&out_shape)?];
    for (bi, (&ai, &bj)) in a_map.iter().zip(&b_map).enumerate() {
        let (am, bm) = (
            &a[ai * m * k..(ai + 1) * m * k],
            &b[bj * k * n..(bj + 1) * k * n],
        );
        let ym = &mut y[bi * m * n..(bi + 1) * m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::default();
                for p in 0..k {
                    acc = acc.mul_add(am[i * k + p], bm[p * n + j]);
                }
                ym[i * n + j] = acc;
            }
        }
    }
    Ok((y, out_shape))
}

/// `Gemm(a, b, c?)`: `alpha · op(a) · op(b) + beta · c` for rank-2 `a` and `b` (`op`
/// transposes when the flag is set), with `c` broadcast to `[M, N]`.
pub fn gemm(
    attrs: &Gemm,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    c: Option<(&[f32], &[usize])>,
) -> KResult<(Vec<f32>, Vec<usize>)> {
    check_len(a, a_shape, "a")?;
    check_len(b, b_shape, "b")?;
    let (&[ar, ac], &[br, bc]) = (a_shape, b_shape) else {
        return Err(format!(
            "Gemm operands must be rank 2, got {a_shape:?} and {b_shape:?}"
        ));
    };
    let (m, k) = if attrs.trans_a { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if attrs.trans_b { (bc, br) } else { (br, bc) };
    if k != k2 {
        return Err(format!(
            "inner extents differ: a {a_shape:?}, b {b_shape:?} (trans_a {}, trans_b {})",
            attrs.trans_a, attrs.trans_b
        ));
    }
    let at = |i: usize, p: usize| {
        if attrs.trans_a {
            a[p * ac + i]
        } else {
            a[i * ac + p]
        }
    };
    let bt = |p: usize, j: usize| {
        if attrs.trans_b {
            b[j * bc + p]
        } else {
            b[p * bc + j]
        }
    };
    let out_shape = vec![m, n];
    let c_map = match c {
        Some((cv, cs)) => {
            check_len(cv, cs, "c")?;
            Some((cv, broadcast_map(cs, &out_shape)?))
        }
        None => None,
    };
    let mut y = vec![0f32; numel(&out_shape)?];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for p in 0..k {
                acc += at(i, p) * bt(p, j);
            }
            let mut v = attrs.alpha * acc;
            if let Some((cv, map)) = &c_map {
                v += attrs.beta * cv[map[i * n + j]];
            }
            y[i * n + j] = v;
        }
    }
    Ok((y, out_shape))
}

/// The value of a scalar zero point (`[]` or `[1]`), 0 when absent.
fn zero_point(zp: Option<(&[i8], &[usize])>, what: &str) -> KResult<i32> {
    match zp {
        None => Ok(0),
        Some((&[v], shape)) if shape.iter().all(|&d| d == 1) => Ok(v as i32),
        Some((_, shape)) => Err(format!(
            "{what} of shape {shape:?}: only scalar zero points are supported"
        )),
    }
}

/// `MatMulInteger(a, b, a_zero_point?, b_zero_point?)` on i8: `(a − a_zp) · (b − b_zp)`
/// accumulated in i32, with `MatMul`'s broadcasting.
pub fn matmul_integer(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    a_zero_point: Option<(&[i8], &[usize])>,
    b_zero_point: Option<(&[i8], &[usize])>,
) -> KResult<(Vec<i32>, Vec<usize>)> {
    let (za, zb) = (
        zero_point(a_zero_point, "a_zero_point")?,
        zero_point(b_zero_point, "b_zero_point")?,
    );
    let a32: Vec<i32> = a.iter().map(|&v| v as i32 - za).collect();
    let b32: Vec<i32> = b.iter().map(|&v| v as i32 - zb).collect();
    matmul(&a32, a_shape, &b32, b_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_hand_computed() {
        let (y, s) = matmul(
            &[1.0f32, 2.0, 3.0, 4.0],
            &[2, 2],
            &[5.0, 6.0, 7.0, 8.0],
            &[2, 2],
        )
        .unwrap();
        assert_eq!((y, s), (vec![19.0, 22.0, 43.0, 50.0], vec![2, 2]));
        // Rank-1 operands: vector·matrix, matrix·vector, dot product.
        let (y, s) = matmul(&[1.0f32, 1.0], &[2], &[5.0, 6.0, 7.0, 8.0], &[2, 2]).unwrap();
        assert_eq!((y, s), (vec![12.0, 14.0], vec![2]));
        let (y, s) = matmul(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2], &[1.0, 1.0], &[2]).unwrap();
        assert_eq!((y, s), (vec![3.0, 7.0], vec![2]));
        let (y, s) = matmul(&[1.0f32, 2.0], &[2], &[3.0, 4.0], &[2]).unwrap();
        assert_eq!((y, s), (vec![11.0], vec![]));
    }

    #[test]
    fn batch_broadcasting() {
        // a: [2, 1, 2, 2] (two batches), b: [3, 2, 2] (three batches) → [2, 3, 2, 2].
        let a: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let b: Vec<f32> = (0..12).map(|v| (v % 5) as f32).collect();
        let (y, s) = matmul(&a, &[2, 1, 2, 2], &b, &[3, 2, 2]).unwrap();
        assert_eq!(s, vec![2, 3, 2, 2]);
        for i in 0..2 {
            for j in 0..3 {
                let (ya, _) =
                    matmul(&a[i * 4..i * 4 + 4], &[2, 2], &b[j * 4..j * 4 + 4], &[2, 2]).unwrap();
                assert_eq!(&y[(i * 3 + j) * 4..(i * 3 + j) * 4 + 4], ya.as_slice());
            }
        }
        assert!(matmul(&a, &[2, 2, 2], &b, &[3, 2, 2]).is_err());
        assert!(matmul(&a, &[2, 4], &b, &[3, 2, 2]).is_err());
        assert!(matmul(&[1.0f32], &[], &[1.0], &[1]).is_err());
    }

    #[test]
    fn gemm_transposes_and_bias() {
        let g = Gemm {
            alpha: 2.0,
            beta: 0.5,
            trans_a: true,
            trans_b: false,
        };
        // a stored [K=2, M=2] = [[1, 3], [2, 4]] so op(a) = [[1, 2], [3, 4]].
        let a = [1.0, 3.0, 2.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let (y, s) = gemm(&g, &a, &[2, 2], &b, &[2, 2], Some((&[10.0, 20.0], &[2]))).unwrap();
        assert_eq!(s, vec![2, 2]);
        assert_eq!(
            y,
            vec![
                2.0 * 19.0 + 5.0,
                2.0 * 22.0 + 10.0,
                2.0 * 43.0 + 5.0,
                2.0 * 50.0 + 10.0
            ]
        );
        let g = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        let (y, _) = gemm(&g, &[1.0, 2.0, 3.0, 4.0], &[2, 2], &b, &[2, 2], None).unwrap();
        assert_eq!(y, vec![17.0, 23.0, 39.0, 53.0]);
        assert!(gemm(&g, &[1.0; 3], &[3], &b, &[2, 2], None).is_err());
        assert!(gemm(&g, &[1.0; 4], &[2, 2], &b, &[2, 2], Some((&[1.0; 3], &[3]))).is_err());
    }

    #[test]
    fn integer_with_zero_points() {
        let a = [1i8, -2, 3, 4];
        let b = [5i8, 6, -7, 8];
        let (y, s) = matmul_integer(&a, &[2, 2], &b, &[2, 2], None, None).unwrap();
        assert_eq!((y, s), (vec![19, -10, -13, 50], vec![2, 2]));
        let (y, _) = matmul_integer(
            &a,
            &[2, 2],
            &b,
            &[2, 2],
            Some((&[1], &[])),
            Some((&[-1], &[1])),
        )
        .unwrap();
        // (a − 1) = [[0, −3], [2, 3]], (b + 1) = [[6, 7], [−6, 9]].
        assert_eq!(y, vec![18, -27, -6, 41]);
        // Extremes accumulate exactly in i32.
        let (y, _) = matmul_integer(&[-128; 4], &[1, 4], &[-128; 4], &[4, 1], None, None).unwrap();
        assert_eq!(y, vec![65536]);
        assert!(matmul_integer(&a, &[2, 2], &b, &[2, 2], Some((&[1, 2], &[2])), None).is_err());
    }
}
