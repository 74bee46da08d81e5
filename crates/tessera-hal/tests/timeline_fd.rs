//! Timeline points as descriptors: exported to a second process over a Unix socket, imported
//! from one, failures that reach the other side as failures, and no leaked descriptors or
//! watcher threads.

#![cfg(target_os = "linux")]

mod common;

use common::{assert_fd_count_returns_to, child_role, fd_count, serial, spawn_child, LONG};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tessera_hal::{HalError, PointState, Timeline, TimelinePointFd};

/// The child side of the cross-process tests; `mode` says which.
#[test]
fn child_of_timeline_tests() {
    let Some((mut stream, mode)) = child_role() else {
        return;
    };
    match mode.as_str() {
        "wait-reached" | "wait-failed" => {
            let point = TimelinePointFd::recv(&stream).unwrap();
            assert_eq!(point.state().unwrap(), PointState::Pending);
            stream.write_all(b"r").unwrap();
            let want = if mode == "wait-reached" {
                PointState::Reached
            } else {
                PointState::Failed
            };
            assert_eq!(point.wait(LONG).unwrap(), want);
        }
        "export-reached" | "export-failed" => {
            let t = Timeline::host_signalled("child");
            t.export_point(3).unwrap().send(&stream).unwrap();
            let mut go = [0u8; 1];
            stream.read_exact(&mut go).unwrap();
            t.signal(2).unwrap();
            if mode == "export-reached" {
                t.signal(3).unwrap();
            } else {
                t.fail(HalError::Invalid("child failure".into()));
            }
            // Stay until the parent has seen it.
            stream.read_exact(&mut go).unwrap();
        }
        other => panic!("unknown mode '{other}'"),
    }
}

fn parent_exports(fail: bool) {
    let t = Timeline::host_signalled("parent");
    let mut child = spawn_child(
        "child_of_timeline_tests",
        if fail { "wait-failed" } else { "wait-reached" },
    );
    t.export_point(5).unwrap().send(&child.stream).unwrap();
    let mut ready = [0u8; 1];
    child.stream.read_exact(&mut ready).unwrap();
    t.signal(4).unwrap();
    if fail {
        t.fail(HalError::Invalid("parent failure".into()));
    } else {
        t.signal(5).unwrap();
    }
    child.finish();
}

#[test]
fn another_process_sees_an_exported_point_reached() {
    let _s = serial();
    parent_exports(false);
}

#[test]
fn another_process_sees_an_exported_point_fail() {
    let _s = serial();
    parent_exports(true);
}

fn parent_imports(fail: bool) -> Result<(), HalError> {
    let mut child = spawn_child(
        "child_of_timeline_tests",
        if fail {
            "export-failed"
        } else {
            "export-reached"
        },
    );
    let point = TimelinePointFd::recv(&child.stream).unwrap();
    let local = Arc::new(Timeline::host_signalled("local"));
    Timeline::import_point(point, &local, 10).unwrap();
    child.stream.write_all(b"g").unwrap();
    let r = local.wait(10, LONG);
    child.stream.write_all(b"d").unwrap();
    child.finish();
    r
}

#[test]
fn a_point_imported_from_another_process_signals_the_local_timeline() {
    let _s = serial();
    parent_imports(false).unwrap();
}

#[test]
fn a_point_imported_from_another_process_fails_the_local_timeline() {
    let _s = serial();
    let e = parent_imports(true).unwrap_err();
    assert!(
        matches!(e, HalError::TimelineFailed { value: 10, .. }),
        "{e}"
    );
    assert!(
        matches!(e.root(), HalError::ImportedPointFailed { value: 10 }),
        "{e}"
    );
    assert!(
        e.to_string().contains("failed on the exporting side"),
        "{e}"
    );
}

#[test]
fn no_descriptor_or_thread_leaks() {
    let _s = serial();
    let before = fd_count();
    for i in 0..100u64 {
        let remote = Timeline::host_signalled("remote");
        // Resolved by reaching, by failing, by the local side getting there first, and by
        // the local timeline being dropped.
        let reached = Arc::new(Timeline::host_signalled("reached"));
        let failed = Arc::new(Timeline::host_signalled("failed"));
        let local_first = Arc::new(Timeline::host_signalled("local first"));
        let dropped = Arc::new(Timeline::host_signalled("dropped"));
        Timeline::import_point(remote.export_point(1).unwrap(), &reached, 1).unwrap();
        Timeline::import_point(remote.export_point(2).unwrap(), &failed, 1).unwrap();
        Timeline::import_point(remote.export_point(9).unwrap(), &local_first, 1).unwrap();
        Timeline::import_point(remote.export_point(9).unwrap(), &dropped, 1).unwrap();
        let unused = remote.export_point(i).unwrap();
        local_first.signal(1).unwrap();
        drop(dropped);
        remote.signal(1).unwrap();
        reached.wait(1, LONG).unwrap();
        remote.fail(HalError::Invalid("boom".into()));
        assert!(failed.wait(1, LONG).is_err());
        assert_ne!(unused.state().unwrap(), PointState::Pending);
    }
    // An exporter dropped before its point resolves closes its copy.
    let t = Timeline::host_signalled("gone");
    let p = t.export_point(1).unwrap();
    drop(t);
    assert_eq!(
        p.wait(Duration::from_millis(1)).unwrap(),
        PointState::Pending
    );
    drop(p);
    // The watcher thread exits once nothing is left to watch, closing its wake-up eventfd.
    assert_fd_count_returns_to(before);
}
