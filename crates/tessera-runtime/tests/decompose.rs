//! Composite ops and the devices that lack them: decomposed onto a virtual NPU that has the
//! primitives, kept fused on the CPU (with the reason) where it lacks one, never split between
//! devices, never touched on the CPU alone; and every rule's output against the fused CPU
//! kernel's.

use tessera_ir::op::{
    BatchNorm, Conv, Gemm, GroupNorm, InstanceNorm, LayerNorm, LpNorm, RmsNorm, UnaryOp, Window,
};
use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueId, ValueType};
use tessera_runtime::{DecomposePolicy, Session, SessionOptions};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), values(n, seed)).unwrap()
}

fn ty(dtype: DType, shape: &[usize]) -> Option<ValueType> {
    Some(ValueType::Tensor(TensorType::known(dtype, shape)))
}

/// x[1,3,8,8] → Conv(4 filters, pad 1) → BatchNorm (constant parameters) → Relu → y.
fn conv_bn_relu() -> Graph {
    let mut g = Graph::new("conv_bn_relu");
    let x = g.add_value("x", ty(DType::F32, &[1, 3, 8, 8]));
    g.inputs.push(x);
    let w = g.add_constant("w", tensor(&[4, 3, 3, 3], 1));
    let b = g.add_constant("b", tensor(&[4], 2));
    let c = g.add_value("c", None);
    g.add_node(
        "conv",
        Op::Conv(Conv {
            window: Window {
                pads: vec![1, 1, 1, 1],
                ..Window::default()
            },
            group: 1,
        }),
        vec![Some(x), Some(w), Some(b)],
        vec![Some(c)],
    );
    let scale = g.add_constant("scale", tensor(&[4], 3));
    let bias = g.add_constant("bias", tensor(&[4], 4));
    let mean = g.add_constant("mean", tensor(&[4], 5));
    let var = g.add_constant(
        "var",
        Tensor::from_vec(vec![4], vec![0.5f32, 1.0, 2.0, 0.25]).unwrap(),
    );
    let n = g.add_value("n", None);
    g.add_node(
        "bn",
        Op::BatchNorm(BatchNorm { epsilon: 1e-5 }),
        vec![Some(c), Some(scale), Some(bias), Some(mean), Some(var)],
        vec![Some(n)],
    );
    let y = g.add_value("y", None);
    g.add_node(
        "relu",
        Op::Unary(UnaryOp::Relu),
        vec![Some(n)],
        vec![Some(y)],
    );
    g.outputs.push(y);
    g
}

fn opts(devices: &[&str]) -> SessionOptions {
    SessionOptions::default().with_devices(devices.iter().copied())
}

