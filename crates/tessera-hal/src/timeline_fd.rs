//! Timeline points as file descriptors, so that another device driver or another process can
//! wait for them: [`Timeline::export_point`] and [`Timeline::import_point`]. Linux only
//! (eventfd); elsewhere both answer [`HalError::Unsupported`].
//!
//! # The exported descriptor
//!
//! [`Timeline::export_point`] gives a [`TimelinePointFd`]: a non-blocking eventfd whose
//! counter stays 0 while the point is pending and becomes [`POINT_REACHED`] (1) when the
//! timeline reaches the value, or [`POINT_FAILED`] (2) when the timeline fails first. Either
//! way it becomes readable (`poll` → `POLLIN`), so anything that can poll a descriptor can
//! wait for it; the counter tells the two outcomes apart. The exporter's error itself does
//! not cross the boundary.
//!
//! Readers take the counter with `read` and write it straight back, so the descriptor stays
//! readable for every other holder of it ([`TimelinePointFd::state`] does so). A reader
//! that does not write it back consumes the outcome for everyone sharing that descriptor.
//!
//! If the exporting timeline is dropped before reaching the value or failing, its copy of the
//! descriptor is closed without a write: importers see nothing, ever. Waits on an imported
//! point therefore need their own timeout (as [`Timeline::wait`] has).
//!
//! # Importing
//!
//! [`Timeline::import_point`] makes a local timeline follow an exported point: when the
//! descriptor turns readable with "reached", the local timeline is signalled to a chosen
//! value; with "failed", it fails with [`HalError::ImportedPointFailed`]. One shared watcher
//! thread polls every imported descriptor; it starts with the first import and exits (closing
//! its own wake-up descriptor) once nothing is left to watch. An import stops being watched,
//! and its descriptor is closed, once it resolves, once the local timeline reaches the value
//! or fails by other means, or once the local timeline is dropped.

use crate::error::HalError;
use crate::timeline::Timeline;
use std::sync::Arc;
use std::time::Duration;

#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Counter value of an exported point's eventfd once the timeline reached the value.
pub const POINT_REACHED: u64 = 1;
/// Counter value of an exported point's eventfd once the timeline failed before the value.
pub const POINT_FAILED: u64 = 2;

#[cfg(target_os = "linux")]
type PointFd = OwnedFd;
#[cfg(not(target_os = "linux"))]
type PointFd = std::convert::Infallible;

/// Where an exported timeline point stands, as its descriptor tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PointState {
    /// Neither reached nor failed yet (or the exporter went away; see the
    /// [module documentation](self)).
    Pending,
    /// The exporting timeline reached the value.
    Reached,
    /// The exporting timeline failed before reaching the value.
    Failed,
}

/// A timeline point as a file descriptor (an eventfd): see the [module documentation](self).
/// Owns the descriptor and closes it on drop.
#[derive(Debug)]
pub struct TimelinePointFd {
    fd: PointFd,
}

#[cfg(not(target_os = "linux"))]
fn unsupported(what: &str) -> HalError {
    crate::external::unsupported(
        "host",
        format!("{what} (timeline points as descriptors need Linux)"),
    )
}

impl Timeline {
    /// A descriptor that becomes readable when this timeline reaches `value` (counter
    /// [`POINT_REACHED`]) or fails first (counter [`POINT_FAILED`]). If that has already
    /// happened, it is readable at once.
    ///
    /// The timeline keeps a duplicate of the descriptor until then; dropping the timeline
    /// before either happens closes the duplicate without writing (importers see nothing).
    pub fn export_point(&self, value: u64) -> Result<TimelinePointFd, HalError> {
        #[cfg(target_os = "linux")]
        {
            use rustix::event::{eventfd, EventfdFlags};
            let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .map_err(|e| HalError::os("creating an eventfd for a timeline point", e))?;
            let signaller = fd
                .try_clone()
                .map_err(|e| HalError::os("duplicating a timeline point's eventfd", e))?;
            self.on_reached(value, move |r| {
                let code = if r.is_ok() {
                    POINT_REACHED
                } else {
                    POINT_FAILED
                };
                // Adding 1 or 2 to a counter that is 0 cannot overflow or block; if the
                // write failed anyway, importers would see nothing, as for a dropped
                // timeline.
                let _ = rustix::io::write(&signaller, &code.to_ne_bytes());
            });
            Ok(TimelinePointFd { fd })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = value;
            Err(unsupported("exporting a timeline point"))
        }
    }

