//! Quantization kernels: `QuantizeLinear`, `DequantizeLinear`, `DynamicQuantizeLinear`,
//! `QLinearMatMul`.

use super::matmul::{centered, matmul_flat, plan_matmul};
use super::util::axis as norm_axis;
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use tessera_ir::half::{bf16, f16};
use tessera_ir::op::{DequantizeLinear, QuantizeLinear};
use tessera_ir::{dispatch_dtype, DType, Element, Op, Tensor, Value};

/// Runs the ops of this family.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::QuantizeLinear(q) => quantize(q, ins),
        Op::DequantizeLinear(d) => dequantize(d, ins),
        Op::DynamicQuantizeLinear(_) => dynamic_quantize(ins),
        Op::QLinearMatMul(_) => qlinear_matmul(ins),
        _ => return None,
    })
}

/// True for the ops of this family.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::DynamicQuantizeLinear(_)
            | Op::QLinearMatMul(_)
    )
}

/// The saturation range of a quantized dtype.
fn qrange(op: &str, d: DType) -> KResult<(f64, f64)> {
    Ok(match d {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::I4 => (-8.0, 7.0),
        DType::U4 => (0.0, 15.0),
        DType::I2 => (-2.0, 1.0),
        DType::U2 => (0.0, 3.0),
        d => return Err(unsupported(op, format!("quantized dtype {d}"))),
    })
}

/// For every element of a tensor of `shape`, the index of its scale / zero point of shape
/// `pshape`: per tensor (one element), per axis (`[shape[axis]]`), or blocked (same rank,
/// `⌈shape[axis] / block⌉` along `axis`).
fn param_index(
    op: &str,
    shape: &[usize],
    pshape: &[usize],
    axis: i64,
    block: usize,
) -> KResult<Vec<usize>> {
    let n: usize = shape.iter().product();
    let pn: usize = pshape.iter().product();
    if block == 0 && pn == 1 && pshape.len() <= 1 {
        return Ok(vec![0; n]);
    }
    let a = norm_axis(op, axis, shape.len())?;
    let (outer, d, inner) = super::util::outer_axis_inner(shape, a);
    let bad = || {
        invalid(
            op,
            format!(
                "scale of shape {pshape:?} does not fit input {shape:?} (axis {axis}, block {block})"
            ),
        )
    };
    let mut out = Vec::with_capacity(n);
    if block == 0 {
        if pshape != [d] {
            return Err(bad());
        }
        for _ in 0..outer {
            for j in 0..d {
                out.extend(std::iter::repeat_n(j, inner));
            }
        }
    } else {
        let nb = d.div_ceil(block);
        let ok = pshape.len() == shape.len()
            && pshape
                .iter()
                .zip(shape)
                .enumerate()
                .all(|(i, (&p, &s))| if i == a { p == nb } else { p == s });
        if !ok {
            return Err(bad());
        }
        for o in 0..outer {
            for j in 0..d {
                let base = (o * nb + j / block) * inner;
                out.extend(base..base + inner);
            }
        }
    }
    Ok(out)
}

fn round_to<T: Element>(v: f64) -> f64 {
    T::from_f64(v).to_f64()
}

fn to_dtype(shape: &[usize], od: DType, vals: impl Iterator<Item = f64>) -> KResult<Tensor> {
    Ok(dispatch_dtype!(od, T => Tensor::from_vec(
        shape.to_vec(),
        vals.map(T::from_f64).collect::<Vec<T>>(),
    )?))
}

fn quantize(q: &QuantizeLinear, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let (x, scale) = (ins.tensor(0)?, ins.tensor(1)?);
    let zp = ins.opt_tensor(2)?;
    let od = match (zp, q.output_dtype) {
        (Some(z), Some(d)) if z.dtype() != d => {
            return Err(invalid(op, "zero point dtype differs from output_dtype"))
        }
        (Some(z), _) => z.dtype(),
        (None, Some(d)) => d,
        (None, None) => DType::U8,
    };
    let float_out = od.is_low_precision_float() && od != DType::F8E8M0;
    let (lo, hi) = if float_out {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        qrange(op, od)?
    };
    let pidx = param_index(op, x.shape(), scale.shape(), q.axis, q.block_size)?;
    if let Some(z) = zp {
        if z.shape() != scale.shape() && !(z.len() == 1 && scale.len() == 1) {
            return Err(invalid(op, "zero point and scale shapes differ"));
        }
    }
    let s = scale.to_f64_vec();
    let z = zp.map(|z| z.to_f64_vec());
    let xs = x.to_f64_vec();
    // The division happens in the input's precision, as the reference computes it.
    let div: fn(f64, f64) -> f64 = match x.dtype() {
        DType::F32 => |a, b| (a as f32 / b as f32) as f64,
        DType::F16 => |a, b| round_to::<f16>((a as f32 / b as f32) as f64),
        DType::BF16 => |a, b| round_to::<bf16>((a as f32 / b as f32) as f64),
        DType::F64 | DType::I32 => |a, b| a / b,
        d => return Err(unsupported(op, format!("input dtype {d}"))),
    };
    if float_out {
        let bytes: Vec<u8> = xs
            .iter()
            .zip(&pidx)
            .map(|(&v, &p)| {
                let r = div(v, s[p]) + z.as_ref().map_or(0.0, |z| z[p]);
                let r = if x.dtype() == DType::F32 {
                    r as f32 as f64
                } else {
                    r
                };
                tessera_ir::lowp::encode_bits(od, r, q.saturate, tessera_ir::RoundMode::Up)
                    .unwrap_or(0)
            })
            .collect();
        return one(Tensor::from_le_bytes(od, x.shape().to_vec(), &bytes)?);
    }
    let vals = xs.iter().zip(&pidx).map(|(&v, &p)| {
        let r = div(v, s[p]).round_ties_even() + z.as_ref().map_or(0.0, |z| z[p]);
        if r.is_nan() {
            0.0
        } else {
            r.clamp(lo, hi)
        }
    });
    one(to_dtype(x.shape(), od, vals)?)
}

