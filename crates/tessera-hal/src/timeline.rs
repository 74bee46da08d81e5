//! [`Timeline`]: a 64-bit semaphore whose value only grows, with a sticky failed state —
//! Vulkan's timeline semaphore, DRM's syncobj timeline, IREE's `iree_hal_semaphore_t`.
//!
//! Work is ordered by timeline *points* `(timeline, value)`: a submission waits until each of
//! its wait points is reached, and when it finishes it advances each of its signal points. If
//! the work fails, its signal timelines are failed instead, with the error; every waiter on a
//! value not yet reached then sees that error (wrapped in [`HalError::TimelineFailed`], whose
//! [`HalError::root`] is the original), so a failure propagates down a pipeline instead of
//! leaving it hanging.
//!
//! Values reached before the failure stay reached: a wait for them still succeeds, because the
//! work that signalled them did complete.
//!
//! A timeline made with [`Timeline::new`] is signalled by queue work: a host
//! [`Timeline::wait`] on a point that no pending or running submission can signal returns
//! [`HalError::Deadlock`] instead of hanging (see [`crate::wait_graph`]). A timeline that code
//! outside the queues signals (a test driving a pipeline by hand, an imported external fence)
//! is made with [`Timeline::host_signalled`]; the deadlock checker never reports waits on it.

use crate::error::HalError;
use crate::wait_graph;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
struct State {
    value: u64,
    failure: Option<HalError>,
    watchers: Vec<Weak<Wakeup>>,
    callbacks: Callbacks,
}

/// A one-shot callback registered with [`Timeline::on_reached`].
type Callback = Box<dyn FnOnce(Result<(), HalError>) + Send>;

/// Callbacks waiting for a value, fired (outside the state lock) by `signal` and `fail`.
#[derive(Default)]
struct Callbacks(Vec<(u64, Callback)>);

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} callback(s)", self.0.len())
    }
}

/// A monotonically increasing 64-bit semaphore with a failed state.
#[derive(Debug)]
pub struct Timeline {
    id: u64,
    label: String,
    host_signalled: bool,
    state: Mutex<State>,
    cv: Condvar,
}

/// A wake-up flag a scheduler sleeps on while its pending work waits on several timelines;
/// see [`Timeline::poll_or_notify`]. A notification that arrives before the sleep is not lost.
#[derive(Debug, Default)]
pub struct Wakeup {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    /// A new, unset wake-up flag.
    pub fn new() -> Arc<Wakeup> {
        Arc::new(Wakeup::default())
    }

