//! Device-level tests: capability answers, memory, fault and latency injection, queue order,
//! and whole subgraphs run through the queue against references computed here.

use crate::{VnpuConfig, VnpuDevice, VnpuDriver, VnpuError, VnpuOp};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_hal::{
    Buffer, BufferView, Device, DeviceUri, DeviceValue, Driver, Executable, HalError, HostBuffer,
    MemoryKind, OutputSlot, Subgraph, Support, Timeline, Work,
};
use tessera_ir::op::{
    AutoPad, BinaryOp, Conv, Flatten, MatMul, Pool, PoolKind, Softmax, UnaryOp, Window,
};
use tessera_ir::{DType, Dim, Graph, Op, Tensor, TensorType, Value, ValueType};

const LONG: Duration = Duration::from_secs(20);

fn device(config: VnpuConfig) -> VnpuDevice {
    VnpuDriver::new().create_with(0, config).unwrap()
}

fn ty(d: DType, dims: &[usize]) -> Option<ValueType> {
    Some(ValueType::Tensor(TensorType::known(d, dims)))
}

fn window(k: &[usize], s: usize, p: usize) -> Window {
    Window {
        kernel_shape: k.to_vec(),
        strides: vec![s, s],
        pads: vec![p; 4],
        dilations: vec![],
        auto_pad: AutoPad::NotSet,
    }
}

fn max_pool(k: usize, s: usize) -> Op {
    Op::Pool(Pool {
        kind: PoolKind::Max,
        window: window(&[k, k], s, 0),
        ceil_mode: false,
        storage_order: 0,
    })
}

/// A graph of one node over inputs of the given types (and one output).
fn one_node(op: Op, inputs: &[Option<ValueType>]) -> Graph {
    let mut g = Graph::new("one");
    let ids: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_value(format!("in{i}"), t.clone()))
        .collect();
    g.inputs = ids.clone();
    let y = g.add_value("y", None);
    g.add_node("n", op, ids.into_iter().map(Some).collect(), vec![Some(y)]);
    g.outputs = vec![y];
    tessera_ir::infer::infer_graph(&mut g).unwrap();
    g
}

fn supports(d: &VnpuDevice, op: Op, inputs: &[Option<ValueType>]) -> Support {
    let g = one_node(op, inputs);
    d.supports(&g.nodes[0], inputs)
}

/// Submits `exe` on `inputs` and returns the outputs (or the wait's error).
fn run(
    d: &VnpuDevice,
    exe: &Arc<dyn Executable>,
    inputs: Vec<DeviceValue>,
    waits: &[(Arc<Timeline>, u64)],
) -> (Arc<Timeline>, OutputSlot) {
    let slot = OutputSlot::new();
    let done = Arc::new(Timeline::new("done"));
    d.queue(0)
        .unwrap()
        .submit(
            Work::Execute {
                executable: exe.clone(),
                inputs,
                outputs: slot.clone(),
            },
            waits,
            &[(done.clone(), 1)],
        )
        .unwrap();
    (done, slot)
}

fn upload(d: &VnpuDevice, t: &Tensor) -> DeviceValue {
    DeviceValue::upload(d, &Value::Tensor(t.clone())).unwrap()
}

fn download(d: &VnpuDevice, v: &DeviceValue) -> Tensor {
    v.download(d).unwrap().into_tensor().unwrap()
}

