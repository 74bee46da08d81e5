//! Tessera's C ABI: `libtessera` (`tessera.h`), a stable C interface over
//! [`tessera_runtime`].
//!
//! Everything a C program needs to run a model:
//!
//! - a **context** (`tessera_context_create`) lists the devices the built-in drivers see;
//! - a **session** (`tessera_session_create_from_file` / `_from_memory`) is a model loaded,
//!   optimized, partitioned over the preferred devices and compiled;
//! - a **binding** (`tessera_binding_create`) holds a run's inputs (host memory, copied; or
//!   shared memory by file descriptor, read in place) and outputs (bound to a descriptor, or
//!   kept in the binding after the run and read with `tessera_binding_output`);
//! - `tessera_session_run` runs synchronously; `tessera_session_submit` returns a **run**
//!   whose `tessera_run_fence_fd` is a pollable descriptor and whose `tessera_run_wait` moves
//!   the outputs into the binding.
//!
//! Every function returns a [`TesseraStatus`]; a failure leaves its message for
//! `tessera_last_error_message()` (thread-local). Nothing panics across the boundary: a bug
//! is caught and reported as `TESSERA_STATUS_INTERNAL`.
//!
//! Options and info structs are **versioned**: their first field is `size_t struct_size`,
//! which the caller sets to `sizeof` the struct in the header it was compiled with. The
//! library reads (or fills) only the fields that lie wholly within that size, so programs
//! built against an older header keep working with a newer library and the other way round.
//! `docs/c-api.md` has the ownership, lifetime, threading and descriptor rules.
//!
//! The header `include/tessera.h` is generated from this crate by cbindgen (the doc comments
//! become its comments); a test fails when the committed header is stale, and another when
//! the exported symbols differ from `symbols.txt`. Only Linux and other Unix systems are
//! supported (descriptors are `int`s).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

mod binding;
mod context;
mod error;
mod session;
mod types;

pub use binding::{TesseraBinding, TesseraRun, TesseraTensorView};
pub use context::{TesseraContext, TesseraContextOptions, TesseraDeviceInfo, TesseraDeviceKind};
pub use error::TesseraStatus;
pub use session::{TesseraDim, TesseraIoInfo, TesseraSession, TesseraSessionOptions};
pub use types::TesseraDtype;

pub use binding::{
    tessera_binding_bind_input, tessera_binding_bind_input_fd, tessera_binding_bind_output_fd,
    tessera_binding_clear, tessera_binding_create, tessera_binding_destroy, tessera_binding_output,
    tessera_binding_output_by_name, tessera_binding_output_count, tessera_run_destroy,
    tessera_run_fence_fd, tessera_run_is_finished, tessera_run_wait, tessera_session_run,
    tessera_session_submit,
};
pub use context::{
    tessera_context_create, tessera_context_destroy, tessera_context_device_count,
    tessera_context_device_info,
};
pub use error::{tessera_last_error_message, tessera_status_name};
pub use session::{
    tessera_session_create_from_file, tessera_session_create_from_memory, tessera_session_destroy,
    tessera_session_input_count, tessera_session_input_info, tessera_session_output_count,
    tessera_session_output_info,
};

use std::ffi::c_char;

/// The ABI version of this library: raised only by a change that breaks existing callers
/// (never by new functions, new enum values or new trailing struct fields).
pub const TESSERA_ABI_VERSION: u32 = 1;

/// The library's version (`"0.1.0"`), a static string.
#[no_mangle]
pub extern "C" fn tessera_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's ABI version (`TESSERA_ABI_VERSION` of the header it was built with). A caller
/// may check it against the `TESSERA_ABI_VERSION` it was compiled with.
#[no_mangle]
pub extern "C" fn tessera_abi_version() -> u32 {
    TESSERA_ABI_VERSION
}
