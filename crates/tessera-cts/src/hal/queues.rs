//! Queue cases: Fill and Copy over ranges, work refused at submit, ordering by wait and
//! signal lists only, every queue of the device, hundreds of submissions, and an Execute of a
//! one-node subgraph the device supports.

use std::sync::Arc;
use std::time::Duration;

use tessera_hal::{
    Device, DeviceValue, Executable, HalError, OutputSlot, Queue, Subgraph, Timeline, Work,
};
use tessera_ir::op::{BinaryOp, UnaryOp};
use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueType};

use super::{
    at, check, contents, label, pattern_bytes, peer_queue, queue0, scratch, timeline, wait,
    CaseFailure, CaseResult, Context, HalCase, HalTarget,
};

/// The queue cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "queues.fill_ranges",
        about: "Fill with 1-, 2-, 4- and 8-byte patterns writes exactly its range",
        run: fill_ranges,
    },
    HalCase {
        name: "queues.invalid_work_refused",
        about: "bad fill patterns and out-of-range fills and copies are refused at submit",
        run: invalid_work_refused,
    },
    HalCase {
        name: "queues.copy_ranges",
        about: "Copy between buffers and overlapping copies within one buffer",
        run: copy_ranges,
    },
    HalCase {
        name: "queues.ordered_by_timelines",
        about: "work runs after its wait points, also when its producer is submitted later",
        run: ordered_by_timelines,
    },
    HalCase {
        name: "queues.every_queue",
        about: "every queue runs work; a queue past queue_count() is refused",
        run: every_queue,
    },
    HalCase {
        name: "queues.across_queues",
        about: "work on one queue of the device waits on work of another",
        run: across_queues,
    },
    HalCase {
        name: "queues.many_submissions",
        about: "hundreds of submissions complete with every signal reached",
        run: many_submissions,
    },
    HalCase {
        name: "queues.execute",
        about: "Execute of a one-node subgraph the device supports gives the right result",
        run: execute,
    },
];

fn fill(dst: &Arc<dyn tessera_hal::Buffer>, offset: usize, len: usize, pattern: &[u8]) -> Work {
    Work::Fill {
        dst: dst.clone(),
        offset,
        len,
        pattern: pattern.to_vec(),
    }
}

fn copy(
    src: &Arc<dyn tessera_hal::Buffer>,
    src_offset: usize,
    dst: &Arc<dyn tessera_hal::Buffer>,
    dst_offset: usize,
    len: usize,
) -> Work {
    Work::Copy {
        src: src.clone(),
        src_offset,
        dst: dst.clone(),
        dst_offset,
        len,
    }
}

fn fill_ranges(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 80, 0)?;
    let done = timeline("fill");
    let fills: [(usize, usize, &[u8]); 6] = [
        (3, 7, &[0xAB]),
        (16, 8, &[1, 2]),
        (32, 8, &[9, 8, 7, 6]),
        (48, 16, &[1, 2, 3, 4, 5, 6, 7, 8]),
        (70, 0, &[0xEE]),
        (79, 1, &[0x55]),
    ];
    let mut want = vec![0u8; 80];
    for (i, (offset, len, pattern)) in fills.iter().enumerate() {
        q.submit(
            fill(&b, *offset, *len, pattern),
            &[],
            &at(&done, i as u64 + 1),
        )
        .ctx(&format!("submitting a fill of {len} bytes at {offset}"))?;
        want[*offset..offset + len].copy_from_slice(&pattern_bytes(pattern, *len));
        // One at a time: the fills are not ordered against each other otherwise.
        wait(&done, i as u64 + 1, "a fill")?;
    }
    let got = contents(&b)?;
    check(got == want, || {
        format!("after the fills the buffer holds {got:?}, want {want:?}")
    })
}