#[test]
fn driver_uris() {
    let drv = VnpuDriver::new();
    assert_eq!(drv.name(), "vnpu");
    let infos = VnpuDriver::with_devices(2).enumerate();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1].uri, "vnpu://1");
    let create = |s: &str| drv.create(&DeviceUri::parse(s)?);
    let d = create("vnpu://0?ops=conv+relu&latency_ms=5&fail_after=3&memory_mb=256").unwrap();
    assert_eq!(d.info().extra("ops"), Some("conv+relu"));
    assert_eq!(d.info().extra("latency_ms"), Some("5"));
    assert_eq!(d.info().memory_bytes, Some(256 << 20));
    assert_eq!(
        d.info().uri,
        "vnpu://0?ops=conv+relu,latency_ms=5,fail_after=3,memory_mb=256"
    );
    assert_eq!(create("vnpu").unwrap().info().uri, "vnpu://0");
    for bad in [
        "vnpu://1",
        "vnpu://x",
        "vnpu://0?colour=red",
        "vnpu://0?ops=conv,relu",
    ] {
        assert!(create(bad).is_err(), "{bad}");
    }
    assert!(drv.create_with(1, VnpuConfig::new()).is_err());
}

#[test]
fn supports_answers_with_reasons() {
    let d = device(VnpuConfig::new());
    let f = |dims: &[usize]| ty(DType::F32, dims);
    let conv = || {
        Op::Conv(Conv {
            window: window(&[], 1, 0),
            group: 1,
        })
    };
    assert!(supports(&d, conv(), &[f(&[1, 2, 5, 5]), f(&[3, 2, 3, 3])]).is_yes());
    assert!(supports(&d, max_pool(2, 2), &[f(&[1, 2, 4, 4])]).is_yes());
    assert!(supports(
        &d,
        Op::Binary(BinaryOp::Add),
        &[ty(DType::I8, &[2]), ty(DType::I8, &[1])]
    )
    .is_yes());
    let reason = |s: Support| s.reason().unwrap_or("yes").to_string();
    let r = reason(supports(
        &d,
        Op::Softmax(Softmax {
            kind: tessera_ir::op::SoftmaxKind::Softmax,
            axis: -1,
        }),
        &[f(&[2])],
    ));
    assert_eq!(r, "vnpu has no kernel for Softmax");
    let r = reason(supports(&d, Op::Binary(BinaryOp::Sub), &[f(&[2]), f(&[2])]));
    assert_eq!(r, "vnpu has no kernel for Sub");
    let r = reason(supports(
        &d,
        Op::Binary(BinaryOp::Add),
        &[ty(DType::F64, &[2]), ty(DType::F64, &[2])],
    ));
    assert!(r.contains("Add on f64 is not supported"), "{r}");
    let r = reason(supports(
        &d,
        conv(),
        &[ty(DType::I8, &[1, 2, 5, 5]), ty(DType::I8, &[3, 2, 3, 3])],
    ));
    assert!(
        r.contains("Conv on i8 is not supported (vnpu runs it on f32)"),
        "{r}"
    );
    // Unknown rank where the kernel needs rank 4.
    let unranked = Some(ValueType::Tensor(TensorType::unranked(DType::F32)));
    let g = one_node(conv(), &[f(&[1, 2, 5, 5]), f(&[3, 2, 3, 3])]);
    let r = reason(d.supports(&g.nodes[0], &[unranked.clone(), f(&[3, 2, 3, 3])]));
    assert!(r.contains("unknown rank"), "{r}");
    let r = reason(d.supports(&g.nodes[0], &[None, f(&[3, 2, 3, 3])]));
    assert!(r.contains("type of input 0 of Conv is unknown"), "{r}");
    let r = reason(supports(&d, conv(), &[f(&[1, 2, 5]), f(&[3, 2, 3])]));
    assert!(r.contains("rank 3"), "{r}");
    // Symbolic dims are fine where only the rank matters.
    let sym = Some(ValueType::Tensor(TensorType {
        dtype: DType::F32,
        shape: Some(vec![
            Dim::Sym("n".into()),
            Dim::Known(2),
            Dim::Known(5),
            Dim::Known(5),
        ]),
    }));
    assert!(d.supports(&g.nodes[0], &[sym, f(&[3, 2, 3, 3])]).is_yes());
    // Pooling attributes the kernels do not implement.
    let mut p = Pool {
        kind: PoolKind::Max,
        window: window(&[2, 2], 2, 0),
        ceil_mode: true,
        storage_order: 0,
    };
    let r = reason(supports(&d, Op::Pool(p.clone()), &[f(&[1, 1, 4, 4])]));
    assert!(r.contains("ceil_mode"), "{r}");
    p.ceil_mode = false;
    p.kind = PoolKind::Lp { p: 2.0 };
    let r = reason(supports(&d, Op::Pool(p.clone()), &[f(&[1, 1, 4, 4])]));
    assert_eq!(r, "vnpu has no kernel for LpPool");
    p.kind = PoolKind::Max;
    let mut g = one_node(Op::Pool(p), &[f(&[1, 1, 4, 4])]);
    let idx = g.add_value("idx", None);
    g.nodes[0].outputs.push(Some(idx));
    let r = reason(d.supports(&g.nodes[0], &[f(&[1, 1, 4, 4])]));
    assert!(r.contains("indices output"), "{r}");
    // The configuration narrows the op set and the dtypes.
    let d = device(VnpuConfig::new().without_op(VnpuOp::Conv).with_int8(false));
    let r = reason(supports(&d, conv(), &[f(&[1, 2, 5, 5]), f(&[3, 2, 3, 3])]));
    assert!(
        r.starts_with("Conv is not enabled on this device (ops=matmul+"),
        "{r}"
    );
    let r = reason(supports(
        &d,
        Op::Unary(UnaryOp::Relu),
        &[ty(DType::I8, &[2])],
    ));
    assert!(r.contains("int8 is disabled"), "{r}");
    assert!(supports(&d, Op::Unary(UnaryOp::Relu), &[f(&[2])]).is_yes());
}

