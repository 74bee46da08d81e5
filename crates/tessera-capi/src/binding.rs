//! [`TesseraBinding`]: a run's inputs and bound outputs, and the outputs of its last run;
//! [`TesseraRun`]: a run in flight.

use crate::error::{guard, guard_void, Error, Result, TesseraStatus};
use crate::session::TesseraSession;
use crate::types::{
    destroy, dtype_from_code, handle, handle_mut, shape_arg, slice_arg, str_arg, versioned,
    write_out, write_versioned, TesseraDtype,
};
use std::ffi::{c_char, c_void, CString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_hal::{ExternalBuffer, ExternalKind};
use tessera_ir::{DType, Tensor, Value};
use tessera_runtime::{ExternalTensor, IoBinding, PendingRun, Session};

/// An output of the last run, read through `tessera_binding_output` (versioned). The pointers
/// stay valid until the next run or wait on the binding, `tessera_binding_clear`, or its
/// destruction.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraTensorView {
    /// `sizeof(TesseraTensorView)` as the caller's header declares it; set by the caller.
    pub struct_size: usize,
    /// The output's name, UTF-8.
    pub name: *const c_char,
    /// Element type.
    pub dtype: TesseraDtype,
    /// Number of dimensions.
    pub rank: usize,
    /// `rank` extents (NULL for a scalar).
    pub shape: *const i64,
    /// The elements, row-major, little-endian (NULL when there are none).
    pub data: *const c_void,
    /// Bytes at `data`.
    pub byte_len: usize,
}

versioned!(
    TesseraTensorView {
        struct_size,
        name,
        dtype,
        rank,
        shape,
        data,
        byte_len
    },
    TesseraTensorView {
        struct_size: 0,
        name: std::ptr::null(),
        dtype: TesseraDtype::Undefined,
        rank: 0,
        shape: std::ptr::null(),
        data: std::ptr::null(),
        byte_len: 0,
    }
);

enum BoundInput {
    Host(Tensor),
    External(ExternalTensor),
}

struct OutputSlot {
    name: CString,
    dtype: TesseraDtype,
    shape: Vec<i64>,
    bytes: Vec<u8>,
}

/// The outputs of a binding's last run, shared with its runs in flight.
type Results = Arc<Mutex<Vec<OutputSlot>>>;

/// The inputs of a run and the outputs bound to caller memory, by name, and the outputs of
/// the last run. Bindings persist across runs: bind once, run many times. Use one binding from
/// one thread at a time.
pub struct TesseraBinding {
    session: Arc<Session>,
    inputs: Vec<(String, BoundInput)>,
    outputs: Vec<(String, ExternalTensor)>,
    results: Results,
}

/// A run started with `tessera_session_submit`.
pub struct TesseraRun {
    pending: Option<PendingRun>,
    results: Results,
}

fn lock(results: &Results) -> MutexGuard<'_, Vec<OutputSlot>> {
    results.lock().unwrap_or_else(|p| p.into_inner())
}

impl TesseraBinding {
    fn input_index(&self, name: &str) -> Result<()> {
        if self.session.inputs().iter().any(|i| i.name == name) {
            return Ok(());
        }
        let known: Vec<&str> = self
            .session
            .inputs()
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        Err(Error::new(
            TesseraStatus::NotFound,
            format!(
                "'{name}' is not an input of the model (inputs: {})",
                known.join(", ")
            ),
        ))
    }

    fn set_input(&mut self, name: &str, input: BoundInput) {
        self.inputs.retain(|(n, _)| n != name);
        self.inputs.push((name.to_string(), input));
    }

    /// The run's `IoBinding`: host inputs are cloned, descriptors duplicated, so the binding
    /// stays as it is for the next run.
    fn io(&self) -> Result<IoBinding> {
        let os = |e: tessera_runtime::RuntimeError| Error::new(TesseraStatus::Os, e.to_string());
        let mut io = IoBinding::new();
        for (name, input) in &self.inputs {
            io = match input {
                BoundInput::Host(t) => io.input(name.clone(), Value::Tensor(t.clone())),
                BoundInput::External(t) => {
                    io.input_external(name.clone(), t.try_clone().map_err(os)?)
                }
            };
        }
        for (name, t) in &self.outputs {
            io = io.output_external(name.clone(), t.try_clone().map_err(os)?);
        }
        Ok(io)
    }
}