    /// Makes `local` follow an exported point: signalled to `value` when `point` reports
    /// [`PointState::Reached`], failed with [`HalError::ImportedPointFailed`] when it reports
    /// [`PointState::Failed`]. Returns at once; a shared watcher thread does the waiting.
    ///
    /// `local` is signalled from outside any queue, so it must be
    /// [host-signalled](Timeline::host_signalled) (the deadlock checker then never counts on a
    /// queue to signal it); any other timeline is refused with [`HalError::Invalid`]. Its
    /// value must be below `value` when the point
    /// resolves; a local timeline that got to `value` by other means is left as it is.
    /// The watch ends, and `point` is closed, once it resolves or `local` reaches `value`,
    /// fails, or is dropped.
    pub fn import_point(
        point: TimelinePointFd,
        local: &Arc<Timeline>,
        value: u64,
    ) -> Result<(), HalError> {
        if !local.is_host_signalled() {
            return Err(HalError::Invalid(format!(
                "timeline '{}' cannot follow an imported point: make it with \
                 Timeline::host_signalled, since it is signalled from outside the queues",
                local.label()
            )));
        }
        #[cfg(target_os = "linux")]
        {
            reactor::watch(point.fd, local, value)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (local, value);
            match point.fd {}
        }
    }
}

impl TimelinePointFd {
    /// Wraps an eventfd received from elsewhere (another process, a kernel driver), making
    /// it non-blocking.
    #[cfg(target_os = "linux")]
    pub fn from_fd(fd: OwnedFd) -> Result<TimelinePointFd, HalError> {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        let flags = fcntl_getfl(&fd)
            .map_err(|e| HalError::os("inspecting a timeline point's descriptor", e))?;
        if !flags.contains(OFlags::NONBLOCK) {
            fcntl_setfl(&fd, flags | OFlags::NONBLOCK).map_err(|e| {
                HalError::os("making a timeline point's descriptor non-blocking", e)
            })?;
        }
        Ok(TimelinePointFd { fd })
    }

    /// The descriptor, now owned by the caller.
    #[cfg(target_os = "linux")]
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// A second handle with its own (duplicated) descriptor, sharing the outcome.
    pub fn try_clone(&self) -> Result<TimelinePointFd, HalError> {
        #[cfg(target_os = "linux")]
        {
            let fd = self
                .fd
                .try_clone()
                .map_err(|e| HalError::os("duplicating a timeline point's descriptor", e))?;
            Ok(TimelinePointFd { fd })
        }
        #[cfg(not(target_os = "linux"))]
        match self.fd {}
    }

    /// Where the point stands, without blocking. The outcome is left in the descriptor for
    /// its other holders. While another holder of the same descriptor is between its read
    /// and its write-back, this can answer [`PointState::Pending`] for a point already
    /// resolved; [`TimelinePointFd::wait`] rides that out.
    pub fn state(&self) -> Result<PointState, HalError> {
        #[cfg(target_os = "linux")]
        {
            linux::read_state(self.fd.as_fd())
        }
        #[cfg(not(target_os = "linux"))]
        match self.fd {}
    }

    /// Blocks until the point is reached or failed, or `timeout` passes (answering
    /// [`PointState::Pending`]). [`Timeline::FOREVER`] waits without a limit.
    pub fn wait(&self, timeout: Duration) -> Result<PointState, HalError> {
        #[cfg(target_os = "linux")]
        {
            linux::wait(self.fd.as_fd(), timeout)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = timeout;
            match self.fd {}
        }
    }