fn dequantize(d: &DequantizeLinear, ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let (x, scale) = (ins.tensor(0)?, ins.tensor(1)?);
    let zp = ins.opt_tensor(2)?;
    let lowp_float = x.dtype().is_low_precision_float();
    if !matches!(
        x.dtype(),
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32
    ) && !x.dtype().is_low_precision()
    {
        return Err(unsupported(op, format!("input dtype {}", x.dtype())));
    }
    if let Some(z) = zp {
        if z.dtype() != x.dtype() {
            return Err(invalid(op, "zero point dtype differs from the input's"));
        }
        if z.shape() != scale.shape() && !(z.len() == 1 && scale.len() == 1) {
            return Err(invalid(op, "zero point and scale shapes differ"));
        }
    }
    let pidx = param_index(op, x.shape(), scale.shape(), d.axis, d.block_size)?;
    let s = scale.to_f64_vec();
    let sd = scale.dtype();
    if lowp_float {
        // Float codes decode exactly; the zero point (0 per the spec) is subtracted in f64.
        let z = zp.map(|z| z.to_f64_vec());
        let xs = x.to_f64_vec();
        let vals = xs.iter().zip(&pidx).map(|(&v, &p)| {
            let c = v - z.as_ref().map_or(0.0, |z| z[p]);
            match sd {
                DType::F64 => c * s[p],
                _ => (c as f32 * s[p] as f32) as f64,
            }
        });
        return match sd {
            DType::F32 | DType::F16 | DType::BF16 | DType::F64 => {
                one(to_dtype(x.shape(), sd, vals)?)
            }
            d => Err(unsupported(op, format!("scale dtype {d}"))),
        };
    }
    let z = zp.map(|z| z.to_i64_vec());
    let xs = x.to_i64_vec();
    let centered = xs
        .iter()
        .zip(&pidx)
        .map(|(&v, &p)| (v - z.as_ref().map_or(0, |z| z[p]), s[p]));
    let t = match sd {
        // Computed in f32, then rounded to the scale's dtype.
        DType::F32 | DType::F16 | DType::BF16 => to_dtype(
            x.shape(),
            sd,
            centered.map(|(c, s)| (c as f32 * s as f32) as f64),
        )?,
        DType::F64 => to_dtype(x.shape(), sd, centered.map(|(c, s)| c as f64 * s))?,
        d => return Err(unsupported(op, format!("scale dtype {d}"))),
    };
    one(t)
}

