//! Lowering of constants, identity-like ops and elementwise ops (unary, binary, variadic,
//! `Where`, `Clip`, `Cast`, `CastLike`, `Dropout` in inference mode).

use super::{invalid, unsupported, LowerError, LowerFn, NodeCtx};
use tessera_ir::op::{BinaryOp, Cast, Clip, Identity, UnaryOp, Where};
use tessera_ir::{DType, Op, Tensor};

/// The ops this file lowers.
pub(crate) const OPS: &[(&str, LowerFn)] = &[
    ("Constant", constant),
    ("Identity", identity),
    ("Abs", unary),
    ("Neg", unary),
    ("Sign", unary),
    ("Floor", unary),
    ("Ceil", unary),
    ("Round", unary),
    ("Exp", unary),
    ("Log", unary),
    ("Sqrt", unary),
    ("Reciprocal", unary),
    ("Sin", unary),
    ("Cos", unary),
    ("Tan", unary),
    ("Asin", unary),
    ("Acos", unary),
    ("Atan", unary),
    ("Sinh", unary),
    ("Cosh", unary),
    ("Tanh", unary),
    ("Asinh", unary),
    ("Acosh", unary),
    ("Atanh", unary),
    ("Erf", unary),
    ("Sigmoid", unary),
    ("Relu", unary),
    ("Softplus", unary),
    ("Softsign", unary),
    ("Mish", unary),
    ("HardSwish", unary),
    ("Not", unary),
    ("BitwiseNot", unary),
    ("IsNaN", unary),
    ("IsInf", unary),
    ("LeakyRelu", unary),
    ("Elu", unary),
    ("Selu", unary),
    ("Celu", unary),
    ("HardSigmoid", unary),
    ("ThresholdedRelu", unary),
    ("Shrink", unary),
    ("Swish", unary),
    ("Gelu", unary),
    ("Add", binary),
    ("Sub", binary),
    ("Mul", binary),
    ("Div", binary),
    ("Pow", binary),
    ("Mod", binary),
    ("And", binary),
    ("Or", binary),
    ("Xor", binary),
    ("Equal", binary),
    ("Less", binary),
    ("LessOrEqual", binary),
    ("Greater", binary),
    ("GreaterOrEqual", binary),
    ("BitShift", binary),
    ("BitwiseAnd", binary),
    ("BitwiseOr", binary),
    ("BitwiseXor", binary),
    ("PRelu", binary),
    ("Sum", variadic),
    ("Mean", variadic),
    ("Max", variadic),
    ("Min", variadic),
    ("Where", where_),
    ("Clip", clip),
    ("Cast", cast),
    ("BitCast", bitcast),
    ("CastLike", cast_like),
    ("Dropout", dropout),
];

fn constant(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let out = ctx
        .output(0)
        .ok_or_else(|| invalid("Constant without an output"))?;
    let t = if let Some(t) = ctx.tensor_attr("value")? {
        t
    } else if let Some(v) = ctx.opt_float("value_float") {
        Tensor::scalar(v)
    } else if let Some(v) = ctx.opt_int("value_int") {
        Tensor::scalar(v)
    } else if let Some(a) = ctx.attr("value_floats") {
        Tensor::from_vec(vec![a.floats.len()], a.floats.clone())
            .map_err(|e| invalid(e.to_string()))?
    } else if let Some(a) = ctx.attr("value_ints") {
        Tensor::from_vec(vec![a.ints.len()], a.ints.clone()).map_err(|e| invalid(e.to_string()))?
    } else if ctx.attr("sparse_value").is_some() {
        return Err(unsupported("sparse constants are not supported"));
    } else if ctx.attr("value_string").is_some() || ctx.attr("value_strings").is_some() {
        return Err(unsupported("string tensors are not supported"));
    } else {
        return Err(invalid("Constant has no value attribute"));
    };
    let g = ctx.graph_mut();
    g.values[out.0].ty = Some(tessera_ir::ValueType::Tensor(
        tessera_ir::TensorType::known(t.dtype(), t.shape()),
    ));
    g.constants.insert(out, t);
    Ok(())
}

fn identity(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    ctx.emit_same(Op::Identity(Identity));
    Ok(())
}