    /// Sends the descriptor over a connected Unix-domain stream socket, for
    /// [`TimelinePointFd::recv`] in another process. The caller keeps its own descriptor.
    #[cfg(target_os = "linux")]
    pub fn send(&self, socket: impl AsFd) -> Result<(), HalError> {
        crate::external::send_with_fds(socket, &linux::POINT_TAG, &[self.fd.as_fd()])
    }

    /// Receives a descriptor sent with [`TimelinePointFd::send`].
    #[cfg(target_os = "linux")]
    pub fn recv(socket: impl AsFd) -> Result<TimelinePointFd, HalError> {
        let mut tag = [0u8; 4];
        let mut fds = crate::external::recv_with_fds(socket, &mut tag, 1)?;
        if tag != linux::POINT_TAG {
            return Err(HalError::Invalid(
                "the message received is not a timeline point".into(),
            ));
        }
        let fd = fds.pop().ok_or_else(|| {
            HalError::Invalid("a timeline point arrived without its descriptor".into())
        })?;
        TimelinePointFd::from_fd(fd)
    }
}

#[cfg(target_os = "linux")]
impl AsFd for TimelinePointFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::io::Errno;
    use std::time::Instant;

    /// Tag of the message [`TimelinePointFd::send`] writes.
    pub(super) const POINT_TAG: [u8; 4] = *b"TXP1";

    /// Takes the counter and puts it back: `None` while it is 0.
    pub(super) fn read_code(fd: BorrowedFd<'_>) -> Result<Option<u64>, HalError> {
        let mut word = [0u8; 8];
        loop {
            match rustix::io::read(fd, &mut word) {
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(HalError::os("reading a timeline point's descriptor", e)),
                Ok(8) => break,
                Ok(n) => {
                    return Err(HalError::Invalid(format!(
                        "a timeline point's descriptor gave {n} bytes; an eventfd gives 8"
                    )))
                }
            }
        }
        let code = u64::from_ne_bytes(word);
        // Leave the outcome for the descriptor's other holders.
        let _ = rustix::io::write(fd, &word);
        Ok(Some(code))
    }

    pub(super) fn state_of(code: u64) -> Result<PointState, HalError> {
        match code {
            POINT_REACHED => Ok(PointState::Reached),
            POINT_FAILED => Ok(PointState::Failed),
            other => Err(HalError::Invalid(format!(
                "a timeline point's descriptor holds {other}; expected {POINT_REACHED} \
                 (reached) or {POINT_FAILED} (failed)"
            ))),
        }
    }

    pub(super) fn read_state(fd: BorrowedFd<'_>) -> Result<PointState, HalError> {
        match read_code(fd)? {
            None => Ok(PointState::Pending),
            Some(code) => state_of(code),
        }
    }

    pub(super) fn wait(fd: BorrowedFd<'_>, timeout: Duration) -> Result<PointState, HalError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let state = read_state(fd)?;
            if state != PointState::Pending {
                return Ok(state);
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(PointState::Pending);
                    }
                    Timespec::try_from(d - now).ok()
                }
            };
            let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
            match poll(&mut fds, left.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(HalError::os("polling a timeline point's descriptor", e)),
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod reactor {
    //! The shared watcher thread behind [`Timeline::import_point`].

    use super::linux::{read_code, state_of};
    use super::*;
    use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
    use rustix::io::Errno;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, MutexGuard, Weak};

    /// One imported point being watched.
    struct Import {
        fd: OwnedFd,
        local: Weak<Timeline>,
        value: u64,
        /// Set once the local timeline no longer needs the point.
        done: Arc<AtomicBool>,
    }

    struct Reactor {
        /// Imports not yet picked up by the thread.
        pending: Vec<Import>,
        /// The running thread's wake-up eventfd; `None` when no thread runs.
        wake: Option<Arc<OwnedFd>>,
    }

    static REACTOR: Mutex<Reactor> = Mutex::new(Reactor {
        pending: Vec::new(),
        wake: None,
    });

    fn lock() -> MutexGuard<'static, Reactor> {
        // Fields change by single pushes and assignments; a poisoned lock still guards a
        // consistent state.
        REACTOR.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn poke(wake: &OwnedFd) {
        // A full counter (never reached in practice) still leaves the thread awake.
        let _ = rustix::io::write(wake, &1u64.to_ne_bytes());
    }

    /// Marks an import done, and wakes the thread so it drops it, when dropped: held by a
    /// callback on the local timeline, so both firing and dropping the timeline end the
    /// watch.
    struct EndWatch(Arc<AtomicBool>);

    impl Drop for EndWatch {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
            if let Some(w) = &lock().wake {
                poke(w);
            }
        }
    }

    pub(super) fn watch(fd: OwnedFd, local: &Arc<Timeline>, value: u64) -> Result<(), HalError> {
        let done = Arc::new(AtomicBool::new(false));
        let end = EndWatch(done.clone());
        local.on_reached(value, move |_| drop(end));
        if done.load(Ordering::Acquire) {
            // Already reached or failed locally: nothing to watch.
            return Ok(());
        }
        let import = Import {
            fd,
            local: Arc::downgrade(local),
            value,
            done,
        };
        let mut st = lock();
        st.pending.push(import);
        if let Some(w) = &st.wake {
            poke(w);
            return Ok(());
        }
        let started = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| HalError::os("creating the timeline-point watcher's eventfd", e))
            .and_then(|wake| {
                let wake = Arc::new(wake);
                let w = wake.clone();
                std::thread::Builder::new()
                    .name("tessera-point-watch".into())
                    .spawn(move || run(w))
                    .map_err(|e| HalError::os("starting the timeline-point watcher", e))?;
                Ok(wake)
            });
        match started {
            Ok(wake) => {
                st.wake = Some(wake);
                Ok(())
            }
            Err(e) => {
                st.pending.clear();
                Err(e)
            }
        }
    }

    fn run(wake: Arc<OwnedFd>) {
        let mut imports: Vec<Import> = Vec::new();
        loop {
            let dropped: Vec<Import>;
            {
                let mut st = lock();
                imports.append(&mut st.pending);
                let (keep, gone): (Vec<_>, Vec<_>) = imports
                    .into_iter()
                    .partition(|i| !i.done.load(Ordering::Acquire) && i.local.strong_count() > 0);
                imports = keep;
                dropped = gone;
                if imports.is_empty() {
                    st.wake = None;
                    drop(st);
                    // `wake` closes as the thread returns.
                    return;
                }
            }
            drop(dropped);
            let mut fds: Vec<PollFd<'_>> = std::iter::once(PollFd::new(&*wake, PollFlags::IN))
                .chain(imports.iter().map(|i| PollFd::new(&i.fd, PollFlags::IN)))
                .collect();
            let polled = poll(&mut fds, None);
            let ready: Vec<bool> = fds
                .iter()
                .skip(1)
                .map(|f| !f.revents().is_empty())
                .collect();
            drop(fds);
            match polled {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => {
                    let e = HalError::os("polling imported timeline points", e);
                    for i in imports.drain(..) {
                        fail(&i, e.clone());
                    }
                    continue;
                }
            }
            let mut drain = [0u8; 8];
            let _ = rustix::io::read(&*wake, &mut drain);
            let mut still = Vec::with_capacity(imports.len());
            for (import, ready) in imports.drain(..).zip(ready) {
                if !ready || !resolve(&import) {
                    still.push(import);
                }
            }
            imports = still;
        }
    }

    fn fail(import: &Import, e: HalError) {
        if let Some(t) = import.local.upgrade() {
            t.fail(e);
        }
    }

    /// Acts on a descriptor that polled ready; false when it turned out not to be (another
    /// holder of the descriptor was reading it at that moment).
    fn resolve(import: &Import) -> bool {
        let outcome = match read_code(import.fd.as_fd()) {
            Ok(None) => return false,
            Ok(Some(code)) => state_of(code),
            Err(e) => Err(e),
        };
        if let Some(t) = import.local.upgrade() {
            match outcome {
                // A local timeline already at or past the value (or failed) stays as it is.
                Ok(PointState::Reached) => {
                    let _ = t.signal(import.value);
                }
                Ok(_) => t.fail(HalError::ImportedPointFailed {
                    value: import.value,
                }),
                Err(e) => t.fail(e),
            }
        }
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn exported_point_reports_reached_and_stays_readable() {
        let t = Timeline::host_signalled("t");
        let p = t.export_point(2).unwrap();
        assert_eq!(p.state().unwrap(), PointState::Pending);
        assert_eq!(
            p.wait(Duration::from_millis(5)).unwrap(),
            PointState::Pending
        );
        t.signal(1).unwrap();
        assert_eq!(p.state().unwrap(), PointState::Pending);
        t.signal(2).unwrap();
        assert_eq!(p.wait(LONG).unwrap(), PointState::Reached);
        let q = p.try_clone().unwrap();
        assert_eq!(q.state().unwrap(), PointState::Reached);
        assert_eq!(p.state().unwrap(), PointState::Reached);
        // Exporting a point already reached gives a readable descriptor.
        assert_eq!(
            t.export_point(1).unwrap().state().unwrap(),
            PointState::Reached
        );
    }

    #[test]
    fn exported_point_reports_failure() {
        let t = Timeline::host_signalled("t");
        let p = t.export_point(1).unwrap();
        t.fail(HalError::Invalid("boom".into()));
        assert_eq!(p.wait(LONG).unwrap(), PointState::Failed);
    }

    #[test]
    fn dropping_the_exporter_leaves_the_point_pending() {
        let t = Timeline::host_signalled("t");
        let p = t.export_point(1).unwrap();
        drop(t);
        assert_eq!(
            p.wait(Duration::from_millis(5)).unwrap(),
            PointState::Pending
        );
    }

    #[test]
    fn import_follows_the_exported_point() {
        let remote = Timeline::host_signalled("remote");
        let local = Arc::new(Timeline::host_signalled("local"));
        Timeline::import_point(remote.export_point(3).unwrap(), &local, 7).unwrap();
        remote.signal(3).unwrap();
        local.wait(7, LONG).unwrap();
        assert_eq!(local.value(), 7);

        let remote = Timeline::host_signalled("remote");
        let local = Arc::new(Timeline::host_signalled("local"));
        Timeline::import_point(remote.export_point(1).unwrap(), &local, 1).unwrap();
        remote.fail(HalError::Invalid("boom".into()));
        let e = local.wait(1, LONG).unwrap_err();
        assert!(
            matches!(e.root(), HalError::ImportedPointFailed { value: 1 }),
            "{e}"
        );
        assert!(e.to_string().contains("exporting side"), "{e}");
    }

    #[test]
    fn import_of_a_locally_reached_value_is_dropped() {
        let remote = Timeline::host_signalled("remote");
        let local = Arc::new(Timeline::host_signalled("local"));
        local.signal(5).unwrap();
        Timeline::import_point(remote.export_point(1).unwrap(), &local, 5).unwrap();
        remote.signal(1).unwrap();
        assert_eq!(local.value(), 5);
    }

    #[test]
    fn import_needs_a_host_signalled_timeline() {
        let remote = Timeline::host_signalled("remote");
        let local = Arc::new(Timeline::new("queue-only"));
        let e = Timeline::import_point(remote.export_point(1).unwrap(), &local, 1).unwrap_err();
        assert!(e.to_string().contains("host_signalled"), "{e}");
    }
}
