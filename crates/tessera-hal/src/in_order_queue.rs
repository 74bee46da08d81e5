//! [`InOrderQueue`]: a [`Queue`] adapter that runs submissions one at a time, in submission
//! order, on top of any queue.
//!
//! Ordering is expressed with the same timeline points as everything else: submission `k`
//! waits on the *order point* submission `k − 1` signals and signals its own, so the
//! [wait-for graph](crate::wait_graph) sees the implicit ordering with no special case, and a
//! submission that waits on a point only a later submission of the same in-order queue would
//! signal is refused as a cycle.
//!
//! What a failure does to the work queued behind it is the queue's [`OnFailure`] policy:
//!
//! - [`OnFailure::FailQueued`] (the default, [`InOrderQueue::new`]): the order points are the
//!   values 1, 2, 3, … of one private timeline. A failed submission fails that timeline, so
//!   every later submission already queued fails with the same root error — the semantics of
//!   a command stream that stops at its first error.
//! - [`OnFailure::Continue`] ([`InOrderQueue::continuing`]): a hardware ring that moves on
//!   after a faulting job. Each order point is a fresh single-use timeline (value 1). When an
//!   *execute* fails, its order point is signalled before the error is reported, so the
//!   failure reaches the submission's own signal timelines (and everything waiting on them)
//!   but not unrelated later work. A submission that never runs because one of its *waits*
//!   failed still fails its order point, and the work queued behind it fails with it (each
//!   sees the original error through [`HalError::root`]).
//!
//! Under either policy, a submission made once the last order point is seen to have failed
//! starts afresh (no order wait), so the queue stays usable.

use crate::error::HalError;
use crate::executable::{Binding, Executable};
use crate::queue::{Queue, TimePoint, Work};
use crate::timeline::Timeline;
use crate::value::DeviceValue;
use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

/// What an [`InOrderQueue`] does with the work queued behind a failed submission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnFailure {
    /// Fail it with the same error (a command stream that stops at its first error).
    #[default]
    FailQueued,
    /// Run it: a failed execute fails only its own signal timelines (a hardware ring that
    /// moves on after a faulting job).
    Continue,
}

struct Order {
    /// The order timeline under [`OnFailure::FailQueued`] (replaced after a failure).
    shared: Arc<Timeline>,
    /// The point the last accepted submission signals; `None` before the first one or after
    /// a failure was seen.
    last: Option<TimePoint>,
    /// Submissions accepted so far.
    accepted: u64,
}

/// A queue whose submissions run in submission order, each after the previous one completed.
pub struct InOrderQueue {
    inner: Arc<dyn Queue>,
    policy: OnFailure,
    order: Mutex<Order>,
}

impl InOrderQueue {
    /// Makes `inner` in order, failing queued work after a failure
    /// ([`OnFailure::FailQueued`]). Submissions made directly to `inner` are not ordered.
    pub fn new(inner: Arc<dyn Queue>) -> InOrderQueue {
        InOrderQueue::with_policy(inner, OnFailure::FailQueued)
    }

    /// Makes `inner` in order, running queued work after a failed execute
    /// ([`OnFailure::Continue`]).
    pub fn continuing(inner: Arc<dyn Queue>) -> InOrderQueue {
        InOrderQueue::with_policy(inner, OnFailure::Continue)
    }