fn dynamic_quantize(ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let x = ins.tensor(0)?;
    let xs: &[f32] = match x.dtype() {
        DType::F32 => x.as_slice::<f32>()?,
        d => return Err(unsupported(op, format!("input dtype {d}"))),
    };
    let (mut lo, mut hi) = (0f32, 0f32);
    for &v in xs {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let scale = (hi - lo) / 255.0;
    let (zp, y): (u8, Vec<u8>) = if scale == 0.0 || !scale.is_finite() {
        (0, vec![0; xs.len()])
    } else {
        let zp = (0.0 - lo / scale).round_ties_even().clamp(0.0, 255.0);
        let y = xs
            .iter()
            .map(|&v| {
                let r = (v / scale).round_ties_even() + zp;
                if r.is_nan() {
                    0
                } else {
                    r.clamp(0.0, 255.0) as u8
                }
            })
            .collect();
        (zp as u8, y)
    };
    Ok(vec![
        Some(Value::Tensor(Tensor::from_vec(x.shape().to_vec(), y)?)),
        Some(Value::Tensor(Tensor::scalar(scale))),
        Some(Value::Tensor(Tensor::scalar(zp))),
    ])
}

fn qlinear_matmul(ins: &Inputs) -> KResult<Outputs> {
    let op = ins.op;
    let a = ins.tensor(0)?;
    let a_s = ins.tensor(1)?;
    let a_zp = ins.opt_tensor(2)?;
    let b = ins.tensor(3)?;
    let b_s = ins.tensor(4)?;
    let b_zp = ins.opt_tensor(5)?;
    let y_s = ins.tensor(6)?;
    let y_zp = ins.opt_tensor(7)?;
    let od = y_zp.map_or(a.dtype(), |z| z.dtype());
    qrange(op, od)?;
    let p = plan_matmul(op, a.shape(), b.shape())?;
    let ac = centered(op, a, a_zp, true)?;
    let bc = centered(op, b, b_zp, false)?;
    let acc = matmul_flat(op, &p, &ac, &bc)?;
    let (sa, sb, sy) = (a_s.to_f64_vec(), b_s.to_f64_vec(), y_s.to_f64_vec());
    let zy = y_zp.map_or(0.0, |z| z.to_f64_vec().first().copied().unwrap_or(0.0));
    let (Some(&sy), true) = (sy.first(), sy.len() == 1) else {
        return Err(invalid(op, "y_scale must be a scalar"));
    };
    let (m, n) = (p.m, p.n);
    if (sa.len() != 1 && sa.len() != m) || (sb.len() != 1 && sb.len() != n) {
        return Err(invalid(
            op,
            "a_scale / b_scale must be scalars or per-row / per-column vectors",
        ));
    }
    // The rescale factor is formed in the scales' precision.
    let scale_dt = a_s.dtype();
    let mult = |i: usize, j: usize| -> f64 {
        let x = sa[if sa.len() == 1 { 0 } else { i }] * sb[if sb.len() == 1 { 0 } else { j }];
        match scale_dt {
            DType::F16 => round_to::<f16>(round_to::<f16>(x) / sy),
            DType::BF16 => round_to::<bf16>(round_to::<bf16>(x) / sy),
            DType::F32 => ((x as f32) / sy as f32) as f64,
            _ => x / sy,
        }
    };
    let vals = acc.iter().enumerate().map(|(idx, &v)| {
        let (i, j) = ((idx / n.max(1)) % m.max(1), idx % n.max(1));
        // Rounded, then converted with wrap-around like the ONNX reference (which casts
        // without clipping); in-range results are unaffected.
        let r = (v as f64 * mult(i, j)).round_ties_even() + zy;
        if r.is_nan() {
            0.0
        } else {
            r
        }
    });
    one(to_dtype(&p.out_shape, od, vals)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run1(op: Op, ins: Vec<Option<Tensor>>) -> Vec<Tensor> {
        let vals: Vec<Option<Value>> = ins.into_iter().map(|t| t.map(Value::Tensor)).collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        let i = Inputs {
            op: "test",
            values: &refs,
        };
        run(&op, &i)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|v| v.and_then(|v| v.into_tensor()).unwrap())
            .collect()
    }

    #[test]
    fn quantize_rounds_half_even_and_saturates() {
        let x = Tensor::from_vec(vec![6], vec![0.5f32, 1.5, 2.5, -0.5, 1000.0, -1000.0]).unwrap();
        let s = Tensor::scalar(1.0f32);
        let z = Tensor::scalar(0i8);
        let q = QuantizeLinear {
            axis: 1,
            block_size: 0,
            output_dtype: None,
            saturate: true,
        };
        let y = run1(Op::QuantizeLinear(q), vec![Some(x), Some(s), Some(z)]);
        assert_eq!(y[0].to_i64_vec(), vec![0, 2, 2, 0, 127, -128]);
    }

    #[test]
    fn blocked_dequantize() {
        let x = Tensor::from_vec(vec![2, 4], vec![1u8, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let s = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let d = DequantizeLinear {
            axis: 1,
            block_size: 2,
        };
        let y = run1(Op::DequantizeLinear(d), vec![Some(x), Some(s), None]);
        assert_eq!(
            y[0].to_f64_vec(),
            vec![1.0, 2.0, 6.0, 8.0, 15.0, 18.0, 28.0, 32.0]
        );
    }

    #[test]
    fn dynamic_quantize_range() {
        let x = Tensor::from_vec(vec![3], vec![0.0f32, 2.0, -0.55]).unwrap();
        let y = run1(
            Op::DynamicQuantizeLinear(tessera_ir::op::DynamicQuantizeLinear),
            vec![Some(x)],
        );
        let s = y[1].to_f64_vec()[0];
        assert!((s - 2.55 / 255.0).abs() < 1e-6);
        assert_eq!(y[2].to_i64_vec(), vec![55]);
    }
}
