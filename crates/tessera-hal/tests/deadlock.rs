//! Deadlocks built on purpose: each must be reported with the submissions, queues and
//! timeline points involved, and legal patterns (wait before signal, failures) must not be.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_hal::wait_graph::{BlockedOn, DeadlockReport};
use tessera_hal::{
    Binding, Buffer, DeviceValue, Executable, HalError, HostBuffer, HostQueue, InOrderQueue,
    OutputSlot, Queue, Timeline, Work,
};

const LONG: Duration = Duration::from_secs(10);

fn tl(label: &str) -> Arc<Timeline> {
    Arc::new(Timeline::new(label))
}

fn fill() -> Work {
    let dst: Arc<dyn Buffer> = Arc::new(HostBuffer::new(4).unwrap());
    Work::Fill {
        dst,
        offset: 0,
        len: 4,
        pattern: vec![1],
    }
}

fn cycle(e: &HalError) -> &[BlockedOn] {
    match e {
        HalError::Deadlock(r) => match r.as_ref() {
            DeadlockReport::Cycle { steps } => steps,
            other => panic!("expected a cycle, got {other}"),
        },
        other => panic!("expected a deadlock, got {other}"),
    }
}

/// (queue, timeline, value) of each step.
fn shape(steps: &[BlockedOn]) -> Vec<(String, String, u64)> {
    steps
        .iter()
        .map(|s| {
            (
                s.submission.queue.clone(),
                s.waits_on.timeline.clone(),
                s.waits_on.value,
            )
        })
        .collect()
}

fn owned(v: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    v.iter()
        .map(|(q, t, x)| (q.to_string(), t.to_string(), *x))
        .collect()
}

#[test]
fn two_queues_waiting_on_each_other() {
    let (qa, qb) = (HostQueue::new("qa").unwrap(), HostQueue::new("qb").unwrap());
    let (t, u) = (tl("t"), tl("u"));
    // A waits on u and signals t: legal on its own, u's producer may come later.
    qa.submit(fill(), &[(u.clone(), 1)], &[(t.clone(), 1)])
        .unwrap();
    // B waits on t (signalled only by A) and signals u (awaited by A): a cycle.
    let e = qb
        .submit(fill(), &[(t.clone(), 1)], &[(u.clone(), 1)])
        .unwrap_err();
    let steps = cycle(&e);
    assert_eq!(
        shape(steps),
        owned(&[("qb", "t", 1), ("qa", "u", 1)]),
        "{e}"
    );
    assert_eq!(steps[0].submission.work, "fill");
    assert_eq!(steps[0].submission.signals[0].timeline, "u");
    let msg = e.to_string();
    assert!(msg.starts_with("deadlock: "), "{msg}");
    assert!(
        msg.contains("waits on 't'@1") && msg.contains("waits on 'u'@1"),
        "{msg}"
    );
    assert!(
        msg.contains("queue 'qa'") && msg.contains("queue 'qb'"),
        "{msg}"
    );
    // Nothing of B was signalled or failed.
    assert_eq!(u.value(), 0);
    assert!(u.failure().is_none());
    // A is still pending on u; a host wait on t is now a deadlock naming A and u.
    let start = Instant::now();
    let e = t.wait(1, LONG).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    match &e {
        HalError::Deadlock(r) => match r.as_ref() {
            DeadlockReport::Unreachable { point, chain, .. } => {
                assert_eq!((point.timeline.as_str(), point.value), ("t", 1));
                assert_eq!(shape(chain), owned(&[("qa", "u", 1)]), "{e}");
            }
            other => panic!("{other}"),
        },
        other => panic!("{other}"),
    }
    // Shutting the queue down fails A's signal instead of leaving it pending.
    drop(qa);
    let e = t.wait(1, LONG).unwrap_err();
    assert!(
        matches!(e.root(), HalError::QueueShutdown(q) if q == "qa"),
        "{e}"
    );
}

#[test]
fn in_order_queue_waiting_on_its_own_later_signal() {
    let q = InOrderQueue::new(Arc::new(HostQueue::new("io").unwrap()));
    let t = tl("t");
    q.submit(fill(), &[(t.clone(), 1)], &[]).unwrap();
    let e = q.submit(fill(), &[], &[(t.clone(), 1)]).unwrap_err();
    assert_eq!(
        shape(cycle(&e)),
        owned(&[("io", "io:order", 1), ("io", "t", 1)]),
        "{e}"
    );
    assert_eq!(t.value(), 0);
    assert!(t.failure().is_none());
}

