//! Status codes, the thread-local last-error message, and the guard every exported function
//! runs its body in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tessera_runtime::RuntimeError;

/// What a `tessera_*` function returns. `TESSERA_STATUS_OK` is zero; every other value comes
/// with a message from `tessera_last_error_message()`. Values are stable; new ones may be
/// added, so treat an unknown value as a failure.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraStatus {
    /// Success.
    Ok = 0,
    /// A null pointer where a value is required, a string that is not UTF-8, a bad
    /// `struct_size`, an unknown dtype, a negative dimension, a handle of another session.
    InvalidArgument = 1,
    /// A name that is not an input or output of the model, or an index out of range.
    NotFound = 2,
    /// The model could not be read, imported, optimized or verified.
    InvalidModel = 3,
    /// Nodes that no device in the preference list supports (every one is listed), or a
    /// feature this build or platform lacks.
    Unsupported = 4,
    /// A device could not be created or could not compile its part of the model.
    Device = 5,
    /// The bound inputs or outputs do not match the model (every problem is listed).
    InvalidInput = 6,
    /// A run failed on a device.
    Execution = 7,
    /// The operating system refused something (duplicating a file descriptor, starting a
    /// thread, exporting a fence).
    Os = 8,
    /// A bug in Tessera (a panic, caught at the boundary). Please report it with the message.
    Internal = 9,
}

impl TesseraStatus {
    /// The status's name as the header spells it.
    pub(crate) fn name(self) -> &'static std::ffi::CStr {
        match self {
            TesseraStatus::Ok => c"TESSERA_STATUS_OK",
            TesseraStatus::InvalidArgument => c"TESSERA_STATUS_INVALID_ARGUMENT",
            TesseraStatus::NotFound => c"TESSERA_STATUS_NOT_FOUND",
            TesseraStatus::InvalidModel => c"TESSERA_STATUS_INVALID_MODEL",
            TesseraStatus::Unsupported => c"TESSERA_STATUS_UNSUPPORTED",
            TesseraStatus::Device => c"TESSERA_STATUS_DEVICE",
            TesseraStatus::InvalidInput => c"TESSERA_STATUS_INVALID_INPUT",
            TesseraStatus::Execution => c"TESSERA_STATUS_EXECUTION",
            TesseraStatus::Os => c"TESSERA_STATUS_OS",
            TesseraStatus::Internal => c"TESSERA_STATUS_INTERNAL",
        }
    }

    /// Every status, in numeric order.
    pub(crate) const ALL: [TesseraStatus; 10] = [
        TesseraStatus::Ok,
        TesseraStatus::InvalidArgument,
        TesseraStatus::NotFound,
        TesseraStatus::InvalidModel,
        TesseraStatus::Unsupported,
        TesseraStatus::Device,
        TesseraStatus::InvalidInput,
        TesseraStatus::Execution,
        TesseraStatus::Os,
        TesseraStatus::Internal,
    ];
}

/// A failure on its way to the caller: a status and the message for
/// `tessera_last_error_message()`.
#[derive(Debug)]
pub(crate) struct Error {
    pub status: TesseraStatus,
    pub message: String,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(status: TesseraStatus, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(TesseraStatus::InvalidArgument, message)
    }
}

impl From<RuntimeError> for Error {
    fn from(e: RuntimeError) -> Error {
        let status = match &e {
            RuntimeError::Load(_)
            | RuntimeError::Optimize(_)
            | RuntimeError::Graph(_)
            | RuntimeError::UntypedInput(_) => TesseraStatus::InvalidModel,
            RuntimeError::UnknownDim { .. } | RuntimeError::NoDevices => {
                TesseraStatus::InvalidArgument
            }
            RuntimeError::Device { .. } | RuntimeError::Compile { .. } => TesseraStatus::Device,
            RuntimeError::Unsupported { .. } => TesseraStatus::Unsupported,
            RuntimeError::Inputs(_) | RuntimeError::Binding(_) => TesseraStatus::InvalidInput,
            RuntimeError::Fence(_) | RuntimeError::Spawn(_) => TesseraStatus::Os,
            RuntimeError::Panicked(_) => TesseraStatus::Internal,
            RuntimeError::Execute { .. } => TesseraStatus::Execution,
        };
        Error::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // An interior NUL would cut the C string short; show it instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

fn clear_last_error() {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if !e.as_bytes().is_empty() {
            *e = CString::default();
        }
    });
}

/// The message of the last failed call on this thread, or `""` when the last call succeeded.
/// Valid until the next `tessera_*` call on this thread (this one excepted); never null.
#[no_mangle]
pub extern "C" fn tessera_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The name of a status (`"TESSERA_STATUS_NOT_FOUND"`), or `"TESSERA_STATUS_UNKNOWN"` for a
/// value this library does not know. A static string; never null.
#[no_mangle]
pub extern "C" fn tessera_status_name(status: i32) -> *const c_char {
    TesseraStatus::ALL
        .iter()
        .find(|s| **s as i32 == status)
        .map_or(c"TESSERA_STATUS_UNKNOWN".as_ptr(), |s| s.name().as_ptr())
}

/// Runs an exported function's body: clears the last error, catches panics (they must not
/// unwind into C), and turns a failure into its status with the message stored for
/// `tessera_last_error_message()`.
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> TesseraStatus {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => TesseraStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "internal error (a bug in Tessera): {}",
                tessera_hal::host_queue::panic_message(payload.as_ref())
            ));
            TesseraStatus::Internal
        }
    }
}

/// [`guard`] for functions that return nothing (destructors): a panic is swallowed and left
/// as the last error.
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = guard(|| {
        body();
        Ok(())
    });
}
