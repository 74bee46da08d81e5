//! External-memory cases: exportable buffers imported on the same device and on the CPU
//! device, descriptors not leaked by export / import / drop cycles, and timeline points
//! exported as file descriptors.
//!
//! Every case skips when the device does not export ([`Device::allocate_exportable`]
//! answers `Unsupported`) or the platform has no descriptors to count or share.

use std::sync::Arc;
use std::time::Duration;

use tessera_hal::{Buffer, Device, ExternalBuffer, HalError, PointState, Timeline, Work};

use super::{
    at, check, host_timeline, queue0, scratch, timeline, wait, wait_failed, CaseFailure,
    CaseResult, Context, HalCase, HalTarget, WAIT,
};

/// The external-memory cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "external.export_import_same_device",
        about: "an exported buffer imported on its own device shares its bytes both ways",
        run: export_import_same_device,
    },
    HalCase {
        name: "external.import_onto_cpu",
        about: "an exported buffer imported on the CPU device shares its bytes both ways",
        run: import_onto_cpu,
    },
    HalCase {
        name: "external.no_descriptor_leak",
        about: "export / import / drop cycles, and failed imports, leave no descriptor open",
        run: no_descriptor_leak,
    },
    HalCase {
        name: "external.timeline_point_fd",
        about:
            "an exported point turns readable when queue work reaches or fails it; imports follow",
        run: timeline_point_fd,
    },
];

/// An exportable buffer of `size` bytes, or a skip when the device has none.
fn exportable(dev: &dyn Device, size: usize) -> Result<Arc<dyn Buffer>, CaseFailure> {
    match dev.allocate_exportable(size) {
        Ok(b) => Ok(b),
        Err(HalError::Unsupported { what, .. }) => Err(CaseFailure::skip(format!(
            "the device does not allocate exportable memory ({what})"
        ))),
        Err(e) => Err(CaseFailure::fail(format!(
            "allocate_exportable({size}): {e}"
        ))),
    }
}

fn export(b: &Arc<dyn Buffer>) -> Result<ExternalBuffer, CaseFailure> {
    let ext = b
        .export()
        .ctx("exporting a buffer made by allocate_exportable")?;
    check(ext.size() == b.size(), || {
        format!("an export of {} bytes says {} bytes", b.size(), ext.size())
    })?;
    Ok(ext)
}

/// Checks that writes through either buffer are visible through the other.
fn shared_both_ways(a: &Arc<dyn Buffer>, b: &Arc<dyn Buffer>, what: &str) -> CaseResult {
    let n = a.size();
    check(b.size() == n, || {
        format!("{what}: the import is {} bytes, the export {n}", b.size())
    })?;
    if !a.memory_kind().is_host_visible() || !b.memory_kind().is_host_visible() {
        return Err(CaseFailure::skip(format!(
            "{what}: the exported or imported buffer is not host visible"
        )));
    }
    let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    a.write_bytes(0, &data).ctx("writing the exported buffer")?;
    let got = b.read_bytes(0, n).ctx("reading the import")?;
    check(got == data, || {
        format!("{what}: bytes written to the exported buffer are not seen by the import")
    })?;
    b.write_bytes(n / 2, &[0xA5; 3]).ctx("writing the import")?;
    let got = a.read_bytes(n / 2, 3).ctx("reading the exported buffer")?;
    check(got == [0xA5; 3], || {
        format!("{what}: bytes written to the import are not seen by the exported buffer")
    })
}

fn import_on(
    dev: &dyn Device,
    ext: ExternalBuffer,
    what: &str,
) -> Result<Arc<dyn Buffer>, CaseFailure> {
    match dev.import(ext) {
        Ok(b) => Ok(b),
        Err(HalError::Unsupported { what: w, .. }) => Err(CaseFailure::skip(format!(
            "{what}: the device does not import ({w})"
        ))),
        Err(e) => Err(CaseFailure::fail(format!("{what}: {e}"))),
    }
}

fn export_import_same_device(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let a = exportable(&*dev, 4099)?;
    let ext = export(&a)?;
    let b = import_on(&*dev, ext, "importing on the exporting device")?;
    shared_both_ways(&a, &b, "import on the same device")?;
    // Dropping the exporter leaves the import working.
    let b2 = import_on(&*dev, export(&a)?, "a second import")?;
    drop(a);
    b2.write_bytes(0, &[1, 2, 3])
        .ctx("writing an import after the exporter dropped")?;
    let got = b.read_bytes(0, 3).ctx("reading the other import")?;
    check(got == [1, 2, 3], || {
        "two imports of one buffer stopped sharing after the exporter dropped".into()
    })?;
    // Queue work on the import writes the shared memory.
    let q = queue0(&*dev)?;
    let t = timeline("fill-import");
    q.submit(
        Work::Fill {
            dst: b.clone(),
            offset: 8,
            len: 8,
            pattern: vec![0x3C],
        },
        &[],
        &at(&t, 1),
    )
    .ctx("filling an imported buffer on the device's queue")?;
    wait(&t, 1, "a fill of an imported buffer")?;
    let got = b2.read_bytes(8, 8).ctx("reading the other import")?;
    check(got == [0x3C; 8], || {
        "a queue fill of an import is not seen through another import".into()
    })
}

