//! Timeline cases: signal and wait semantics with the device's queue as signaller,
//! regressions refused, wait timeouts, and failures reaching every waiter with the original
//! error as [`HalError::root`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_hal::{HalError, Work};

use super::{
    at, check, check_root, host_timeline, queue0, scratch, timeline, wait, wait_failed,
    CaseFailure, CaseResult, Context, HalCase, HalTarget,
};

/// The timeline cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "timelines.signal_and_wait",
        about: "queue work signals a point; waits on it and on lower values return",
        run: signal_and_wait,
    },
    HalCase {
        name: "timelines.regression_refused",
        about: "signalling a value not above the current one is refused, at the host and at submit",
        run: regression_refused,
    },
    HalCase {
        name: "timelines.wait_timeout",
        about: "a wait on a host-signalled point nobody signals times out with Timeout",
        run: wait_timeout,
    },
    HalCase {
        name: "timelines.failure_reaches_every_waiter",
        about: "a failure reaches every downstream submission and host waiter with its root",
        run: failure_reaches_every_waiter,
    },
];

fn fill8(b: &Arc<dyn tessera_hal::Buffer>, byte: u8) -> Work {
    Work::Fill {
        dst: b.clone(),
        offset: 0,
        len: 8,
        pattern: vec![byte],
    }
}

fn signal_and_wait(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let gate = host_timeline("gate");
    let t = timeline("signalled");
    q.submit(fill8(&b, 1), &at(&gate, 2), &at(&t, 5))
        .ctx("submitting a fill that signals value 5")?;
    check(!t.poll(1).ctx("polling")?, || {
        "a point was reached before its work ran".into()
    })?;
    gate.signal(1).ctx("signalling the gate to 1")?;
    std::thread::sleep(Duration::from_millis(20));
    check(t.value() == 0, || {
        "work waiting on value 2 ran when its timeline reached 1".into()
    })?;
    gate.signal(2).ctx("signalling the gate to 2")?;
    wait(&t, 3, "a value below the signalled one")?;
    wait(&t, 5, "the signalled value")?;
    check(t.value() == 5, || {
        format!("the timeline is at {}, want 5", t.value())
    })?;
    check(
        t.poll(5).ctx("polling")? && !t.poll(6).ctx("polling")?,
        || "poll disagrees with the value".into(),
    )?;
    // Reached points stay reached; waits on them return at once.
    let start = Instant::now();
    wait(&t, 1, "an already reached value")?;
    check(start.elapsed() < Duration::from_secs(1), || {
        "a wait on a reached value did not return at once".into()
    })?;
    // A host-signalled timeline with waiters on several threads.
    let h = host_timeline("host");
    let waiters: Vec<_> = (1..=3u64)
        .map(|v| {
            let h = h.clone();
            std::thread::spawn(move || h.wait(v, super::WAIT))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(10));
    h.signal(3).ctx("signalling a host timeline")?;
    for (i, w) in waiters.into_iter().enumerate() {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(CaseFailure::fail(format!(
                    "a host waiter on value {}: {e}",
                    i + 1
                )))
            }
            Err(_) => return Err(CaseFailure::fail("a host waiter panicked")),
        }
    }
    Ok(())
}

fn regression_refused(target: &HalTarget) -> CaseResult {
    let h = host_timeline("grows");
    h.signal(2).ctx("signalling 2")?;
    for v in [2, 1, 0] {
        match h.signal(v) {
            Err(HalError::TimelineRegression {
                current, requested, ..
            }) if current == 2 && requested == v => {}
            other => {
                return Err(CaseFailure::fail(format!(
                    "signalling {v} on a timeline at 2: expected TimelineRegression, got {other:?}"
                )))
            }
        }
    }
    check(h.value() == 2, || {
        format!("the timeline moved to {}", h.value())
    })?;
    // A submission that would move a timeline backwards is refused at submit.
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let t = host_timeline("backwards");
    for w in [3u64, 2] {
        match q.submit(fill8(&b, 1), &at(&t, 3), &at(&t, w)) {
            Err(HalError::Invalid(_)) => {}
            other => {
                return Err(CaseFailure::fail(format!(
                    "a submission waiting on value 3 and signalling {w} of the same timeline: \
                     expected Invalid at submit, got {other:?}"
                )))
            }
        }
    }
    // The chain pattern (wait k, signal k + 1) is fine.
    let c = timeline("chain");
    q.submit(fill8(&b, 1), &[], &at(&c, 1))
        .ctx("submitting the first link")?;
    q.submit(fill8(&b, 2), &at(&c, 1), &at(&c, 2))
        .ctx("submitting a link that waits on k and signals k + 1")?;
    wait(&c, 2, "a chain of two links")
}

