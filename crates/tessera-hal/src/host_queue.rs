//! [`HostQueue`]: a [`Queue`] whose work runs on a host worker thread — the queue of the CPU
//! device, and of any device whose executables are driven from the host.
//!
//! The worker keeps every submission whose waits are not yet satisfied and runs the oldest
//! one that is ready, so submissions are ordered only by their timeline points (a submission
//! blocked on a wait does not hold back later independent ones). It sleeps on a [`Wakeup`]
//! that both new submissions and the awaited timelines notify. A panic inside a work item is
//! caught and fails the item's signal timelines like any other error.
//!
//! Every submission is recorded in the [wait-for graph](crate::wait_graph): a submission that
//! would close a cycle is refused with [`HalError::Deadlock`], and the graph entry is removed
//! only after the signal points were signalled or failed (on success, failure, panic and
//! shutdown alike).

use crate::error::HalError;
use crate::queue::{Queue, TimePoint, Work};
use crate::timeline::Wakeup;
use crate::wait_graph::{self, QueueRegistration, Ticket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

struct Submission {
    work: Work,
    waits: Vec<TimePoint>,
    signals: Vec<TimePoint>,
    /// Dropped after the signals are signalled or failed, which removes the graph entry.
    ticket: Ticket,
}

#[derive(Default)]
struct Inbox {
    items: Vec<Submission>,
    closed: bool,
}

struct Shared {
    name: String,
    graph: QueueRegistration,
    inbox: Mutex<Inbox>,
    wakeup: Arc<Wakeup>,
}

/// A queue served by one host worker thread.
pub struct HostQueue {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl HostQueue {
    /// Starts a queue named `name` (`cpu:0`) with its worker thread.
    pub fn new(name: impl Into<String>) -> Result<HostQueue, HalError> {
        let name = name.into();
        let shared = Arc::new(Shared {
            graph: wait_graph::register_queue(&name),
            name,
            inbox: Mutex::new(Inbox::default()),
            wakeup: Wakeup::new(),
        });
        let worker_shared = shared.clone();
        let handle = thread::Builder::new()
            .name(format!("tessera-queue-{}", shared.name))
            .spawn(move || worker(&worker_shared))
            .map_err(|e| HalError::Invalid(format!("cannot start queue thread: {e}")))?;
        Ok(HostQueue {
            shared,
            worker: Mutex::new(Some(handle)),
        })
    }
}

impl Queue for HostQueue {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn submit(
        &self,
        work: Work,
        waits: &[TimePoint],
        signals: &[TimePoint],
    ) -> Result<(), HalError> {
        work.validate()?;
        {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
            if inbox.closed {
                return Err(HalError::QueueShutdown(self.shared.name.clone()));
            }
            let ticket = self.shared.graph.submit(work.kind(), waits, signals)?;
            inbox.items.push(Submission {
                work,
                waits: waits.to_vec(),
                signals: signals.to_vec(),
                ticket,
            });
        }
        self.shared.wakeup.notify();
        Ok(())
    }
}

impl Drop for HostQueue {
    /// Lets the worker finish every submission that is ready, fails the signal timelines of
    /// those still waiting with [`HalError::QueueShutdown`], and joins the worker.
    fn drop(&mut self) {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed = true;
        self.shared.wakeup.notify();
        let handle = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            // The last reference may be dropped by work running on the worker itself; it
            // must not join itself.
            if h.thread().id() != thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

enum Readiness {
    Ready,
    Pending,
    Failed(HalError),
}

fn readiness(waits: &[TimePoint], wakeup: &Arc<Wakeup>) -> Readiness {
    for (t, v) in waits {
        match t.poll_or_notify(*v, wakeup) {
            Ok(true) => {}
            Ok(false) => return Readiness::Pending,
            Err(e) => return Readiness::Failed(e),
        }
    }
    Readiness::Ready
}

fn worker(shared: &Shared) {
    let mut pending: Vec<Submission> = Vec::new();
    loop {
        let closed = {
            let mut inbox = shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
            pending.append(&mut inbox.items);
            inbox.closed
        };
        let mut next = None;
        for (i, s) in pending.iter().enumerate() {
            match readiness(&s.waits, &shared.wakeup) {
                Readiness::Pending => continue,
                Readiness::Ready => next = Some((i, None)),
                Readiness::Failed(e) => next = Some((i, Some(e))),
            }
            break;
        }
        match next {
            Some((i, failed_wait)) => {
                let s = pending.remove(i);
                s.ticket.start();
                let result = match failed_wait {
                    Some(e) => Err(e),
                    None => run(&shared.name, &s.work),
                };
                finish(&s.signals, result);
            }
            None if closed => {
                for s in pending.drain(..) {
                    finish(
                        &s.signals,
                        Err(HalError::QueueShutdown(shared.name.clone())),
                    );
                }
                return;
            }
            // The timeout only guards against a missed notification; every state change that
            // can make work ready notifies the wake-up.
            None => {
                shared.wakeup.wait(Duration::from_secs(1));
            }
        }
    }
}

fn finish(signals: &[TimePoint], result: Result<(), HalError>) {
    for (t, v) in signals {
        match &result {
            Ok(()) => {
                if let Err(e) = t.signal(*v) {
                    // A signal that would move the timeline backwards is a caller bug; fail
                    // the timeline so its waiters learn about it instead of hanging.
                    t.fail(e);
                }
            }
            Err(e) => t.fail(e.clone()),
        }
    }
}

/// The message of a caught panic payload (`&str` or `String`), or "unknown panic".
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

fn run(queue: &str, work: &Work) -> Result<(), HalError> {
    match catch_unwind(AssertUnwindSafe(|| run_work(work))) {
        Ok(r) => r,
        Err(p) => Err(HalError::Invalid(format!(
            "queue '{queue}': {} work panicked: {}",
            work.kind(),
            panic_message(p.as_ref())
        ))),
    }
}

fn run_work(work: &Work) -> Result<(), HalError> {
    match work {
        Work::Execute {
            executable,
            inputs,
            outputs,
        } => {
            let outs = executable.execute(inputs)?;
            if outs.len() != executable.outputs().len() {
                return Err(HalError::Invalid(format!(
                    "executable '{}' returned {} outputs, declares {}",
                    executable.name(),
                    outs.len(),
                    executable.outputs().len()
                )));
            }
            outputs.set(outs);
            Ok(())
        }
        Work::Copy {
            src,
            src_offset,
            dst,
            dst_offset,
            len,
        } => {
            let bytes = src.read_bytes(*src_offset, *len)?;
            dst.write_bytes(*dst_offset, &bytes)
        }
        Work::Fill {
            dst,
            offset,
            len,
            pattern,
        } => dst.map_write(&mut |bytes| {
            for chunk in bytes[*offset..*offset + *len].chunks_exact_mut(pattern.len()) {
                chunk.copy_from_slice(pattern);
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::{Buffer, BufferView};
    use crate::executable::{Binding, Executable};
    use crate::host_buffer::HostBuffer;
    use crate::queue::OutputSlot;
    use crate::timeline::Timeline;
    use crate::value::DeviceValue;
    use std::any::Any;
    use tessera_ir::DType;

    const LONG: Duration = Duration::from_secs(10);

    fn buf(n: usize) -> Arc<dyn Buffer> {
        Arc::new(HostBuffer::new(n).unwrap())
    }

    fn tl(name: &str) -> Arc<Timeline> {
        Arc::new(Timeline::new(name))
    }

    /// Adds one to every byte of its single u8 input, or fails / panics on request.
    #[derive(Debug)]
    struct AddOne {
        io: Vec<Binding>,
        mode: &'static str,
    }

    impl AddOne {
        fn make(mode: &'static str) -> Arc<dyn Executable> {
            Arc::new(AddOne {
                io: vec![Binding {
                    name: "x".into(),
                    ty: None,
                }],
                mode,
            })
        }
    }

    impl Executable for AddOne {
        fn name(&self) -> &str {
            "add_one"
        }
        fn inputs(&self) -> &[Binding] {
            &self.io
        }
        fn outputs(&self) -> &[Binding] {
            &self.io
        }
        fn execute(&self, inputs: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError> {
            match self.mode {
                "fail" => return Err(HalError::Invalid("kernel failed".into())),
                "panic" => panic!("kernel exploded"),
                _ => {}
            }
            let v = inputs[0].as_tensor().unwrap();
            let bytes: Vec<u8> = v.read_bytes()?.iter().map(|b| b + 1).collect();
            let out: Arc<dyn Buffer> = Arc::new(HostBuffer::from_bytes(&bytes)?);
            Ok(vec![DeviceValue::Tensor(BufferView::new(
                out,
                DType::U8,
                v.shape.clone(),
                0,
            )?)])
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    fn u8_view(bytes: &[u8]) -> DeviceValue {
        let b: Arc<dyn Buffer> = Arc::new(HostBuffer::from_bytes(bytes).unwrap());
        DeviceValue::Tensor(BufferView::new(b, DType::U8, vec![bytes.len()], 0).unwrap())
    }

    #[test]
    fn fill_then_copy_ordered_by_a_timeline() {
        let q = HostQueue::new("q").unwrap();
        let (a, b) = (buf(8), buf(8));
        let t = tl("t");
        // Submitted first, but waits for the fill.
        q.submit(
            Work::Copy {
                src: a.clone(),
                src_offset: 0,
                dst: b.clone(),
                dst_offset: 0,
                len: 8,
            },
            &[(t.clone(), 1)],
            &[(t.clone(), 2)],
        )
        .unwrap();
        q.submit(
            Work::Fill {
                dst: a.clone(),
                offset: 0,
                len: 8,
                pattern: vec![1, 2],
            },
            &[],
            &[(t.clone(), 1)],
        )
        .unwrap();
        t.wait(2, LONG).unwrap();
        assert_eq!(b.read_bytes(0, 8).unwrap(), vec![1, 2, 1, 2, 1, 2, 1, 2]);
    }

    #[test]
    fn waits_on_a_timeline_signalled_from_outside() {
        let q = HostQueue::new("q").unwrap();
        let a = buf(4);
        let (gate, done) = (Arc::new(Timeline::host_signalled("gate")), tl("done"));
        q.submit(
            Work::Fill {
                dst: a.clone(),
                offset: 0,
                len: 4,
                pattern: vec![9],
            },
            &[(gate.clone(), 5)],
            &[(done.clone(), 1)],
        )
        .unwrap();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(done.value(), 0);
        assert_eq!(a.read_bytes(0, 4).unwrap(), vec![0; 4]);
        gate.signal(5).unwrap();
        done.wait(1, LONG).unwrap();
        assert_eq!(a.read_bytes(0, 4).unwrap(), vec![9; 4]);
    }

    #[test]
    fn execute_fills_the_output_slot() {
        let q = HostQueue::new("q").unwrap();
        let t = tl("t");
        let slot = OutputSlot::new();
        assert!(slot.take().is_err());
        q.submit(
            Work::Execute {
                executable: AddOne::make("ok"),
                inputs: vec![u8_view(&[1, 2, 3])],
                outputs: slot.clone(),
            },
            &[],
            &[(t.clone(), 1)],
        )
        .unwrap();
        t.wait(1, LONG).unwrap();
        let outs = slot.take().unwrap();
        assert_eq!(
            outs[0].as_tensor().unwrap().read_bytes().unwrap(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn failure_propagates_down_a_chain() {
        let q = HostQueue::new("q").unwrap();
        let (t1, t2, t3) = (tl("t1"), tl("t2"), tl("t3"));
        let slot = OutputSlot::new();
        // t1 ← failing execute; t2 ← copy waiting on t1; t3 ← fill waiting on t2.
        q.submit(
            Work::Fill {
                dst: buf(4),
                offset: 0,
                len: 4,
                pattern: vec![0],
            },
            &[(t2.clone(), 1)],
            &[(t3.clone(), 1)],
        )
        .unwrap();
        q.submit(
            Work::Copy {
                src: buf(4),
                src_offset: 0,
                dst: buf(4),
                dst_offset: 0,
                len: 4,
            },
            &[(t1.clone(), 1)],
            &[(t2.clone(), 1)],
        )
        .unwrap();
        q.submit(
            Work::Execute {
                executable: AddOne::make("fail"),
                inputs: vec![u8_view(&[1])],
                outputs: slot.clone(),
            },
            &[],
            &[(t1.clone(), 1)],
        )
        .unwrap();
        let e = t3.wait(1, LONG).unwrap_err();
        assert!(
            matches!(e.root(), HalError::Invalid(m) if m == "kernel failed"),
            "{e}"
        );
        assert!(t1.failure().is_some() && t2.failure().is_some());
        assert!(slot.take().is_err());
        // The queue keeps working after a failure.
        let t4 = tl("t4");
        q.submit(
            Work::Fill {
                dst: buf(1),
                offset: 0,
                len: 1,
                pattern: vec![1],
            },
            &[],
            &[(t4.clone(), 1)],
        )
        .unwrap();
        t4.wait(1, LONG).unwrap();
    }

    #[test]
    fn a_panic_fails_the_signals() {
        let q = HostQueue::new("q").unwrap();
        let t = tl("t");
        q.submit(
            Work::Execute {
                executable: AddOne::make("panic"),
                inputs: vec![u8_view(&[1])],
                outputs: OutputSlot::new(),
            },
            &[],
            &[(t.clone(), 1)],
        )
        .unwrap();
        let e = t.wait(1, LONG).unwrap_err();
        assert!(e.to_string().contains("kernel exploded"), "{e}");
    }

    #[test]
    fn invalid_work_is_refused_at_submit() {
        let q = HostQueue::new("q").unwrap();
        let t = tl("t");
        let fill = |pattern: Vec<u8>, len| Work::Fill {
            dst: buf(4),
            offset: 0,
            len,
            pattern,
        };
        assert!(q
            .submit(fill(vec![1, 2, 3], 3), &[], &[(t.clone(), 1)])
            .is_err());
        assert!(q
            .submit(fill(vec![1, 2], 3), &[], &[(t.clone(), 1)])
            .is_err());
        assert!(q.submit(fill(vec![1], 5), &[], &[(t.clone(), 1)]).is_err());
        let exec = Work::Execute {
            executable: AddOne::make("ok"),
            inputs: vec![],
            outputs: OutputSlot::new(),
        };
        assert!(q.submit(exec, &[], &[(t.clone(), 1)]).is_err());
        // Nothing was signalled or failed.
        assert_eq!(t.value(), 0);
        assert!(t.failure().is_none());
    }

    #[test]
    fn dropping_the_queue_fails_waiting_work() {
        let q = HostQueue::new("q").unwrap();
        let (gate, done) = (Arc::new(Timeline::host_signalled("gate")), tl("done"));
        q.submit(
            Work::Fill {
                dst: buf(1),
                offset: 0,
                len: 1,
                pattern: vec![1],
            },
            &[(gate.clone(), 1)],
            &[(done.clone(), 1)],
        )
        .unwrap();
        drop(q);
        let e = done.wait(1, LONG).unwrap_err();
        assert!(matches!(e.root(), HalError::QueueShutdown(_)), "{e}");
    }

    #[test]
    fn copy_within_one_buffer() {
        let q = HostQueue::new("q").unwrap();
        let a: Arc<dyn Buffer> = Arc::new(HostBuffer::from_bytes(&[1, 2, 3, 4, 5]).unwrap());
        let t = tl("t");
        q.submit(
            Work::Copy {
                src: a.clone(),
                src_offset: 0,
                dst: a.clone(),
                dst_offset: 1,
                len: 4,
            },
            &[],
            &[(t.clone(), 1)],
        )
        .unwrap();
        t.wait(1, LONG).unwrap();
        assert_eq!(a.read_bytes(0, 5).unwrap(), vec![1, 1, 2, 3, 4]);
    }
}
