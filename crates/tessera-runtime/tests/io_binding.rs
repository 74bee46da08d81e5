//! Inputs and outputs bound to caller memory shared by file descriptor: read in place by the
//! device that needs them, written by the device that produced them, checked against the
//! model, and runs in flight signalling completion through an exported fence.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::time::Duration;
use tessera_ir::op::{BinaryOp, UnaryOp};
use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueType};
use tessera_runtime::hal::{Buffer, MemFdBuffer, PointState};
use tessera_runtime::{
    ExternalTensor, InputProblem, IoBinding, RuntimeError, Session, SessionOptions,
};

const X: [f32; 6] = [1.5, -2.0, 3.0, -0.5, 0.0, 4.0];

/// x → Relu → Add(1) → y (both vnpu ops).
fn relu_add() -> Graph {
    let mut g = Graph::new("relu_add");
    let ty = Some(ValueType::Tensor(TensorType::known(DType::F32, &[2, 3])));
    let x = g.add_value("x", ty.clone());
    let r = g.add_value("r", ty.clone());
    let y = g.add_value("y", ty);
    let one = g.add_constant("one", Tensor::from_vec(vec![1], vec![1.0f32]).unwrap());
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
        vec![Some(r), Some(one)],
        vec![Some(y)],
    );
    g
}

fn expected() -> Vec<f32> {
    X.iter().map(|v| v.max(0.0) + 1.0).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn read_f32(b: &Arc<dyn Buffer>, n: usize) -> Vec<f32> {
    b.read_bytes(0, n * 4)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A shared buffer holding `x`, and an empty one for `y`, as a caller would make them.
fn buffers() -> (Arc<dyn Buffer>, Arc<dyn Buffer>) {
    let input = shared(24);
    input.write_bytes(0, &f32_bytes(&X)).unwrap();
    (input, shared(24))
}

fn shared(size: usize) -> Arc<dyn Buffer> {
    Arc::new(MemFdBuffer::new(size).unwrap())
}

fn tensor(b: &Arc<dyn Buffer>) -> ExternalTensor {
    ExternalTensor::new(b.export().unwrap(), DType::F32, vec![2, 3]).unwrap()
}

fn session(devices: &[&str]) -> Session {
    Session::from_graph(
        relu_add(),
        SessionOptions::default().with_devices(devices.iter().copied()),
    )
    .unwrap()
}

#[test]
fn bound_input_and_output_on_each_device() {
    for devices in [
        &["cpu"][..],
        &["vnpu://0"][..],
        &["vnpu://0?ops=relu", "cpu"][..],
    ] {
        let s = session(devices);
        let (input, output) = buffers();
        let io = IoBinding::new()
            .input_external("x", tensor(&input))
            .output_external("y", tensor(&output));
        let rest = s.run_bound(io).unwrap();
        assert!(
            rest.is_empty(),
            "{devices:?}: bound outputs are not returned"
        );
        assert_eq!(read_f32(&output, 6), expected(), "{devices:?}");
        // The input was imported in place by the first device, never staged; so was the
        // vnpu's result on its way to the CPU in the split case.
        let t = s.transfer_stats();
        assert_eq!(t.staged_bytes, 0, "{devices:?}: {t:?}");
        let crossings = if devices.len() == 2 { 2 } else { 1 };
        assert_eq!(t.imported_bytes, crossings * 24, "{devices:?}: {t:?}");
        // The same buffers serve the next run; the caller's writes are seen.
        input.write_bytes(0, &f32_bytes(&[-1.0; 6])).unwrap();
        s.run_bound(
            IoBinding::new()
                .input_external("x", tensor(&input))
                .output_external("y", tensor(&output)),
        )
        .unwrap();
        assert_eq!(read_f32(&output, 6), vec![1.0; 6], "{devices:?}");
    }
}

#[test]
fn host_inputs_and_bound_outputs_mix() {
    let s = session(&["vnpu://0"]);
    let out = shared(24);
    let x = Value::Tensor(Tensor::from_vec(vec![2, 3], X.to_vec()).unwrap());
    let rest = s
        .run_bound(
            IoBinding::new()
                .input("x", x.clone())
                .output_external("y", tensor(&out)),
        )
        .unwrap();
    assert!(rest.is_empty());
    assert_eq!(read_f32(&out, 6), expected());
    // Unbound, the output comes back on the host as before.
    let rest = s.run_bound(IoBinding::new().input("x", x)).unwrap();
    assert_eq!(
        rest,
        vec![(
            "y".to_string(),
            Value::Tensor(Tensor::from_vec(vec![2, 3], expected()).unwrap())
        )]
    );
}

#[test]
fn bindings_that_do_not_match_the_model_are_refused_all_at_once() {
    let s = session(&["cpu"]);
    let (input, output) = buffers();
    // Outputs: an unknown name, a wrong shape, a buffer too small.
    let small = shared(8);
    let e = s
        .run_bound(
            IoBinding::new()
                .input_external("x", tensor(&input))
                .output_external("z", tensor(&output))
                .output_external(
                    "y",
                    ExternalTensor {
                        buffer: small.export().unwrap(),
                        dtype: DType::F32,
                        shape: vec![3, 2],
                    },
                ),
        )
        .unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, RuntimeError::Binding(_)), "{m}");
    assert!(
        m.contains("'z' is not an output of the model (outputs: y)"),
        "{m}"
    );
    assert!(m.contains("needs 24 bytes; the buffer holds 8"), "{m}");
    assert!(
        m.contains("output 'y' is f32[2,3]") || m.contains("output 'y' is"),
        "{m}"
    );
    // Inputs: a wrong dtype and a buffer too small, as input problems.
    let e = s
        .run_bound(IoBinding::new().input_external(
            "x",
            ExternalTensor {
                buffer: small.export().unwrap(),
                dtype: DType::I32,
                shape: vec![2, 3],
            },
        ))
        .unwrap_err();
    let RuntimeError::Inputs(problems) = &e else {
        panic!("{e}");
    };
    assert!(
        problems.iter().any(|p| matches!(
            p,
            InputProblem::DType {
                found: DType::I32,
                ..
            }
        )),
        "{e}"
    );
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, InputProblem::External { name, .. } if name == "x")),
        "{e}"
    );
    // A buffer too small for the tensor is refused when the tensor is made.
    assert!(ExternalTensor::new(small.export().unwrap(), DType::F32, vec![2, 3]).is_err());
}