/// Submits `work` expecting a refusal matching `ok`; checks that nothing was signalled.
fn expect_refused(
    q: &Arc<dyn Queue>,
    work: Work,
    what: &str,
    ok: fn(&HalError) -> bool,
) -> CaseResult {
    let t = timeline("refused");
    match q.submit(work, &[], &at(&t, 1)) {
        Err(e) if ok(&e) => {}
        Err(e) => {
            return Err(CaseFailure::fail(format!(
                "{what}: refused with an unexpected error: {e}"
            )))
        }
        Ok(()) => {
            return Err(CaseFailure::fail(format!(
                "{what}: accepted, should be refused at submit"
            )))
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    check(t.value() == 0 && t.failure().is_none(), || {
        format!("{what}: refused at submit, yet its signal timeline moved or failed")
    })
}

fn invalid_work_refused(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 16, 0)?;
    let invalid = |e: &HalError| matches!(e, HalError::Invalid(_));
    let oob = |e: &HalError| matches!(e, HalError::OutOfBounds { .. });
    expect_refused(
        &q,
        fill(&b, 0, 4, &[]),
        "a fill with an empty pattern",
        invalid,
    )?;
    expect_refused(
        &q,
        fill(&b, 0, 6, &[1, 2, 3]),
        "a fill with a 3-byte pattern",
        invalid,
    )?;
    expect_refused(
        &q,
        fill(&b, 0, 16, &[0; 16]),
        "a fill with a 16-byte pattern",
        invalid,
    )?;
    expect_refused(
        &q,
        fill(&b, 0, 6, &[1, 2, 3, 4]),
        "a fill of 6 bytes with a 4-byte pattern",
        invalid,
    )?;
    expect_refused(&q, fill(&b, 12, 8, &[1]), "a fill past the end", oob)?;
    expect_refused(
        &q,
        fill(&b, usize::MAX, 2, &[1]),
        "a fill at usize::MAX",
        oob,
    )?;
    expect_refused(&q, copy(&b, 10, &b, 0, 7), "a copy from past the end", oob)?;
    expect_refused(&q, copy(&b, 0, &b, 10, 7), "a copy to past the end", oob)?;
    let got = contents(&b)?;
    check(got == vec![0; 16], || {
        format!("refused work changed the buffer: {got:?}")
    })
}

fn copy_ranges(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let src = scratch(&*dev, 64, 0)?;
    let data: Vec<u8> = (0..64).collect();
    src.write_bytes(0, &data).ctx("writing the source")?;
    let dst = scratch(&*dev, 64, 0xFF)?;
    let t = timeline("copy");
    let mut want_dst = vec![0xFFu8; 64];
    let mut want_src = data.clone();
    // (from src?, src_offset, dst_offset, len): each runs after the previous one.
    let steps: [(bool, usize, usize, usize); 5] = [
        (true, 5, 40, 11),   // src → dst
        (true, 0, 0, 0),     // empty copy
        (false, 0, 8, 20),   // overlapping, forward within src
        (false, 30, 25, 20), // overlapping, backward within src
        (false, 63, 0, 1),   // last byte to the first
    ];
    for (i, (to_dst, so, doff, len)) in steps.iter().enumerate() {
        let (work, what) = if *to_dst {
            want_dst[*doff..doff + len].copy_from_slice(&want_src[*so..so + len]);
            (copy(&src, *so, &dst, *doff, *len), "a copy between buffers")
        } else {
            let chunk = want_src[*so..so + len].to_vec();
            want_src[*doff..doff + len].copy_from_slice(&chunk);
            (
                copy(&src, *so, &src, *doff, *len),
                "a copy within one buffer",
            )
        };
        let n = i as u64 + 1;
        let waits = if n > 1 { at(&t, n - 1) } else { Vec::new() };
        q.submit(work, &waits, &at(&t, n))
            .ctx(&format!("submitting {what}"))?;
    }
    wait(&t, steps.len() as u64, "the copies")?;
    let (got_src, got_dst) = (contents(&src)?, contents(&dst)?);
    check(got_dst == want_dst, || {
        format!("copy between buffers: destination holds {got_dst:?}, want {want_dst:?}")
    })?;
    check(got_src == want_src, || {
        format!(
            "overlapping copies within one buffer (they copy as if through a temporary): \
             buffer holds {got_src:?}, want {want_src:?}"
        )
    })
}

fn ordered_by_timelines(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;

    // 1. The consumer waits on a point the host signals after writing the source.
    let src = scratch(&*dev, 32, 0)?;
    let dst = scratch(&*dev, 32, 0)?;
    let gate = super::host_timeline("gate");
    let done = timeline("copied");
    q.submit(copy(&src, 0, &dst, 0, 32), &at(&gate, 1), &at(&done, 1))
        .ctx("submitting a copy gated on a host-signalled point")?;
    std::thread::sleep(Duration::from_millis(30));
    check(done.value() == 0 && contents(&dst)? == vec![0; 32], || {
        "a copy ran before its wait point was reached".into()
    })?;
    src.write_bytes(0, &[7; 32]).ctx("writing the source")?;
    gate.signal(1).ctx("signalling the gate")?;
    wait(&done, 1, "the gated copy")?;
    check(contents(&dst)? == vec![7; 32], || {
        "the gated copy did not see the bytes written before its wait point".into()
    })?;

    // 2. Consumer submitted before its producer, on the same queue.
    let src2 = scratch(&*dev, 16, 0)?;
    let dst2 = scratch(&*dev, 16, 0)?;
    let produced = timeline("produced");
    let consumed = timeline("consumed");
    q.submit(
        copy(&src2, 0, &dst2, 0, 16),
        &at(&produced, 1),
        &at(&consumed, 1),
    )
    .ctx("submitting a consumer before its producer")?;
    match q.submit(fill(&src2, 0, 16, &[3]), &[], &at(&produced, 1)) {
        Ok(()) => {
            wait(&consumed, 1, "a consumer submitted before its producer")?;
            check(contents(&dst2)? == vec![3; 16], || {
                "a consumer submitted before its producer did not see the producer's bytes".into()
            })?;
        }
        Err(HalError::Deadlock(report)) => {
            // An in-order queue: the producer would sit behind the consumer forever, and the
            // checker says so instead of hanging. Legal; clean up and note it.
            produced.fail(HalError::Invalid("cts cleanup".into()));
            let _ = consumed.wait(1, super::WAIT);
            target.note(format!(
                "queue runs in submission order: a producer submitted after its consumer on \
                 the same queue is refused ({report})"
            ));
        }
        Err(e) => {
            return Err(CaseFailure::fail(format!(
                "submitting a producer after its consumer: {e}"
            )))
        }
    }

    // 3. Consumer submitted before its producer, the producer on another queue.
    let (peer, peer_dev, peer_name) = peer_queue(target, &dev)?;
    let b3 = scratch(&*dev, 8, 0)?;
    let p3 = timeline("produced");
    let c3 = timeline("consumed");
    q.submit(fill(&b3, 0, 8, &[1]), &at(&p3, 1), &at(&c3, 1))
        .ctx("submitting a consumer whose producer is not submitted yet")?;
    std::thread::sleep(Duration::from_millis(30));
    check(c3.value() == 0, || {
        "a consumer ran before its producer was even submitted".into()
    })?;
    let pb = peer_buffer(&peer_dev)?;
    peer.submit(fill(&pb, 0, 8, &[2]), &[], &at(&p3, 1))
        .ctx(&format!("submitting the producer on {peer_name}"))?;
    wait(
        &c3,
        1,
        &format!("a consumer whose producer ran on {peer_name}"),
    )?;
    check(p3.value() >= 1, || {
        "the consumer's signal was reached before its wait point".into()
    })
}

fn peer_buffer(dev: &Arc<dyn Device>) -> Result<Arc<dyn tessera_hal::Buffer>, CaseFailure> {
    scratch(&**dev, 8, 0)
}

fn every_queue(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let n = dev.queue_count();
    check(n > 0, || "queue_count() is 0".into())?;
    for i in 0..n {
        let q = dev.queue(i).ctx(&format!("getting queue {i}"))?;
        check(!q.name().is_empty(), || {
            format!("queue {i} has an empty name")
        })?;
        let b = scratch(&*dev, 8, 0)?;
        let t = timeline("queue");
        q.submit(fill(&b, 0, 8, &[i as u8 + 1]), &[], &at(&t, 1))
            .ctx(&format!("submitting to queue {i}"))?;
        wait(&t, 1, &format!("a fill on queue {i}"))?;
        check(contents(&b)? == vec![i as u8 + 1; 8], || {
            format!("a fill on queue {i} did not write its bytes")
        })?;
    }
    match dev.queue(n) {
        Err(HalError::NoSuchQueue { .. }) => Ok(()),
        Err(e) => Err(CaseFailure::fail(format!(
            "queue({n}) of {n}: expected NoSuchQueue, got {e}"
        ))),
        Ok(_) => Err(CaseFailure::fail(format!(
            "queue({n}) of a device with {n} queue(s) returned a queue"
        ))),
    }
}

fn across_queues(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let n = dev.queue_count();
    if n < 2 {
        return Err(CaseFailure::skip(format!(
            "the device has {n} queue (ordering against other devices' queues is covered by \
             queues.ordered_by_timelines)"
        )));
    }
    // A ring across every queue: queue i copies the previous queue's block forward.
    let b = scratch(&*dev, 8 * (n + 1), 0)?;
    let t = timeline("ring");
    for i in (0..n).rev() {
        let q = dev.queue(i).ctx(&format!("getting queue {i}"))?;
        q.submit(
            copy(&b, 8 * i, &b, 8 * (i + 1), 8),
            &at(&t, i as u64 + 1),
            &at(&t, i as u64 + 2),
        )
        .ctx(&format!(
            "submitting a copy to queue {i} before its producer"
        ))?;
    }
    let first = queue0(&*dev)?;
    first
        .submit(fill(&b, 0, 8, &[9]), &[], &at(&t, 1))
        .ctx("submitting the fill that starts the ring")?;
    wait(&t, n as u64 + 1, "a chain of copies across every queue")?;
    check(contents(&b)? == vec![9; 8 * (n + 1)], || {
        "copies chained across queues did not carry the bytes through".into()
    })
}

/// Number of submissions of `queues.many_submissions`.
const MANY: usize = 300;

fn many_submissions(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, MANY, 0)?;
    // Half on their own timelines, half chained on one.
    let own: Vec<Arc<Timeline>> = (0..MANY / 2).map(|_| timeline("own")).collect();
    let chain = timeline("chain");
    for i in 0..MANY {
        let byte = (i % 251) as u8 + 1;
        let work = fill(&b, i, 1, &[byte]);
        let r = if i % 2 == 0 {
            q.submit(work, &[], &at(&own[i / 2], 1))
        } else {
            let k = (i / 2) as u64 + 1;
            let waits = if k > 1 { at(&chain, k - 1) } else { Vec::new() };
            q.submit(work, &waits, &at(&chain, k))
        };
        r.ctx(&format!("submission {i} of {MANY}"))?;
    }
    for (i, t) in own.iter().enumerate() {
        wait(t, 1, &format!("independent submission {}", 2 * i))?;
    }
    wait(&chain, (MANY / 2) as u64, "the last chained submission")?;
    let got = contents(&b)?;
    let want: Vec<u8> = (0..MANY).map(|i| (i % 251) as u8 + 1).collect();
    check(got == want, || {
        let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
        format!(
            "after {MANY} fills byte {first} is {}, want {}",
            got[first], want[first]
        )
    })
}

