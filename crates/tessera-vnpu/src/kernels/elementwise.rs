//! Elementwise kernels: `Add` and `Mul` with numpy broadcasting (f32; i8 wrapping as the
//! canonical op specifies for integers), and `Relu` (f32, i8).

use super::{broadcast_map, check_len, KResult};
use tessera_ir::broadcast_shapes;

/// `y = f(a, b)` with numpy broadcasting of `a` and `b`.
pub fn binary<T: Copy>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    f: impl Fn(T, T) -> T,
) -> KResult<(Vec<T>, Vec<usize>)> {
    check_len(a, a_shape, "a")?;
    check_len(b, b_shape, "b")?;
    let shape = broadcast_shapes(a_shape, b_shape)
        .ok_or_else(|| format!("shapes {a_shape:?} and {b_shape:?} do not broadcast"))?;
    let y = if a_shape == b_shape {
        a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
    } else {
        let (am, bm) = (
            broadcast_map(a_shape, &shape)?,
            broadcast_map(b_shape, &shape)?,
        );
        am.iter().zip(&bm).map(|(&i, &j)| f(a[i], b[j])).collect()
    };
    Ok((y, shape))
}

/// `Add` on f32.
pub fn add_f32(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
) -> KResult<(Vec<f32>, Vec<usize>)> {
    binary(a, a_shape, b, b_shape, |x, y| x + y)
}

/// `Add` on i8, wrapping on overflow.
pub fn add_i8(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
) -> KResult<(Vec<i8>, Vec<usize>)> {
    binary(a, a_shape, b, b_shape, i8::wrapping_add)
}

/// `Mul` on f32.
pub fn mul_f32(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
) -> KResult<(Vec<f32>, Vec<usize>)> {
    binary(a, a_shape, b, b_shape, |x, y| x * y)
}

/// `Mul` on i8, wrapping on overflow.
pub fn mul_i8(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
) -> KResult<(Vec<i8>, Vec<usize>)> {
    binary(a, a_shape, b, b_shape, i8::wrapping_mul)
}

/// `Relu` on f32: `max(x, 0)`, NaN stays NaN.
pub fn relu_f32(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| if v < 0.0 { 0.0 } else { v }).collect()
}

/// `Relu` on i8: `max(x, 0)`.
pub fn relu_i8(x: &[i8]) -> Vec<i8> {
    x.iter().map(|&v| v.max(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_add_and_mul() {
        let (y, s) = add_f32(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[2, 3],
            &[10.0, 20.0, 30.0],
            &[3],
        )
        .unwrap();
        assert_eq!(s, vec![2, 3]);
        assert_eq!(y, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        let (y, s) = mul_f32(&[1.0, 2.0], &[2, 1], &[1.0, 10.0, 100.0], &[1, 3]).unwrap();
        assert_eq!(s, vec![2, 3]);
        assert_eq!(y, vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]);
        let (y, s) = add_f32(&[1.0, 2.0], &[2], &[0.5], &[]).unwrap();
        assert_eq!((y, s), (vec![1.5, 2.5], vec![2]));
        assert!(add_f32(&[1.0, 2.0], &[2], &[1.0, 2.0, 3.0], &[3]).is_err());
        assert!(add_f32(&[1.0], &[2], &[1.0], &[1]).is_err());
    }

    #[test]
    fn int8_wraps() {
        let (y, _) = add_i8(&[100, -100, 5], &[3], &[100, -100, -6], &[3]).unwrap();
        assert_eq!(y, vec![-56, 56, -1]);
        let (y, _) = mul_i8(&[16, -3], &[2], &[16], &[1]).unwrap();
        assert_eq!(y, vec![0, -48]);
    }

    #[test]
    fn relu() {
        let y = relu_f32(&[-1.0, 0.0, 2.5, f32::NAN, -0.0]);
        assert_eq!(&y[..3], &[0.0, 0.0, 2.5]);
        assert!(y[3].is_nan());
        assert_eq!(relu_i8(&[-128, -1, 0, 127]), vec![0, 0, 0, 127]);
    }
}
