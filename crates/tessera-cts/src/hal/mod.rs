//! The HAL conformance suite: the contract of `tessera-hal` (buffers, queues, timelines,
//! external memory, failure propagation, deadlock detection) checked on any device of any
//! registered driver, the way IREE's `hal/cts` is instantiated for every IREE driver.
//!
//! The suite is data: [`hal_cases`] lists [`HalCase`]s, each a name and a plain function
//! `fn(&HalTarget) -> Result<(), CaseFailure>`. A [`HalTarget`] names a device by registry
//! and URI and hands each case a fresh [`Device`] ([`HalTarget::device`]); cases reach the
//! device only through the HAL traits, never by downcasting, so a new backend gets every case
//! by being registered. [`run_hal_suite`] runs the cases one after the other (each on its own
//! thread, with a time limit and panic capture) and returns a [`HalReport`].
//!
//! A case ends in one of three ways:
//!
//! | outcome | meaning |
//! |---------|---------|
//! | `pass`  | the device keeps the contract the case checks |
//! | `fail`  | it does not (or the case panicked, or ran out of time): the reason says how |
//! | `skip`  | the case does not apply (no exportable memory, no host-visible memory, no supported op to execute, one queue only, …): the reason says why |
//!
//! Case families, one file each: [`buffers`], [`queues`], [`timelines`], [`external`],
//! [`failures`], [`deadlocks`]. Every wait in a case is bounded ([`WAIT`]); a wait that runs
//! out is a failure naming what was awaited.
//!
//! Known failures of a driver are listed in `hal-expected-failures.txt` (see
//! [`HalExpectedFailures`]); the [`HalReport`]'s verdict judges a run against it, like the
//! node suite's manifest.

pub mod buffers;
pub mod deadlocks;
pub mod external;
pub mod failures;
pub mod queues;
pub mod report;
pub mod timelines;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The filter type of [`HalRunOptions::filter`], re-exported for callers without `regex`.
pub use regex::Regex;
use tessera_hal::{
    Buffer, Device, DeviceUri, DriverRegistry, HalError, MemoryKind, Queue, TimePoint, Timeline,
};

pub use report::{
    default_hal_manifest_path, HalCaseRecord, HalCounts, HalExpectedFailures, HalReport, HalVerdict,
};

/// How long a case waits for any one timeline point before calling it a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// The default per-case time limit of [`run_hal_suite`].
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a case did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseFailure {
    /// The device broke the contract; the message says how.
    Failed(String),
    /// The case does not apply to this device; the reason says why.
    Skipped {
        /// Why the case does not apply.
        reason: String,
    },
}

impl CaseFailure {
    /// A [`CaseFailure::Failed`] with `message`.
    pub fn fail(message: impl Into<String>) -> CaseFailure {
        CaseFailure::Failed(message.into())
    }

    /// A [`CaseFailure::Skipped`] with `reason`.
    pub fn skip(reason: impl Into<String>) -> CaseFailure {
        CaseFailure::Skipped {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseFailure::Failed(m) => write!(f, "failed: {m}"),
            CaseFailure::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// What a case returns.
pub type CaseResult = Result<(), CaseFailure>;

/// Turns a HAL error into a case failure that says what was being done.
pub trait Context<T> {
    /// On error, a [`CaseFailure::Failed`] reading `<what>: <error>`.
    fn ctx(self, what: &str) -> Result<T, CaseFailure>;
}

impl<T> Context<T> for Result<T, HalError> {
    fn ctx(self, what: &str) -> Result<T, CaseFailure> {
        self.map_err(|e| CaseFailure::Failed(format!("{what}: {e}")))
    }
}

/// Fails the case with a formatted message unless `cond` holds.
pub fn check(cond: bool, message: impl FnOnce() -> String) -> CaseResult {
    if cond {
        Ok(())
    } else {
        Err(CaseFailure::Failed(message()))
    }
}

/// One case of the suite.
#[derive(Clone, Copy)]
pub struct HalCase {
    /// `family.case`, unique in the suite (`buffers.map_round_trip`).
    pub name: &'static str,
    /// What the case checks, in one line.
    pub about: &'static str,
    /// The case itself.
    pub run: fn(&HalTarget) -> CaseResult,
}

impl HalCase {
    /// The family: the part of the name before the first dot.
    pub fn family(&self) -> &'static str {
        self.name.split('.').next().unwrap_or(self.name)
    }
}

impl fmt::Debug for HalCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HalCase").field("name", &self.name).finish()
    }
}

