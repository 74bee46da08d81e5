//! 2-D pooling on `[N, C, H, W]`: max (f32, i8) and average (f32), with pads, strides and
//! dilations. `ceil_mode` and the `MaxPool` indices output are not implemented (the device's
//! `supports` refuses them).

use super::conv::rank4;
use super::window::resolve;
use super::{check_len, numel, KResult};
use tessera_ir::op::Pool;

/// The kernel extent of a 2-D pool.
fn kernel(p: &Pool) -> KResult<[usize; 2]> {
    match p.window.kernel_shape.as_slice() {
        [a, b] => Ok([*a, *b]),
        k => Err(format!("kernel_shape {k:?}: expected two extents")),
    }
}

/// Runs `reduce` over every window: it receives the in-bounds values and the number of taps
/// of the window (padding included) and returns the output value.
fn pool2d<T: Copy>(
    p: &Pool,
    x: &[T],
    x_shape: &[usize],
    mut reduce: impl FnMut(&[T], usize) -> T,
) -> KResult<(Vec<T>, Vec<usize>)> {
    if p.ceil_mode {
        return Err("ceil_mode is not supported".into());
    }
    let [n, c, h, w] = rank4(x_shape, "input")?;
    check_len(x, x_shape, "input")?;
    let k = kernel(p)?;
    let g = resolve(&p.window, [h, w], k)?;
    let [oh, ow] = g.out;
    let out_shape = vec![n, c, oh, ow];
    let mut y = Vec::with_capacity(numel(&out_shape)?);
    let window = k[0].saturating_mul(k[1]);
    let mut taps = Vec::new();
    let plane_len = h * w;
    for pi in 0..n * c {
        let plane = &x[pi * plane_len..(pi + 1) * plane_len];
        for oy in 0..oh {
            for ox in 0..ow {
                taps.clear();
                for ky in 0..k[0] {
                    let Some(iy) = g.input_at(0, oy, ky, h) else {
                        continue;
                    };
                    for kx in 0..k[1] {
                        if let Some(ix) = g.input_at(1, ox, kx, w) {
                            taps.push(plane[iy * w + ix]);
                        }
                    }
                }
                y.push(reduce(&taps, window));
            }
        }
    }
    Ok((y, out_shape))
}

/// Max pooling, f32: padded positions are ignored; a window entirely in the padding
/// yields −∞.
pub fn max_pool_f32(p: &Pool, x: &[f32], x_shape: &[usize]) -> KResult<(Vec<f32>, Vec<usize>)> {
    pool2d(p, x, x_shape, |v, _| {
        v.iter().copied().fold(f32::NEG_INFINITY, |m, a| {
            if a.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(a)
            }
        })
    })
}

/// Max pooling, i8: padded positions are ignored; a window entirely in the padding yields
/// −128.
pub fn max_pool_i8(p: &Pool, x: &[i8], x_shape: &[usize]) -> KResult<(Vec<i8>, Vec<usize>)> {
    pool2d(p, x, x_shape, |v, _| {
        v.iter().copied().max().unwrap_or(i8::MIN)
    })
}

/// Average pooling, f32: the sum of the in-bounds values divided by the full window size
/// when `count_include_pad`, else by the number of in-bounds values (0 when there are none).
pub fn avg_pool_f32(
    p: &Pool,
    x: &[f32],
    x_shape: &[usize],
    count_include_pad: bool,
) -> KResult<(Vec<f32>, Vec<usize>)> {
    pool2d(p, x, x_shape, |v, window| {
        let div = if count_include_pad { window } else { v.len() };
        if div == 0 {
            0.0
        } else {
            v.iter().sum::<f32>() / div as f32
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::op::{AutoPad, PoolKind, Window};

    fn pool(k: usize, s: usize, pad: usize, kind: PoolKind) -> Pool {
        Pool {
            kind,
            window: Window {
                kernel_shape: vec![k, k],
                strides: vec![s, s],
                pads: vec![pad; 4],
                dilations: vec![],
                auto_pad: AutoPad::NotSet,
            },
            ceil_mode: false,
            storage_order: 0,
        }
    }

    const X: [f32; 16] = [
        1.0, 2.0, 3.0, 4.0, //
        5.0, 6.0, 7.0, 8.0, //
        9.0, 10.0, 11.0, 12.0, //
        13.0, 14.0, 15.0, 16.0,
    ];

    #[test]
    fn max_hand_computed() {
        let (y, s) = max_pool_f32(&pool(2, 2, 0, PoolKind::Max), &X, &[1, 1, 4, 4]).unwrap();
        assert_eq!(s, vec![1, 1, 2, 2]);
        assert_eq!(y, vec![6.0, 8.0, 14.0, 16.0]);
        // Padding is ignored, not treated as zero: all-negative input.
        let neg: Vec<f32> = X.iter().map(|v| -v).collect();
        let (y, s) = max_pool_f32(&pool(2, 2, 1, PoolKind::Max), &neg, &[1, 1, 4, 4]).unwrap();
        assert_eq!(s, vec![1, 1, 3, 3]);
        assert_eq!(y[0], -1.0);
        assert_eq!(y[8], -16.0);
        let xi: Vec<i8> = X.iter().map(|&v| v as i8 - 8).collect();
        let (y, _) = max_pool_i8(&pool(2, 2, 0, PoolKind::Max), &xi, &[1, 1, 4, 4]).unwrap();
        assert_eq!(y, vec![-2, 0, 6, 8]);
    }

    #[test]
    fn average_and_count_include_pad() {
        let avg = |cip| PoolKind::Average {
            count_include_pad: cip,
        };
        let (y, _) = avg_pool_f32(&pool(2, 2, 0, avg(false)), &X, &[1, 1, 4, 4], false).unwrap();
        assert_eq!(y, vec![3.5, 5.5, 11.5, 13.5]);
        // 3×3 window, pad 1, stride 2: the corner window sees 1, 2, 5, 6.
        let p = pool(3, 2, 1, avg(true));
        let (y, s) = avg_pool_f32(&p, &X, &[1, 1, 4, 4], true).unwrap();
        assert_eq!(s, vec![1, 1, 2, 2]);
        assert!((y[0] - 14.0 / 9.0).abs() < 1e-6);
        let (y, _) = avg_pool_f32(&p, &X, &[1, 1, 4, 4], false).unwrap();
        assert!((y[0] - 14.0 / 4.0).abs() < 1e-6);
        // Bottom-right window: rows 1..4, cols 1..4 → 6 7 8 10 11 12 14 15 16 (no padding).
        assert!((y[3] - 99.0 / 9.0).abs() < 1e-6);
    }

    #[test]
    fn refusals() {
        let mut p = pool(2, 2, 0, PoolKind::Max);
        assert!(max_pool_f32(&p, &X, &[1, 4, 4]).is_err());
        assert!(max_pool_f32(&p, &X[..15], &[1, 1, 4, 4]).is_err());
        p.ceil_mode = true;
        assert!(max_pool_f32(&p, &X, &[1, 1, 4, 4]).is_err());
        p.ceil_mode = false;
        p.window.kernel_shape = vec![2];
        assert!(max_pool_f32(&p, &X, &[1, 1, 4, 4]).is_err());
    }
}
