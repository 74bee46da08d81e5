//! Failure-propagation cases: work behind a failed wait does not run and passes the original
//! error on; a failed Execute fails its signal timeline and everything downstream, never a
//! hang.

use std::time::Duration;

use tessera_hal::{DeviceValue, HalError, OutputSlot, Work};
use tessera_ir::{Tensor, Value};

use super::queues::{compile_tiny, upload_all};
use super::{
    at, check, check_root, contents, host_timeline, queue0, scratch, timeline, wait_failed,
    CaseFailure, CaseResult, Context, HalCase, HalTarget,
};

/// The failure-propagation cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "failures.failed_wait_skips_work",
        about: "work whose wait fails does not run and fails its signals with the original error",
        run: failed_wait_skips_work,
    },
    HalCase {
        name: "failures.execute_wrong_input_count",
        about: "an Execute with the wrong number of inputs is refused at submit",
        run: execute_wrong_input_count,
    },
    HalCase {
        name: "failures.execute_wrong_dtype",
        about: "an Execute on an input of the wrong dtype fails its signals and downstream waiters",
        run: execute_wrong_dtype,
    },
];

fn failed_wait_skips_work(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 16, 0)?;
    let gate = host_timeline("gate");
    let (s1, s2) = (timeline("first"), timeline("second"));
    q.submit(
        Work::Fill {
            dst: b.clone(),
            offset: 0,
            len: 16,
            pattern: vec![0xFF],
        },
        &at(&gate, 1),
        &at(&s1, 1),
    )
    .ctx("submitting work behind a gate")?;
    q.submit(
        Work::Fill {
            dst: b.clone(),
            offset: 0,
            len: 8,
            pattern: vec![0xEE],
        },
        &at(&s1, 1),
        &at(&s2, 1),
    )
    .ctx("submitting work behind it")?;
    let marker = "cts: injected wait failure";
    gate.fail(HalError::Invalid(marker.into()));
    let e = wait_failed(&s1, 1, "the signal of work whose wait failed")?;
    check_root(&e, marker, "the signal of work whose wait failed")?;
    let e = wait_failed(&s2, 1, "the signal of work downstream of it")?;
    check_root(&e, marker, "the signal of work downstream of it")?;
    check(contents(&b)? == vec![0; 16], || {
        "work whose wait point failed ran anyway".into()
    })?;
    // The queue still runs later work.
    let ok = timeline("after");
    q.submit(
        Work::Fill {
            dst: b.clone(),
            offset: 0,
            len: 4,
            pattern: vec![4],
        },
        &[],
        &at(&ok, 1),
    )
    .ctx("submitting work after the failure")?;
    super::wait(&ok, 1, "work submitted after a failure")
}

fn execute_wrong_input_count(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let c = compile_tiny(&*dev)?;
    let q = queue0(&*dev)?;
    let mut inputs = upload_all(&*dev, &c.inputs)?;
    let extra = inputs
        .first()
        .cloned()
        .ok_or_else(|| CaseFailure::fail("no inputs"))?;
    for (n, given) in [
        (0usize, Vec::new()),
        (inputs.len() + 1, {
            inputs.push(extra);
            inputs.clone()
        }),
    ] {
        let t = timeline("refused");
        match q.submit(
            Work::Execute {
                executable: c.exe.clone(),
                inputs: given,
                outputs: OutputSlot::new(),
            },
            &[],
            &at(&t, 1),
        ) {
            Err(HalError::Invalid(_)) => {}
            other => {
                return Err(CaseFailure::fail(format!(
                    "an execute of {} with {n} inputs ({} expected): expected Invalid at \
                     submit, got {other:?}",
                    c.op,
                    c.exe.inputs().len()
                )))
            }
        }
        std::thread::sleep(Duration::from_millis(5));
        check(t.value() == 0 && t.failure().is_none(), || {
            "an execute refused at submit moved or failed its signal timeline".into()
        })?;
    }
    Ok(())
}

fn execute_wrong_dtype(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let c = compile_tiny(&*dev)?;
    let q = queue0(&*dev)?;
    // Same shape, wrong dtype: i32 where the executable was compiled for f32.
    let wrong: Vec<DeviceValue> = c
        .inputs
        .iter()
        .map(|t| {
            let i = Tensor::from_vec(t.shape().to_vec(), vec![1i32; t.shape().iter().product()])
                .map_err(|e| CaseFailure::fail(format!("building an i32 tensor: {e}")))?;
            DeviceValue::upload(&*dev, &Value::Tensor(i)).ctx("uploading an i32 input")
        })
        .collect::<Result<_, _>>()?;
    let (done, down) = (timeline("executed"), timeline("downstream"));
    let slot = OutputSlot::new();
    let b = scratch(&*dev, 8, 0)?;
    match q.submit(
        Work::Execute {
            executable: c.exe.clone(),
            inputs: wrong,
            outputs: slot.clone(),
        },
        &[],
        &at(&done, 1),
    ) {
        Ok(()) => {}
        Err(HalError::Invalid(m)) => {
            target.note(format!("refused at submit: {m}"));
            return Ok(());
        }
        Err(e) => {
            return Err(CaseFailure::fail(format!(
                "an execute of {} on i32 inputs: refused at submit with an unexpected error: {e}",
                c.op
            )))
        }
    }
    q.submit(
        Work::Fill {
            dst: b.clone(),
            offset: 0,
            len: 8,
            pattern: vec![1],
        },
        &at(&done, 1),
        &at(&down, 1),
    )
    .ctx("submitting work downstream of the execute")?;
    let e = wait_failed(
        &done,
        1,
        &format!("an execute of {} compiled for f32, run on i32 inputs", c.op),
    )?;
    let root = e.root().clone();
    let e2 = wait_failed(&down, 1, "work downstream of a failed execute")?;
    check(e2.root().to_string() == root.to_string(), || {
        format!(
            "downstream work failed with root '{}', the execute with '{root}'",
            e2.root()
        )
    })?;
    check(
        matches!(slot.take(), Err(HalError::OutputsNotReady)),
        || "a failed execute left outputs in its slot".into(),
    )?;
    check(contents(&b)? == vec![0; 8], || {
        "work downstream of a failed execute ran".into()
    })?;
    target.note(format!("failed at run: {root}"));
    Ok(())
}
