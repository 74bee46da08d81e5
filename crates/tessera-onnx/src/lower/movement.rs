//! Lowering of data movement and shape operators: `Reshape`, `Transpose`, `Flatten`,
//! `Squeeze`/`Unsqueeze`, `Concat`, `Split`, `Slice`, the gathers and scatters, `Pad`,
//! `Expand`, `Tile`, `Shape`, `Size`, `ConstantOfShape`, `Range`, `OneHot`, `NonZero`,
//! `Trilu`, `ReverseSequence`, `Compress`, `Unique`, `EyeLike` and `CenterCropPad`.
//!
//! Attributes that later opsets turned into inputs (`Reshape` shape, `Squeeze`/`Unsqueeze`
//! axes, `Split` sizes, `Slice` bounds, `Pad` pads and value, `Tile` tiles) become constant
//! inputs, so backends see the newest form only.

use super::{invalid, unsupported, LowerError, LowerFn, NodeCtx};
use tessera_ir::op::*;
use tessera_ir::{DType, Op, Tensor, ValueId};

/// The ops this file lowers.
pub(crate) const OPS: &[(&str, LowerFn)] = &[
    ("Reshape", reshape),
    ("TensorScatter", tensor_scatter),
    ("Transpose", transpose),
    ("Flatten", flatten),
    ("Squeeze", squeeze),
    ("Unsqueeze", unsqueeze),
    ("Concat", concat),
    ("Split", split),
    ("Slice", slice),
    ("Gather", gather),
    ("GatherElements", gather_elements),
    ("GatherND", gather_nd),
    ("Scatter", scatter_elements),
    ("ScatterElements", scatter_elements),
    ("ScatterND", scatter_nd),
    ("Pad", pad),
    ("Expand", expand),
    ("Tile", tile),
    ("Shape", shape),
    ("Size", size),
    ("ConstantOfShape", constant_of_shape),
    ("Range", range),
    ("OneHot", one_hot),
    ("NonZero", nonzero),
    ("Trilu", trilu),
    ("ReverseSequence", reverse_sequence),
    ("Compress", compress),
    ("Unique", unique),
    ("EyeLike", eye_like),
    ("CenterCropPad", center_crop_pad),
];

/// Emits `op(x, extra…)` into output 0.
fn emit1(ctx: &mut NodeCtx, op: Op, inputs: Vec<Option<ValueId>>) {
    let out = ctx.output(0);
    ctx.emit(op, inputs, vec![out]);
}

/// The static rank of input `i`, if known.
fn rank_of(ctx: &NodeCtx, i: usize) -> Option<usize> {
    ctx.input_type(i)
        .and_then(|t| t.as_tensor())
        .and_then(|t| t.rank())
}

fn reshape(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let shape = if ctx.opset < 5 {
        let s = ctx
            .opt_ints("shape")
            .ok_or_else(|| invalid("Reshape (opset < 5) needs the 'shape' attribute"))?;
        ctx.const_i64s(&s)
    } else {
        ctx.req(1)?
    };
    let allowzero = ctx.int("allowzero", 0) != 0;
    emit1(
        ctx,
        Op::Reshape(Reshape { allowzero }),
        vec![Some(x), Some(shape)],
    );
    Ok(())
}

fn transpose(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let perm = ctx.usizes("perm")?;
    let x = ctx.req(0)?;
    emit1(ctx, Op::Transpose(Transpose { perm }), vec![Some(x)]);
    Ok(())
}

fn flatten(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let axis = ctx.int("axis", 1);
    emit1(ctx, Op::Flatten(Flatten { axis }), vec![Some(x)]);
    Ok(())
}

/// The axes of `Squeeze`/`Unsqueeze`: an attribute before opset 13, an input from then on.
fn axes_operand(ctx: &mut NodeCtx) -> Option<ValueId> {
    if ctx.opset < 13 {
        ctx.opt_ints("axes").map(|a| ctx.const_i64s(&a))
    } else {
        ctx.input(1)
    }
}

