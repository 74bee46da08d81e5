//! Structural tests of the rules and of splicing, with an evaluator that folds nothing (the
//! numeric checks, with the CPU kernels folding and running both forms, live in
//! `tessera-runtime`).

use super::*;
use tessera_ir::op::{BatchNorm, Gemm, LayerNorm, LpNorm, UnaryOp};
use tessera_ir::{DType, Dim, TensorType};

struct NoFold;

impl Evaluator for NoFold {
    fn eval(&self, _: &Op, _: &[Option<&Tensor>]) -> Option<Vec<Option<Tensor>>> {
        None
    }
}

fn f32_ty(dims: &[usize]) -> Option<ValueType> {
    Some(ValueType::Tensor(TensorType::known(DType::F32, dims)))
}

/// A graph `x → node → Relu → y` around one node, returning the graph.
fn around(op: Op, x_ty: Option<ValueType>, params: Vec<Tensor>, outputs: usize) -> Graph {
    let mut g = Graph::new("g");
    let x = g.add_value("x", x_ty);
    g.inputs.push(x);
    let mut ins = vec![Some(x)];
    for (i, t) in params.into_iter().enumerate() {
        ins.push(Some(g.add_constant(format!("p{i}"), t)));
    }
    let outs: Vec<Option<ValueId>> = (0..outputs)
        .map(|i| Some(g.add_value(format!("o{i}"), None)))
        .collect();
    g.add_node("n", op, ins, outs.clone());
    let y = g.add_value("y", None);
    g.add_node(
        "relu",
        Op::Unary(UnaryOp::Relu),
        vec![outs[0]],
        vec![Some(y)],
    );
    g.outputs.push(y);
    for o in outs.iter().skip(1).flatten() {
        g.outputs.push(*o);
    }
    tessera_ir::infer::infer_graph(&mut g).unwrap();
    g
}

fn vec_f32(v: &[f32]) -> Tensor {
    Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap()
}

fn op_names(d: &Decomposition) -> Vec<String> {
    d.nodes().iter().map(|n| n.op.name()).collect()
}

#[test]
fn layer_norm_follows_the_onnx_function_body() {
    let op = Op::LayerNorm(LayerNorm {
        axis: -1,
        epsilon: 1e-5,
    });
    let g = around(
        op,
        f32_ty(&[2, 3]),
        vec![vec_f32(&[1.0, 2.0, 3.0]), vec_f32(&[0.0, 0.0, 1.0])],
        1,
    );
    let d = decompose(&g, 0, &NoFold).unwrap();
    assert_eq!(
        op_names(&d),
        [
            "ReduceMean",
            "Sub",
            "Mul",
            "ReduceMean",
            "Add",
            "Sqrt",
            "Reciprocal",
            "Mul",
            "Mul",
            "Add"
        ]
    );
    assert_eq!(d.op, "LayerNorm");
    assert!(d.nodes().iter().all(|n| !n.op.is_composite()));
}

#[test]
fn splice_keeps_outputs_and_names_nodes_after_the_composite() {
    let op = Op::LayerNorm(LayerNorm {
        axis: 1,
        epsilon: 1e-5,
    });
    // Mean and inverse standard deviation requested too.
    let mut g = around(op, f32_ty(&[2, 3]), vec![vec_f32(&[1.0, 2.0, 3.0])], 3);
    let outs: Vec<ValueId> = g.nodes[0].output_ids().collect();
    let d = decompose(&g, 0, &NoFold).unwrap();
    let names = splice(&mut g, 0, d).unwrap();
    assert_eq!(names.len(), 9, "{names:?}");
    assert_eq!(names[0], "n/0_ReduceMean");
    assert_eq!(names[8], "n/8_Mul");
    tessera_ir::verify(&g).unwrap();
    let producers = g.producers();
    for o in outs {
        let p = producers[&o];
        assert!(g.nodes[p].name.starts_with("n/"), "{}", g.nodes[p].name);
    }
    // The consumer is untouched and still last.
    assert_eq!(g.nodes.last().map(|n| n.name.as_str()), Some("relu"));
    // Statistics are f32 with the normalized axes kept.
    let mean = g.value(g.nodes[0].outputs[0].unwrap()).ty.clone();
    assert_eq!(mean, f32_ty(&[2, 1]));
}

