//! [`PendingRun`]: an inference submitted with [`Session::submit`](crate::Session::submit)
//! and not yet awaited, and the gate that bounds how many are in flight at once.

use crate::error::RuntimeError;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tessera_hal::host_queue::panic_message;
use tessera_hal::{HalError, Timeline, TimelinePointFd};
use tessera_ir::Value;

/// A counting gate: at most `limit` holders at once; [`InFlightGate::enter`] blocks beyond.
#[derive(Debug)]
pub(crate) struct InFlightGate {
    limit: usize,
    held: Mutex<usize>,
    cv: Condvar,
}

impl InFlightGate {
    /// A gate admitting `limit` holders (at least one).
    pub fn new(limit: usize) -> Arc<InFlightGate> {
        Arc::new(InFlightGate {
            limit: limit.max(1),
            held: Mutex::new(0),
            cv: Condvar::new(),
        })
    }

    /// Waits for a free slot and takes it; the slot is given back when the ticket drops.
    pub fn enter(self: &Arc<Self>) -> GateTicket {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held >= self.limit {
            held = self.cv.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held += 1;
        GateTicket {
            gate: self.clone(),
            slots: 1,
        }
    }

    /// Waits until no slot is held and takes them all at once (exclusive use), given back
    /// when the ticket drops.
    pub fn enter_all(self: &Arc<Self>) -> GateTicket {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held > 0 {
            held = self.cv.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held = self.limit;
        GateTicket {
            gate: self.clone(),
            slots: self.limit,
        }
    }
}

/// Slots of an [`InFlightGate`], released on drop.
#[derive(Debug)]
pub(crate) struct GateTicket {
    gate: Arc<InFlightGate>,
    slots: usize,
}

impl Drop for GateTicket {
    fn drop(&mut self) {
        let mut held = self.gate.held.lock().unwrap_or_else(|p| p.into_inner());
        *held = held.saturating_sub(self.slots);
        // Waiters want different things (one slot, or all of them): wake them all to recheck.
        self.gate.cv.notify_all();
    }
}

/// The result of [`Session::submit`](crate::Session::submit): an inference running in the
/// background. [`PendingRun::wait`] returns its outputs; dropping it without waiting lets the
/// run finish and discards the result.
#[derive(Debug)]
pub struct PendingRun {
    pub(crate) handle: JoinHandle<Result<Vec<(String, Value)>, RuntimeError>>,
    /// Reaches 1 when the run succeeds; fails when it fails (or panics).
    pub(crate) done: Arc<Timeline>,
}

/// Settles a run's completion timeline exactly once: from the run's result, or as failed if
/// the run thread unwinds before reporting.
pub(crate) struct Completion(Option<Arc<Timeline>>);

impl Completion {
    pub fn new(done: Arc<Timeline>) -> Completion {
        Completion(Some(done))
    }

    /// Signals the timeline (success) or fails it with the run's error.
    pub fn finish<T>(mut self, result: &Result<T, RuntimeError>) {
        if let Some(done) = self.0.take() {
            match result {
                // Only this run signals the fresh timeline, so the signal cannot be refused.
                Ok(_) => {
                    let _ = done.signal(1);
                }
                Err(e) => done.fail(HalError::Invalid(e.to_string())),
            }
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done.fail(HalError::Invalid("the run panicked".into()));
        }
    }
}

impl PendingRun {
    /// Blocks until the run completes and returns its outputs (named, in model order) or
    /// the error that stopped it.
    pub fn wait(self) -> Result<Vec<(String, Value)>, RuntimeError> {
        self.handle
            .join()
            .unwrap_or_else(|p| Err(RuntimeError::Panicked(panic_message(p.as_ref()))))
    }

    /// True once the run has completed (successfully or not); [`PendingRun::wait`] then
    /// returns without blocking.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// A file descriptor (an eventfd) that becomes readable when the run completes: its
    /// counter reads [`POINT_REACHED`](tessera_hal::timeline_fd::POINT_REACHED) after a
    /// success and [`POINT_FAILED`](tessera_hal::timeline_fd::POINT_FAILED) after a failure
    /// (whose error [`PendingRun::wait`] returns). For event loops, for C callers, and for
    /// handing to another process or device as a fence. Each call gives a new descriptor.
    /// Linux only.
    pub fn fence(&self) -> Result<TimelinePointFd, RuntimeError> {
        self.done
            .export_point(1)
            .map_err(|e| RuntimeError::Fence(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn gate_bounds_holders() {
        let gate = InFlightGate::new(2);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (gate, now, peak) = (gate.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    let _t = gate.enter();
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn enter_all_is_exclusive() {
        let gate = InFlightGate::new(3);
        let now = Arc::new(AtomicUsize::new(0));
        let clashes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..9)
            .map(|i| {
                let (gate, now, clashes) = (gate.clone(), now.clone(), clashes.clone());
                std::thread::spawn(move || {
                    // Exclusive holders count as 100, so any overlap shows in the sum.
                    let (ticket, weight) = if i % 3 == 0 {
                        (gate.enter_all(), 100)
                    } else {
                        (gate.enter(), 1)
                    };
                    let n = now.fetch_add(weight, Ordering::SeqCst) + weight;
                    if weight == 100 && n != 100 || weight == 1 && n >= 100 {
                        clashes.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    now.fetch_sub(weight, Ordering::SeqCst);
                    drop(ticket);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(clashes.load(Ordering::SeqCst), 0);
        // Every slot was given back.
        assert_eq!(*gate.held.lock().unwrap(), 0);
    }
}
