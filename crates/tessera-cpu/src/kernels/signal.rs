//! Signal-processing kernels: `Dft`, `Stft`, window functions and `MelWeightMatrix`.
//!
//! Transforms run in f64: radix-2 FFT for power-of-two lengths, Bluestein's chirp-z
//! algorithm (on a power-of-two FFT) for other long lengths, and a direct sum for short ones.

use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use std::f64::consts::PI;
use tessera_ir::op::{Dft, MelWeightMatrix, Stft, WindowFunction, WindowKind};
use tessera_ir::{checked_numel, DType, Op, Tensor};

/// Runs the ops of this family.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::Dft(d) => dft(d, ins),
        Op::Stft(s) => stft(s, ins),
        Op::WindowFunction(w) => window(w, ins),
        Op::MelWeightMatrix(m) => mel(m, ins),
        _ => return None,
    })
}

/// True for the ops of this family.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::Dft(_) | Op::Stft(_) | Op::WindowFunction(_) | Op::MelWeightMatrix(_)
    )
}

type C64 = (f64, f64);

/// The longest transform computed (its working buffers are a few times this many complex
/// values).
const MAX_DFT_LEN: usize = 1 << 24;

#[inline]
fn cmul(a: C64, b: C64) -> C64 {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// A precomputed transform of one length and direction (unscaled).
enum Plan {
    Direct {
        /// `exp(s·2πi·j/n)` for `j < n`.
        tw: Vec<C64>,
    },
    Radix2 {
        tw: Vec<C64>,
        rev: Vec<usize>,
    },
    Bluestein {
        n: usize,
        /// Chirp `exp(s·πi·k²/n)`.
        w: Vec<C64>,
        /// FFT of the conjugate chirp, zero-padded to `inner`'s length.
        b_hat: Vec<C64>,
        fwd: Box<Plan>,
        inv: Box<Plan>,
    },
}

impl Plan {
    /// `inverse` selects the `+` sign (no scaling).
    fn new(n: usize, inverse: bool) -> Plan {
        let s = if inverse { 1.0 } else { -1.0 };
        if n.is_power_of_two() {
            let bits = n.trailing_zeros();
            let rev = (0..n)
                .map(|i| {
                    if bits == 0 {
                        0
                    } else {
                        i.reverse_bits() >> (usize::BITS - bits)
                    }
                })
                .collect();
            let tw = (0..n / 2)
                .map(|j| {
                    let a = s * 2.0 * PI * j as f64 / n as f64;
                    (a.cos(), a.sin())
                })
                .collect();
            Plan::Radix2 { tw, rev }
        } else if n <= 64 {
            let tw = (0..n)
                .map(|j| {
                    let a = s * 2.0 * PI * j as f64 / n as f64;
                    (a.cos(), a.sin())
                })
                .collect();
            Plan::Direct { tw }
        } else {
            let m = (2 * n - 1).next_power_of_two();
            let w: Vec<C64> = (0..n)
                .map(|k| {
                    // k² mod 2n keeps the angle small and exact.
                    let k2 = ((k as u128 * k as u128) % (2 * n as u128)) as f64;
                    let a = s * PI * k2 / n as f64;
                    (a.cos(), a.sin())
                })
                .collect();
            let mut b = vec![(0.0, 0.0); m];
            for k in 0..n {
                let c = (w[k].0, -w[k].1);
                b[k] = c;
                if k > 0 {
                    b[m - k] = c;
                }
            }
            let fwd = Plan::new(m, false);
            let inv = Plan::new(m, true);
            fwd.apply(&mut b);
            Plan::Bluestein {
                n,
                w,
                b_hat: b,
                fwd: Box::new(fwd),
                inv: Box::new(inv),
            }
        }
    }

    /// Transforms `x` in place (its length is the plan's).
    fn apply(&self, x: &mut [C64]) {
        match self {
            Plan::Direct { tw } => {
                let n = tw.len();
                let src = x.to_vec();
                for (k, out) in x.iter_mut().enumerate() {
                    let mut acc = (0.0, 0.0);
                    for (j, &v) in src.iter().enumerate() {
                        let t = tw[(j * k) % n];
                        let p = cmul(v, t);
                        acc.0 += p.0;
                        acc.1 += p.1;
                    }
                    *out = acc;
                }
            }
            Plan::Radix2 { tw, rev } => {
                let n = rev.len();
                for (i, &j) in rev.iter().enumerate() {
                    if j > i {
                        x.swap(i, j);
                    }
                }
                let mut len = 2;
                while len <= n {
                    let step = n / len;
                    for start in (0..n).step_by(len) {
                        for j in 0..len / 2 {
                            let t = cmul(x[start + j + len / 2], tw[j * step]);
                            let u = x[start + j];
                            x[start + j] = (u.0 + t.0, u.1 + t.1);
                            x[start + j + len / 2] = (u.0 - t.0, u.1 - t.1);
                        }
                    }
                    len <<= 1;
                }
            }
            Plan::Bluestein {
                n,
                w,
                b_hat,
                fwd,
                inv,
            } => {
                let m = b_hat.len();
                let mut a = vec![(0.0, 0.0); m];
                for k in 0..*n {
                    a[k] = cmul(x[k], w[k]);
                }
                fwd.apply(&mut a);
                for (v, b) in a.iter_mut().zip(b_hat) {
                    *v = cmul(*v, *b);
                }
                inv.apply(&mut a);
                let s = 1.0 / m as f64;
                for k in 0..*n {
                    let v = cmul(a[k], w[k]);
                    x[k] = (v.0 * s, v.1 * s);
                }
            }
        }
    }
}

/// A scalar integer input.
fn scalar_int(ins: &Inputs, i: usize, what: &str) -> KResult<Option<i64>> {
    match ins.opt_tensor(i)? {
        None => Ok(None),
        Some(t) if t.len() == 1 && (t.dtype().is_int()) => Ok(t.to_i64_vec().first().copied()),
        Some(t) => Err(invalid(
            ins.op,
            format!(
                "{what} must be an integer scalar, got {} {:?}",
                t.dtype(),
                t.shape()
            ),
        )),
    }
}

fn float_input(op: &str, t: &Tensor) -> KResult<()> {
    if t.dtype().is_float() {
        Ok(())
    } else {
        Err(unsupported(op, format!("dtype {}", t.dtype())))
    }
}

fn dft(d: &Dft, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let x = ins.tensor(0)?;
    float_input(op, x)?;
    let shape = x.shape();
    let r = shape.len();
    if r < 2 || !matches!(shape[r - 1], 1 | 2) {
        return Err(invalid(
            op,
            format!("input must be [..., 1 or 2], got {shape:?}"),
        ));
    }
    let axis = scalar_int(ins, 2, "axis")?.unwrap_or(-2);
    let a = if axis < 0 { axis + r as i64 } else { axis };
    if a < 0 || a as usize > r - 2 {
        return Err(invalid(
            op,
            format!("axis {axis} out of range for rank {r}"),
        ));
    }
    let a = a as usize;
    let n_in = shape[a];
    // Inverse one-sided: a half spectrum in, a real signal out (numpy's irfft).
    let irfft = d.inverse && d.onesided;
    let n = match scalar_int(ins, 1, "dft_length")? {
        Some(v) if v < 1 => return Err(invalid(op, format!("dft_length {v} must be ≥ 1"))),
        Some(v) => usize::try_from(v).map_err(|_| invalid(op, "dft_length too large"))?,
        None if irfft => 2 * n_in.saturating_sub(1),
        None => n_in,
    };
    if n == 0 {
        return Err(invalid(op, "transform length is 0"));
    }
    if n > MAX_DFT_LEN {
        return Err(unsupported(
            op,
            format!("transform length {n} exceeds {MAX_DFT_LEN}"),
        ));
    }
    let complex = shape[r - 1] == 2;
    let (out_len, out_c) = match (d.inverse, d.onesided) {
        (true, true) => (n, 1),
        (false, true) => (n / 2 + 1, 2),
        _ => (n, 2),
    };
    let mut out_shape = shape.to_vec();
    out_shape[a] = out_len;
    out_shape[r - 1] = out_c;
    let total = checked_numel(&out_shape)?;
    checked_numel(&[n, 2])?;
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..r - 1].iter().product();
    let xs = x.to_f64_vec();
    let plan = Plan::new(n, d.inverse);
    let scale = if d.inverse { 1.0 / n as f64 } else { 1.0 };
    let c = shape[r - 1];
    let mut y = vec![0f64; total];
    let mut buf = vec![(0.0, 0.0); n];
    // Input samples used: all of them up to n, or for irfft the bins k ≤ n/2.
    let used = if irfft {
        (n / 2 + 1).min(n_in)
    } else {
        n_in.min(n)
    };
    for o in 0..outer {
        for i in 0..inner {
            buf.fill((0.0, 0.0));
            for (j, b) in buf.iter_mut().enumerate().take(used) {
                let base = ((o * n_in + j) * inner + i) * c;
                *b = (xs[base], if complex { xs[base + 1] } else { 0.0 });
            }
            if irfft {
                // Hermitian completion: X[n−k] = conj(X[k]).
                for k in n / 2 + 1..n {
                    let v = buf[n - k];
                    buf[k] = (v.0, -v.1);
                }
            }
            plan.apply(&mut buf);
            for (k, v) in buf.iter().enumerate().take(out_len) {
                let base = ((o * out_len + k) * inner + i) * out_c;
                y[base] = v.0 * scale;
                if out_c == 2 {
                    y[base + 1] = v.1 * scale;
                }
            }
        }
    }
    one(Tensor::from_vec(out_shape, y)?.cast(x.dtype()))
}