#[test]
fn a_host_wait_on_a_value_never_signalled() {
    // Nothing signals the timeline at all.
    let never = tl("never");
    let start = Instant::now();
    let e = never.wait(3, LONG).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(e.to_string().contains("'never'@3"), "{e}");
    assert!(
        e.to_string()
            .contains("no pending or running submission signals it"),
        "{e}"
    );

    // The producer is submitted but waits on a point nothing signals; a consumer waits
    // behind the awaited point.
    let q = HostQueue::new("qn").unwrap();
    let (gate, done, after) = (tl("gate"), tl("done"), tl("after"));
    q.submit(fill(), &[(gate.clone(), 1)], &[(done.clone(), 1)])
        .unwrap();
    q.submit(fill(), &[(done.clone(), 1)], &[(after.clone(), 1)])
        .unwrap();
    let start = Instant::now();
    let e = done.wait(1, LONG).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    let HalError::Deadlock(r) = &e else {
        panic!("{e}")
    };
    let DeadlockReport::Unreachable {
        point,
        chain,
        waiters,
    } = r.as_ref()
    else {
        panic!("{e}")
    };
    assert_eq!((point.timeline.as_str(), point.value), ("done", 1));
    assert_eq!(shape(chain), owned(&[("qn", "gate", 1)]), "{e}");
    assert_eq!(waiters.len(), 1, "{e}");
    assert_eq!(waiters[0].signals[0].timeline, "after");
    assert!(
        e.to_string()
            .contains("which no pending or running submission signals"),
        "{e}"
    );
    // Waiting further down the pipeline names the whole chain.
    let e = after.wait(1, LONG).unwrap_err();
    let HalError::Deadlock(r) = &e else {
        panic!("{e}")
    };
    let DeadlockReport::Unreachable { chain, .. } = r.as_ref() else {
        panic!("{e}")
    };
    assert_eq!(
        shape(chain),
        owned(&[("qn", "done", 1), ("qn", "gate", 1)]),
        "{e}"
    );
}

#[test]
fn a_cycle_through_three_queues() {
    let qs: Vec<HostQueue> = ["q0", "q1", "q2"]
        .iter()
        .map(|n| HostQueue::new(*n).unwrap())
        .collect();
    let (a, b, c) = (tl("a"), tl("b"), tl("c"));
    qs[0]
        .submit(fill(), &[(c.clone(), 1)], &[(a.clone(), 1)])
        .unwrap();
    qs[1]
        .submit(fill(), &[(a.clone(), 1)], &[(b.clone(), 1)])
        .unwrap();
    let e = qs[2]
        .submit(fill(), &[(b.clone(), 1)], &[(c.clone(), 1)])
        .unwrap_err();
    let steps = cycle(&e);
    assert_eq!(
        shape(steps),
        owned(&[("q2", "b", 1), ("q1", "a", 1), ("q0", "c", 1)]),
        "{e}"
    );
    // Ids are in submission order: the refused one is the newest.
    assert!(steps[0].submission.id > steps[1].submission.id);
    assert!(steps[1].submission.id > steps[2].submission.id);
    // Completing the loop legally (a producer of c that waits on nothing) runs everything.
    qs[2].submit(fill(), &[], &[(c.clone(), 1)]).unwrap();
    b.wait(1, LONG).unwrap();
}

#[test]
fn a_chain_on_one_timeline_is_not_a_cycle() {
    let q = HostQueue::new("chain").unwrap();
    let t = tl("t");
    // Waiting on (t, 1) and signalling (t, 2) is the usual chain pattern, even with the
    // producer of (t, 1) submitted afterwards.
    q.submit(fill(), &[(t.clone(), 1)], &[(t.clone(), 2)])
        .unwrap();
    q.submit(fill(), &[], &[(t.clone(), 1)]).unwrap();
    t.wait(2, LONG).unwrap();
}