/// Stores a run's returned outputs as the binding's results.
fn store(results: &Results, outputs: Vec<(String, Value)>) -> Result<()> {
    let mut slots = Vec::with_capacity(outputs.len());
    for (name, value) in outputs {
        let Some(t) = value.as_tensor() else {
            return Err(Error::new(
                TesseraStatus::Unsupported,
                format!(
                    "output '{name}' is a {}; the C API reads tensors only",
                    value.kind()
                ),
            ));
        };
        slots.push(OutputSlot {
            name: CString::new(name.replace('\0', "?")).unwrap_or_default(),
            dtype: t.dtype().into(),
            shape: t
                .shape()
                .iter()
                .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
                .collect(),
            bytes: t.to_le_bytes(),
        });
    }
    *lock(results) = slots;
    Ok(())
}

/// Creates an empty binding for `session`'s inputs and outputs.
///
/// # Safety
///
/// `session` is a live session; `out_binding` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_create(
    session: *const TesseraSession,
    out_binding: *mut *mut TesseraBinding,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        if out_binding.is_null() {
            return Err(Error::invalid("out_binding is null"));
        }
        let b = Box::into_raw(Box::new(TesseraBinding {
            session: s.session.clone(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            results: Arc::default(),
        }));
        // SAFETY: checked not null; writable by contract.
        unsafe { write_out(out_binding, b, "out_binding") }
    })
}

/// Destroys a binding, closing the descriptors it duplicated. Runs in flight from it finish
/// normally. Null does nothing.
///
/// # Safety
///
/// `binding` is null or a live binding, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_destroy(binding: *mut TesseraBinding) {
    // SAFETY: by contract.
    guard_void(|| unsafe { destroy(binding) });
}

/// Unbinds every input and output and forgets the last run's outputs.
///
/// # Safety
///
/// `binding` is a live binding.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_clear(binding: *mut TesseraBinding) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        b.inputs.clear();
        b.outputs.clear();
        lock(&b.results).clear();
        Ok(())
    })
}

/// Checks and converts the dtype and shape arguments of the bind functions.
///
/// # Safety
///
/// `shape` points to `rank` extents (or is null when `rank` is 0).
unsafe fn tensor_arg(dtype: i32, shape: *const i64, rank: usize) -> Result<(DType, Vec<usize>)> {
    let dtype = dtype_from_code(dtype)?;
    // SAFETY: by contract.
    let shape = shape_arg(unsafe { slice_arg(shape, rank, "shape") }?)?;
    Ok((dtype, shape))
}

/// Binds input `name` to a tensor in host memory: `byte_len` bytes at `data`, row-major,
/// little-endian, exactly the dtype's size times the element count. The bytes are **copied**
/// during the call; the caller may reuse `data` at once. Binding a name again replaces it.
/// `TESSERA_STATUS_NOT_FOUND` when the model has no such input; dtype and shape are checked
/// against the model when it runs.
///
/// # Safety
///
/// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
/// extents; `data` to `byte_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_bind_input(
    binding: *mut TesseraBinding,
    name: *const c_char,
    dtype: i32,
    shape: *const i64,
    rank: usize,
    data: *const c_void,
    byte_len: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: by contract.
        let (dtype, shape) = unsafe { tensor_arg(dtype, shape, rank) }?;
        // SAFETY: by contract.
        let bytes = unsafe { slice_arg(data.cast::<u8>(), byte_len, "data") }?;
        b.input_index(name)?;
        let t = Tensor::from_le_bytes(dtype, shape, bytes)
            .map_err(|e| Error::new(TesseraStatus::InvalidInput, format!("input '{name}': {e}")))?;
        b.set_input(name, BoundInput::Host(t));
        Ok(())
    })
}

/// A shared-memory tensor from a caller's descriptor, which is duplicated (the caller keeps
/// and closes its own).
///
/// # Safety
///
/// `fd` is an open descriptor for the duration of the call.
unsafe fn external(
    fd: i32,
    offset: u64,
    size: usize,
    dtype: DType,
    shape: Vec<usize>,
) -> Result<ExternalTensor> {
    if fd < 0 {
        return Err(Error::invalid(format!("fd is {fd}")));
    }
    // SAFETY: `fd` is not negative and open for the duration of this call, by contract; the
    // borrow ends within it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned: OwnedFd = borrowed
        .try_clone_to_owned()
        .map_err(|e| Error::new(TesseraStatus::Os, format!("duplicating fd {fd}: {e}")))?;
    let size = if size == 0 {
        tessera_hal::buffer::view_byte_len(dtype, &shape)
            .map_err(|e| Error::invalid(format!("a {dtype} tensor of shape {shape:?}: {e}")))?
    } else {
        size
    };
    let buffer = ExternalBuffer::new(owned, offset, size, ExternalKind::MemFd);
    ExternalTensor::new(buffer, dtype, shape).map_err(|e| Error::invalid(e.to_string()))
}