fn run_x(s: &Session, x: Tensor) -> Vec<Value> {
    let name = s.inputs()[0].name.clone();
    s.run(vec![(name, Value::Tensor(x))])
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn max_diff(a: &Value, b: &Value) -> f64 {
    let (a, b) = (a.as_tensor().unwrap(), b.as_tensor().unwrap());
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.dtype(), b.dtype());
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| {
            if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}

fn ops_of(s: &Session) -> Vec<String> {
    s.graph().nodes.iter().map(|n| n.op.name()).collect()
}

#[test]
fn batch_norm_becomes_mul_and_add_on_the_npu() {
    let npu = "vnpu://0?ops=conv+add+mul+relu";
    let s = Session::from_graph(conv_bn_relu(), opts(&[npu])).unwrap();
    let p = s.placement();
    assert_eq!(ops_of(&s), ["Conv", "Mul", "Add", "Relu"], "{p:?}");
    assert_eq!(p.parts.len(), 1, "{p:?}");
    assert_eq!(p.parts[0].device, npu);
    assert_eq!(p.decomposed.len(), 1);
    let d = &p.decomposed[0];
    assert_eq!((d.node.as_str(), d.op.as_str()), ("bn", "BatchNorm"));
    assert_eq!(d.device, npu);
    assert_eq!(d.nodes, ["bn/0_Mul", "bn/1_Add"]);
    assert!(p.unused_decompositions.is_empty(), "{p:?}");

    let cpu = Session::from_graph(conv_bn_relu(), opts(&["cpu"])).unwrap();
    assert_eq!(ops_of(&cpu), ["Conv", "BatchNorm", "Relu"]);
    let x = tensor(&[1, 3, 8, 8], 9);
    let (a, b) = (run_x(&s, x.clone()), run_x(&cpu, x));
    let diff = max_diff(&a[0], &b[0]);
    assert!(diff <= 1e-5, "vnpu vs cpu: {diff}");
}

#[test]
fn batch_norm_stays_fused_on_the_cpu_with_the_reason() {
    let npu = "vnpu://0?ops=conv+relu";
    let s = Session::from_graph(conv_bn_relu(), opts(&[npu])).unwrap();
    let p = s.placement();
    assert_eq!(ops_of(&s), ["Conv", "BatchNorm", "Relu"]);
    assert!(p.decomposed.is_empty());
    let bn = &p.nodes[1];
    assert_eq!((bn.node.as_str(), bn.device.as_str()), ("bn", "cpu"));
    let r = &bn.refusals[0];
    assert_eq!(r.device, npu);
    assert!(
        r.reason
            .contains("decomposed BatchNorm needs Mul: Mul is not enabled"),
        "{}",
        r.reason
    );
    assert_eq!(p.unused_decompositions.len(), 1);
    assert_eq!(p.unused_decompositions[0].device, npu);
    assert_eq!(p.parts.len(), 3);

    // Without the CPU the same reason is part of the error.
    let e = Session::from_graph(conv_bn_relu(), opts(&[npu]).with_no_fallback(true))
        .unwrap_err()
        .to_string();
    assert!(e.contains("decomposed BatchNorm needs Mul"), "{e}");
}

/// x[2,3] → Gemm(x, W[4,3] (transposed), c[4]) → y.
fn gemm(alpha: f32, trans_a: bool) -> Graph {
    let mut g = Graph::new("gemm");
    let x = g.add_value("x", ty(DType::F32, if trans_a { &[3, 2] } else { &[2, 3] }));
    g.inputs.push(x);
    let w = g.add_constant("w", tensor(&[4, 3], 11));
    let c = g.add_constant("c", tensor(&[4], 12));
    let y = g.add_value("y", None);
    g.add_node(
        "fc",
        Op::Gemm(Gemm {
            alpha,
            beta: 1.0,
            trans_a,
            trans_b: true,
        }),
        vec![Some(x), Some(w), Some(c)],
        vec![Some(y)],
    );
    g.outputs.push(y);
    g
}

#[test]
fn gemm_decomposes_onto_an_npu_without_gemm() {
    let npu = "vnpu://0?ops=matmul+add+mul";
    for (alpha, want) in [
        (1.0, vec!["MatMul", "Add"]),
        (0.5, vec!["MatMul", "Mul", "Add"]),
    ] {
        let s = Session::from_graph(gemm(alpha, false), opts(&[npu])).unwrap();
        let p = s.placement();
        assert_eq!(ops_of(&s), want);
        assert_eq!(p.parts.len(), 1, "{p:?}");
        assert_eq!(p.parts[0].device, npu);
        assert_eq!(p.decomposed[0].device, npu);
        let cpu = Session::from_graph(gemm(alpha, false), opts(&["cpu"])).unwrap();
        let x = tensor(&[2, 3], 13);
        let diff = max_diff(&run_x(&s, x.clone())[0], &run_x(&cpu, x)[0]);
        assert!(diff <= 1e-5, "alpha {alpha}: {diff}");
    }
}

#[test]
fn a_decomposition_goes_whole_to_one_device() {
    // `trans_a` on a graph input leaves a Transpose the NPU lacks.
    let npu = "vnpu://0?ops=matmul+add";
    let s = Session::from_graph(gemm(1.0, true), opts(&[npu, "cpu"])).unwrap();
    let p = s.placement();
    // Auto: the CPU claims Gemm, so it runs there fused.
    assert_eq!(ops_of(&s), ["Gemm"]);
    assert!(p.nodes[0].refusals[0]
        .reason
        .contains("decomposed Gemm needs Transpose"));
    // All: decomposed, and MatMul and Add stay on the CPU with the Transpose although the
    // NPU has them.
    let s = Session::from_graph(
        gemm(1.0, true),
        opts(&[npu, "cpu"]).with_decompose(DecomposePolicy::All),
    )
    .unwrap();
    let p = s.placement();
    assert_eq!(ops_of(&s), ["Transpose", "MatMul", "Add"]);
    assert!(p.nodes.iter().all(|n| n.device == "cpu"), "{p:?}");
    assert_eq!(p.parts.len(), 1);
    assert_eq!(p.decomposed[0].device, "cpu");
}

/// One composite node on graph input `x` with constant parameters, and its outputs.
struct Case {
    name: &'static str,
    op: Op,
    x: Vec<usize>,
    dtype: DType,
    params: Vec<Tensor>,
    outputs: usize,
}

fn case_graph(c: &Case) -> Graph {
    let mut g = Graph::new(c.name);
    let x = g.add_value("x", ty(c.dtype, &c.x));
    g.inputs.push(x);
    let mut ins = vec![Some(x)];
    for (i, p) in c.params.iter().enumerate() {
        ins.push(Some(g.add_constant(format!("p{i}"), p.clone())));
    }
    let outs: Vec<ValueId> = (0..c.outputs)
        .map(|i| g.add_value(format!("y{i}"), None))
        .collect();
    g.add_node(
        "node",
        c.op.clone(),
        ins,
        outs.iter().copied().map(Some).collect(),
    );
    g.outputs = outs;
    g
}

fn cases() -> Vec<Case> {
    let v = |n: usize, seed| tensor(&[n], seed);
    let pos = |n: usize| Tensor::from_vec(vec![n], (1..=n).map(|i| i as f32 * 0.3).collect());
    let f32c = |name, op, x: &[usize], params, outputs| Case {
        name,
        op,
        x: x.to_vec(),
        dtype: DType::F32,
        params,
        outputs,
    };
    let gemm = |alpha, beta, trans_a, trans_b| {
        Op::Gemm(Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        })
    };
    vec![
        f32c(
            "gemm",
            gemm(1.0, 1.0, false, false),
            &[2, 3],
            vec![tensor(&[3, 4], 1), v(4, 2)],
            1,
        ),
        f32c(
            "gemm_all_attributes",
            gemm(0.25, 0.35, true, true),
            &[3, 2],
            vec![tensor(&[4, 3], 3), tensor(&[2, 1], 4)],
            1,
        ),
        f32c(
            "gemm_no_c",
            gemm(2.0, 1.0, false, true),
            &[2, 3],
            vec![tensor(&[5, 3], 5)],
            1,
        ),
        f32c(
            "batch_norm",
            Op::BatchNorm(BatchNorm { epsilon: 1e-3 }),
            &[2, 3, 4, 5],
            vec![v(3, 6), v(3, 7), v(3, 8), pos(3).unwrap()],
            1,
        ),
        f32c(
            "batch_norm_2d",
            Op::BatchNorm(BatchNorm { epsilon: 1e-5 }),
            &[4, 3],
            vec![v(3, 6), v(3, 7), v(3, 8), pos(3).unwrap()],
            1,
        ),
        f32c(
            "layer_norm_stats",
            Op::LayerNorm(LayerNorm {
                axis: 1,
                epsilon: 1e-5,
            }),
            &[2, 3, 4],
            vec![tensor(&[3, 4], 9), tensor(&[3, 4], 10)],
            3,
        ),
        f32c(
            "layer_norm_no_bias",
            Op::LayerNorm(LayerNorm {
                axis: -1,
                epsilon: 1e-5,
            }),
            &[3, 5],
            vec![v(5, 11)],
            1,
        ),
        f32c(
            "rms_norm",
            Op::RmsNorm(RmsNorm {
                axis: -2,
                epsilon: 1e-5,
            }),
            &[2, 3, 4],
            vec![tensor(&[3, 4], 12)],
            1,
        ),
        f32c(
            "gelu",
            Op::Unary(UnaryOp::Gelu {
                tanh_approximation: false,
            }),
            &[3, 7],
            vec![],
            1,
        ),
        f32c(
            "gelu_tanh",
            Op::Unary(UnaryOp::Gelu {
                tanh_approximation: true,
            }),
            &[3, 7],
            vec![],
            1,
        ),
        Case {
            name: "gelu_f16",
            op: Op::Unary(UnaryOp::Gelu {
                tanh_approximation: false,
            }),
            x: vec![9],
            dtype: DType::F16,
            params: vec![],
            outputs: 1,
        },
        f32c(
            "instance_norm",
            Op::InstanceNorm(InstanceNorm { epsilon: 1e-5 }),
            &[2, 3, 4, 2],
            vec![v(3, 13), v(3, 14)],
            1,
        ),
        f32c(
            "group_norm_per_group",
            Op::GroupNorm(GroupNorm {
                epsilon: 1e-5,
                num_groups: 2,
            }),
            &[2, 4, 3],
            vec![v(2, 15), v(2, 16)],
            1,
        ),
        f32c(
            "group_norm_per_channel",
            Op::GroupNorm(GroupNorm {
                epsilon: 1e-5,
                num_groups: 2,
            }),
            &[2, 4, 3],
            vec![v(4, 17), v(4, 18)],
            1,
        ),
        f32c(
            "lp_norm_1",
            Op::LpNorm(LpNorm { axis: 0, p: 1 }),
            &[3, 4],
            vec![],
            1,
        ),
        f32c(
            "lp_norm_2",
            Op::LpNorm(LpNorm { axis: -1, p: 2 }),
            &[3, 4],
            vec![],
            1,
        ),
    ]
}