fn import_onto_cpu(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    if dev.info().driver == "cpu" {
        return Err(CaseFailure::skip(
            "the target is the CPU device (external.export_import_same_device covers it)",
        ));
    }
    let a = exportable(&*dev, 8192)?;
    if target.registry().driver("cpu").is_none() {
        return Err(CaseFailure::skip("no cpu driver is registered"));
    }
    let cpu = target
        .registry()
        .create("cpu")
        .ctx("creating the cpu device")?;
    let b = import_on(&*cpu, export(&a)?, "importing on the cpu device")?;
    shared_both_ways(&a, &b, "import on the cpu device")
}

/// Open descriptors of the process, or `None` where `/proc/self/fd` is not there.
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// Cycles of `external.no_descriptor_leak`.
const CYCLES: usize = 200;

/// Descriptors other threads of the process (the timeline-point watcher, the harness) may
/// open or close while the cycles run; a leak of one per cycle is far above it.
const FD_SLACK: usize = 8;

fn no_descriptor_leak(target: &HalTarget) -> CaseResult {
    if !cfg!(target_os = "linux") {
        return Err(CaseFailure::skip(
            "counting descriptors needs /proc/self/fd (Linux)",
        ));
    }
    let dev = target.device()?;
    let a = exportable(&*dev, 4096)?;
    // Warm up once (lazily created descriptors of the driver are not leaks).
    drop(import_on(
        &*dev,
        export(&a)?,
        "importing on the exporting device",
    )?);
    let Some(before) = open_fds() else {
        return Err(CaseFailure::skip("/proc/self/fd cannot be read"));
    };
    for i in 0..CYCLES {
        let ext = export(&a)?;
        let clone = ext.try_clone().ctx("duplicating an external buffer")?;
        let b = import_on(&*dev, ext, "importing on the exporting device")?;
        drop(b);
        drop(clone);
        // An import that does not fit the memory behind the descriptor is refused and
        // closes the descriptor it was given.
        let bad = ExternalBuffer::new(
            export(&a)?.into_fd(),
            1 << 40,
            16,
            tessera_hal::ExternalKind::MemFd,
        );
        match dev.import(bad) {
            Err(HalError::ExternalRange { .. }) | Err(HalError::Invalid(_)) => {}
            Err(e) if i == 0 => {
                target.note(format!("an out-of-range import was refused with: {e}"))
            }
            Err(_) => {}
            Ok(_) => {
                return Err(CaseFailure::fail(
                    "an import at offset 2^40 of a 4096-byte memory was accepted",
                ))
            }
        }
    }
    // Give other threads a moment to close what they closed asynchronously.
    let mut after = open_fds().unwrap_or(before);
    for _ in 0..20 {
        if after <= before + FD_SLACK {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
        after = open_fds().unwrap_or(before);
    }
    check(after <= before + FD_SLACK, || {
        format!(
            "{CYCLES} export / import / drop cycles left {} more descriptors open \
             ({before} before, {after} after)",
            after - before
        )
    })
}

fn timeline_point_fd(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let q = queue0(&*dev)?;
    let b = scratch(&*dev, 8, 0)?;
    let fill = || Work::Fill {
        dst: b.clone(),
        offset: 0,
        len: 8,
        pattern: vec![1],
    };

    // Reached: queue work signals the exported point.
    let gate = host_timeline("gate");
    let t = timeline("exported");
    let point = match t.export_point(1) {
        Ok(p) => p,
        Err(HalError::Unsupported { what, .. }) => {
            return Err(CaseFailure::skip(format!(
                "timeline points cannot be exported here ({what})"
            )))
        }
        Err(e) => return Err(CaseFailure::fail(format!("export_point: {e}"))),
    };
    check(
        point.state().ctx("reading a point's state")? == PointState::Pending,
        || "an exported point is readable before its timeline reached it".into(),
    )?;
    let local = Arc::new(Timeline::host_signalled(super::label("imported")));
    let copy = point.try_clone().ctx("duplicating a point descriptor")?;
    Timeline::import_point(copy, &local, 7).ctx("importing a point")?;
    q.submit(fill(), &at(&gate, 1), &at(&t, 1))
        .ctx("submitting work that signals the exported point")?;
    gate.signal(1).ctx("opening the gate")?;
    wait(&t, 1, "the exported point")?;
    let state = point.wait(WAIT).ctx("waiting on the exported descriptor")?;
    check(state == PointState::Reached, || {
        format!("the exported point's descriptor says {state:?} after the point was reached")
    })?;
    wait(
        &local,
        7,
        "a host-signalled timeline following the exported point",
    )?;

    // Failed: the queue work's wait fails, so the exported point reports failure.
    let gate2 = host_timeline("gate");
    let t2 = timeline("exported");
    let point2 = t2.export_point(1).ctx("export_point")?;
    let local2 = Arc::new(Timeline::host_signalled(super::label("imported")));
    Timeline::import_point(
        point2.try_clone().ctx("duplicating a point descriptor")?,
        &local2,
        1,
    )
    .ctx("importing a point")?;
    q.submit(fill(), &at(&gate2, 1), &at(&t2, 1))
        .ctx("submitting work that signals the exported point")?;
    gate2.fail(HalError::Invalid("cts: injected failure".into()));
    let _ = wait_failed(&t2, 1, "the exported point's timeline")?;
    let state = point2
        .wait(WAIT)
        .ctx("waiting on the exported descriptor")?;
    check(state == PointState::Failed, || {
        format!("the exported point's descriptor says {state:?} after its timeline failed")
    })?;
    let e = wait_failed(&local2, 1, "the timeline following a failed point")?;
    check(
        matches!(e.root(), HalError::ImportedPointFailed { .. }),
        || {
            format!(
                "the timeline following a failed point failed with '{e}', want ImportedPointFailed"
            )
        },
    )
}
