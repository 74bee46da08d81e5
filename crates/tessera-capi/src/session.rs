//! [`TesseraSession`]: a model loaded, optimized, partitioned over devices and compiled.

use crate::context::TesseraContext;
use crate::error::{guard, guard_void, Error, Result, TesseraStatus};
use crate::types::{
    destroy, handle, read_versioned, slice_arg, str_arg, versioned, write_out, write_versioned,
    TesseraDtype,
};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;
use tessera_ir::{Dim, ValueType};
use tessera_runtime::{IoInfo, ModelSource, Session, SessionOptions};

/// A value for a symbolic dimension of the model's inputs (`batch` = 1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraDim {
    /// The dimension's name, UTF-8.
    pub name: *const c_char,
    /// Its value.
    pub value: usize,
}

/// How a session is built (versioned: set `struct_size` to `sizeof(TesseraSessionOptions)`).
/// Zero means the default for every field, so `{ .struct_size = sizeof(TesseraSessionOptions) }`
/// gives the defaults. The library reads the strings and arrays during the call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraSessionOptions {
    /// `sizeof(TesseraSessionOptions)` as the caller's header declares it.
    pub struct_size: usize,
    /// Device URIs in order of preference (`"cpu"`, `"cpu://threads=2"`, `"vnpu://0"`); each
    /// node runs on the first that supports it. `NULL` / 0 means `{"cpu"}`.
    pub devices: *const *const c_char,
    /// Number of entries in `devices`.
    pub num_devices: usize,
    /// Values for symbolic dimensions of the inputs.
    pub dims: *const TesseraDim,
    /// Number of entries in `dims`.
    pub num_dims: usize,
    /// Use only the listed devices: a node none of them supports fails session creation
    /// (`TESSERA_STATUS_UNSUPPORTED`, every such node listed) instead of running on the CPU.
    pub no_fallback: bool,
    /// Skip the optimization passes (the graph is still type-checked and verified).
    pub disable_optimize: bool,
    /// How many runs may be in flight at once (`tessera_session_submit`); 0 means 4.
    pub max_in_flight: usize,
}

versioned!(
    TesseraSessionOptions {
        struct_size,
        devices,
        num_devices,
        dims,
        num_dims,
        no_fallback,
        disable_optimize,
        max_in_flight,
    },
    TesseraSessionOptions {
        struct_size: 0,
        devices: std::ptr::null(),
        num_devices: 0,
        dims: std::ptr::null(),
        num_dims: 0,
        no_fallback: false,
        disable_optimize: false,
        max_in_flight: 0,
    }
);

/// A model input or output (versioned). Pointers belong to the session and live as long as it
/// does.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraIoInfo {
    /// `sizeof(TesseraIoInfo)` as the caller's header declares it; set by the caller.
    pub struct_size: usize,
    /// The name, UTF-8.
    pub name: *const c_char,
    /// Element type; `TESSERA_DTYPE_UNDEFINED` when not a tensor or unknown.
    pub dtype: TesseraDtype,
    /// Number of dimensions; -1 when unknown.
    pub rank: i64,
    /// `rank` extents (NULL when `rank` is 0 or -1); -1 for a symbolic dimension.
    pub shape: *const i64,
}

versioned!(
    TesseraIoInfo {
        struct_size,
        name,
        dtype,
        rank,
        shape
    },
    TesseraIoInfo {
        struct_size: 0,
        name: std::ptr::null(),
        dtype: TesseraDtype::Undefined,
        rank: -1,
        shape: std::ptr::null(),
    }
);

struct IoEntry {
    name: CString,
    dtype: TesseraDtype,
    rank: i64,
    shape: Vec<i64>,
}

impl IoEntry {
    fn new(io: &IoInfo) -> IoEntry {
        let name = CString::new(io.name.replace('\0', "?")).unwrap_or_default();
        match &io.ty {
            Some(ValueType::Tensor(t)) => {
                let shape: Option<Vec<i64>> = t.shape.as_ref().map(|dims| {
                    dims.iter()
                        .map(|d| match d {
                            Dim::Known(n) => i64::try_from(*n).unwrap_or(i64::MAX),
                            Dim::Sym(_) => -1,
                        })
                        .collect()
                });
                IoEntry {
                    name,
                    dtype: t.dtype.into(),
                    rank: shape.as_ref().map_or(-1, |s| s.len() as i64),
                    shape: shape.unwrap_or_default(),
                }
            }
            _ => IoEntry {
                name,
                dtype: TesseraDtype::Undefined,
                rank: -1,
                shape: Vec::new(),
            },
        }
    }

    fn info(&self) -> TesseraIoInfo {
        TesseraIoInfo {
            struct_size: 0,
            name: self.name.as_ptr(),
            dtype: self.dtype,
            rank: self.rank,
            shape: if self.shape.is_empty() {
                std::ptr::null()
            } else {
                self.shape.as_ptr()
            },
        }
    }
}

/// A compiled model. Thread-safe: several threads may run it at once, each with its own
/// binding.
pub struct TesseraSession {
    pub(crate) session: Arc<Session>,
    inputs: Vec<IoEntry>,
    outputs: Vec<IoEntry>,
}