#[test]
fn compile_refuses_what_supports_refuses() {
    let d = device(VnpuConfig::new().with_ops([VnpuOp::Add]));
    let g = one_node(
        Op::MatMul(MatMul),
        &[ty(DType::F32, &[2, 2]), ty(DType::F32, &[2, 2])],
    );
    let e = d.compile(&Subgraph::new("part", g)).unwrap_err();
    assert!(
        e.to_string()
            .contains("node 'n': MatMul is not enabled on this device (ops=add)"),
        "{e}"
    );
}

#[test]
fn memory_budget_and_staging() {
    let d = device(VnpuConfig::new().with_memory_bytes(64));
    assert_eq!(d.memory_kinds(), &[MemoryKind::DeviceHostVisible]);
    assert!(d.allocate(8, MemoryKind::Host).is_err());
    let a = d.allocate(48, MemoryKind::DeviceHostVisible).unwrap();
    let e = d.allocate(17, MemoryKind::DeviceHostVisible).unwrap_err();
    assert!(matches!(e, HalError::Allocation { size: 17, .. }), "{e}");
    assert!(
        e.to_string().contains("exhausted (48 of 64 bytes in use)"),
        "{e}"
    );
    // An upload is an allocation plus a host map: it fails cleanly past the budget too.
    let t = Tensor::from_vec(vec![8], vec![1.0f32; 8]).unwrap();
    assert!(DeviceValue::upload(&d, &Value::Tensor(t.clone())).is_err());
    drop(a);
    assert_eq!(d.memory_stats().used, 0);
    let before = d.memory_stats().host_maps;
    let v = upload(&d, &t);
    assert_eq!(
        d.memory_stats().host_maps,
        before + 1,
        "upload stages through one map"
    );
    assert_eq!(download(&d, &v), t);
    assert_eq!(d.memory_stats().host_maps, before + 2);
    // Weights that do not fit fail at compile time.
    let mut g = one_node(
        Op::Binary(BinaryOp::Add),
        &[ty(DType::F32, &[16]), ty(DType::F32, &[16])],
    );
    let w = g.inputs.remove(1);
    g.constants
        .insert(w, Tensor::from_vec(vec![16], vec![0.5f32; 16]).unwrap());
    let e = d.compile(&Subgraph::new("big", g)).unwrap_err();
    assert!(matches!(e, HalError::Allocation { .. }), "{e}");
}