/// Every case of the suite, family by family, in a fixed order.
pub fn hal_cases() -> Vec<HalCase> {
    [
        buffers::CASES,
        queues::CASES,
        timelines::CASES,
        external::CASES,
        failures::CASES,
        deadlocks::CASES,
    ]
    .concat()
}

/// The device under test: a driver registry and a device URI. Each call of
/// [`HalTarget::device`] creates a fresh device, so cases do not share queues or memory.
pub struct HalTarget {
    registry: Arc<DriverRegistry>,
    uri: String,
    notes: Mutex<Vec<String>>,
}

impl fmt::Debug for HalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HalTarget").field("uri", &self.uri).finish()
    }
}

impl HalTarget {
    /// The device `uri` of `registry`.
    pub fn new(registry: Arc<DriverRegistry>, uri: impl Into<String>) -> HalTarget {
        HalTarget {
            registry,
            uri: uri.into(),
            notes: Mutex::new(Vec::new()),
        }
    }

    /// The device URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The registry devices are created from.
    pub fn registry(&self) -> &DriverRegistry {
        &self.registry
    }

    /// The name of the driver the URI names (`cpu` in `cpu://threads=2`), or the URI itself
    /// when it does not parse.
    pub fn driver_name(&self) -> String {
        DeviceUri::parse(&self.uri).map_or_else(|_| self.uri.clone(), |u| u.driver)
    }

    /// A fresh device created from the URI.
    pub fn device(&self) -> Result<Arc<dyn Device>, CaseFailure> {
        self.registry
            .create(&self.uri)
            .ctx(&format!("creating device '{}'", self.uri))
    }

    /// Records a remark about how the device passed (shown in the report next to the case).
    pub fn note(&self, text: impl Into<String>) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.into());
    }

    fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// How [`run_hal_suite_with`] runs the suite.
#[derive(Clone, Debug)]
pub struct HalRunOptions {
    /// Only cases whose name matches run (unanchored).
    pub filter: Option<Regex>,
    /// Per-case wall-clock limit; a case past it is a failure and its thread is abandoned.
    pub timeout: Duration,
    /// Known failures the verdict accepts.
    pub expected: HalExpectedFailures,
}

impl Default for HalRunOptions {
    /// Every case, [`DEFAULT_CASE_TIMEOUT`], no expected failures.
    fn default() -> Self {
        HalRunOptions {
            filter: None,
            timeout: DEFAULT_CASE_TIMEOUT,
            expected: HalExpectedFailures::default(),
        }
    }
}

/// What happened to one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HalOutcome {
    /// The device keeps the contract the case checks.
    Pass,
    /// It does not; the message says how.
    Fail(String),
    /// The case does not apply; the reason says why.
    Skip(String),
}

impl HalOutcome {
    /// `pass`, `fail` or `skip`.
    pub fn label(&self) -> &'static str {
        match self {
            HalOutcome::Pass => "pass",
            HalOutcome::Fail(_) => "fail",
            HalOutcome::Skip(_) => "skip",
        }
    }

    /// The message of a failure or a skip.
    pub fn reason(&self) -> Option<&str> {
        match self {
            HalOutcome::Pass => None,
            HalOutcome::Fail(r) | HalOutcome::Skip(r) => Some(r),
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq)]
pub struct HalCaseResult {
    /// The case's name.
    pub name: &'static str,
    /// What happened.
    pub outcome: HalOutcome,
    /// Remarks the case recorded with [`HalTarget::note`].
    pub notes: Vec<String>,
    /// Wall-clock time (the limit, for a case that ran out of time).
    pub duration: Duration,
}