#[test]
fn waiting_on_a_point_it_signals_itself_is_refused() {
    let q = HostQueue::new("own").unwrap();
    let t = tl("t");
    let e = q
        .submit(fill(), &[(t.clone(), 2)], &[(t.clone(), 2)])
        .unwrap_err();
    assert!(matches!(e, HalError::Invalid(_)), "{e}");
    assert!(e.to_string().contains("'t'@2"), "{e}");
    assert_eq!(t.value(), 0);
}

#[test]
fn host_signalled_timelines_are_never_reported() {
    let (qa, qb) = (HostQueue::new("ha").unwrap(), HostQueue::new("hb").unwrap());
    let h = Arc::new(Timeline::host_signalled("h"));
    let (t, done) = (tl("t"), tl("done"));
    // A waits on the host timeline h; B waits on A and signals h. Not a cycle: the host may
    // signal h itself.
    qa.submit(fill(), &[(h.clone(), 1)], &[(t.clone(), 1)])
        .unwrap();
    qb.submit(fill(), &[(t.clone(), 1)], &[(h.clone(), 2)])
        .unwrap();
    qb.submit(fill(), &[(h.clone(), 2)], &[(done.clone(), 1)])
        .unwrap();
    // While h is not signalled the host wait is an ordinary timeout, not a deadlock.
    let e = done.wait(1, Duration::from_millis(150)).unwrap_err();
    assert!(matches!(e, HalError::Timeout { .. }), "{e}");
    let e = h.wait(1, Duration::from_millis(10)).unwrap_err();
    assert!(matches!(e, HalError::Timeout { .. }), "{e}");
    h.signal(1).unwrap();
    done.wait(1, LONG).unwrap();
    assert_eq!(h.value(), 2);
}

#[test]
fn wait_before_signal_across_queues_is_not_a_deadlock() {
    let (qa, qb) = (HostQueue::new("wa").unwrap(), HostQueue::new("wb").unwrap());
    let (t, u, done) = (tl("t"), tl("u"), tl("done"));
    // Consumers first, on two queues, then the producers in reverse order.
    qb.submit(
        fill(),
        &[(t.clone(), 2), (u.clone(), 1)],
        &[(done.clone(), 1)],
    )
    .unwrap();
    qa.submit(fill(), &[(t.clone(), 1)], &[(u.clone(), 1)])
        .unwrap();
    qb.submit(fill(), &[(t.clone(), 1)], &[(t.clone(), 2)])
        .unwrap();
    qa.submit(fill(), &[], &[(t.clone(), 1)]).unwrap();
    done.wait(1, LONG).unwrap();
    assert_eq!((t.value(), u.value()), (2, 1));
}

/// An executable that always fails.
#[derive(Debug)]
struct Broken;

impl Executable for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn inputs(&self) -> &[Binding] {
        &[]
    }
    fn outputs(&self) -> &[Binding] {
        &[]
    }
    fn execute(&self, _: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError> {
        Err(HalError::Invalid("broken kernel".into()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn a_failure_reaches_every_downstream_waiter_across_queues() {
    let q0 = HostQueue::new("f0").unwrap();
    let q1 = InOrderQueue::new(Arc::new(HostQueue::new("f1").unwrap()));
    let q2 = HostQueue::new("f2").unwrap();
    let (a, b, c, d) = (tl("a"), tl("b"), tl("c"), tl("d"));
    // Downstream first: d ← c ← b ← a ← broken.
    q2.submit(fill(), &[(c.clone(), 1)], &[(d.clone(), 1)])
        .unwrap();
    q1.submit(fill(), &[(b.clone(), 1)], &[(c.clone(), 1)])
        .unwrap();
    q1.submit(fill(), &[], &[(c.clone(), 2)]).unwrap();
    q0.submit(fill(), &[(a.clone(), 1)], &[(b.clone(), 1)])
        .unwrap();
    q0.submit(
        Work::Execute {
            executable: Arc::new(Broken),
            inputs: vec![],
            outputs: OutputSlot::new(),
        },
        &[],
        &[(a.clone(), 1)],
    )
    .unwrap();
    for (t, v) in [(&a, 1), (&b, 1), (&c, 1), (&c, 2), (&d, 1)] {
        let e = t.wait(v, LONG).unwrap_err();
        assert!(
            matches!(e.root(), HalError::Invalid(m) if m == "broken kernel"),
            "{}@{v}: {e}",
            t.label()
        );
    }
}