fn unary(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    use UnaryOp::*;
    let op = match ctx.node.op_type() {
        "Abs" => Abs,
        "Neg" => Neg,
        "Sign" => Sign,
        "Floor" => Floor,
        "Ceil" => Ceil,
        "Round" => Round,
        "Exp" => Exp,
        "Log" => Log,
        "Sqrt" => Sqrt,
        "Reciprocal" => Reciprocal,
        "Sin" => Sin,
        "Cos" => Cos,
        "Tan" => Tan,
        "Asin" => Asin,
        "Acos" => Acos,
        "Atan" => Atan,
        "Sinh" => Sinh,
        "Cosh" => Cosh,
        "Tanh" => Tanh,
        "Asinh" => Asinh,
        "Acosh" => Acosh,
        "Atanh" => Atanh,
        "Erf" => Erf,
        "Sigmoid" => Sigmoid,
        "Relu" => Relu,
        "Softplus" => Softplus,
        "Softsign" => Softsign,
        "Mish" => Mish,
        "HardSwish" => HardSwish,
        "Not" => Not,
        "BitwiseNot" => BitwiseNot,
        "IsNaN" => IsNaN,
        "IsInf" => IsInf {
            detect_negative: ctx.int("detect_negative", 1) != 0,
            detect_positive: ctx.int("detect_positive", 1) != 0,
        },
        "LeakyRelu" => LeakyRelu {
            alpha: ctx.float("alpha", 0.01),
        },
        "Elu" => Elu {
            alpha: ctx.float("alpha", 1.0),
        },
        "Selu" => Selu {
            alpha: ctx.float("alpha", 1.673_263_2),
            gamma: ctx.float("gamma", 1.050_701),
        },
        "Celu" => Celu {
            alpha: ctx.float("alpha", 1.0),
        },
        "HardSigmoid" => HardSigmoid {
            alpha: ctx.float("alpha", 0.2),
            beta: ctx.float("beta", 0.5),
        },
        "ThresholdedRelu" => ThresholdedRelu {
            alpha: ctx.float("alpha", 1.0),
        },
        "Shrink" => Shrink {
            bias: ctx.float("bias", 0.0),
            lambd: ctx.float("lambd", 0.5),
        },
        "Swish" => Swish {
            alpha: ctx.float("alpha", 1.0),
        },
        "Gelu" => Gelu {
            tanh_approximation: match ctx.string("approximate", "none").as_str() {
                "none" => false,
                "tanh" => true,
                other => return Err(invalid(format!("unknown approximate='{other}'"))),
            },
        },
        other => return Err(unsupported(format!("unknown unary op {other}"))),
    };
    ctx.req(0)?;
    ctx.emit(Op::Unary(op), vec![ctx.input(0)], vec![ctx.output(0)]);
    Ok(())
}

fn binary(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    use BinaryOp::*;
    let op = match ctx.node.op_type() {
        "Add" => Add,
        "Sub" => Sub,
        "Mul" => Mul,
        "Div" => Div,
        "Pow" => Pow,
        "Mod" => {
            if ctx.int("fmod", 0) != 0 {
                Fmod
            } else {
                Mod
            }
        }
        "And" => And,
        "Or" => Or,
        "Xor" => Xor,
        "Equal" => Equal,
        "Less" => Less,
        "LessOrEqual" => LessOrEqual,
        "Greater" => Greater,
        "GreaterOrEqual" => GreaterOrEqual,
        "BitShift" => match ctx.string("direction", "").as_str() {
            "LEFT" => BitShiftLeft,
            "RIGHT" => BitShiftRight,
            other => {
                return Err(invalid(format!(
                    "BitShift direction must be LEFT or RIGHT, got '{other}'"
                )))
            }
        },
        "BitwiseAnd" => BitwiseAnd,
        "BitwiseOr" => BitwiseOr,
        "BitwiseXor" => BitwiseXor,
        "PRelu" => PRelu,
        other => return Err(unsupported(format!("unknown binary op {other}"))),
    };
    let (a, b) = (ctx.req(0)?, ctx.req(1)?);
    if ctx.opset < 7 && matches!(op, Add | Sub | Mul | Div) && ctx.opt_int("broadcast").is_some() {
        return Err(unsupported("legacy (opset < 7) broadcast attribute"));
    }
    ctx.emit(Op::Binary(op), vec![Some(a), Some(b)], vec![ctx.output(0)]);
    Ok(())
}

/// `Sum`/`Mean`/`Max`/`Min` over N inputs: a left fold of the binary op (Mean divides by N).
fn variadic(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let op = match ctx.node.op_type() {
        "Sum" | "Mean" => BinaryOp::Add,
        "Max" => BinaryOp::Max,
        _ => BinaryOp::Min,
    };
    let ins: Vec<_> = ctx.inputs.iter().flatten().copied().collect();
    let Some(&first) = ins.first() else {
        return Err(invalid("needs at least one input"));
    };
    let out = ctx.output(0);
    let mean = ctx.node.op_type() == "Mean";
    if ins.len() == 1 && !mean {
        ctx.emit(Op::Identity(Identity), vec![Some(first)], vec![out]);
        return Ok(());
    }
    let mut acc = first;
    for (k, &x) in ins.iter().enumerate().skip(1) {
        let last = k + 1 == ins.len() && !mean;
        if last {
            ctx.emit(Op::Binary(op), vec![Some(acc), Some(x)], vec![out]);
        } else {
            acc = ctx.emit_tmp(Op::Binary(op), vec![Some(acc), Some(x)]);
        }
    }
    if mean {
        let dt = ctx
            .input_type(0)
            .and_then(|t| t.as_tensor())
            .map(|t| t.dtype)
            .ok_or_else(|| unsupported("Mean needs the input dtype to be known"))?;
        let n = Tensor::scalar(ins.len() as f64).cast(dt);
        let n = ctx.constant(n);
        ctx.emit(
            Op::Binary(BinaryOp::Div),
            vec![Some(acc), Some(n)],
            vec![out],
        );
    }
    Ok(())
}