fn squeeze(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let mut ins = vec![Some(x)];
    if let Some(a) = axes_operand(ctx) {
        ins.push(Some(a));
    }
    emit1(ctx, Op::Squeeze(Squeeze), ins);
    Ok(())
}

fn unsqueeze(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let axes = axes_operand(ctx).ok_or_else(|| invalid("Unsqueeze needs axes"))?;
    emit1(ctx, Op::Unsqueeze(Unsqueeze), vec![Some(x), Some(axes)]);
    Ok(())
}

fn concat(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let axis = if ctx.opset < 4 {
        ctx.int("axis", 1)
    } else {
        ctx.opt_int("axis")
            .ok_or_else(|| invalid("Concat needs the 'axis' attribute"))?
    };
    let ins: Vec<Option<ValueId>> = ctx.inputs.iter().flatten().map(|&v| Some(v)).collect();
    if ins.is_empty() {
        return Err(invalid("Concat needs at least one input"));
    }
    emit1(ctx, Op::Concat(Concat { axis }), ins);
    Ok(())
}

fn split(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let axis = ctx.int("axis", 0);
    let num_outputs = ctx.outputs.len();
    if num_outputs == 0 {
        return Err(invalid("Split needs at least one output"));
    }
    if let Some(n) = ctx.opt_int("num_outputs") {
        if n != num_outputs as i64 {
            return Err(invalid(format!(
                "num_outputs is {n} but the node has {num_outputs} outputs"
            )));
        }
    }
    let sizes = if ctx.opset >= 13 || ctx.input(1).is_some() {
        ctx.input(1)
    } else {
        ctx.opt_ints("split")
            .filter(|s| !s.is_empty())
            .map(|s| ctx.const_i64s(&s))
    };
    let outs = ctx.outputs.clone();
    ctx.emit(
        Op::Split(Split { axis, num_outputs }),
        vec![Some(x), sizes],
        outs,
    );
    Ok(())
}

fn slice(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    if ctx.opset < 10 {
        let starts = ctx
            .opt_ints("starts")
            .ok_or_else(|| invalid("Slice needs 'starts'"))?;
        let ends = ctx
            .opt_ints("ends")
            .ok_or_else(|| invalid("Slice needs 'ends'"))?;
        let s = ctx.const_i64s(&starts);
        let e = ctx.const_i64s(&ends);
        let a = ctx.opt_ints("axes").map(|a| ctx.const_i64s(&a));
        emit1(ctx, Op::Slice(Slice), vec![Some(x), Some(s), Some(e), a]);
    } else {
        let (s, e) = (ctx.req(1)?, ctx.req(2)?);
        emit1(
            ctx,
            Op::Slice(Slice),
            vec![Some(x), Some(s), Some(e), ctx.input(3), ctx.input(4)],
        );
    }
    Ok(())
}

fn gather(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, i) = (ctx.req(0)?, ctx.req(1)?);
    let axis = ctx.int("axis", 0);
    emit1(ctx, Op::Gather(Gather { axis }), vec![Some(x), Some(i)]);
    Ok(())
}

fn gather_elements(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, i) = (ctx.req(0)?, ctx.req(1)?);
    let axis = ctx.int("axis", 0);
    emit1(
        ctx,
        Op::GatherElements(GatherElements { axis }),
        vec![Some(x), Some(i)],
    );
    Ok(())
}

fn gather_nd(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, i) = (ctx.req(0)?, ctx.req(1)?);
    let batch_dims = ctx.usize_attr("batch_dims", 0)?;
    emit1(
        ctx,
        Op::GatherNd(GatherNd { batch_dims }),
        vec![Some(x), Some(i)],
    );
    Ok(())
}

fn reduction(ctx: &NodeCtx) -> Result<ScatterReduction, LowerError> {
    Ok(match ctx.string("reduction", "none").as_str() {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Add,
        "mul" => ScatterReduction::Mul,
        "max" => ScatterReduction::Max,
        "min" => ScatterReduction::Min,
        other => return Err(invalid(format!("unknown reduction '{other}'"))),
    })
}

