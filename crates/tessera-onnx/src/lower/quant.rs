//! Lowering of quantization ops: `QuantizeLinear`, `DequantizeLinear`,
//! `DynamicQuantizeLinear`, `QLinearMatMul`.

use super::{unsupported, LowerError, LowerFn, NodeCtx};
use tessera_ir::op::{
    Cast, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QuantizeLinear,
};
use tessera_ir::{DType, Op};

/// The ops this file lowers.
pub(crate) const OPS: &[(&str, LowerFn)] = &[
    ("QuantizeLinear", quantize),
    ("DequantizeLinear", dequantize),
    ("DynamicQuantizeLinear", dynamic_quantize),
    ("QLinearMatMul", qlinear_matmul),
];

/// The `output_dtype` attribute (0 or absent: none).
fn output_dtype(ctx: &NodeCtx) -> Result<Option<DType>, LowerError> {
    match ctx.int("output_dtype", 0) {
        0 => Ok(None),
        code => crate::tensor::dtype_from_onnx(code as i32)
            .map(Some)
            .map_err(unsupported),
    }
}

/// Negative block sizes are invalid; opsets before 21 have no blocks.
fn block_size(ctx: &NodeCtx) -> Result<usize, LowerError> {
    ctx.usize_attr("block_size", 0)
}

fn quantize(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    ctx.req(0)?;
    ctx.req(1)?;
    let od = output_dtype(ctx)?;
    if let Some(d) = od {
        if !matches!(d, DType::I8 | DType::U8 | DType::I16 | DType::U16) && !d.is_low_precision() {
            return Err(unsupported(format!("QuantizeLinear to {d}")));
        }
    }
    let op = QuantizeLinear {
        axis: ctx.int("axis", 1),
        block_size: block_size(ctx)?,
        output_dtype: od,
        saturate: ctx.int("saturate", 1) != 0,
    };
    let mut ins: Vec<_> = (0..3).map(|i| ctx.input(i)).collect();
    // `precision` (opset 23+): x and the scale are converted to that float type first.
    if let Some(p) = ctx.opt_int("precision").filter(|&p| p != 0) {
        let p = crate::tensor::dtype_from_onnx(p as i32).map_err(unsupported)?;
        if !p.is_float() {
            return Err(unsupported(format!("QuantizeLinear precision {p}")));
        }
        for slot in ins.iter_mut().take(2) {
            if let Some(v) = *slot {
                *slot = Some(ctx.emit_tmp(Op::Cast(Cast::to(p)), vec![Some(v)]));
            }
        }
    }
    ctx.emit(Op::QuantizeLinear(op), ins, vec![ctx.output(0)]);
    Ok(())
}

fn dequantize(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    ctx.req(0)?;
    ctx.req(1)?;
    let op = DequantizeLinear {
        axis: ctx.int("axis", 1),
        block_size: block_size(ctx)?,
    };
    let ins = (0..3).map(|i| ctx.input(i)).collect();
    let scale_dt = ctx
        .input_type(1)
        .and_then(|t| t.as_tensor())
        .map(|t| t.dtype);
    match output_dtype(ctx)? {
        Some(d) if Some(d) != scale_dt => {
            // The result is computed in the scale's dtype, then converted.
            let t = ctx.emit_tmp(Op::DequantizeLinear(op), ins);
            ctx.emit(Op::Cast(Cast::to(d)), vec![Some(t)], vec![ctx.output(0)]);
        }
        _ => ctx.emit(Op::DequantizeLinear(op), ins, vec![ctx.output(0)]),
    }
    Ok(())
}

fn dynamic_quantize(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    ctx.req(0)?;
    ctx.emit_same(Op::DynamicQuantizeLinear(DynamicQuantizeLinear));
    Ok(())
}

fn qlinear_matmul(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    for i in 0..8 {
        ctx.req(i)?;
    }
    ctx.emit_same(Op::QLinearMatMul(QLinearMatMul));
    Ok(())
}