/// The Rust options from the caller's.
///
/// # Safety
///
/// `options` is null or a valid `TesseraSessionOptions` whose arrays and strings are valid.
unsafe fn session_options(options: *const TesseraSessionOptions) -> Result<SessionOptions> {
    // SAFETY: by contract.
    let o = unsafe { read_versioned(options, "options") }?;
    let mut out = SessionOptions::default()
        .with_no_fallback(o.no_fallback)
        .with_optimize(!o.disable_optimize);
    if o.max_in_flight > 0 {
        out = out.with_max_in_flight(o.max_in_flight);
    }
    // SAFETY: `devices` holds `num_devices` string pointers, by contract.
    let devices = unsafe { slice_arg(o.devices, o.num_devices, "options.devices") }?;
    if !devices.is_empty() {
        let mut uris = Vec::with_capacity(devices.len());
        for (i, &d) in devices.iter().enumerate() {
            // SAFETY: each entry is a NUL-terminated string, by contract.
            uris.push(unsafe { str_arg(d, &format!("options.devices[{i}]")) }?.to_string());
        }
        out = out.with_devices(uris);
    }
    // SAFETY: `dims` holds `num_dims` entries, by contract.
    let dims = unsafe { slice_arg(o.dims, o.num_dims, "options.dims") }?;
    for (i, d) in dims.iter().enumerate() {
        // SAFETY: each name is a NUL-terminated string, by contract.
        let name = unsafe { str_arg(d.name, &format!("options.dims[{i}].name")) }?;
        out = out.with_dim(name, d.value);
    }
    Ok(out)
}

fn create(
    context: &TesseraContext,
    source: ModelSource<'_>,
    options: SessionOptions,
) -> Result<*mut TesseraSession> {
    let session = Session::load(context.registry, source, options)?;
    let inputs = session.inputs().iter().map(IoEntry::new).collect();
    let outputs = session.outputs().iter().map(IoEntry::new).collect();
    Ok(Box::into_raw(Box::new(TesseraSession {
        session: Arc::new(session),
        inputs,
        outputs,
    })))
}

/// Loads the ONNX model at `path` (external data is resolved next to it) and builds a session:
/// optimize, partition over the preferred devices, compile. `options` may be null.
///
/// # Safety
///
/// `context` is a live context; `path` a NUL-terminated string; `options` null or valid;
/// `out_session` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_create_from_file(
    context: *const TesseraContext,
    path: *const c_char,
    options: *const TesseraSessionOptions,
    out_session: *mut *mut TesseraSession,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let context = unsafe { handle(context, "context") }?;
        if path.is_null() {
            return Err(Error::invalid("path is null"));
        }
        if out_session.is_null() {
            return Err(Error::invalid("out_session is null"));
        }
        // SAFETY: not null, NUL-terminated by contract. Paths need not be UTF-8.
        let bytes = unsafe { std::ffi::CStr::from_ptr(path) }.to_bytes();
        let path = std::path::Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes),
        );
        // SAFETY: by contract.
        let options = unsafe { session_options(options) }?;
        let session = create(context, ModelSource::File(path), options)?;
        // SAFETY: checked not null; writable by contract.
        unsafe { write_out(out_session, session, "out_session") }
    })
}

/// Builds a session from an ONNX model in memory (`len` bytes at `data`; external data is
/// refused). The bytes are read during the call only. `options` may be null.
///
/// # Safety
///
/// `context` is a live context; `data` points to `len` readable bytes; `options` null or
/// valid; `out_session` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_create_from_memory(
    context: *const TesseraContext,
    data: *const c_void,
    len: usize,
    options: *const TesseraSessionOptions,
    out_session: *mut *mut TesseraSession,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let context = unsafe { handle(context, "context") }?;
        if data.is_null() {
            return Err(Error::invalid("data is null"));
        }
        if out_session.is_null() {
            return Err(Error::invalid("out_session is null"));
        }
        // SAFETY: `len` readable bytes at `data`, by contract.
        let bytes = unsafe { slice_arg(data.cast::<u8>(), len, "data") }?;
        // SAFETY: by contract.
        let options = unsafe { session_options(options) }?;
        let session = create(context, ModelSource::Bytes(bytes), options)?;
        // SAFETY: checked not null; writable by contract.
        unsafe { write_out(out_session, session, "out_session") }
    })
}

/// Destroys a session. Bindings and runs made from it keep what they need and stay usable;
/// null does nothing.
///
/// # Safety
///
/// `session` is null or a live session, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_destroy(session: *mut TesseraSession) {
    // SAFETY: by contract.
    guard_void(|| unsafe { destroy(session) });
}

/// How many inputs the model has.
///
/// # Safety
///
/// `session` is a live session; `out_count` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_input_count(
    session: *const TesseraSession,
    out_count: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        // SAFETY: by contract.
        unsafe { write_out(out_count, s.inputs.len(), "out_count") }
    })
}

/// How many outputs the model has.
///
/// # Safety
///
/// `session` is a live session; `out_count` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_output_count(
    session: *const TesseraSession,
    out_count: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        // SAFETY: by contract.
        unsafe { write_out(out_count, s.outputs.len(), "out_count") }
    })
}

fn io_at<'a>(list: &'a [IoEntry], index: usize, what: &str) -> Result<&'a IoEntry> {
    list.get(index).ok_or_else(|| {
        Error::new(
            TesseraStatus::NotFound,
            format!("{what} {index}: the model has {}", list.len()),
        )
    })
}

/// Describes input `index` (its declared type: symbolic dimensions are -1).
///
/// # Safety
///
/// `session` is a live session; `info` points to `info->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_input_info(
    session: *const TesseraSession,
    index: usize,
    info: *mut TesseraIoInfo,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        let value = io_at(&s.inputs, index, "input")?.info();
        // SAFETY: by contract.
        unsafe { write_versioned(info, value, "info") }
    })
}

/// Describes output `index` (its type as inferred for the session's dimension values).
///
/// # Safety
///
/// `session` is a live session; `info` points to `info->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_session_output_info(
    session: *const TesseraSession,
    index: usize,
    info: *mut TesseraIoInfo,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let s = unsafe { handle(session, "session") }?;
        let value = io_at(&s.outputs, index, "output")?.info();
        // SAFETY: by contract.
        unsafe { write_versioned(info, value, "info") }
    })
}