    /// Makes `inner` in order with the given failure policy.
    pub fn with_policy(inner: Arc<dyn Queue>, policy: OnFailure) -> InOrderQueue {
        let shared = Arc::new(Timeline::new(format!("{}:order", inner.name())));
        InOrderQueue {
            inner,
            policy,
            order: Mutex::new(Order {
                shared,
                last: None,
                accepted: 0,
            }),
        }
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Arc<dyn Queue> {
        &self.inner
    }

    /// The failure policy.
    pub fn policy(&self) -> OnFailure {
        self.policy
    }

    /// Submissions accepted so far.
    pub fn submitted(&self) -> u64 {
        self.order
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accepted
    }

    /// The point the last accepted submission signals: waiting on it waits until everything
    /// submitted so far has completed (or failed). Before any submission, or after a failure
    /// restarted the order, a point that is already reached.
    pub fn order_point(&self) -> TimePoint {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        match &order.last {
            Some(p) => p.clone(),
            None => match self.policy {
                OnFailure::FailQueued => (order.shared.clone(), order.shared.value()),
                OnFailure::Continue => (
                    Arc::new(Timeline::with_value(format!("{}#0", self.name()), 1)),
                    1,
                ),
            },
        }
    }
}

impl Queue for InOrderQueue {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn submit(
        &self,
        work: Work,
        waits: &[TimePoint],
        signals: &[TimePoint],
    ) -> Result<(), HalError> {
        // Held across the inner submit so that order points are accepted in order.
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        if order
            .last
            .as_ref()
            .is_some_and(|(t, _)| t.failure().is_some())
        {
            order.last = None;
        }
        let next: TimePoint = match self.policy {
            OnFailure::FailQueued => {
                if order.shared.failure().is_some() {
                    order.shared = Arc::new(Timeline::new(order.shared.label().to_string()));
                }
                let value = match &order.last {
                    Some((t, v)) if Arc::ptr_eq(t, &order.shared) => v + 1,
                    _ => 1,
                };
                (order.shared.clone(), value)
            }
            OnFailure::Continue => (
                Arc::new(Timeline::new(format!(
                    "{}#{}",
                    self.name(),
                    order.accepted + 1
                ))),
                1,
            ),
        };
        let mut all_waits = waits.to_vec();
        all_waits.extend(order.last.clone());
        // The order point comes first: it is signalled (or failed) before any caller-visible
        // timeline, so whoever observes this submission's outcome and submits again finds
        // the order point already settled.
        let mut all_signals = vec![next.clone()];
        all_signals.extend_from_slice(signals);
        let work = match (self.policy, work) {
            (
                OnFailure::Continue,
                Work::Execute {
                    executable,
                    inputs,
                    outputs,
                },
            ) => Work::Execute {
                executable: Arc::new(SignalsOnFailure {
                    inner: executable,
                    point: next.clone(),
                }),
                inputs,
                outputs,
            },
            (_, other) => other,
        };
        self.inner.submit(work, &all_waits, &all_signals)?;
        order.last = Some(next);
        order.accepted += 1;
        Ok(())
    }
}

/// An executable that signals its submission's single-use order point when it fails, before
/// the queue fails that point, so the failure does not stop the queue. (Once the point's
/// timeline has reached 1, failing it no longer affects waiters on 1.)
struct SignalsOnFailure {
    inner: Arc<dyn Executable>,
    point: TimePoint,
}

impl fmt::Debug for SignalsOnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Executable for SignalsOnFailure {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn inputs(&self) -> &[Binding] {
        self.inner.inputs()
    }

    fn outputs(&self) -> &[Binding] {
        self.inner.outputs()
    }