/// A compiled one-node executable, its inputs and the expected output.
pub(crate) struct Compiled {
    /// The executable.
    pub exe: Arc<dyn Executable>,
    /// Host inputs, in order.
    pub inputs: Vec<Tensor>,
    /// The expected single output.
    pub expected: Tensor,
    /// The node's op, for messages.
    pub op: String,
}

/// Builds, asks `supports` about and compiles the first candidate the device runs: Relu,
/// Add, Mul, Sub, Neg or Abs on small f32 tensors. Skips when it supports none.
pub(crate) fn compile_tiny(dev: &dyn Device) -> Result<Compiled, CaseFailure> {
    let x = vec![-1.5f32, 0.0, 2.0, -3.0, 4.5, 0.25];
    let y = vec![1.0f32, 2.0, -3.0, 0.5, -4.5, 8.0];
    type Candidate = (Op, usize, fn(f32, f32) -> f32);
    let candidates: [Candidate; 6] = [
        (Op::Unary(UnaryOp::Relu), 1, |a, _| a.max(0.0)),
        (Op::Binary(BinaryOp::Add), 2, |a, b| a + b),
        (Op::Binary(BinaryOp::Mul), 2, |a, b| a * b),
        (Op::Binary(BinaryOp::Sub), 2, |a, b| a - b),
        (Op::Unary(UnaryOp::Neg), 1, |a, _| -a),
        (Op::Unary(UnaryOp::Abs), 1, |a, _| a.abs()),
    ];
    let ty = Some(ValueType::Tensor(TensorType::known(DType::F32, &[2, 3])));
    let mut refusals = Vec::new();
    for (op, arity, f) in candidates {
        let name = op.name();
        let mut g = Graph::new(format!("cts_{name}"));
        let ids: Vec<_> = (0..arity)
            .map(|i| g.add_value(format!("in{i}"), ty.clone()))
            .collect();
        g.inputs = ids.clone();
        let out = g.add_value("out", None);
        g.add_node(
            name.clone(),
            op,
            ids.into_iter().map(Some).collect(),
            vec![Some(out)],
        );
        g.outputs = vec![out];
        tessera_ir::infer::infer_graph(&mut g)
            .map_err(|e| CaseFailure::fail(format!("building a {name} graph: {e}")))?;
        let types = vec![ty.clone(); arity];
        let support = dev.supports(&g.nodes[0], &types);
        if !support.is_yes() {
            refusals.push(format!("{name}: {support}"));
            continue;
        }
        let exe = dev
            .compile(&Subgraph::new(format!("cts_{name}"), g))
            .ctx(&format!(
                "compiling a {name} node the device says it supports"
            ))?;
        let tensor = |v: &Vec<f32>| {
            Tensor::from_vec(vec![2, 3], v.clone())
                .map_err(|e| CaseFailure::fail(format!("building a tensor: {e}")))
        };
        let mut inputs = vec![tensor(&x)?];
        if arity == 2 {
            inputs.push(tensor(&y)?);
        }
        let want: Vec<f32> = x.iter().zip(&y).map(|(a, b)| f(*a, *b)).collect();
        return Ok(Compiled {
            exe,
            inputs,
            expected: tensor(&want)?,
            op: name,
        });
    }
    Err(CaseFailure::skip(format!(
        "the device supports none of the candidate f32 nodes ({})",
        refusals.join("; ")
    )))
}