fn stft(s: &Stft, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let x = ins.tensor(0)?;
    float_input(op, x)?;
    let (&[batch, len, c], true) = (x.shape(), true) else {
        return Err(invalid(
            op,
            format!(
                "signal must be [batch, length, 1 or 2], got {:?}",
                x.shape()
            ),
        ));
    };
    if !matches!(c, 1 | 2) {
        return Err(invalid(op, "signal's last dim must be 1 or 2"));
    }
    let step =
        scalar_int(ins, 1, "frame_step")?.ok_or_else(|| invalid(op, "frame_step is required"))?;
    let step = usize::try_from(step)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| invalid(op, "frame_step must be positive"))?;
    let window = ins.opt_tensor(2)?.map(|w| w.to_f64_vec());
    let flen = scalar_int(ins, 3, "frame_length")?;
    let l = match (&window, flen) {
        (Some(w), Some(f)) if f != w.len() as i64 => {
            return Err(invalid(op, "frame_length differs from the window length"))
        }
        (Some(w), _) => w.len(),
        (None, Some(f)) => usize::try_from(f)
            .ok()
            .filter(|&f| f > 0)
            .ok_or_else(|| invalid(op, "frame_length must be positive"))?,
        (None, None) => return Err(invalid(op, "needs a window or a frame_length")),
    };
    if l > len {
        return Err(invalid(op, "frame longer than the signal"));
    }
    if l > MAX_DFT_LEN {
        return Err(unsupported(
            op,
            format!("frame length {l} exceeds {MAX_DFT_LEN}"),
        ));
    }
    if s.onesided && c == 2 {
        return Err(invalid(op, "onesided output needs a real signal"));
    }
    let frames = (len - l) / step + 1;
    let bins = if s.onesided { l / 2 + 1 } else { l };
    let out_shape = vec![batch, frames, bins, 2];
    let total = checked_numel(&out_shape)?;
    let xs = x.to_f64_vec();
    let plan = Plan::new(l, false);
    let mut y = vec![0f64; total];
    let mut buf = vec![(0.0, 0.0); l];
    for b in 0..batch {
        for f in 0..frames {
            for (j, v) in buf.iter_mut().enumerate() {
                let base = (b * len + f * step + j) * c;
                let w = window.as_ref().map_or(1.0, |w| w[j]);
                *v = (xs[base] * w, if c == 2 { xs[base + 1] * w } else { 0.0 });
            }
            plan.apply(&mut buf);
            for (k, v) in buf.iter().enumerate().take(bins) {
                let base = ((b * frames + f) * bins + k) * 2;
                y[base] = v.0;
                y[base + 1] = v.1;
            }
        }
    }
    one(Tensor::from_vec(out_shape, y)?.cast(x.dtype()))
}

