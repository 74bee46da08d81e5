//! [`InOrderQueue`]: a [`Queue`] adapter that runs submissions one at a time, in submission
//! order, on top of any queue.
//!
//! Ordering is expressed with the same timeline points as everything else: the adapter owns a
//! private *order timeline*, and submission `k` (counting from 1) waits on its point `k - 1`
//! and signals its point `k`. The [wait-for graph](crate::wait_graph) therefore sees the
//! implicit ordering with no special case, and a submission that waits on a point only a
//! later submission of the same in-order queue would signal is refused as a cycle.
//!
//! When a submission fails, its order point fails too, so every later submission already
//! queued behind it fails with the same root error. A submission made after the failure is
//! visible starts a fresh order timeline, so the queue stays usable.

use crate::error::HalError;
use crate::queue::{Queue, TimePoint, Work};
use crate::timeline::Timeline;
use std::sync::{Arc, Mutex};

struct Order {
    timeline: Arc<Timeline>,
    /// Number of submissions accepted on `timeline`: the value the last one signals.
    accepted: u64,
}

/// A queue whose submissions run in submission order, each after the previous one completed.
pub struct InOrderQueue {
    inner: Arc<dyn Queue>,
    order: Mutex<Order>,
}

impl InOrderQueue {
    /// Makes `inner` in order. Submissions made directly to `inner` are not ordered.
    pub fn new(inner: Arc<dyn Queue>) -> InOrderQueue {
        let timeline = Arc::new(Timeline::new(format!("{}:order", inner.name())));
        InOrderQueue {
            inner,
            order: Mutex::new(Order {
                timeline,
                accepted: 0,
            }),
        }
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Arc<dyn Queue> {
        &self.inner
    }

    /// The current order timeline and the number of submissions accepted on it: waiting on
    /// that point waits until everything submitted so far has completed (or failed).
    pub fn order_point(&self) -> TimePoint {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        (order.timeline.clone(), order.accepted)
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
        // Held across the inner submit so that order values are accepted in order.
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        if order.timeline.failure().is_some() {
            order.timeline = Arc::new(Timeline::new(order.timeline.label().to_string()));
            order.accepted = 0;
        }
        let prev = order.accepted;
        let next = prev + 1;
        let mut all_waits = waits.to_vec();
        if prev > 0 {
            all_waits.push((order.timeline.clone(), prev));
        }
        let mut all_signals = signals.to_vec();
        all_signals.push((order.timeline.clone(), next));
        self.inner.submit(work, &all_waits, &all_signals)?;
        order.accepted = next;
        Ok(())
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
    fn a_failure_fails_queued_work_and_the_queue_recovers() {
        let q = InOrderQueue::new(Arc::new(HostQueue::new("io-fail").unwrap()));
        let gate = Arc::new(Timeline::host_signalled("gate"));
        let (t1, t2) = (Arc::new(Timeline::new("t1")), Arc::new(Timeline::new("t2")));
        let b: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        // Out of bounds at run time is caught by validate, so fail through the gate instead.
        q.submit(fill(&b, 0, 1), &[(gate.clone(), 1)], &[(t1.clone(), 1)])
            .unwrap();
        q.submit(fill(&b, 0, 2), &[], &[(t2.clone(), 1)]).unwrap();
        gate.fail(HalError::Invalid("gate broke".into()));
        let e = t2.wait(1, LONG).unwrap_err();
        assert!(
            matches!(e.root(), HalError::Invalid(m) if m == "gate broke"),
            "{e}"
        );
        assert!(t1.failure().is_some());
        // Later work runs on a fresh order timeline.
        let t3 = Arc::new(Timeline::new("t3"));
        q.submit(fill(&b, 0, 3), &[], &[(t3.clone(), 1)]).unwrap();
        t3.wait(1, LONG).unwrap();
        assert_eq!(b.read_bytes(0, 1).unwrap(), vec![3]);
    }
}