/// Binds input `name` to a tensor in memory shared by file descriptor (a memfd): `size` bytes
/// at `offset` in the memory behind `fd` (0 means exactly the tensor's byte length), read in
/// place by the device that needs it. The library **duplicates** `fd`; the caller keeps its
/// own and may close it at once. The memory must hold the input's bytes while a run reads it.
///
/// # Safety
///
/// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
/// extents; `fd` is open during the call.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_bind_input_fd(
    binding: *mut TesseraBinding,
    name: *const c_char,
    dtype: i32,
    shape: *const i64,
    rank: usize,
    fd: i32,
    offset: u64,
    size: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: by contract.
        let (dtype, shape) = unsafe { tensor_arg(dtype, shape, rank) }?;
        b.input_index(name)?;
        // SAFETY: by contract.
        let t = unsafe { external(fd, offset, size, dtype, shape) }?;
        b.set_input(name, BoundInput::External(t));
        Ok(())
    })
}

/// Has output `name` written into memory shared by file descriptor (as for
/// `tessera_binding_bind_input_fd`; the library duplicates `fd`). The dtype and shape must be
/// exactly the output's. A bound output is not among the binding's outputs after a run: its
/// result is in the caller's memory.
///
/// # Safety
///
/// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
/// extents; `fd` is open during the call.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_bind_output_fd(
    binding: *mut TesseraBinding,
    name: *const c_char,
    dtype: i32,
    shape: *const i64,
    rank: usize,
    fd: i32,
    offset: u64,
    size: usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: by contract.
        let (dtype, shape) = unsafe { tensor_arg(dtype, shape, rank) }?;
        if !b.session.outputs().iter().any(|o| o.name == name) {
            let known: Vec<&str> = b
                .session
                .outputs()
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            return Err(Error::new(
                TesseraStatus::NotFound,
                format!(
                    "'{name}' is not an output of the model (outputs: {})",
                    known.join(", ")
                ),
            ));
        }
        // SAFETY: by contract.
        let t = unsafe { external(fd, offset, size, dtype, shape) }?;
        b.outputs.retain(|(n, _)| n != name);
        b.outputs.push((name.to_string(), t));
        Ok(())
    })
}

fn same_session(s: &TesseraSession, b: &TesseraBinding) -> Result<()> {
    if Arc::ptr_eq(&s.session, &b.session) {
        Ok(())
    } else {
        Err(Error::invalid(
            "the binding was created for another session",
        ))
    }
}

/// Runs the model on the binding's inputs, on the calling thread, and keeps the outputs that
/// are not bound to descriptors in the binding (read them with `tessera_binding_output`). The
/// previous run's outputs are dropped first. Every problem with the inputs is reported at once
/// (`TESSERA_STATUS_INVALID_INPUT`).
///
/// # Safety
///
/// `session` is a live session; `binding` a live binding created for it.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_run(
    session: *const TesseraSession,
    binding: *mut TesseraBinding,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        same_session(s, b)?;
        lock(&b.results).clear();
        let outputs = s.session.run_bound(b.io()?)?;
        store(&b.results, outputs)
    })
}

/// Starts a run in the background and returns at once with `*out_run`. Inputs are checked
/// before this returns. The binding may be changed or run again meanwhile: the run took its own
/// copy of the inputs. At most `max_in_flight` runs are in flight; beyond, this blocks until
/// one finishes.
///
/// # Safety
///
/// `session` is a live session; `binding` a live binding created for it; `out_run` valid for
/// a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_submit(
    session: *const TesseraSession,
    binding: *mut TesseraBinding,
    out_run: *mut *mut TesseraRun,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        // SAFETY: by contract.
        let b = unsafe { handle_mut(binding, "binding") }?;
        same_session(s, b)?;
        if out_run.is_null() {
            return Err(Error::invalid("out_run is null"));
        }
        let pending = s.session.submit_bound(b.io()?)?;
        let run = Box::into_raw(Box::new(TesseraRun {
            pending: Some(pending),
            results: b.results.clone(),
        }));
        // SAFETY: checked not null; writable by contract.
        unsafe { write_out(out_run, run, "out_run") }
    })
}

fn pending(run: &TesseraRun) -> Result<&PendingRun> {
    run.pending
        .as_ref()
        .ok_or_else(|| Error::invalid("the run has already been waited for"))
}