fn window(w: &WindowFunction, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let size = scalar_int(ins, 0, "size")?.ok_or_else(|| invalid(op, "size is required"))?;
    let size = usize::try_from(size).map_err(|_| invalid(op, "size must be ≥ 0"))?;
    checked_numel(&[size])?;
    let n = if w.periodic {
        size
    } else {
        size.saturating_sub(1)
    } as f64;
    let v: Vec<f64> = (0..size)
        .map(|i| {
            if n == 0.0 {
                return 1.0;
            }
            let t = 2.0 * PI * i as f64 / n;
            match w.kind {
                WindowKind::Hann => 0.5 - 0.5 * t.cos(),
                WindowKind::Hamming => 25.0 / 46.0 - (21.0 / 46.0) * t.cos(),
                WindowKind::Blackman => 0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos(),
            }
        })
        .collect();
    if w.dtype == DType::Bool {
        return Err(invalid(op, "output dtype must be numeric"));
    }
    one(Tensor::from_vec(vec![size], v)?.cast(w.dtype))
}

fn mel(m: &MelWeightMatrix, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let req = |i: usize, what: &str| -> KResult<i64> {
        scalar_int(ins, i, what)?.ok_or_else(|| invalid(op, format!("{what} is required")))
    };
    let mels = usize::try_from(req(0, "num_mel_bins")?)
        .map_err(|_| invalid(op, "num_mel_bins must be ≥ 0"))?;
    let dft_len = req(1, "dft_length")?;
    let rate = req(2, "sample_rate")?;
    if dft_len < 1 || rate < 1 {
        return Err(invalid(op, "dft_length and sample_rate must be positive"));
    }
    let edge = |i: usize| -> KResult<(f64, DType)> {
        let t = ins.tensor(i)?;
        match t.to_f64_vec().as_slice() {
            [v] => Ok((*v, t.dtype())),
            _ => Err(invalid(op, "edge frequencies must be scalars")),
        }
    };
    let ((lo, ld), (hi, _)) = (edge(3)?, edge(4)?);
    let bins = dft_len as usize / 2 + 1;
    let out_shape = vec![bins, mels];
    checked_numel(&out_shape)?;
    // As the ONNX reference computes it: the mel edges and step in the edges' precision,
    // the rest in f64.
    let (lo_mel, step) = if ld == DType::F32 {
        let mel = |f: f64| 2595f32 * (1.0 + f as f32 / 700.0).log10();
        let (a, b) = (mel(lo), mel(hi));
        (a as f64, ((b - a) / (mels + 2) as f32) as f64)
    } else {
        let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
        (mel(lo), (mel(hi) - mel(lo)) / (mels + 2) as f64)
    };
    let fb: Vec<i64> = (0..mels + 2)
        .map(|i| {
            let mel = i as f64 * step + lo_mel;
            let hz = 700.0 * (10f64.powf(mel / 2595.0) - 1.0);
            (((dft_len + 1) as f64 * hz) / rate as f64).floor() as i64
        })
        .collect();
    let mut y = vec![0f64; bins * mels];
    let mut set = |j: i64, i: usize, v: f64| -> KResult<()> {
        let j = usize::try_from(j)
            .ok()
            .filter(|&j| j < bins)
            .ok_or_else(|| invalid(op, "mel band edge outside the spectrum"))?;
        y[j * mels + i] = v;
        Ok(())
    };
    for i in 0..mels {
        let (l, c, h) = (fb[i], fb[i + 1], fb[i + 2]);
        if c == l {
            set(c, i, 1.0)?;
        } else {
            for j in l..=c {
                set(j, i, (j - l) as f64 / (c - l) as f64)?;
            }
        }
        if h > c {
            for j in c..h {
                set(j, i, (h - j) as f64 / (h - c) as f64)?;
            }
        }
    }
    if m.dtype == DType::Bool {
        return Err(invalid(op, "output dtype must be numeric"));
    }
    one(Tensor::from_vec(out_shape, y)?.cast(m.dtype))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[C64], inverse: bool) -> Vec<C64> {
        let n = x.len();
        let s = if inverse { 1.0 } else { -1.0 };
        (0..n)
            .map(|k| {
                x.iter().enumerate().fold((0.0, 0.0), |acc, (j, &v)| {
                    let a = s * 2.0 * PI * ((j * k) % n) as f64 / n as f64;
                    let p = cmul(v, (a.cos(), a.sin()));
                    (acc.0 + p.0, acc.1 + p.1)
                })
            })
            .collect()
    }

    fn run1(op: Op, ins: Vec<Option<Tensor>>) -> Tensor {
        let vals: Vec<Option<tessera_ir::Value>> = ins
            .into_iter()
            .map(|t| t.map(tessera_ir::Value::Tensor))
            .collect();
        let refs: Vec<Option<&tessera_ir::Value>> = vals.iter().map(|v| v.as_ref()).collect();
        let i = Inputs {
            op: "test",
            values: &refs,
        };
        run(&op, &i)
            .unwrap()
            .unwrap()
            .remove(0)
            .and_then(|v| v.into_tensor())
            .unwrap()
    }

    #[test]
    fn rfft_then_irfft_round_trips() {
        // [1, 7, 1] real signal, padded to 8 by dft_length.
        let x: Vec<f32> = vec![1.0, -2.0, 3.5, 0.25, 4.0, -1.0, 2.0];
        let t = Tensor::from_vec(vec![1, 7, 1], x.clone()).unwrap();
        let len = Tensor::scalar(8i64);
        let axis = Tensor::scalar(1i64);
        let fwd = Dft {
            inverse: false,
            onesided: true,
        };
        let y = run1(Op::Dft(fwd), vec![Some(t), Some(len), Some(axis.clone())]);
        assert_eq!(y.shape(), &[1, 5, 2]);
        let yv = y.to_f64_vec();
        // Bin 0 is the sum; bin 4 (Nyquist) the alternating sum.
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        let alt: f64 = x
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 0 { v as f64 } else { -(v as f64) })
            .sum();
        assert!((yv[0] - sum).abs() < 1e-5 && yv[1].abs() < 1e-5);
        assert!((yv[8] - alt).abs() < 1e-5);
        let inv = Dft {
            inverse: true,
            onesided: true,
        };
        let z = run1(Op::Dft(inv), vec![Some(y), None, Some(axis)]);
        assert_eq!(z.shape(), &[1, 8, 1]);
        let zv = z.to_f64_vec();
        for (i, &v) in x.iter().enumerate() {
            assert!((zv[i] - v as f64).abs() < 1e-5, "{i}: {} vs {v}", zv[i]);
        }
        assert!(zv[7].abs() < 1e-5);
    }

    #[test]
    fn stft_frames_match_dft() {
        let sig: Vec<f32> = (0..20).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let t = Tensor::from_vec(vec![1, 20, 1], sig.clone()).unwrap();
        let y = run1(
            Op::Stft(Stft { onesided: true }),
            vec![
                Some(t),
                Some(Tensor::scalar(4i64)),
                None,
                Some(Tensor::scalar(8i64)),
            ],
        );
        assert_eq!(y.shape(), &[1, 4, 5, 2]);
        let yv = y.to_f64_vec();
        // Frame 2 starts at sample 8; its bin 0 is the frame sum.
        let s: f64 = sig[8..16].iter().map(|&v| v as f64).sum();
        assert!((yv[2 * 10] - s).abs() < 1e-5);
    }

    #[test]
    fn windows() {
        let w = |kind, periodic| {
            run1(
                Op::WindowFunction(WindowFunction {
                    kind,
                    periodic,
                    dtype: DType::F64,
                }),
                vec![Some(Tensor::scalar(4i64))],
            )
            .to_f64_vec()
        };
        let h = w(WindowKind::Hann, true);
        assert!((h[0]).abs() < 1e-12 && (h[2] - 1.0).abs() < 1e-12);
        let h = w(WindowKind::Hann, false);
        assert!((h[3]).abs() < 1e-12 && (h[1] - 0.75).abs() < 1e-12);
        let m = w(WindowKind::Hamming, true);
        assert!((m[0] - 4.0 / 46.0).abs() < 1e-12);
        let b = w(WindowKind::Blackman, true);
        assert!((b[2] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fft_plans_match_naive() {
        for &n in &[1usize, 2, 3, 8, 12, 64, 65, 100, 128, 257] {
            for inverse in [false, true] {
                let x: Vec<C64> = (0..n)
                    .map(|i| (((i * 7) % 13) as f64 - 6.0, ((i * 5) % 11) as f64 * 0.5))
                    .collect();
                let mut y = x.clone();
                Plan::new(n, inverse).apply(&mut y);
                let want = naive(&x, inverse);
                for (a, b) in y.iter().zip(&want) {
                    assert!(
                        (a.0 - b.0).abs() < 1e-8 * n as f64 && (a.1 - b.1).abs() < 1e-8 * n as f64,
                        "n={n}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }
}