fn wait_timeout(_target: &HalTarget) -> CaseResult {
    let h = host_timeline("never");
    let limit = Duration::from_millis(100);
    let start = Instant::now();
    let r = h.wait(1, limit);
    let took = start.elapsed();
    match r {
        Err(HalError::Timeout {
            value: 1,
            current: 0,
            ..
        }) => {}
        other => {
            return Err(CaseFailure::fail(format!(
                "a 100 ms wait on an unsignalled host point: expected Timeout, got {other:?}"
            )))
        }
    }
    check(took >= limit && took < Duration::from_secs(5), || {
        format!("a 100 ms wait returned after {took:?}")
    })?;
    match h.wait(1, Duration::ZERO) {
        Err(HalError::Timeout { .. }) => Ok(()),
        other => Err(CaseFailure::fail(format!(
            "a zero-timeout wait: expected Timeout, got {other:?}"
        ))),
    }
}

fn failure_reaches_every_waiter(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let gate = host_timeline("gate");
    let (a, l, r, d) = (
        timeline("a"),
        timeline("left"),
        timeline("right"),
        timeline("joined"),
    );
    // gate@1 → a@1 → {left@1, right@1} → joined@1, plus a@0.5 reached before the failure.
    let early = timeline("early");
    q.submit(fill8(&b, 1), &[], &at(&early, 1))
        .ctx("submitting work that completes before the failure")?;
    wait(&early, 1, "the work before the failure")?;
    q.submit(fill8(&b, 2), &at(&gate, 1), &at(&a, 1))
        .ctx("submitting the head")?;
    q.submit(fill8(&b, 3), &at(&a, 1), &at(&l, 1))
        .ctx("submitting the left branch")?;
    q.submit(fill8(&b, 4), &at(&a, 1), &at(&r, 1))
        .ctx("submitting the right branch")?;
    q.submit(fill8(&b, 5), &[(l.clone(), 1), (r.clone(), 1)], &at(&d, 1))
        .ctx("submitting the join")?;
    let host_waiters: Vec<_> = [a.clone(), d.clone()]
        .into_iter()
        .map(|t| std::thread::spawn(move || t.wait(1, super::WAIT)))
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let marker = "cts: injected failure";
    gate.fail(HalError::Invalid(marker.into()));
    for (t, what) in [(&a, "head"), (&l, "left"), (&r, "right"), (&d, "join")] {
        let e = wait_failed(t, 1, &format!("the {what}'s signal point"))?;
        check(matches!(e, HalError::TimelineFailed { .. }), || {
            format!("the {what}'s signal point: expected TimelineFailed, got {e}")
        })?;
        check_root(&e, marker, &format!("the {what}'s signal point"))?;
    }
    for w in host_waiters {
        match w.join() {
            Ok(Err(e)) => check_root(&e, marker, "a host thread waiting on the pipeline")?,
            Ok(Ok(())) => {
                return Err(CaseFailure::fail(
                    "a host waiter saw a failed point reached",
                ))
            }
            Err(_) => return Err(CaseFailure::fail("a host waiter panicked")),
        }
    }
    // The failure is sticky and does not undo points reached before it.
    check(early.poll(1).ctx("polling the earlier point")?, || {
        "a point reached before the failure is no longer reached".into()
    })?;
    check(super::contents(&b)? == vec![1; 8], || {
        "work behind a failed wait ran anyway".into()
    })?;
    match gate.signal(2) {
        Err(HalError::TimelineFailed { .. }) => Ok(()),
        other => Err(CaseFailure::fail(format!(
            "signalling a failed timeline: expected TimelineFailed, got {other:?}"
        ))),
    }
}