fn add_graph() -> Graph {
    one_node(
        Op::Binary(BinaryOp::Add),
        &[ty(DType::F32, &[2]), ty(DType::F32, &[2])],
    )
}

#[test]
fn injected_execute_failure_reaches_waiters() {
    let d = device(VnpuConfig::new().fail_at(2));
    let exe = d.compile(&Subgraph::new("add", add_graph())).unwrap();
    let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let ins = || vec![upload(&d, &t), upload(&d, &t)];
    let (done1, slot1) = run(&d, &exe, ins(), &[]);
    let (done2, slot2) = run(&d, &exe, ins(), &[]);
    // An independent submission behind the failing one: the ring moves on past a failed
    // execute.
    let (done3, slot3) = run(&d, &exe, ins(), &[]);
    // A submission downstream of the failed one fails with the original error.
    let (done4, _) = run(&d, &exe, ins(), &[(done2.clone(), 1)]);
    done1.wait(1, LONG).unwrap();
    assert_eq!(
        download(&d, &slot1.take().unwrap()[0])
            .as_slice::<f32>()
            .unwrap(),
        &[2.0, 4.0]
    );
    for t in [&done2, &done4] {
        let e = t.wait(1, LONG).unwrap_err();
        let HalError::Execute { source, .. } = e.root() else {
            panic!("unexpected root: {e}");
        };
        let v = source.downcast_ref::<VnpuError>().unwrap();
        assert_eq!(
            v,
            &VnpuError::Injected("execute #2 fails (fail_at=2)".into())
        );
    }
    assert!(slot2.take().is_err());
    done3.wait(1, LONG).unwrap();
    assert!(slot3.take().is_ok());
    // Submission 4 never ran (its wait failed); the queue accepts and runs new work.
    let (done5, slot5) = run(&d, &exe, ins(), &[]);
    done5.wait(1, LONG).unwrap();
    assert!(slot5.take().is_ok());
    assert_eq!(d.executes(), 4, "submission 4 never ran");
}

#[test]
fn injected_node_failure() {
    let d = device(VnpuConfig::new().fail_node("n"));
    let exe = d.compile(&Subgraph::new("add", add_graph())).unwrap();
    let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let (done, _) = run(&d, &exe, vec![upload(&d, &t), upload(&d, &t)], &[]);
    let e = done.wait(1, LONG).unwrap_err();
    assert!(e.to_string().contains("node 'n' fails (fail_node)"), "{e}");
}

#[test]
fn injected_latency_delays_each_execute() {
    let latency = Duration::from_millis(150);
    let d = device(VnpuConfig::new().with_latency(latency));
    let exe = d.compile(&Subgraph::new("add", add_graph())).unwrap();
    let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let start = Instant::now();
    let (a, _) = run(&d, &exe, vec![upload(&d, &t), upload(&d, &t)], &[]);
    let (b, _) = run(&d, &exe, vec![upload(&d, &t), upload(&d, &t)], &[]);
    a.wait(1, LONG).unwrap();
    assert!(start.elapsed() >= latency);
    b.wait(1, LONG).unwrap();
    // One queue, in order: the two executes do not overlap.
    assert!(start.elapsed() >= 2 * latency, "{:?}", start.elapsed());
}