    /// Sets the flag and wakes the sleeper.
    pub fn notify(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Sleeps until notified or `timeout` passes, then clears the flag. Returns true when it
    /// was notified.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut flag = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        while !*flag {
            match deadline {
                None => flag = self.cv.wait(flag).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    flag = self
                        .cv
                        .wait_timeout(flag, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        *flag = false;
        true
    }
}

impl Timeline {
    /// A duration to pass to [`Timeline::wait`] to wait without a limit.
    pub const FOREVER: Duration = Duration::MAX;

    /// A timeline at value 0, signalled by queue work. The label names it in errors.
    ///
    /// [`Timeline::signal`] still works from the host, but the deadlock checker does not
    /// count on it: a host wait on a point that no submitted work signals is reported as a
    /// deadlock. Use [`Timeline::host_signalled`] for timelines the host signals.
    pub fn new(label: impl Into<String>) -> Timeline {
        Timeline::with_value(label, 0)
    }

    /// A queue-signalled timeline (see [`Timeline::new`]) starting at `value`.
    pub fn with_value(label: impl Into<String>, value: u64) -> Timeline {
        Timeline::make(label.into(), value, false)
    }

    /// A timeline at value 0 that code outside the HAL's queues may signal: the host, another
    /// process, an imported external fence. The deadlock checker treats its points as
    /// reachable at any time, so waits on them are never reported and never close a cycle.
    pub fn host_signalled(label: impl Into<String>) -> Timeline {
        Timeline::make(label.into(), 0, true)
    }

    fn make(label: String, value: u64, host_signalled: bool) -> Timeline {
        Timeline {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            host_signalled,
            label,
            state: Mutex::new(State {
                value,
                failure: None,
                watchers: Vec::new(),
                callbacks: Callbacks::default(),
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // State updates are single assignments, so a poisoned lock still guards a
        // consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The label given at creation.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        self.lock().value
    }

    /// Whether the timeline was made with [`Timeline::host_signalled`].
    pub fn is_host_signalled(&self) -> bool {
        self.host_signalled
    }

    /// A process-unique identity for the wait-for graph.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The value and whether the timeline has failed, read together.
    pub(crate) fn snapshot(&self) -> (u64, bool) {
        let st = self.lock();
        (st.value, st.failure.is_some())
    }

    /// The error the timeline failed with, if it has failed.
    pub fn failure(&self) -> Option<HalError> {
        self.lock().failure.clone()
    }

    fn failed_error(&self, value: u64, failure: &HalError) -> HalError {
        HalError::TimelineFailed {
            timeline: self.label.clone(),
            value,
            source: Box::new(failure.clone()),
        }
    }

    fn wake(&self, state: &mut State) {
        self.cv.notify_all();
        for w in state.watchers.drain(..) {
            if let Some(w) = w.upgrade() {
                w.notify();
            }
        }
    }

    /// Advances the timeline to `value`, waking every waiter on a value ≤ `value`.
    ///
    /// Fails with [`HalError::TimelineRegression`] when `value` is not greater than the current
    /// value, and with [`HalError::TimelineFailed`] when the timeline has failed.
    pub fn signal(&self, value: u64) -> Result<(), HalError> {
        let mut st = self.lock();
        if let Some(f) = &st.failure {
            return Err(self.failed_error(value, f));
        }
        if value <= st.value {
            return Err(HalError::TimelineRegression {
                timeline: self.label.clone(),
                current: st.value,
                requested: value,
            });
        }
        st.value = value;
        self.wake(&mut st);
        let (due, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut st.callbacks.0)
            .into_iter()
            .partition(|(v, _)| *v <= value);
        st.callbacks.0 = pending;
        drop(st);
        for (_, f) in due {
            f(Ok(()));
        }
        Ok(())
    }

    /// Puts the timeline in the failed state with `error`, waking every waiter. The first
    /// failure wins; later calls are ignored, so the error every waiter sees is the original
    /// one.
    pub fn fail(&self, error: HalError) {
        let mut st = self.lock();
        if st.failure.is_none() {
            st.failure = Some(error);
        }
        self.wake(&mut st);
        let due = std::mem::take(&mut st.callbacks.0);
        if due.is_empty() {
            return;
        }
        let failure = st.failure.clone();
        drop(st);
        if let Some(failure) = failure {
            for (v, f) in due {
                f(Err(self.failed_error(v, &failure)));
            }
        }
    }

    /// Calls `f` once, when the timeline reaches `value` (`Ok`) or fails before reaching it
    /// (the error a waiter would see). If either has already happened, `f` runs at once on
    /// this thread; otherwise it runs on the thread that signals or fails the timeline,
    /// outside the timeline's lock, so it may use the timeline. Keep it short: it delays
    /// that thread.
    ///
    /// If the timeline is dropped first, `f` is dropped without being called.
    pub fn on_reached(&self, value: u64, f: impl FnOnce(Result<(), HalError>) + Send + 'static) {
        let mut st = self.lock();
        let now = self.check(&st, value);
        if let Ok(false) = now {
            st.callbacks.0.push((value, Box::new(f)));
            return;
        }
        drop(st);
        f(now.map(|_| ()));
    }

    fn check(&self, st: &State, value: u64) -> Result<bool, HalError> {
        if st.value >= value {
            Ok(true)
        } else if let Some(f) = &st.failure {
            Err(self.failed_error(value, f))
        } else {
            Ok(false)
        }
    }

    /// Without blocking: `Ok(true)` when `value` has been reached, `Ok(false)` when not yet,
    /// an error when the timeline failed before reaching it.
    pub fn poll(&self, value: u64) -> Result<bool, HalError> {
        let st = self.lock();
        self.check(&st, value)
    }

    /// Like [`Timeline::poll`], and when the answer is "not yet", arranges (atomically with the
    /// check) for `wakeup` to be notified at the timeline's next change.
    pub fn poll_or_notify(&self, value: u64, wakeup: &Arc<Wakeup>) -> Result<bool, HalError> {
        let mut st = self.lock();
        let r = self.check(&st, value)?;
        if !r {
            st.watchers.retain(|w| w.strong_count() > 0);
            if !st
                .watchers
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(wakeup)))
            {
                st.watchers.push(Arc::downgrade(wakeup));
            }
        }
        Ok(r)
    }

    /// Blocks until the timeline reaches `value` (`Ok`), fails first
    /// ([`HalError::TimelineFailed`] carrying the original error), or `timeout` passes
    /// ([`HalError::Timeout`]). [`Timeline::FOREVER`] waits without a limit.
    ///
    /// Unless the timeline is [host-signalled](Timeline::host_signalled), the wait fails with
    /// [`HalError::Deadlock`] when no pending or running submission can bring the timeline to
    /// `value`: checked on entry and then every
    /// [`HOST_WAIT_CHECK_INTERVAL`](wait_graph::HOST_WAIT_CHECK_INTERVAL) while blocked.
    pub fn wait(&self, value: u64, timeout: Duration) -> Result<(), HalError> {
        let start = Instant::now();
        let deadline = start.checked_add(timeout);
        // When to consult the wait-for graph next; never for host-signalled timelines.
        let mut next_check = (!self.host_signalled).then_some(start);
        let mut st = self.lock();
        loop {
            if self.check(&st, value)? {
                return Ok(());
            }
            let now = Instant::now();
            if let Some(c) = next_check {
                if now >= c {
                    // Lock order: graph before timeline, so release ours first.
                    drop(st);
                    wait_graph::check_host_wait(self, value)?;
                    next_check = Instant::now().checked_add(wait_graph::HOST_WAIT_CHECK_INTERVAL);
                    st = self.lock();
                    continue;
                }
            }
            if let Some(d) = deadline {
                if now >= d {
                    return Err(HalError::Timeout {
                        timeline: self.label.clone(),
                        value,
                        current: st.value,
                        waited_ms: start.elapsed().as_millis(),
                    });
                }
            }
            let wake_at = match (deadline, next_check) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            st = match wake_at {
                None => self.cv.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(w) => {
                    self.cv
                        .wait_timeout(st, w.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn signal_only_grows() {
        let t = Timeline::host_signalled("t");
        assert_eq!(t.value(), 0);
        t.signal(3).unwrap();
        assert_eq!(t.value(), 3);
        assert!(matches!(
            t.signal(3),
            Err(HalError::TimelineRegression {
                current: 3,
                requested: 3,
                ..
            })
        ));
        assert!(t.signal(2).is_err());
        t.signal(10).unwrap();
        assert_eq!(t.value(), 10);
        assert!(t.poll(10).unwrap());
        assert!(!t.poll(11).unwrap());
    }

    #[test]
    fn wait_returns_at_once_for_reached_values() {
        let t = Timeline::with_value("t", 5);
        t.wait(5, Duration::ZERO).unwrap();
        t.wait(1, Duration::ZERO).unwrap();
    }

    #[test]
    fn wait_times_out() {
        let t = Timeline::host_signalled("slow");
        let e = t.wait(1, Duration::from_millis(20)).unwrap_err();
        assert!(
            matches!(
                e,
                HalError::Timeout {
                    value: 1,
                    current: 0,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("slow"));
    }

    #[test]
    fn waiters_wake_in_value_order() {
        let t = Arc::new(Timeline::host_signalled("t"));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for v in [3u64, 1, 2] {
            let (t, order) = (t.clone(), order.clone());
            hs.push(thread::spawn(move || {
                t.wait(v, LONG).unwrap();
                let now = t.value();
                order.lock().unwrap().push((v, now));
            }));
        }
        for v in 1..=3 {
            thread::sleep(Duration::from_millis(10));
            t.signal(v).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 3);
        // Every waiter woke only once its value was reached.
        assert!(order.iter().all(|&(v, now)| now >= v));
    }

    #[test]
    fn failure_reaches_every_waiter_with_the_original_error() {
        let t = Arc::new(Timeline::host_signalled("t"));
        t.signal(1).unwrap();
        let hs: Vec<_> = (2..5)
            .map(|v| {
                let t = t.clone();
                thread::spawn(move || t.wait(v, LONG))
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        t.fail(HalError::Invalid("boom".into()));
        t.fail(HalError::Invalid("second".into()));
        for h in hs {
            let e = h.join().unwrap().unwrap_err();
            assert!(matches!(e, HalError::TimelineFailed { .. }), "{e}");
            assert!(
                matches!(e.root(), HalError::Invalid(m) if m == "boom"),
                "{e}"
            );
        }
        // Values reached before the failure stay reached.
        t.wait(1, Duration::ZERO).unwrap();
        assert!(t.poll(2).is_err());
        assert!(t.signal(7).is_err());
        assert!(t.failure().is_some());
    }

    #[test]
    fn callbacks_fire_once_outside_the_lock() {
        let t = Arc::new(Timeline::new("t"));
        let log = Arc::new(Mutex::new(Vec::new()));
        for v in [2u64, 1, 3] {
            let (t2, log) = (t.clone(), log.clone());
            t.on_reached(v, move |r| {
                // The timeline is usable from inside a callback.
                let now = t2.value();
                log.lock().unwrap().push((v, now, r.is_ok()));
            });
        }
        t.signal(2).unwrap();
        assert_eq!(*log.lock().unwrap(), vec![(2, 2, true), (1, 2, true)]);
        // Already reached: runs at once.
        let log2 = log.clone();
        t.on_reached(1, move |r| log2.lock().unwrap().push((1, 99, r.is_ok())));
        assert_eq!(log.lock().unwrap().len(), 3);
        t.fail(HalError::Invalid("boom".into()));
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 4);
        assert_eq!(log[3], (3, 2, false));
        // A callback registered after the failure sees it at once.
        let seen = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        t.on_reached(5, move |r| *s2.lock().unwrap() = Some(r));
        let e = seen.lock().unwrap().take().unwrap().unwrap_err();
        assert!(
            matches!(e.root(), HalError::Invalid(m) if m == "boom"),
            "{e}"
        );
    }

    #[test]
    fn wakeup_is_not_lost() {
        let t = Timeline::host_signalled("t");
        let w = Wakeup::new();
        assert!(!t.poll_or_notify(1, &w).unwrap());
        assert!(!t.poll_or_notify(1, &w).unwrap());
        t.signal(1).unwrap();
        // Notified before anyone slept: the flag is still set.
        assert!(w.wait(Duration::ZERO));
        assert!(!w.wait(Duration::from_millis(1)));
        assert!(t.poll_or_notify(1, &w).unwrap());
    }

    #[test]
    fn a_wait_nothing_can_signal_is_a_deadlock_not_a_timeout() {
        let t = Timeline::new("orphan");
        let start = Instant::now();
        let e = t.wait(1, LONG).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        let HalError::Deadlock(r) = &e else {
            panic!("{e}");
        };
        let crate::wait_graph::DeadlockReport::Unreachable { point, chain, .. } = r.as_ref() else {
            panic!("{e}");
        };
        assert_eq!((point.timeline.as_str(), point.value), ("orphan", 1));
        assert!(chain.is_empty());
        assert!(e.to_string().contains("'orphan'@1"), "{e}");
        // Reached values and failed timelines are not deadlocks.
        let t = Timeline::with_value("reached", 3);
        t.wait(3, Duration::ZERO).unwrap();
        t.fail(HalError::Invalid("x".into()));
        assert!(matches!(
            t.wait(4, LONG).unwrap_err(),
            HalError::TimelineFailed { .. }
        ));
    }
}
