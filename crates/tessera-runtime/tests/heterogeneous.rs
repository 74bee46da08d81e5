//! A model split across the virtual NPU and the CPU: placement with visible fallback,
//! transfers between devices, injected faults reaching the caller, and pipelined runs whose
//! parts overlap on two devices (measured, not assumed).

use std::time::{Duration, Instant};
use tessera_ir::op::{BinaryOp, UnaryOp};
use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueType};
use tessera_runtime::{Crossing, Session, SessionOptions};

/// x → Relu → Add(c) → Neg → y: Relu and Add are vnpu ops, Neg is not.
fn chain() -> Graph {
    let mut g = Graph::new("chain");
    let ty = Some(ValueType::Tensor(TensorType::known(DType::F32, &[2, 3])));
    let x = g.add_value("x", ty.clone());
    let r = g.add_value("r", ty.clone());
    let a = g.add_value("a", ty.clone());
    let y = g.add_value("y", ty);
    let c = g.add_constant(
        "c",
        Tensor::from_vec(vec![3], vec![1.0f32, 2.0, 3.0]).unwrap(),
    );
    g.inputs.push(x);
    g.outputs.push(y);
    g.add_node(
        "relu",
        Op::Unary(UnaryOp::Relu),
        vec![Some(x)],
        vec![Some(r)],
    );
    g.add_node(
        "add",
        Op::Binary(BinaryOp::Add),
        vec![Some(r), Some(c)],
        vec![Some(a)],
    );
    g.add_node("neg", Op::Unary(UnaryOp::Neg), vec![Some(a)], vec![Some(y)]);
    g
}

fn input(v: f32) -> Vec<(String, Value)> {
    let t = Tensor::from_vec(vec![2, 3], vec![v, -v, 2.0 * v, -1.0, 0.0, 1.0]).unwrap();
    vec![("x".into(), Value::Tensor(t))]
}

fn expected(v: f32) -> Value {
    let x = [v, -v, 2.0 * v, -1.0, 0.0, 1.0];
    let c = [1.0f32, 2.0, 3.0];
    let y: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, &x)| -(x.max(0.0) + c[i % 3]))
        .collect();
    Value::Tensor(Tensor::from_vec(vec![2, 3], y).unwrap())
}

fn session(devices: &[&str], no_fallback: bool) -> Result<Session, tessera_runtime::RuntimeError> {
    Session::from_graph(
        chain(),
        SessionOptions::default()
            .with_devices(devices.iter().copied())
            .with_no_fallback(no_fallback)
            .with_max_in_flight(8),
    )
}

#[test]
fn nodes_the_npu_lacks_fall_back_to_the_cpu_visibly() {
    let s = session(&["vnpu://0"], false).unwrap();
    let p = s.placement();
    let devs: Vec<&str> = p.nodes.iter().map(|n| n.device.as_str()).collect();
    assert_eq!(devs, ["vnpu://0", "vnpu://0", "cpu"]);
    assert_eq!(p.parts.len(), 2);
    // The reason the NPU refused Neg is recorded for `tessera inspect`.
    let neg = &p.nodes[2];
    assert_eq!(neg.refusals.len(), 1, "{neg:?}");
    assert_eq!(neg.refusals[0].device, "vnpu://0");
    assert!(!neg.refusals[0].reason.is_empty());
    // What crosses into each part, and from where.
    let crossing = |value: &str, from: Option<&str>| Crossing {
        value: value.into(),
        from: from.map(Into::into),
        bytes: Some(24),
    };
    assert_eq!(p.parts[0].receives, vec![crossing("x", None)]);
    assert_eq!(p.parts[1].receives, vec![crossing("a", Some("vnpu://0"))]);

    let out = s.run(input(3.0)).unwrap();
    assert_eq!(out, vec![("y".to_string(), expected(3.0))]);
    // `a` crossed from the NPU to the CPU: the NPU returns it in exportable memory, which
    // the CPU imports without a copy (memfd; other systems stage it through the host).
    let t = s.transfer_stats();
    if cfg!(target_os = "linux") {
        assert_eq!((t.imported_bytes, t.staged_bytes), (6 * 4, 0), "{t:?}");
    } else {
        assert_eq!(t.imported_bytes + t.staged_bytes, 6 * 4, "{t:?}");
    }
}

#[test]
fn no_fallback_lists_every_refused_node() {
    let e = session(&["vnpu://0?ops=relu"], true).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("2 node(s) not supported"), "{msg}");
    assert!(msg.contains("add") && msg.contains("neg"), "{msg}");
}

#[test]
fn an_injected_fault_reaches_the_caller_with_its_cause() {
    let s = session(&["vnpu://0?fail_at=2"], false).unwrap();
    s.run(input(1.0)).unwrap();
    let e = s.run(input(1.0)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("vnpu://0"), "{msg}");
    // The session is still usable after the fault.
    assert_eq!(s.run(input(2.0)).unwrap()[0].1, expected(2.0));
}

/// Relu on one NPU, Add on another, each with 40 ms of injected latency: K runs one after
/// the other take about 2·K·40 ms; in flight together, the second device works on run N
/// while the first works on run N+1, so they take about (K+1)·40 ms.
#[test]
fn pipelined_runs_overlap_on_two_devices() {
    const K: usize = 6;
    let s = Session::from_graph(
        {
            let mut g = chain();
            // Drop Neg so the whole chain runs on the two NPUs.
            g.nodes.pop();
            let a = g.nodes[1].outputs[0].unwrap();
            g.outputs = vec![a];
            g
        },
        SessionOptions::default()
            .with_devices([
                "vnpu://0?ops=relu&latency_ms=40",
                "vnpu://1?ops=add&latency_ms=40",
            ])
            .with_no_fallback(true)
            .with_max_in_flight(K),
    )
    .unwrap();
    let p = s.placement();
    assert_eq!(p.parts.len(), 2);
    assert_ne!(p.parts[0].device, p.parts[1].device);
    // Warm up (first-run effects), then measure serial and pipelined back to back.
    s.run(input(0.0)).unwrap();

    let t = Instant::now();
    for i in 0..K {
        s.run(input(i as f32)).unwrap();
    }
    let serial = t.elapsed();

    let t = Instant::now();
    let pending: Vec<_> = (0..K).map(|i| s.submit(input(i as f32)).unwrap()).collect();
    for (i, p) in pending.into_iter().enumerate() {
        let out = p.wait().unwrap();
        // expected() negates the sum; this graph stops before Neg.
        let want = expected(i as f32);
        let want: Vec<f32> = want
            .as_tensor()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|v| -v)
            .collect();
        let got = out[0].1.as_tensor().unwrap().as_slice::<f32>().unwrap();
        assert_eq!(got, want.as_slice(), "run {i}");
    }
    let pipelined = t.elapsed();
    eprintln!(
        "{K} runs: serial {:.0} ms, pipelined {:.0} ms (ratio {:.2})",
        serial.as_secs_f64() * 1e3,
        pipelined.as_secs_f64() * 1e3,
        pipelined.as_secs_f64() / serial.as_secs_f64()
    );
    // Serial is at least 2·K·40 ms by construction; pipelined should be near (K+1)·40 ms.
    assert!(serial >= Duration::from_millis(2 * K as u64 * 40));
    assert!(
        pipelined.as_secs_f64() < 0.8 * serial.as_secs_f64(),
        "no overlap: serial {serial:?}, pipelined {pipelined:?}"
    );
}
