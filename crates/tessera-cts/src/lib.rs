//! The Tessera conformance suite: the ONNX backend node tests (from the `onnx` 1.21.0 release)
//! run against any device, judged against a manifest of expected failures, with a
//! machine-readable report; and the HAL conformance suite ([`hal`]), run on every registered
//! driver.
//!
//! # Pieces
//!
//! - [`discover`]: finds the cases (`<root>/onnx-1.21.0/node/<case>/`, sorted by name) and
//!   loads their data sets (`input_K.pb` / `output_K.pb`, K in numeric order), decoding each
//!   file with the declared type of the graph input or output it belongs to.
//! - [`runner`]: the [`CaseRunner`] / [`PreparedCase`] traits, the only contact with the thing
//!   under test, and [`classify_error`], the one place deciding *unsupported* vs *error*.
//!   [`RuntimeRunner`] implements them on `tessera-runtime`.
//! - [`compare`]: output comparison with per-dtype tolerances (table below).
//! - [`suite`]: runs cases on a pool of `jobs` threads, each case on its own thread with a
//!   time limit and panic capture; every case ends as one [`Outcome`].
//! - [`manifest`]: the expected-failures manifest (`expected-failures.txt` in this crate),
//!   the verdict and its regeneration.
//! - [`report`]: counts, the per-op table, JSON.
//! - [`cli`]: [`CtsOptions`] and [`run`] for the `tessera cts` command; [`run_cli`] if the
//!   caller just forwards arguments.
//!
//! # Outcomes
//!
//! | outcome       | meaning                                                                 |
//! |---------------|-------------------------------------------------------------------------|
//! | `pass`        | every output of every data set matched                                  |
//! | `fail`        | the model ran, an output differs or is missing                          |
//! | `unsupported` | the importer or the device does not support something in the model     |
//! | `error`       | loading the model or its data, or running it, failed otherwise          |
//! | `panic`       | the case panicked: always a bug (no panic may be reachable from a file) |
//! | `timeout`     | no result within the time limit (default 60 s)                          |
//!
//! # Tolerances
//!
//! A floating-point output element passes when `|got − expected| ≤ atol + rtol·|expected|`
//! (the rule of `numpy.testing.assert_allclose`, relative to the expected value), or when both
//! are NaN, or both are the same infinity. Dtypes and shapes must match exactly; sequences are
//! compared by length, then element by element; optionals by presence, then content.
//!
//! | dtype                         | rtol     | atol     | why |
//! |-------------------------------|----------|----------|-----|
//! | `f32`, `f64`                  | 1e-3     | 1e-7     | ONNX's own backend test runner uses exactly this for every case, so pass counts are comparable with ONNX Runtime's (`cargo xtask ort-sweep` uses the same). |
//! | `f16`                         | 2e-3     | 1e-3     | One f16 ulp is 2⁻¹⁰ ≈ 9.8e-4 relative, so 1e-3 leaves no room for a kernel that rounds an intermediate differently from the reference (computed in f32 and rounded once); 2e-3 allows two ulps. atol 1e-3 is one ulp at magnitude 1, for results near zero produced by cancellation of O(1) terms. |
//! | `bf16`                        | 1.6e-2   | 1e-2     | Same reasoning with bf16's 7-bit mantissa: one ulp is 2⁻⁷ ≈ 7.8e-3 relative; two ulps ≈ 1.6e-2 (the value PyTorch's `assert_close` uses too); atol ≈ one ulp at magnitude 1. |
//! | integers, `bool`              | exact    | exact    | No rounding is involved. |
//! | float8, float4 (all formats)  | exact    | exact    | Each value is one of at most 256 codes and the reference rounds once, so a correct cast lands on the same code; NaN equals NaN whatever its bit pattern. |
//!
//! A case folder may carry a `data.json` with `rtol`/`atol` (ONNX's loader reads it); those
//! replace the `f32`/`f64` values and loosen, never tighten, the `f16`/`bf16` ones. No node
//! test of ONNX 1.21 has one.
//!
//! # The manifest and the verdict
//!
//! `expected-failures.txt` lists every case known not to pass on the CPU device, one
//! `test_name  # reason` per line (reason required; `#` comment lines and blank lines allowed).
//! Other devices use `expected-failures-<device>.txt` beside it. The verdict fails when
//!
//! - a case that did not pass (any outcome but `pass`) is not listed: a **regression**;
//! - a listed case passes: an **unexpected pass** — remove it from the manifest;
//! - a listed name is not a case of the suite: an **unknown entry**.
//!
//! `tessera cts --update-manifest` ([`Manifest::regenerate`]) rewrites it from a run, keeping
//! the reasons already written and giving new entries their outcome and message, cut to 120
//! characters.
//!
//! # Per-op table
//!
//! Each case counts once, for the op it tests: the single op type its model holds (every
//! plain ONNX node test has exactly one), and for `*_expanded` cases (the op's function body
//! written out in primitives) the op of the base case. See [`ops`].
//!
//! # The HAL suite
//!
//! [`hal`] checks the `tessera-hal` contract itself on one device: buffers (every memory
//! kind and size, maps, range checks, upload/download, views), queues (Fill and Copy ranges,
//! work refused at submit, ordering only by wait/signal lists, every queue, hundreds of
//! submissions, an Execute of a one-node subgraph), timelines, external memory (export and
//! import, descriptor leaks, timeline points as descriptors), failure propagation and
//! deadlock detection. Cases use the HAL traits only, so every driver registered in
//! `tessera_runtime::builtin_drivers()` gets them: `cargo test -p tessera-cts --test
//! hal_suite` runs them on each driver's first device, and `tessera cts --hal --device URI`
//! on any device. A case that does not apply to a device (no exportable memory, one queue
//! only, no supported op) is *skipped* with its reason; known failures of a driver are listed
//! in `hal-expected-failures.txt` as `driver/case  # reason`.
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(feature = "runtime")] {
//! use std::sync::Arc;
//! use tessera_cts::{CtsOptions, RuntimeRunner};
//!
//! let opts = CtsOptions { filter: Some("^test_add".into()), ..CtsOptions::default() };
//! let runner = Arc::new(RuntimeRunner::new(opts.devices.clone()));
//! let run = tessera_cts::run_with(&opts, runner, &mut std::io::stdout(), &mut |_, _, _| {})?;
//! println!("{}", run.report.summary_line());
//! assert!(run.passed());
//! # }
//! # Ok::<(), tessera_cts::CtsError>(())
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod compare;
pub mod discover;
pub mod error;
pub mod hal;
pub mod manifest;
pub mod ops;
pub mod report;
pub mod runner;
#[cfg(feature = "runtime")]
mod runtime_runner;
pub mod suite;

#[cfg(feature = "runtime")]
pub use cli::{run, run_cli};
pub use cli::{run_with, CtsOptions, CtsRun};
pub use compare::{compare_values, Mismatch, MismatchKind, Tolerance, Tolerances, ValueDiff};
pub use discover::{discover_cases, node_tests_dir, testdata_root, Case, DataSet, TESTDATA_ENV};
pub use error::CtsError;
pub use hal::{
    hal_cases, run_hal_suite, run_hal_suite_with, CaseFailure, HalCase, HalExpectedFailures,
    HalOutcome, HalReport, HalRunOptions, HalTarget,
};
pub use manifest::{default_manifest_path, Manifest, Verdict};
pub use report::{Counts, SuiteReport};
pub use runner::{classify_error, BoxError, CaseRunner, ErrorClass, IoSpec, PreparedCase};
#[cfg(feature = "runtime")]
pub use runtime_runner::RuntimeRunner;
pub use suite::{run_case, run_suite, run_suite_with_progress, CaseResult, Outcome, RunOptions};

/// The `onnx` release whose node tests the suite runs.
pub const ONNX_VERSION: &str = "1.21.0";