#[test]
fn every_rule_matches_the_fused_kernel() {
    for c in cases() {
        let fused = Session::from_graph(case_graph(&c), opts(&["cpu"])).unwrap();
        assert_eq!(ops_of(&fused).len(), 1, "{}", c.name);
        let all = opts(&["cpu"]).with_decompose(DecomposePolicy::All);
        let dec = Session::from_graph(case_graph(&c), all).unwrap();
        let p = dec.placement();
        assert_eq!(p.decomposed.len(), 1, "{}: {p:?}", c.name);
        assert!(
            dec.graph().nodes.iter().all(|n| !n.op.is_composite()),
            "{}: {:?}",
            c.name,
            ops_of(&dec)
        );
        let mut x = tensor(&c.x, 21).cast(c.dtype);
        if c.name.starts_with("lp_norm") {
            // A zero vector along the axis: both forms give zeros.
            let mut v = x.to_f64_vec();
            v[..4].iter_mut().for_each(|e| *e = 0.0);
            if c.name == "lp_norm_1" {
                v.iter_mut().step_by(4).for_each(|e| *e = 0.0);
            }
            x = Tensor::from_vec(c.x.clone(), v).unwrap().cast(c.dtype);
        }
        let (a, b) = (run_x(&fused, x.clone()), run_x(&dec, x));
        assert_eq!(a.len(), c.outputs);
        let tol = if c.dtype == DType::F16 { 2e-3 } else { 1e-5 };
        for (k, (a, b)) in a.iter().zip(&b).enumerate() {
            let diff = max_diff(a, b);
            assert!(diff <= tol, "{} output {k}: {diff}", c.name);
            let t = b.as_tensor().unwrap();
            assert!(
                t.to_f64_vec().iter().all(|v| v.is_finite()),
                "{}: {t:?}",
                c.name
            );
        }
    }
}

#[test]
fn a_graph_on_the_cpu_alone_is_unchanged() {
    for c in cases() {
        let s = Session::from_graph(case_graph(&c), opts(&["cpu"])).unwrap();
        let p = s.placement();
        assert!(p.decomposed.is_empty() && p.unused_decompositions.is_empty());
        assert_eq!(s.graph().nodes[0].op, c.op, "{}", c.name);
    }
    let s = Session::from_graph(conv_bn_relu(), opts(&["cpu"])).unwrap();
    assert_eq!(ops_of(&s), ["Conv", "BatchNorm", "Relu"]);
}