/// A new file descriptor (an eventfd) that becomes readable when the run completes, for
/// `poll`/`epoll` loops or to hand to another process. Its 8-byte counter reads 1 after a
/// success and 2 after a failure (whose error `tessera_run_wait` returns). The caller owns
/// and closes it; each call gives a new one.
///
/// # Safety
///
/// `run` is a live run; `out_fd` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_run_fence_fd(
    run: *const TesseraRun,
    out_fd: *mut i32,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let r = unsafe { handle(run, "run") }?;
        if out_fd.is_null() {
            return Err(Error::invalid("out_fd is null"));
        }
        let fd = pending(r)?.fence()?.into_fd();
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: checked not null; writable by contract.
        unsafe { write_out(out_fd, raw, "out_fd") }
    })
}

/// Whether the run has completed (successfully or not), so `tessera_run_wait` will not block.
///
/// # Safety
///
/// `run` is a live run; `out_finished` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_run_is_finished(
    run: *const TesseraRun,
    out_finished: *mut bool,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let r = unsafe { handle(run, "run") }?;
        let finished = pending(r)?.is_finished();
        // SAFETY: by contract.
        unsafe { write_out(out_finished, finished, "out_finished") }
    })
}

/// Waits for the run to complete and moves its outputs into the binding it was submitted
/// from (replacing that binding's previous outputs), then returns the run's status. Once only:
/// a second call fails with `TESSERA_STATUS_INVALID_ARGUMENT`. The run must still be destroyed.
///
/// # Safety
///
/// `run` is a live run.
#[no_mangle]
pub unsafe extern "C" fn tessera_run_wait(run: *mut TesseraRun) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let r = unsafe { handle_mut(run, "run") }?;
        let pending = r
            .pending
            .take()
            .ok_or_else(|| Error::invalid("the run has already been waited for"))?;
        lock(&r.results).clear();
        let outputs = pending.wait()?;
        store(&r.results, outputs)
    })
}

/// Destroys a run. A run not waited for finishes in the background and its outputs are
/// dropped. Null does nothing.
///
/// # Safety
///
/// `run` is null or a live run, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn tessera_run_destroy(run: *mut TesseraRun) {
    // SAFETY: by contract.
    guard_void(|| unsafe { destroy(run) });
}

/// How many outputs the last run left in the binding (the outputs not bound to descriptors).
///
/// # Safety
///
/// `binding` is a live binding; `out_count` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_output_count(
    binding: *const TesseraBinding,
    out_count: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle(binding, "binding") }?;
        let n = lock(&b.results).len();
        // SAFETY: by contract.
        unsafe { write_out(out_count, n, "out_count") }
    })
}

fn view(slot: &OutputSlot) -> TesseraTensorView {
    TesseraTensorView {
        struct_size: 0,
        name: slot.name.as_ptr(),
        dtype: slot.dtype,
        rank: slot.shape.len(),
        shape: if slot.shape.is_empty() {
            std::ptr::null()
        } else {
            slot.shape.as_ptr()
        },
        data: if slot.bytes.is_empty() {
            std::ptr::null()
        } else {
            slot.bytes.as_ptr().cast()
        },
        byte_len: slot.bytes.len(),
    }
}

/// Describes output `index` of the last run (model order, bound outputs left out) into
/// `out_view`, whose `struct_size` the caller sets.
///
/// # Safety
///
/// `binding` is a live binding; `out_view` points to `out_view->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_output(
    binding: *const TesseraBinding,
    index: usize,
    out_view: *mut TesseraTensorView,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle(binding, "binding") }?;
        let results = lock(&b.results);
        let slot = results.get(index).ok_or_else(|| {
            Error::new(
                TesseraStatus::NotFound,
                format!("output {index}: the last run left {}", results.len()),
            )
        })?;
        // SAFETY: by contract.
        unsafe { write_versioned(out_view, view(slot), "out_view") }
    })
}

/// Describes the last run's output `name` into `out_view` (as `tessera_binding_output`).
///
/// # Safety
///
/// `binding` is a live binding; `name` a NUL-terminated string; `out_view` points to
/// `out_view->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_binding_output_by_name(
    binding: *const TesseraBinding,
    name: *const c_char,
    out_view: *mut TesseraTensorView,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let b = unsafe { handle(binding, "binding") }?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name") }?;
        let results = lock(&b.results);
        let slot = results
            .iter()
            .find(|s| s.name.to_bytes() == name.as_bytes())
            .ok_or_else(|| {
                Error::new(
                    TesseraStatus::NotFound,
                    format!("the last run left no output named '{name}'"),
                )
            })?;
        // SAFETY: by contract.
        unsafe { write_versioned(out_view, view(slot), "out_view") }
    })
}
