//! Helpers for tests that run part of themselves in a second process: the parent re-runs the
//! current test binary on one test (`--exact NAME`), telling it through environment variables
//! which abstract Unix socket to connect to and what to do; that test is a no-op in a normal
//! run, where the variables are absent.

#![allow(dead_code)]

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SOCKET_ENV: &str = "TESSERA_TEST_CHILD_SOCKET";
const MODE_ENV: &str = "TESSERA_TEST_CHILD_MODE";
pub const LONG: Duration = Duration::from_secs(60);

/// Tests of one binary run one at a time, so descriptor counts are not disturbed by their
/// neighbours when the harness runs them on threads.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (up to a few seconds) for the descriptor count to come back to `before`: threads
/// that own descriptors may take a moment to exit.
pub fn assert_fd_count_returns_to(before: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = fd_count();
        if now == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} descriptor(s) leaked ({before} before, {now} after)",
            now as isize - before as isize
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// In a child run: the socket to the parent and the mode it asked for. `None` in a normal
/// run.
pub fn child_role() -> Option<(UnixStream, String)> {
    let name = std::env::var(SOCKET_ENV).ok()?;
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let s = UnixStream::connect_addr(&addr).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    Some((s, mode))
}

/// A second process running one test of this binary, connected by a socket.
pub struct Child {
    proc: std::process::Child,
    pub stream: UnixStream,
}

/// Starts this binary on `test` in `mode` and accepts its connection.
pub fn spawn_child(test: &str, mode: &str) -> Child {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "tessera-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(SOCKET_ENV, &name)
        .env(MODE_ENV, mode)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LONG;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(LONG)).unwrap();
                return Child { proc, stream: s };
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = proc.try_wait().unwrap() {
                    panic!("the child exited before connecting: {status}");
                }
                assert!(Instant::now() < deadline, "the child never connected");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

impl Child {
    /// Waits for the child to exit and asserts it succeeded.
    pub fn finish(mut self) {
        drop(self.stream);
        let status = self.proc.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
    }
}