    fn execute(&self, inputs: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError> {
        let r = self.inner.execute(inputs);
        if r.is_err() {
            // Cannot fail: the point's timeline is fresh and only this submission signals it.
            let _ = self.point.0.signal(self.point.1);
        }
        r
    }

    fn as_any(&self) -> &dyn Any {
        self.inner.as_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Buffer;
    use crate::host_buffer::HostBuffer;
    use crate::host_queue::HostQueue;
    use crate::wait_graph::DeadlockReport;
    use std::time::Duration;

    const LONG: Duration = Duration::from_secs(10);

    fn fill(dst: &Arc<dyn Buffer>, offset: usize, byte: u8) -> Work {
        Work::Fill {
            dst: dst.clone(),
            offset,
            len: 1,
            pattern: vec![byte],
        }
    }

    #[test]
    fn runs_in_submission_order() {
        let q = InOrderQueue::new(Arc::new(HostQueue::new("ordered").unwrap()));
        let gate = Arc::new(Timeline::host_signalled("gate"));
        let done = Arc::new(Timeline::new("done"));
        let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(2).unwrap());
        // The first submission waits on the gate; the second has no waits of its own but
        // must still run after the first.
        q.submit(fill(&b, 0, 1), &[(gate.clone(), 1)], &[]).unwrap();
        q.submit(
            Work::Copy {
                src: b.clone(),
                src_offset: 0,
                dst: b.clone(),
                dst_offset: 1,
                len: 1,
            },
            &[],
            &[(done.clone(), 1)],
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(done.value(), 0);
        gate.signal(1).unwrap();
        done.wait(1, LONG).unwrap();
        assert_eq!(b.read_bytes(0, 2).unwrap(), vec![1, 1]);
        let (t, v) = q.order_point();
        assert_eq!(v, 2);
        t.wait(v, LONG).unwrap();
    }

    #[test]
    fn waiting_on_its_own_later_signal_is_a_cycle() {
        let q = InOrderQueue::new(Arc::new(HostQueue::new("io-self").unwrap()));
        let t = Arc::new(Timeline::new("t"));
        let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        q.submit(fill(&b, 0, 1), &[(t.clone(), 1)], &[]).unwrap();
        let e = q
            .submit(fill(&b, 0, 2), &[], &[(t.clone(), 1)])
            .unwrap_err();
        let HalError::Deadlock(report) = &e else {
            panic!("{e}");
        };
        let DeadlockReport::Cycle { steps } = report.as_ref() else {
            panic!("{e}");
        };
        assert_eq!(steps.len(), 2, "{e}");
        assert_eq!(steps[0].waits_on.timeline, "io-self:order");
        assert_eq!(steps[0].waits_on.value, 1);
        assert_eq!(steps[1].waits_on.timeline, "t");
        assert_eq!(steps[1].waits_on.value, 1);
        assert!(steps.iter().all(|s| s.submission.queue == "io-self"));
        // The refused submission did not take an order value.
        assert_eq!(q.order_point().1, 1);
    }

    #[test]
    fn a_failed_wait_fails_queued_work_and_the_queue_recovers() {
        for policy in [OnFailure::FailQueued, OnFailure::Continue] {
            let q = InOrderQueue::with_policy(
                Arc::new(HostQueue::new(format!("io-fail-{policy:?}")).unwrap()),
                policy,
            );
            let gate = Arc::new(Timeline::host_signalled("gate"));
            let (t1, t2) = (Arc::new(Timeline::new("t1")), Arc::new(Timeline::new("t2")));
            let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
            q.submit(fill(&b, 0, 1), &[(gate.clone(), 1)], &[(t1.clone(), 1)])
                .unwrap();
            q.submit(fill(&b, 0, 2), &[], &[(t2.clone(), 1)]).unwrap();
            gate.fail(HalError::Invalid("gate broke".into()));
            // Under both policies the work behind a submission that never ran fails with it.
            for t in [&t1, &t2] {
                let e = t.wait(1, LONG).unwrap_err();
                assert!(
                    matches!(e.root(), HalError::Invalid(m) if m == "gate broke"),
                    "{policy:?}: {e}"
                );
            }
            assert_eq!(b.read_bytes(0, 1).unwrap(), vec![0], "{policy:?}");
            // Later work starts a fresh order.
            let t3 = Arc::new(Timeline::new("t3"));
            q.submit(fill(&b, 0, 3), &[], &[(t3.clone(), 1)]).unwrap();
            t3.wait(1, LONG).unwrap();
            assert_eq!(b.read_bytes(0, 1).unwrap(), vec![3], "{policy:?}");
            assert_eq!(q.submitted(), 3);
        }
    }

    /// An executable with no inputs or outputs that fails every time.
    #[derive(Debug)]
    struct Faulting;

    impl Executable for Faulting {
        fn name(&self) -> &str {
            "faulting"
        }
        fn inputs(&self) -> &[Binding] {
            &[]
        }
        fn outputs(&self) -> &[Binding] {
            &[]
        }
        fn execute(&self, _: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError> {
            Err(HalError::Invalid("job faulted".into()))
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn a_failed_execute_stops_or_continues_by_policy() {
        for policy in [OnFailure::FailQueued, OnFailure::Continue] {
            let q = InOrderQueue::with_policy(
                Arc::new(HostQueue::new(format!("io-exec-{policy:?}")).unwrap()),
                policy,
            );
            let gate = Arc::new(Timeline::host_signalled("gate"));
            let (failed, after) = (
                Arc::new(Timeline::new("failed")),
                Arc::new(Timeline::new("after")),
            );
            let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
            // The faulting job is held by the gate so the fill is queued behind it.
            let job = Work::Execute {
                executable: Arc::new(Faulting),
                inputs: vec![],
                outputs: crate::queue::OutputSlot::new(),
            };
            q.submit(job, &[(gate.clone(), 1)], &[(failed.clone(), 1)])
                .unwrap();
            q.submit(fill(&b, 0, 7), &[], &[(after.clone(), 1)])
                .unwrap();
            gate.signal(1).unwrap();
            let e = failed.wait(1, LONG).unwrap_err();
            assert!(
                matches!(e.root(), HalError::Execute { .. } | HalError::Invalid(_)),
                "{policy:?}: {e}"
            );
            match policy {
                OnFailure::FailQueued => {
                    let e = after.wait(1, LONG).unwrap_err();
                    assert!(e.root().to_string().contains("job faulted"), "{e}");
                    assert_eq!(b.read_bytes(0, 1).unwrap(), vec![0]);
                }
                OnFailure::Continue => {
                    after.wait(1, LONG).unwrap();
                    assert_eq!(b.read_bytes(0, 1).unwrap(), vec![7]);
                }
            }
            let (t, v) = q.order_point();
            let _ = t.wait(v, LONG);
        }
    }

    #[test]
    fn continuing_queues_run_in_order_and_refuse_invalid_work_without_taking_a_point() {
        let q = InOrderQueue::continuing(Arc::new(HostQueue::new("io-cont").unwrap()));
        assert_eq!(q.policy(), OnFailure::Continue);
        let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        let gate = Arc::new(Timeline::host_signalled("gate"));
        let (first, second) = (
            Arc::new(Timeline::new("first")),
            Arc::new(Timeline::new("second")),
        );
        assert!(q.submit(fill(&b, 5, 1), &[], &[]).is_err());
        assert_eq!(q.submitted(), 0);
        q.submit(fill(&b, 0, 1), &[(gate.clone(), 1)], &[(first.clone(), 1)])
            .unwrap();
        q.submit(fill(&b, 0, 2), &[], &[(second.clone(), 1)])
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            second.value(),
            0,
            "the second submission overtook the first"
        );
        gate.signal(1).unwrap();
        second.wait(1, LONG).unwrap();
        assert_eq!(first.value(), 1);
        assert_eq!(b.read_bytes(0, 1).unwrap(), vec![2]);
        assert_eq!(q.submitted(), 2);
        let (t, v) = q.order_point();
        assert_eq!(t.label(), "io-cont#2");
        t.wait(v, LONG).unwrap();
    }
}