#[test]
fn submitted_runs_signal_an_exported_fence() {
    let s = session(&["vnpu://0?latency_ms=30"]);
    let (input, output) = buffers();
    let pending = s
        .submit_bound(
            IoBinding::new()
                .input_external("x", tensor(&input))
                .output_external("y", tensor(&output)),
        )
        .unwrap();
    let fence = pending.fence().unwrap();
    assert_eq!(fence.state().unwrap(), PointState::Pending);
    assert_eq!(
        fence.wait(Duration::from_secs(20)).unwrap(),
        PointState::Reached
    );
    assert_eq!(read_f32(&output, 6), expected());
    assert!(pending.wait().unwrap().is_empty());

    // A failing run fails its fence, and `wait` returns the error.
    let s = session(&["vnpu://0?fail_at=1"]);
    let pending = s
        .submit_bound(IoBinding::new().input_external("x", tensor(&input)))
        .unwrap();
    let fence = pending.fence().unwrap();
    assert_eq!(
        fence.wait(Duration::from_secs(20)).unwrap(),
        PointState::Failed
    );
    assert!(pending.wait().is_err());
}

#[test]
fn a_bound_buffer_can_come_from_another_process() {
    // The caller's buffer travels over a Unix socket, as between processes; the session
    // reads the received descriptor in place.
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (input, output) = buffers();
    input.export().unwrap().send(&a).unwrap();
    let received = tessera_runtime::hal::ExternalBuffer::recv(&b).unwrap();
    let s = session(&["vnpu://1"]);
    s.run_bound(
        IoBinding::new()
            .input_external(
                "x",
                ExternalTensor::new(received, DType::F32, vec![2, 3]).unwrap(),
            )
            .output_external("y", tensor(&output)),
    )
    .unwrap();
    assert_eq!(read_f32(&output, 6), expected());
}