fn where_(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    ctx.emit_same(Op::Where(Where));
    Ok(())
}

fn clip(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    if ctx.opset < 11 {
        // min/max were attributes (defaulting to the float range).
        let lo = ctx.float("min", f32::MIN);
        let hi = ctx.float("max", f32::MAX);
        let dt = ctx
            .input_type(0)
            .and_then(|t| t.as_tensor())
            .map_or(DType::F32, |t| t.dtype);
        let lo = ctx.constant(Tensor::scalar(lo as f64).cast(dt));
        let hi = ctx.constant(Tensor::scalar(hi as f64).cast(dt));
        ctx.emit(
            Op::Clip(Clip),
            vec![Some(x), Some(lo), Some(hi)],
            vec![ctx.output(0)],
        );
    } else {
        ctx.emit_same(Op::Clip(Clip));
    }
    Ok(())
}

fn cast(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let code = ctx
        .opt_int("to")
        .ok_or_else(|| invalid("Cast needs the 'to' attribute"))?;
    let to = crate::tensor::dtype_from_onnx(code as i32).map_err(unsupported)?;
    ctx.req(0)?;
    let op = cast_op(ctx, to)?;
    ctx.emit(Op::Cast(op), vec![ctx.input(0)], vec![ctx.output(0)]);
    Ok(())
}

/// The `saturate` (opset 19+) and `round_mode` (opset 24+) attributes of `Cast`/`CastLike`.
fn cast_op(ctx: &NodeCtx, to: DType) -> Result<Cast, LowerError> {
    let mut op = Cast::to(to);
    op.saturate = ctx.int("saturate", 1) != 0;
    if ctx.attr("round_mode").is_some() {
        let s = ctx.string("round_mode", "up");
        op.round_mode = tessera_ir::RoundMode::from_name(&s)
            .ok_or_else(|| invalid(format!("unknown round_mode '{s}'")))?;
    }
    Ok(op)
}

/// `BitCast` (opset 26): reinterprets the bytes of each element as another dtype of the same width.
fn bitcast(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let code = ctx
        .opt_int("to")
        .ok_or_else(|| invalid("BitCast needs the 'to' attribute"))?;
    let to = crate::tensor::dtype_from_onnx(code as i32).map_err(unsupported)?;
    ctx.req(0)?;
    ctx.emit(
        Op::BitCast(tessera_ir::op::BitCast { to }),
        vec![ctx.input(0)],
        vec![ctx.output(0)],
    );
    Ok(())
}

fn cast_like(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let to = ctx
        .input_type(1)
        .and_then(|t| t.as_tensor())
        .map(|t| t.dtype)
        .ok_or_else(|| unsupported("CastLike needs the dtype of its second input to be known"))?;
    ctx.req(0)?;
    let op = cast_op(ctx, to)?;
    ctx.emit(Op::Cast(op), vec![ctx.input(0)], vec![ctx.output(0)]);
    Ok(())
}

/// Inference-mode `Dropout`: identity; the optional mask output is all true.
fn dropout(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    if ctx.opset >= 12 {
        if let Some(t) = ctx.const_input(2) {
            if t.to_i64_vec().first().copied().unwrap_or(0) != 0 {
                return Err(unsupported("Dropout in training mode is not supported"));
            }
        } else if ctx.input(2).is_some() {
            return Err(unsupported(
                "Dropout with a run-time training_mode input is not supported",
            ));
        }
    } else if ctx.int("is_test", 1) == 0 && ctx.opset < 7 {
        return Err(unsupported("Dropout in training mode is not supported"));
    }
    ctx.alias_output(0, x);
    if let Some(mask) = ctx.output(1) {
        use tessera_ir::op::{ConstantOfShape, ShapeOf};
        let shape = ctx.emit_tmp(
            Op::ShapeOf(ShapeOf {
                start: 0,
                end: None,
            }),
            vec![Some(x)],
        );
        ctx.emit(
            Op::ConstantOfShape(ConstantOfShape {
                value: Tensor::from_vec(vec![1], vec![true]).map_err(|e| invalid(e.to_string()))?,
            }),
            vec![Some(shape)],
            vec![Some(mask)],
        );
    }
    Ok(())
}