#[test]
fn queue_is_in_order() {
    let d = device(VnpuConfig::new());
    let exe = d.compile(&Subgraph::new("add", add_graph())).unwrap();
    let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let gate = Arc::new(Timeline::new("gate"));
    let (first, _) = run(
        &d,
        &exe,
        vec![upload(&d, &t), upload(&d, &t)],
        &[(gate.clone(), 1)],
    );
    let (second, _) = run(&d, &exe, vec![upload(&d, &t), upload(&d, &t)], &[]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!((first.value(), second.value()), (0, 0));
    assert_eq!(d.executes(), 0);
    gate.signal(1).unwrap();
    second.wait(1, LONG).unwrap();
    assert_eq!(first.value(), 1);
    assert_eq!(d.ring().submitted(), 2);
}

#[test]
fn inputs_in_foreign_memory_are_refused() {
    let d = device(VnpuConfig::new());
    let exe = d.compile(&Subgraph::new("add", add_graph())).unwrap();
    let host: Arc<dyn Buffer> = Arc::new(HostBuffer::new(8).unwrap());
    let host_view = DeviceValue::Tensor(BufferView::new(host, DType::F32, vec![2], 0).unwrap());
    let other = device(VnpuConfig::new());
    let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let e = exe.execute(&[host_view, upload(&d, &t)]).unwrap_err();
    assert!(
        e.to_string()
            .contains("host memory of another device; upload it"),
        "{e}"
    );
    let e = exe
        .execute(&[upload(&other, &t), upload(&d, &t)])
        .unwrap_err();
    assert!(
        e.to_string().contains("belongs to another vnpu device"),
        "{e}"
    );
    let wrong = Tensor::from_vec(vec![3], vec![1.0f32; 3]).unwrap();
    assert!(exe.execute(&[upload(&d, &wrong), upload(&d, &t)]).is_err());
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Conv(3×3, pad 1) → Relu → MaxPool(2×2) → Flatten → MatMul → Add, computed directly.
fn reference(x: &[f32], w: &[f32], b: &[f32], fc: &[f32], fb: &[f32]) -> Vec<f32> {
    let (c, m, h) = (2, 4, 6);
    let mut conv = vec![0f32; m * h * h];
    for mi in 0..m {
        for y in 0..h {
            for xx in 0..h {
                let mut acc = b[mi] as f64;
                for ci in 0..c {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) =
                                (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                            if (0..h as isize).contains(&iy) && (0..h as isize).contains(&ix) {
                                acc += x[(ci * h + iy as usize) * h + ix as usize] as f64
                                    * w[((mi * c + ci) * 3 + ky) * 3 + kx] as f64;
                            }
                        }
                    }
                }
                conv[(mi * h + y) * h + xx] = (acc as f32).max(0.0);
            }
        }
    }
    let mut pooled = Vec::new();
    for mi in 0..m {
        for y in 0..3 {
            for xx in 0..3 {
                let at = |dy: usize, dx: usize| conv[(mi * h + 2 * y + dy) * h + 2 * xx + dx];
                pooled.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
            }
        }
    }
    (0..5)
        .map(|j| fb[j] + (0..36).map(|k| pooled[k] * fc[k * 5 + j]).sum::<f32>())
        .collect()
}