/// Runs every case on device `uri` of `registry` with the default options and returns the
/// report.
pub fn run_hal_suite(registry: Arc<DriverRegistry>, uri: &str) -> HalReport {
    run_hal_suite_with(registry, uri, &HalRunOptions::default(), &mut |_, _, _| {})
}

/// Runs the selected cases one after the other, calling `progress(result, done, total)`
/// after each, and returns the report.
///
/// Cases run one at a time because some observe process-wide state (open file descriptors,
/// the deadlock checker's graph).
pub fn run_hal_suite_with(
    registry: Arc<DriverRegistry>,
    uri: &str,
    opts: &HalRunOptions,
    progress: &mut dyn FnMut(&HalCaseResult, usize, usize),
) -> HalReport {
    let target = Arc::new(HalTarget::new(registry, uri));
    let cases: Vec<HalCase> = hal_cases()
        .into_iter()
        .filter(|c| opts.filter.as_ref().is_none_or(|f| f.is_match(c.name)))
        .collect();
    let mut results = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let r = run_hal_case(&target, *case, opts.timeout);
        progress(&r, i + 1, cases.len());
        results.push(r);
    }
    HalReport::new(uri, &target.driver_name(), &results, &opts.expected)
}

/// Runs one case on its own thread, waiting at most `timeout` for it; a panic or a case
/// past the limit is a failure.
pub fn run_hal_case(target: &Arc<HalTarget>, case: HalCase, timeout: Duration) -> HalCaseResult {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let t = target.clone();
    let spawned = thread::Builder::new()
        .name(format!("hal-cts:{}", case.name))
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| (case.run)(&t)));
            let _ = tx.send((r, t.take_notes()));
        });
    let (outcome, notes) = match spawned {
        Err(e) => (
            HalOutcome::Fail(format!("cannot start the case's thread: {e}")),
            Vec::new(),
        ),
        Ok(_) => match rx.recv_timeout(timeout) {
            Ok((Ok(Ok(())), notes)) => (HalOutcome::Pass, notes),
            Ok((Ok(Err(CaseFailure::Failed(m))), notes)) => (HalOutcome::Fail(m), notes),
            Ok((Ok(Err(CaseFailure::Skipped { reason })), notes)) => {
                (HalOutcome::Skip(reason), notes)
            }
            Ok((Err(payload), notes)) => (
                HalOutcome::Fail(format!("panicked: {}", panic_message(&payload))),
                notes,
            ),
            Err(_) => (
                HalOutcome::Fail(format!(
                    "no result after {:.0} s (a hang: every wait of a case is bounded)",
                    timeout.as_secs_f64()
                )),
                Vec::new(),
            ),
        },
    };
    HalCaseResult {
        name: case.name,
        outcome,
        notes,
        duration: start.elapsed(),
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the case families.

/// A timeline label unique in the process, so that deadlock reports name this case's points.
pub(crate) fn label(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("cts-{what}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh queue-signalled timeline.
pub(crate) fn timeline(what: &str) -> Arc<Timeline> {
    Arc::new(Timeline::new(label(what)))
}

/// A fresh host-signalled timeline.
pub(crate) fn host_timeline(what: &str) -> Arc<Timeline> {
    Arc::new(Timeline::host_signalled(label(what)))
}

/// Waits for `(t, v)` at most [`WAIT`]; any error is a failure naming `what`.
pub(crate) fn wait(t: &Timeline, v: u64, what: &str) -> CaseResult {
    match t.wait(v, WAIT) {
        Ok(()) => Ok(()),
        Err(e @ HalError::Timeout { .. }) => Err(CaseFailure::fail(format!(
            "{what}: timed out after {} s ({e})",
            WAIT.as_secs()
        ))),
        Err(e) => Err(CaseFailure::fail(format!("{what}: {e}"))),
    }
}

/// Waits for `(t, v)` expecting the timeline to fail; returns the wait's error. Reaching
/// the point, or running out of time, is a failure naming `what`.
pub(crate) fn wait_failed(t: &Timeline, v: u64, what: &str) -> Result<HalError, CaseFailure> {
    match t.wait(v, WAIT) {
        Ok(()) => Err(CaseFailure::fail(format!(
            "{what}: the point was reached, a failure was expected"
        ))),
        Err(e @ HalError::Timeout { .. }) => Err(CaseFailure::fail(format!(
            "{what}: timed out after {} s waiting for a failure ({e})",
            WAIT.as_secs()
        ))),
        Err(e) => Ok(e),
    }
}

/// The device's first host-visible memory kind, or a skip.
pub(crate) fn host_visible_kind(dev: &dyn Device) -> Result<MemoryKind, CaseFailure> {
    dev.memory_kinds()
        .iter()
        .copied()
        .find(|k| k.is_host_visible())
        .ok_or_else(|| {
            CaseFailure::skip(format!(
                "the device has no host-visible memory (kinds: {:?})",
                dev.memory_kinds()
            ))
        })
}

/// A host-visible buffer of `size` bytes, set to `byte`.
pub(crate) fn scratch(
    dev: &dyn Device,
    size: usize,
    byte: u8,
) -> Result<Arc<dyn Buffer>, CaseFailure> {
    let kind = host_visible_kind(dev)?;
    let b = dev
        .allocate(size, kind)
        .ctx(&format!("allocating {size} bytes of {kind} memory"))?;
    b.write_bytes(0, &vec![byte; size])
        .ctx("writing a host-visible buffer")?;
    Ok(b)
}

/// Reads a whole host-visible buffer.
pub(crate) fn contents(b: &Arc<dyn Buffer>) -> Result<Vec<u8>, CaseFailure> {
    b.read_bytes(0, b.size())
        .ctx("reading a host-visible buffer")
}

/// Queue 0 of `dev`.
pub(crate) fn queue0(dev: &dyn Device) -> Result<Arc<dyn Queue>, CaseFailure> {
    dev.queue(0).ctx("getting queue 0")
}

/// A second queue, the device that owns it (kept alive with it) and a description.
pub(crate) type PeerQueue = (Arc<dyn Queue>, Arc<dyn Device>, String);

/// A second queue to order work against: queue 1 of `dev` when it has one, otherwise queue
/// 0 of a second device created from the same URI. Returns the queue, the device that owns it
/// (to keep it alive) and a description for messages.
pub(crate) fn peer_queue(
    target: &HalTarget,
    dev: &Arc<dyn Device>,
) -> Result<PeerQueue, CaseFailure> {
    if dev.queue_count() > 1 {
        let q = dev.queue(1).ctx("getting queue 1")?;
        Ok((q, dev.clone(), "queue 1 of the device".into()))
    } else {
        let other = target.device()?;
        let q = queue0(&*other)?;
        Ok((q, other, "queue 0 of a second device".into()))
    }
}

/// The bytes a Fill of `pattern` over `len` bytes leaves.
pub(crate) fn pattern_bytes(pattern: &[u8], len: usize) -> Vec<u8> {
    pattern.iter().copied().cycle().take(len).collect()
}

/// Checks that `e` is `TimelineFailed` (or the original error itself) whose root is the
/// injected error carrying `marker`.
pub(crate) fn check_root(e: &HalError, marker: &str, what: &str) -> CaseResult {
    match e.root() {
        HalError::Invalid(m) if m == marker => Ok(()),
        other => Err(CaseFailure::fail(format!(
            "{what}: expected a failure whose root is the injected error '{marker}', got \
             '{e}' (root: '{other}')"
        ))),
    }
}

/// A point list of one point.
pub(crate) fn at(t: &Arc<Timeline>, v: u64) -> Vec<TimePoint> {
    vec![(t.clone(), v)]
}