/// Uploads host tensors as device values.
pub(crate) fn upload_all(dev: &dyn Device, ts: &[Tensor]) -> Result<Vec<DeviceValue>, CaseFailure> {
    ts.iter()
        .map(|t| DeviceValue::upload(dev, &Value::Tensor(t.clone())).ctx("uploading an input"))
        .collect()
}

fn execute(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let c = compile_tiny(&*dev)?;
    check(
        c.exe.inputs().len() == c.inputs.len() && c.exe.outputs().len() == 1,
        || {
            format!(
                "a compiled {} node has {} inputs and {} outputs",
                c.op,
                c.exe.inputs().len(),
                c.exe.outputs().len()
            )
        },
    )?;
    let q = queue0(&*dev)?;
    let inputs = upload_all(&*dev, &c.inputs)?;
    let slot = OutputSlot::new();
    let done = Arc::new(Timeline::new(label("executed")));
    q.submit(
        Work::Execute {
            executable: c.exe.clone(),
            inputs,
            outputs: slot.clone(),
        },
        &[],
        &at(&done, 1),
    )
    .ctx(&format!("submitting an execute of {}", c.op))?;
    wait(&done, 1, &format!("an execute of {}", c.op))?;
    let outs = slot.take().ctx("taking the outputs")?;
    check(outs.len() == 1, || {
        format!("{} outputs, want 1", outs.len())
    })?;
    let got = outs[0]
        .download(&*dev)
        .ctx("downloading the output")?
        .into_tensor()
        .ok_or_else(|| CaseFailure::fail("the output is not a tensor"))?;
    check(got == c.expected, || {
        format!("{} gave {got:?}, want {:?}", c.op, c.expected)
    })?;
    target.note(format!("executed {}", c.op));
    Ok(())
}