fn scatter_elements(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, i, u) = (ctx.req(0)?, ctx.req(1)?, ctx.req(2)?);
    let axis = ctx.int("axis", 0);
    let reduction = reduction(ctx)?;
    emit1(
        ctx,
        Op::ScatterElements(ScatterElements { axis, reduction }),
        vec![Some(x), Some(i), Some(u)],
    );
    Ok(())
}

fn tensor_scatter(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (past, update) = (ctx.req(0)?, ctx.req(1)?);
    let circular = match ctx.string("mode", "linear").as_str() {
        "linear" => false,
        "circular" => true,
        m => return Err(invalid(format!("TensorScatter: unknown mode '{m}'"))),
    };
    let axis = ctx.int("axis", -2);
    let idx = ctx.input(2);
    emit1(
        ctx,
        Op::TensorScatter(TensorScatter { axis, circular }),
        vec![Some(past), Some(update), idx],
    );
    Ok(())
}

fn scatter_nd(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, i, u) = (ctx.req(0)?, ctx.req(1)?, ctx.req(2)?);
    let reduction = reduction(ctx)?;
    emit1(
        ctx,
        Op::ScatterNd(ScatterNd { reduction }),
        vec![Some(x), Some(i), Some(u)],
    );
    Ok(())
}

fn pad_mode(ctx: &NodeCtx) -> Result<PadMode, LowerError> {
    Ok(match ctx.string("mode", "constant").as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(invalid(format!("unknown pad mode '{other}'"))),
    })
}

fn pad(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let mode = pad_mode(ctx)?;
    if ctx.opset < 11 {
        let name = if ctx.opset < 2 { "paddings" } else { "pads" };
        let pads = ctx
            .opt_ints(name)
            .ok_or_else(|| invalid(format!("Pad needs the '{name}' attribute")))?;
        let value = ctx.float("value", 0.0);
        let p = ctx.const_i64s(&pads);
        let v = (mode == PadMode::Constant && value != 0.0)
            .then(|| ctx.constant(Tensor::scalar(value)));
        emit1(ctx, Op::Pad(Pad { mode }), vec![Some(x), Some(p), v]);
    } else {
        let p = ctx.req(1)?;
        emit1(
            ctx,
            Op::Pad(Pad { mode }),
            vec![Some(x), Some(p), ctx.input(2), ctx.input(3)],
        );
    }
    Ok(())
}

fn expand(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, s) = (ctx.req(0)?, ctx.req(1)?);
    emit1(ctx, Op::Expand(Expand), vec![Some(x), Some(s)]);
    Ok(())
}

fn tile(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, r) = (ctx.req(0)?, ctx.req(1)?);
    if ctx.opset >= 6 {
        emit1(ctx, Op::Tile(Tile), vec![Some(x), Some(r)]);
        return Ok(());
    }
    // Tile-1: `tiles` copies along the single axis `axis` (both scalar inputs).
    let tiles = ctx.const_input(1).map(|t| t.to_i64_vec());
    let axis = ctx.const_input(2).map(|t| t.to_i64_vec());
    let (Some([tiles]), Some([axis]), Some(rank)) =
        (tiles.as_deref(), axis.as_deref(), rank_of(ctx, 0))
    else {
        return Err(unsupported(
            "Tile (opset < 6) needs constant tiles/axis and a known input rank",
        ));
    };
    let a = tessera_ir::normalize_axis(*axis, rank)
        .ok_or_else(|| invalid(format!("axis {axis} is out of range")))?;
    let mut reps = vec![1i64; rank];
    reps[a] = *tiles;
    let reps = ctx.const_i64s(&reps);
    emit1(ctx, Op::Tile(Tile), vec![Some(x), Some(reps)]);
    Ok(())
}

fn shape(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let start = ctx.int("start", 0);
    let end = ctx.opt_int("end");
    emit1(ctx, Op::ShapeOf(ShapeOf { start, end }), vec![Some(x)]);
    Ok(())
}

