//! 2-D convolution (`Conv` on `[N, C, H, W]`), f32: pads, strides, dilations, groups, bias.

use super::window::{resolve, Geometry};
use super::{check_len, numel, KResult};
use tessera_ir::op::Conv;

/// `y[n, m, oh, ow] = b[m] + Σ_{c, kh, kw} x[n, g·Cg + c, ih, iw] · w[m, c, kh, kw]` where
/// `g = m / (M / group)`, `Cg = C / group`, and `(ih, iw)` is the tap's input position (taps in
/// the padding contribute nothing). `x: [N, C, H, W]`, `w: [M, C/group, kH, kW]`, `b: [M]`.
/// Returns `y` and its shape `[N, M, oH, oW]`.
pub fn conv2d(
    attrs: &Conv,
    x: &[f32],
    x_shape: &[usize],
    w: &[f32],
    w_shape: &[usize],
    bias: Option<&[f32]>,
) -> KResult<(Vec<f32>, Vec<usize>)> {
    let [n, c, h, wd] = rank4(x_shape, "input")?;
    let [m, cg, kh, kw] = rank4(w_shape, "weight")?;
    check_len(x, x_shape, "input")?;
    check_len(w, w_shape, "weight")?;
    let group = attrs.group;
    if group == 0 || c % group != 0 || m % group != 0 || cg != c / group {
        return Err(format!(
            "group {group} does not fit {c} input channels, {m} output channels and weight {w_shape:?}"
        ));
    }
    if !attrs.window.kernel_shape.is_empty() && attrs.window.kernel_shape != [kh, kw] {
        return Err(format!(
            "kernel_shape {:?} disagrees with the weight {w_shape:?}",
            attrs.window.kernel_shape
        ));
    }
    if let Some(b) = bias {
        if b.len() != m {
            return Err(format!("bias has {} elements, {m} expected", b.len()));
        }
    }
    let g: Geometry = resolve(&attrs.window, [h, wd], [kh, kw])?;
    let [oh, ow] = g.out;
    let out_shape = vec![n, m, oh, ow];
    let mut y = vec![0f32; numel(&out_shape)?];
    let m_per_group = m / group;
    for ni in 0..n {
        for mi in 0..m {
            let gi = mi / m_per_group;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias.map_or(0.0, |b| b[mi]);
                    for ci in 0..cg {
                        let xc = gi * cg + ci;
                        for ky in 0..kh {
                            let Some(iy) = g.input_at(0, oy, ky, h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = g.input_at(1, ox, kx, wd) else {
                                    continue;
                                };
                                let xv = x[((ni * c + xc) * h + iy) * wd + ix];
                                let wv = w[((mi * cg + ci) * kh + ky) * kw + kx];
                                acc += xv * wv;
                            }
                        }
                    }
                    y[((ni * m + mi) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    Ok((y, out_shape))
}

/// The four extents of a rank-4 shape.
pub fn rank4(shape: &[usize], what: &str) -> KResult<[usize; 4]> {
    match shape {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => Err(format!("{what} must have rank 4 (NCHW), got {shape:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::op::{AutoPad, Window};

    fn conv(group: usize, strides: &[usize], pads: &[usize], dil: &[usize]) -> Conv {
        Conv {
            window: Window {
                kernel_shape: vec![],
                strides: strides.to_vec(),
                pads: pads.to_vec(),
                dilations: dil.to_vec(),
                auto_pad: AutoPad::NotSet,
            },
            group,
        }
    }

    /// Direct definition with signed arithmetic, written independently of the kernel.
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn reference(
        x: &[f32],
        xs: [usize; 4],
        w: &[f32],
        ws: [usize; 4],
        b: &[f32],
        group: usize,
        s: usize,
        p: usize,
        d: usize,
    ) -> Vec<f32> {
        let [n, c, h, wd] = xs;
        let [m, cg, kh, kw] = ws;
        let oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
        let ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
        let mut y = Vec::new();
        for ni in 0..n {
            for mi in 0..m {
                let g = mi / (m / group);
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b[mi] as f64;
                        for ci in 0..cg {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * s + ky * d) as isize - p as isize;
                                    let ix = (ox * s + kx * d) as isize - p as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((ni * c + g * cg + ci) * h + iy as usize) * wd
                                        + ix as usize;
                                    let wi = ((mi * cg + ci) * kh + ky) * kw + kx;
                                    acc += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                        y.push(acc as f32);
                    }
                }
            }
        }
        y
    }

    fn ramp(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * scale)
            .collect()
    }

    #[test]
    fn hand_computed() {
        // 1×1×3×3 input, 2×2 all-ones kernel, bias 1: window sums plus one.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let (y, s) = conv2d(
            &conv(1, &[], &[], &[]),
            &x,
            &[1, 1, 3, 3],
            &[1.0; 4],
            &[1, 1, 2, 2],
            Some(&[1.0]),
        )
        .unwrap();
        assert_eq!(s, vec![1, 1, 2, 2]);
        assert_eq!(y, vec![13.0, 17.0, 25.0, 29.0]);
    }

    /// Tolerance: 1e-4 absolute on values of magnitude ≲ 10 (f32 accumulation vs f64).
    #[test]
    fn matches_reference() {
        for (group, s, p, d) in [(1, 1, 0, 1), (1, 2, 1, 1), (2, 1, 1, 2), (4, 2, 2, 1)] {
            let xs = [2, 4, 7, 6];
            let ws = [8, 4 / group, 3, 3];
            let x = ramp(xs.iter().product(), 0.25);
            let w = ramp(ws.iter().product(), 0.1);
            let b = ramp(8, 0.5);
            let (y, shape) = conv2d(
                &conv(group, &[s, s], &[p, p, p, p], &[d, d]),
                &x,
                &xs,
                &w,
                &ws,
                Some(&b),
            )
            .unwrap();
            let r = reference(&x, xs, &w, ws, &b, group, s, p, d);
            assert_eq!(y.len(), r.len());
            assert_eq!(shape.iter().product::<usize>(), r.len());
            for (a, e) in y.iter().zip(&r) {
                assert!(
                    (a - e).abs() < 1e-4,
                    "group {group} s {s} p {p} d {d}: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn bad_inputs() {
        let c = conv(1, &[], &[], &[]);
        assert!(conv2d(&c, &[0.0; 4], &[1, 1, 4], &[0.0], &[1, 1, 1, 1], None).is_err());
        assert!(conv2d(&c, &[0.0; 8], &[1, 2, 2, 2], &[0.0], &[1, 1, 1, 1], None).is_err());
        assert!(conv2d(
            &c,
            &[0.0; 4],
            &[1, 1, 2, 2],
            &[0.0],
            &[1, 1, 1, 1],
            Some(&[])
        )
        .is_err());
        assert!(conv2d(
            &conv(3, &[], &[], &[]),
            &[0.0; 8],
            &[1, 2, 2, 2],
            &[0.0],
            &[1, 1, 1, 1],
            None
        )
        .is_err());
    }
}
