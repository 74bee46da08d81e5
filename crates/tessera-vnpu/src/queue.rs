//! [`VnpuQueue`]: the device's single in-order queue, run on its own worker thread.
//!
//! A hardware ring executes jobs in the order they were written. The queue is built from
//! [`HostQueue`] (a worker thread that runs submissions once their wait points are reached)
//! and made in-order by chaining: submission *k* also waits on a private timeline that
//! submission *k − 1* signals, so a later submission with no waits of its own still runs after
//! an earlier one that is blocked on a timeline. Submits are serialized under a mutex so the
//! chain follows submission order.
//!
//! Each link of the chain is a fresh single-use timeline (value 1). When an execute *fails*,
//! the link is signalled before the error is reported, so the ring moves on: the failure
//! reaches the submission's own signal timelines (and everything waiting on them) but not
//! unrelated later work. When a submission never runs because one of its *waits* failed, its
//! link is failed with that error and the submissions queued behind it fail with it too
//! (each sees the original error through [`HalError::root`]); submissions made after that
//! start a new chain.
//!
//! This file is self-contained so it can be replaced by a generic in-order wrapper from
//! `tessera-hal` when one exists.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};
use tessera_hal::{
    Binding, DeviceValue, Executable, HalError, HostQueue, Queue, TimePoint, Timeline, Work,
};

struct Chain {
    /// The link the next submission waits on; `None` before the first submission.
    last: Option<Arc<Timeline>>,
    /// Number of submissions accepted.
    count: u64,
}

/// The in-order queue of a virtual NPU.
pub struct VnpuQueue {
    name: String,
    inner: HostQueue,
    chain: Mutex<Chain>,
}

impl VnpuQueue {
    /// Starts a queue called `name` (`vnpu://0:0`) with its worker thread.
    pub fn new(name: impl Into<String>) -> Result<VnpuQueue, HalError> {
        let name = name.into();
        Ok(VnpuQueue {
            inner: HostQueue::new(name.clone())?,
            name,
            chain: Mutex::new(Chain {
                last: None,
                count: 0,
            }),
        })
    }

    /// Number of submissions accepted so far.
    pub fn submitted(&self) -> u64 {
        self.chain.lock().unwrap_or_else(|p| p.into_inner()).count
    }
}

impl Queue for VnpuQueue {
    fn name(&self) -> &str {
        &self.name
    }

    fn submit(
        &self,
        work: Work,
        waits: &[TimePoint],
        signals: &[TimePoint],
    ) -> Result<(), HalError> {
        work.validate()?;
        let mut chain = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        // A link that already failed would fail everything behind it; start a new chain.
        if chain.last.as_ref().is_some_and(|t| t.failure().is_some()) {
            chain.last = None;
        }
        let link = Arc::new(Timeline::new(format!("{}#{}", self.name, chain.count + 1)));
        let mut all_waits = waits.to_vec();
        if let Some(prev) = &chain.last {
            all_waits.push((prev.clone(), 1));
        }
        // The link comes first: the queue signals (or fails) it before any caller-visible
        // timeline, so whoever observes this submission's outcome and submits again finds
        // the link already settled.
        let mut all_signals = vec![(link.clone(), 1)];
        all_signals.extend_from_slice(signals);
        let work = match work {
            Work::Execute {
                executable,
                inputs,
                outputs,
            } => Work::Execute {
                executable: Arc::new(Linked {
                    inner: executable,
                    link: link.clone(),
                }),
                inputs,
                outputs,
            },
            other => other,
        };
        self.inner.submit(work, &all_waits, &all_signals)?;
        chain.last = Some(link);
        chain.count += 1;
        Ok(())
    }
}

/// An executable that signals its chain link when it fails, before the queue fails the link,
/// so the failure does not stop the ring. (Once the link has reached 1, failing it no longer
/// affects waiters on 1.)
struct Linked {
    inner: Arc<dyn Executable>,
    link: Arc<Timeline>,
}

impl fmt::Debug for Linked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Executable for Linked {
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
            // Cannot fail: the link is fresh and only this submission signals it.
            let _ = self.link.signal(1);
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
    use std::time::Duration;
    use tessera_hal::{Buffer, HostBuffer};

    const LONG: Duration = Duration::from_secs(10);

    fn tl(name: &str) -> Arc<Timeline> {
        Arc::new(Timeline::new(name))
    }

    fn fill(dst: &Arc<dyn Buffer>, offset: usize, byte: u8) -> Work {
        Work::Fill {
            dst: dst.clone(),
            offset,
            len: 1,
            pattern: vec![byte],
        }
    }

    #[test]
    fn later_work_waits_for_earlier_blocked_work() {
        let q = VnpuQueue::new("q").unwrap();
        let buf: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        let (gate, first, second) = (tl("gate"), tl("first"), tl("second"));
        // First write 1, blocked on the gate; then write 2 with no waits.
        q.submit(
            fill(&buf, 0, 1),
            &[(gate.clone(), 1)],
            &[(first.clone(), 1)],
        )
        .unwrap();
        q.submit(fill(&buf, 0, 2), &[], &[(second.clone(), 1)])
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            second.value(),
            0,
            "the second submission overtook the first"
        );
        assert_eq!(buf.read_bytes(0, 1).unwrap(), vec![0]);
        gate.signal(1).unwrap();
        second.wait(1, LONG).unwrap();
        assert_eq!(first.value(), 1);
        // In order: the second fill landed last.
        assert_eq!(buf.read_bytes(0, 1).unwrap(), vec![2]);
        assert_eq!(q.submitted(), 2);
    }

    #[test]
    fn a_failed_wait_fails_the_work_behind_it_then_the_chain_restarts() {
        let q = VnpuQueue::new("q").unwrap();
        let buf: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        let (gate, a, b) = (tl("gate"), tl("a"), tl("b"));
        q.submit(fill(&buf, 0, 1), &[(gate.clone(), 1)], &[(a.clone(), 1)])
            .unwrap();
        q.submit(fill(&buf, 0, 2), &[], &[(b.clone(), 1)]).unwrap();
        gate.fail(HalError::Invalid("upstream broke".into()));
        for t in [&a, &b] {
            let e = t.wait(1, LONG).unwrap_err();
            assert!(
                matches!(e.root(), HalError::Invalid(m) if m == "upstream broke"),
                "{e}"
            );
        }
        let c = tl("c");
        q.submit(fill(&buf, 0, 3), &[], &[(c.clone(), 1)]).unwrap();
        c.wait(1, LONG).unwrap();
        assert_eq!(buf.read_bytes(0, 1).unwrap(), vec![3]);
    }

    #[test]
    fn invalid_work_does_not_break_the_chain() {
        let q = VnpuQueue::new("q").unwrap();
        let buf: Arc<dyn Buffer> = Arc::new(HostBuffer::new(1).unwrap());
        let t = tl("t");
        assert!(q.submit(fill(&buf, 5, 1), &[], &[(t.clone(), 1)]).is_err());
        assert_eq!(q.submitted(), 0);
        q.submit(fill(&buf, 0, 1), &[], &[(t.clone(), 1)]).unwrap();
        t.wait(1, LONG).unwrap();
    }
}
