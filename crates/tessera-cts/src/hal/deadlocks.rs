//! Deadlock cases: a submission closing a cycle of waits is refused with
//! [`HalError::Deadlock`] naming both submissions; a host wait on a point nothing can signal
//! fails with it quickly; waiting on a point whose producer comes later is not reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_hal::{Buffer, DeadlockReport, HalError, Queue, Timeline, Work};

use super::{
    at, check, peer_queue, queue0, scratch, timeline, wait, wait_failed, CaseFailure, CaseResult,
    Context, HalCase, HalTarget, WAIT,
};

/// The deadlock cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "deadlocks.cycle_on_one_queue",
        about: "two submissions to one queue waiting on each other's signal: the second is refused",
        run: cycle_on_one_queue,
    },
    HalCase {
        name: "deadlocks.cycle_across_queues",
        about: "two queues waiting on each other's later signal: the second submit is refused",
        run: cycle_across_queues,
    },
    HalCase {
        name: "deadlocks.host_wait_unreachable",
        about: "a host wait on a point nothing pending signals fails with Deadlock at once",
        run: host_wait_unreachable,
    },
    HalCase {
        name: "deadlocks.wait_before_signal_is_not_a_deadlock",
        about: "waiting on a point whose producer is submitted later is accepted and completes",
        run: wait_before_signal,
    },
];

fn fill(b: &Arc<dyn Buffer>, byte: u8) -> Work {
    Work::Fill {
        dst: b.clone(),
        offset: 0,
        len: 8,
        pattern: vec![byte],
    }
}

/// Submits A to `qa` (waits `u@1`, signals `t@1`) and B to `qb` (waits `t@1`, signals
/// `u@1`), expects B to be refused with a cycle naming both, then fails `u` so that A ends.
fn cycle(qa: &Arc<dyn Queue>, qb: &Arc<dyn Queue>, b: &Arc<dyn Buffer>, what: &str) -> CaseResult {
    let (t, u) = (timeline("t"), timeline("u"));
    qa.submit(fill(b, 1), &at(&u, 1), &at(&t, 1)).ctx(&format!(
        "{what}: submitting A, waiting on a point not yet signalled"
    ))?;
    let result = qb.submit(fill(b, 2), &at(&t, 1), &at(&u, 1));
    let outcome = match result {
        Err(HalError::Deadlock(report)) => match &*report {
            DeadlockReport::Cycle { steps } => {
                let signals = |i: usize, tl: &Timeline| {
                    steps[i]
                        .submission
                        .signals
                        .iter()
                        .any(|p| p.timeline == tl.label() && p.value == 1)
                };
                let text = report.to_string();
                if steps.len() < 2 {
                    Err(format!("a cycle of {} step(s): {text}", steps.len()))
                } else if !signals(0, &u) {
                    Err(format!(
                        "the first step is not the refused submission B: {text}"
                    ))
                } else if !(1..steps.len()).any(|i| signals(i, &t)) {
                    Err(format!("the cycle does not name A: {text}"))
                } else if steps[0].submission.queue != qb.name()
                    || !steps.iter().any(|s| s.submission.queue == qa.name())
                {
                    Err(format!("the cycle does not name both queues: {text}"))
                } else if !text.contains(t.label()) || !text.contains(u.label()) {
                    Err(format!("the message does not name both timelines: {text}"))
                } else {
                    Ok(())
                }
            }
            other => Err(format!("expected a cycle, got: {other}")),
        },
        Err(e) => Err(format!("expected Deadlock, got: {e}")),
        Ok(()) => Err("accepted".to_string()),
    };
    let refused_cleanly = u.value() == 0 && u.failure().is_none();
    // Let A end: it fails its signal with this error.
    u.fail(HalError::Invalid("cts cleanup".into()));
    let _ = wait_failed(&t, 1, &format!("{what}: A after its wait failed"))?;
    outcome.map_err(|m| CaseFailure::fail(format!("{what}: B closes a cycle: {m}")))?;
    check(refused_cleanly, || {
        format!("{what}: a refused submission signalled or failed its points")
    })
}

fn cycle_on_one_queue(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    cycle(&q, &q, &b, "the same queue twice")
}