#[test]
fn gemm_emits_only_what_its_attributes_need() {
    let gemm = |alpha, beta, trans_a, trans_b| {
        Op::Gemm(Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        })
    };
    let b = Tensor::from_vec(vec![3, 4], vec![1.0f32; 12]).unwrap();
    let c = vec_f32(&[1.0; 4]);
    let plain = around(
        gemm(1.0, 1.0, false, false),
        f32_ty(&[2, 3]),
        vec![b.clone(), c.clone()],
        1,
    );
    let d = decompose(&plain, 0, &NoFold).unwrap();
    assert_eq!(op_names(&d), ["MatMul", "Add"]);

    let bt = Tensor::from_vec(vec![4, 3], vec![1.0f32; 12]).unwrap();
    let all = around(
        gemm(0.5, 2.0, true, true),
        f32_ty(&[3, 2]),
        vec![bt, c.clone()],
        1,
    );
    let d = decompose(&all, 0, &NoFold).unwrap();
    assert_eq!(
        op_names(&d),
        ["Transpose", "Transpose", "MatMul", "Mul", "Mul", "Add"]
    );

    let no_c = around(gemm(1.0, 0.0, false, false), f32_ty(&[2, 3]), vec![b, c], 1);
    let d = decompose(&no_c, 0, &NoFold).unwrap();
    assert_eq!(op_names(&d), ["MatMul"]);
}

#[test]
fn half_precision_is_computed_in_f32() {
    let op = Op::Unary(UnaryOp::Gelu {
        tanh_approximation: false,
    });
    let g = around(
        op,
        Some(ValueType::Tensor(TensorType::known(DType::F16, &[4]))),
        vec![],
        1,
    );
    let d = decompose(&g, 0, &NoFold).unwrap();
    let names = op_names(&d);
    assert_eq!(names.first().map(String::as_str), Some("Cast"));
    assert_eq!(names.last().map(String::as_str), Some("Cast"));
    assert!(names.contains(&"Erf".to_string()), "{names:?}");
}

#[test]
fn rules_decline_with_a_reason() {
    // Unknown rank: BatchNorm needs it to shape its parameters.
    let bn = Op::BatchNorm(BatchNorm { epsilon: 1e-5 });
    let p = vec_f32(&[1.0, 1.0]);
    let g = around(
        bn,
        Some(ValueType::Tensor(TensorType::unranked(DType::F32))),
        vec![p.clone(), p.clone(), p.clone(), p],
        1,
    );
    let e = decompose(&g, 0, &NoFold).unwrap_err();
    assert!(e.reason.contains("rank"), "{e}");

    // Integers are not normalized.
    let lp = Op::LpNorm(LpNorm { axis: -1, p: 2 });
    let g = around(
        lp,
        Some(ValueType::Tensor(TensorType::known(DType::I32, &[2]))),
        vec![],
        1,
    );
    let e = decompose(&g, 0, &NoFold).unwrap_err();
    assert!(e.reason.contains("float inputs only"), "{e}");

    // A positive axis over an input of unknown rank.
    let ln = Op::LayerNorm(LayerNorm {
        axis: 1,
        epsilon: 1e-5,
    });
    let g = around(
        ln,
        Some(ValueType::Tensor(TensorType::unranked(DType::F32))),
        vec![vec_f32(&[1.0])],
        1,
    );
    let e = decompose(&g, 0, &NoFold).unwrap_err();
    assert!(e.reason.contains("not counted from the end"), "{e}");

    // No rule.
    let mut g = around(Op::Unary(UnaryOp::Relu), f32_ty(&[2]), vec![], 1);
    assert!(!has_rule(&g.nodes[0].op));
    let e = decompose(&g, 0, &NoFold).unwrap_err();
    assert!(e.reason.contains("no rule decomposes Relu"), "{e}");
    g.nodes.clear();
    assert!(decompose(&g, 0, &NoFold).is_err());
}

#[test]
fn a_symbolic_batch_is_fine_and_negative_axes_need_no_rank() {
    let ln = Op::LayerNorm(LayerNorm {
        axis: -1,
        epsilon: 1e-5,
    });
    let ty = ValueType::Tensor(TensorType {
        dtype: DType::F32,
        shape: Some(vec![Dim::Sym("batch".into()), Dim::Known(3)]),
    });
    let g = around(ln.clone(), Some(ty), vec![vec_f32(&[1.0, 1.0, 1.0])], 1);
    assert!(decompose(&g, 0, &NoFold).is_ok());
    let g = around(
        ln,
        Some(ValueType::Tensor(TensorType::unranked(DType::F32))),
        vec![vec_f32(&[1.0, 1.0, 1.0])],
        1,
    );
    assert!(decompose(&g, 0, &NoFold).is_ok());
}

#[test]
fn splice_refuses_a_stale_decomposition() {
    let op = Op::Unary(UnaryOp::Gelu {
        tanh_approximation: true,
    });
    let mut g = around(op, f32_ty(&[4]), vec![], 1);
    let d = decompose(&g, 0, &NoFold).unwrap();
    let e = splice(&mut g, 1, d).unwrap_err();
    assert!(e.to_string().contains("not at index 1"), "{e}");
    // The graph is untouched.
    assert_eq!(g.nodes.len(), 2);
    assert_eq!(g.nodes[1].op, Op::Unary(UnaryOp::Relu), "{:?}", g.nodes[1]);
}