#[test]
fn small_network_end_to_end() {
    let d = device(VnpuConfig::new());
    let (x, w, b) = (values(72, 1), values(72, 2), values(4, 3));
    let (fc, fb) = (values(180, 4), values(5, 5));
    let mut g = Graph::new("net");
    let xi = g.add_value("x", ty(DType::F32, &[1, 2, 6, 6]));
    g.inputs.push(xi);
    let t = |shape: &[usize], v: &[f32]| Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap();
    let wi = g.add_constant("w", t(&[4, 2, 3, 3], &w));
    let bi = g.add_constant("b", t(&[4], &b));
    let fci = g.add_constant("fc", t(&[36, 5], &fc));
    let fbi = g.add_constant("fb", t(&[5], &fb));
    let vals: Vec<_> = ["conv", "relu", "pool", "flat", "mm", "y"]
        .iter()
        .map(|n| g.add_value(*n, None))
        .collect();
    let conv = Op::Conv(Conv {
        window: window(&[3, 3], 1, 1),
        group: 1,
    });
    g.add_node(
        "conv1",
        conv,
        vec![Some(xi), Some(wi), Some(bi)],
        vec![Some(vals[0])],
    );
    g.add_node(
        "relu1",
        Op::Unary(UnaryOp::Relu),
        vec![Some(vals[0])],
        vec![Some(vals[1])],
    );
    g.add_node(
        "pool1",
        max_pool(2, 2),
        vec![Some(vals[1])],
        vec![Some(vals[2])],
    );
    g.add_node(
        "flat",
        Op::Flatten(Flatten { axis: 1 }),
        vec![Some(vals[2])],
        vec![Some(vals[3])],
    );
    g.add_node(
        "fc",
        Op::MatMul(MatMul),
        vec![Some(vals[3]), Some(fci)],
        vec![Some(vals[4])],
    );
    g.add_node(
        "bias",
        Op::Binary(BinaryOp::Add),
        vec![Some(vals[4]), Some(fbi)],
        vec![Some(vals[5])],
    );
    g.outputs.push(vals[5]);
    tessera_ir::infer::infer_graph(&mut g).unwrap();
    let weights = (72 + 4 + 180 + 5) * 4;
    let exe = d.compile(&Subgraph::new("net", g)).unwrap();
    assert_eq!(
        d.memory_stats().used,
        weights,
        "weights live in device memory"
    );
    let maps = d.memory_stats().host_maps;
    let input = upload(&d, &t(&[1, 2, 6, 6], &x));
    let (done, slot) = run(&d, &exe, vec![input], &[]);
    done.wait(1, LONG).unwrap();
    let out = slot.take().unwrap();
    let y = download(&d, &out[0]);
    assert_eq!(
        d.memory_stats().host_maps,
        maps + 2,
        "one upload map, one download map"
    );
    assert_eq!(y.shape(), &[1, 5]);
    let want = reference(&x, &w, &b, &fc, &fb);
    // Tolerance: 1e-4 absolute (f32 accumulation order differs from the reference).
    for (a, e) in y.as_slice::<f32>().unwrap().iter().zip(&want) {
        assert!((a - e).abs() < 1e-4, "{a} vs {e}");
    }
    // Intermediates were released; the output (8 × 5 bytes … 20 bytes) and the input remain.
    drop(slot);
    let in_use = d.memory_stats().used;
    assert!(in_use <= weights + 20 + 288, "{in_use}");
}

#[test]
fn int8_pipeline() {
    let d = device(VnpuConfig::new());
    let mut g = Graph::new("q");
    let i8t = |dims: &[usize]| ty(DType::I8, dims);
    let a = g.add_value("a", i8t(&[1, 1, 2, 4]));
    let b = g.add_value("b", i8t(&[4]));
    g.inputs = vec![a, b];
    let (s, r, p) = (
        g.add_value("s", None),
        g.add_value("r", None),
        g.add_value("p", None),
    );
    g.add_node(
        "add",
        Op::Binary(BinaryOp::Add),
        vec![Some(a), Some(b)],
        vec![Some(s)],
    );
    g.add_node(
        "relu",
        Op::Unary(UnaryOp::Relu),
        vec![Some(s)],
        vec![Some(r)],
    );
    g.add_node("pool", max_pool(2, 2), vec![Some(r)], vec![Some(p)]);
    g.outputs = vec![p];
    tessera_ir::infer::infer_graph(&mut g).unwrap();
    let exe = d.compile(&Subgraph::new("q", g)).unwrap();
    let ta = Tensor::from_vec(vec![1, 1, 2, 4], vec![1i8, -5, 120, 3, -7, 2, 10, -1]).unwrap();
    let tb = Tensor::from_vec(vec![4], vec![2i8, 1, 10, -4]).unwrap();
    let (done, slot) = run(&d, &exe, vec![upload(&d, &ta), upload(&d, &tb)], &[]);
    done.wait(1, LONG).unwrap();
    let y = download(&d, &slot.take().unwrap()[0]);
    // a + b = [3, −4, −126 (wrapped), −1; −5, 3, 20, −5] → relu → 2×2 max.
    assert_eq!(y.shape(), &[1, 1, 1, 2]);
    assert_eq!(y.as_slice::<i8>().unwrap(), &[3, 20]);
}