fn cycle_across_queues(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let (peer, peer_dev, name) = peer_queue(target, &dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let pb = scratch(&*peer_dev, 8, 0)?;
    let (t, u) = (timeline("t"), timeline("u"));
    // A on queue 0 and B on the peer, each on its own device's buffer.
    q.submit(fill(&b, 1), &at(&u, 1), &at(&t, 1))
        .ctx("submitting A to queue 0")?;
    let r = peer.submit(fill(&pb, 2), &at(&t, 1), &at(&u, 1));
    u.fail(HalError::Invalid("cts cleanup".into()));
    let _ = wait_failed(&t, 1, "A after its wait failed")?;
    match r {
        Err(HalError::Deadlock(report)) => {
            let text = report.to_string();
            check(
                matches!(&*report, DeadlockReport::Cycle { steps } if steps.len() == 2)
                    && text.contains(q.name())
                    && text.contains(peer.name()),
                || format!("a cycle between queue 0 and {name} reported as: {text}"),
            )
        }
        other => Err(CaseFailure::fail(format!(
            "B on {name}, waiting on A's signal while A waits on B's: expected Deadlock, got \
             {other:?}"
        ))),
    }
}

fn host_wait_unreachable(target: &HalTarget) -> CaseResult {
    // Nothing at all signals the point.
    let t = timeline("nobody");
    let start = Instant::now();
    let r = t.wait(1, WAIT);
    let took = start.elapsed();
    match r {
        Err(HalError::Deadlock(report)) if matches!(&*report, DeadlockReport::Unreachable { chain, .. } if chain.is_empty()) =>
            {}
        other => {
            return Err(CaseFailure::fail(format!(
                "a host wait on a point nothing signals: expected Deadlock (unreachable, empty \
                 chain), got {other:?}"
            )))
        }
    }
    check(took < Duration::from_secs(1), || {
        format!("the deadlock was reported after {took:?}")
    })?;
    // The point's only signaller waits on a point nothing signals.
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let (t, u) = (timeline("stuck"), timeline("nobody"));
    q.submit(fill(&b, 1), &at(&u, 1), &at(&t, 1))
        .ctx("submitting work waiting on a point nothing signals")?;
    let start = Instant::now();
    let r = t.wait(1, WAIT);
    let took = start.elapsed();
    u.fail(HalError::Invalid("cts cleanup".into()));
    let _ = wait_failed(&t, 1, "the stuck work after its wait failed")?;
    match r {
        Err(HalError::Deadlock(report)) => match &*report {
            DeadlockReport::Unreachable { chain, .. }
                if chain.len() == 1 && chain[0].waits_on.timeline == u.label() => {}
            other => {
                return Err(CaseFailure::fail(format!(
                    "a host wait behind stuck work: expected an unreachable point with a \
                     one-step chain waiting on '{}', got: {other}",
                    u.label()
                )))
            }
        },
        other => {
            return Err(CaseFailure::fail(format!(
                "a host wait whose only signaller waits on a point nothing signals: expected \
                 Deadlock, got {other:?}"
            )))
        }
    }
    check(took < Duration::from_secs(1), || {
        format!("the deadlock was reported after {took:?}")
    })
}

fn wait_before_signal(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let (peer, peer_dev, name) = peer_queue(target, &dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let pb = scratch(&*peer_dev, 8, 0)?;
    let (t, d) = (timeline("later"), timeline("done"));
    q.submit(fill(&b, 1), &at(&t, 1), &at(&d, 1))
        .ctx("a submission waiting on a point whose producer is not submitted yet was refused")?;
    // Submitted from another thread a little later, as a producer in another part of a
    // program would be.
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        peer.submit(fill(&pb, 2), &[], &at(&t, 1))
    });
    let submitted = producer
        .join()
        .map_err(|_| CaseFailure::fail("the producer's thread panicked"))?;
    submitted.ctx(&format!("submitting the producer on {name}"))?;
    wait(&d, 1, "work whose producer was submitted after it")?;
    check(super::contents(&b)? == vec![1; 8], || {
        "work whose producer came later did not run".into()
    })
}