fn size(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    emit1(ctx, Op::Size(Size), vec![Some(x)]);
    Ok(())
}

fn constant_of_shape(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let s = ctx.req(0)?;
    let value = match ctx.tensor_attr("value")? {
        Some(t) if t.len() == 1 => t,
        Some(t) => {
            return Err(invalid(format!(
                "value must have one element, found shape {:?}",
                t.shape()
            )))
        }
        None => Tensor::scalar(0.0f32),
    };
    emit1(
        ctx,
        Op::ConstantOfShape(ConstantOfShape { value }),
        vec![Some(s)],
    );
    Ok(())
}

fn range(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (a, b, c) = (ctx.req(0)?, ctx.req(1)?, ctx.req(2)?);
    emit1(ctx, Op::Range(Range), vec![Some(a), Some(b), Some(c)]);
    Ok(())
}

fn one_hot(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (i, d, v) = (ctx.req(0)?, ctx.req(1)?, ctx.req(2)?);
    let axis = ctx.int("axis", -1);
    emit1(
        ctx,
        Op::OneHot(OneHot { axis }),
        vec![Some(i), Some(d), Some(v)],
    );
    Ok(())
}

fn nonzero(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    emit1(ctx, Op::NonZero(NonZero), vec![Some(x)]);
    Ok(())
}

fn trilu(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let upper = ctx.int("upper", 1) != 0;
    emit1(ctx, Op::Trilu(Trilu { upper }), vec![Some(x), ctx.input(1)]);
    Ok(())
}

fn reverse_sequence(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, l) = (ctx.req(0)?, ctx.req(1)?);
    let batch_axis = ctx.usize_attr("batch_axis", 1)?;
    let time_axis = ctx.usize_attr("time_axis", 0)?;
    if batch_axis > 1 || time_axis > 1 || batch_axis == time_axis {
        return Err(invalid(
            "batch_axis and time_axis must be 0 and 1 in some order",
        ));
    }
    emit1(
        ctx,
        Op::ReverseSequence(ReverseSequence {
            batch_axis,
            time_axis,
        }),
        vec![Some(x), Some(l)],
    );
    Ok(())
}

fn compress(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, c) = (ctx.req(0)?, ctx.req(1)?);
    let axis = ctx.opt_int("axis");
    emit1(ctx, Op::Compress(Compress { axis }), vec![Some(x), Some(c)]);
    Ok(())
}

fn unique(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let axis = ctx.opt_int("axis");
    let sorted = ctx.int("sorted", 1) != 0;
    let mut outs = ctx.outputs.clone();
    if outs.len() > 4 {
        return Err(invalid("Unique has at most four outputs"));
    }
    outs.resize(4, None);
    ctx.emit(Op::Unique(Unique { axis, sorted }), vec![Some(x)], outs);
    Ok(())
}

fn eye_like(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let x = ctx.req(0)?;
    let dtype = match ctx.opt_int("dtype") {
        Some(code) => Some(crate::tensor::dtype_from_onnx(code as i32).map_err(unsupported)?),
        None => None,
    };
    let k = ctx.int("k", 0);
    emit1(ctx, Op::EyeLike(EyeLike { dtype, k }), vec![Some(x)]);
    Ok(())
}

/// `CenterCropPad(x, shape)`: a `Pad` with (possibly negative) pads that center-crop or
/// center-pad each listed axis to the requested extent. With a static input shape and a
/// constant target the pads are constants; otherwise they are computed from `Shape(x)` at run
/// time (`diff = shape - dims`, `begin = diff / 2` truncating, `end = diff - begin`).
fn center_crop_pad(ctx: &mut NodeCtx) -> Result<(), LowerError> {
    let (x, s) = (ctx.req(0)?, ctx.req(1)?);
    let rank = rank_of(ctx, 0);
    let axes: Vec<i64> = match ctx.opt_ints("axes") {
        Some(a) => a,
        None => {
            let r = rank.ok_or_else(|| {
                unsupported("CenterCropPad without axes needs a known input rank")
            })?;
            (0..r as i64).collect()
        }
    };
    let dims = ctx
        .input_type(0)
        .and_then(|t| t.as_tensor())
        .and_then(|t| t.concrete());
    let target = ctx.const_input(1).map(|t| t.to_i64_vec());
    let axes_v = ctx.const_i64s(&axes);
    if let (Some(dims), Some(target)) = (dims, target) {
        if target.len() != axes.len() {
            return Err(invalid("shape must have one entry per axis"));
        }
        let (mut begin, mut end) = (vec![], vec![]);
        for (&a, &t) in axes.iter().zip(&target) {
            let a = tessera_ir::normalize_axis(a, dims.len())
                .ok_or_else(|| invalid(format!("axis {a} is out of range")))?;
            if t < 0 {
                return Err(invalid(format!("negative target extent {t}")));
            }
            let diff = t - dims[a] as i64;
            let b = diff / 2;
            begin.push(b);
            end.push(diff - b);
        }
        begin.extend(end);
        let pads = ctx.const_i64s(&begin);
        emit1(
            ctx,
            Op::Pad(Pad {
                mode: PadMode::Constant,
            }),
            vec![Some(x), Some(pads), None, Some(axes_v)],
        );
        return Ok(());
    }
    use tessera_ir::op::{BinaryOp, Cast};
    let shape_is_i64 = ctx
        .input_type(1)
        .and_then(|t| t.as_tensor())
        .is_some_and(|t| t.dtype == DType::I64);
    let target = if shape_is_i64 {
        s
    } else {
        ctx.emit_tmp(Op::Cast(Cast::to(DType::I64)), vec![Some(s)])
    };
    let full = ctx.emit_tmp(
        Op::ShapeOf(ShapeOf {
            start: 0,
            end: None,
        }),
        vec![Some(x)],
    );
    let cur = ctx.emit_tmp(
        Op::Gather(Gather { axis: 0 }),
        vec![Some(full), Some(axes_v)],
    );
    let diff = ctx.emit_tmp(Op::Binary(BinaryOp::Sub), vec![Some(target), Some(cur)]);
    let two = ctx.constant(Tensor::scalar(2i64));
    let begin = ctx.emit_tmp(Op::Binary(BinaryOp::Div), vec![Some(diff), Some(two)]);
    let end = ctx.emit_tmp(Op::Binary(BinaryOp::Sub), vec![Some(diff), Some(begin)]);
    let pads = ctx.emit_tmp(Op::Concat(Concat { axis: 0 }), vec![Some(begin), Some(end)]);
    emit1(
        ctx,
        Op::Pad(Pad {
            mode: PadMode::Constant,
        }),
        vec![Some(x), Some(pads), None, Some(axes_v)],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::pb::{
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto,
    };
    use prost::Message;
    use tessera_ir::op::*;
    use tessera_ir::{Graph, Op, Tensor};

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn float(name: &str, v: f32) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            f: Some(v),
            ..Default::default()
        }
    }

    /// Imports a one-node model whose inputs are initializers `in0`, `in1`, ….
    fn lower(
        op_type: &str,
        opset: i64,
        inputs: &[Tensor],
        nout: usize,
        attribute: Vec<AttributeProto>,
    ) -> Graph {
        let names: Vec<String> = (0..inputs.len()).map(|i| format!("in{i}")).collect();
        let outs: Vec<String> = (0..nout).map(|i| format!("out{i}")).collect();
        let graph = GraphProto {
            name: Some("g".into()),
            node: vec![NodeProto {
                input: names.clone(),
                output: outs.clone(),
                name: Some("n".into()),
                op_type: Some(op_type.into()),
                attribute,
                ..Default::default()
            }],
            initializer: inputs
                .iter()
                .zip(&names)
                .map(|(t, n)| crate::tensor::tensor_to_proto(t, n))
                .collect(),
            output: outs
                .iter()
                .map(|n| ValueInfoProto {
                    name: Some(n.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let m = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(opset),
            }],
            graph: Some(graph),
            ..Default::default()
        };
        crate::load_model_bytes(&m.encode_to_vec(), None)
            .unwrap()
            .graph
    }

    /// The constant contents of input `i` of the last node.
    fn const_in(g: &Graph, i: usize) -> Option<Vec<i64>> {
        let n = g.nodes.last()?;
        g.constant(n.inputs.get(i).copied().flatten()?)
            .map(|t| t.to_i64_vec())
    }

    fn x() -> Tensor {
        Tensor::from_vec(vec![2, 3], vec![0f32; 6]).unwrap()
    }

    #[test]
    fn legacy_attributes_become_inputs() {
        let g = lower("Reshape", 1, &[x()], 1, vec![ints("shape", &[3, 2])]);
        assert!(matches!(g.nodes[0].op, Op::Reshape(_)));
        assert_eq!(const_in(&g, 1), Some(vec![3, 2]));

        let g = lower("Squeeze", 11, &[x()], 1, vec![ints("axes", &[0])]);
        assert_eq!(const_in(&g, 1), Some(vec![0]));
        let g = lower("Squeeze", 11, &[x()], 1, vec![]);
        assert_eq!(g.nodes[0].inputs.len(), 1);
        let g = lower("Unsqueeze", 1, &[x()], 1, vec![ints("axes", &[0, 3])]);
        assert_eq!(const_in(&g, 1), Some(vec![0, 3]));

        let g = lower(
            "Split",
            2,
            &[x()],
            2,
            vec![ints("split", &[1, 2]), ints("axis", &[])],
        );
        assert_eq!(
            g.nodes[0].op,
            Op::Split(Split {
                axis: 0,
                num_outputs: 2
            })
        );
        assert_eq!(const_in(&g, 1), Some(vec![1, 2]));

        let g = lower(
            "Slice",
            1,
            &[x()],
            1,
            vec![ints("starts", &[1]), ints("ends", &[3]), ints("axes", &[1])],
        );
        assert_eq!(const_in(&g, 1), Some(vec![1]));
        assert_eq!(const_in(&g, 2), Some(vec![3]));
        assert_eq!(const_in(&g, 3), Some(vec![1]));

        let g = lower(
            "Pad",
            2,
            &[x()],
            1,
            vec![ints("pads", &[0, 1, 0, 1]), float("value", 2.5)],
        );
        assert_eq!(const_in(&g, 1), Some(vec![0, 1, 0, 1]));
        let n = g.nodes.last().unwrap();
        let v = g.constant(n.inputs[2].unwrap()).unwrap();
        assert_eq!(v.to_f64_vec(), [2.5]);

        let tiles = Tensor::scalar(3i64);
        let axis = Tensor::scalar(-1i64);
        let g = lower("Tile", 1, &[x(), tiles, axis], 1, vec![]);
        assert_eq!(const_in(&g, 1), Some(vec![1, 3]));

        let idx = Tensor::from_vec(vec![1, 1], vec![0i64]).unwrap();
        let up = Tensor::from_vec(vec![1, 1], vec![1f32]).unwrap();
        let g = lower("Scatter", 9, &[x(), idx, up], 1, vec![]);
        assert_eq!(
            g.nodes[0].op,
            Op::ScatterElements(ScatterElements {
                axis: 0,
                reduction: ScatterReduction::None
            })
        );
    }

    #[test]
    fn center_crop_pad_with_static_shapes() {
        let shape = Tensor::from_vec(vec![2], vec![1i64, 6]).unwrap();
        let g = lower("CenterCropPad", 18, &[x(), shape], 1, vec![]);
        let n = g.nodes.last().unwrap();
        assert!(matches!(n.op, Op::Pad(_)));
        // Crop 1 of 2 rows (begin 0, end -1); pad 3 columns (begin 1, end 2).
        assert_eq!(const_in(&g, 1), Some(vec![0, 1, -1, 2]));
        assert_eq!(const_in(&g, 3), Some(vec![0, 1]));
    }
}
