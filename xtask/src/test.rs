//! `cargo xtask test`: the project's one test command (the README's, and what CI runs).
//!
//! Steps, each stopping the run on failure:
//! 1. Python packages for the reference comparisons (`tools/requirements.txt`), installed with
//!    pip only when an import fails;
//! 2. the ONNX node test data (`fetch-testdata`, a no-op when cached);
//! 3. `cargo fmt --check`;
//! 4. `cargo clippy --workspace --all-targets -- -D warnings`;
//! 5. the whole test suite with `cargo nextest run --workspace` (or `cargo test` when nextest
//!    is not installed), which includes the conformance suite and the ONNX Runtime comparisons;
//! 6. the benchmark harness in smoke mode (`bench-compare --smoke`: one tiny model, one run,
//!    debug build), so that it keeps working; nothing is timed against a limit.

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {name}");
    let status = cmd.status()?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn python_ready() -> bool {
    Command::new(crate::python::PYTHON)
        .args(["-c", "import numpy, onnx, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs every step of the test command.
pub fn run(root: &Path, cache: &Path, fast: bool) -> Result<()> {
    if !python_ready() {
        step(
            "install Python test dependencies",
            Command::new(crate::python::PYTHON)
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(root.join("tools/requirements.txt"))
                .current_dir(root),
        )?;
    }
    eprintln!("==> fetch ONNX node test data");
    crate::testdata::fetch(cache, false)?;
    step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]).current_dir(root),
    )?;
    if !fast {
        step(
            "cargo clippy",
            cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .current_dir(root),
        )?;
    }
    let nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if nextest {
        step(
            "cargo nextest run --workspace",
            cargo()
                .args(["nextest", "run", "--workspace", "--no-fail-fast"])
                .env("TESSERA_TESTDATA", cache)
                .current_dir(root),
        )?;
        step(
            "doc tests",
            cargo()
                .args(["test", "--workspace", "--doc"])
                .env("TESSERA_TESTDATA", cache)
                .current_dir(root),
        )?;
    } else {
        step(
            "cargo test --workspace",
            cargo()
                .args(["test", "--workspace", "--no-fail-fast"])
                .env("TESSERA_TESTDATA", cache)
                .current_dir(root),
        )?;
    }
    eprintln!("==> bench-compare --smoke");
    crate::bench::compare(
        root,
        &crate::bench::Options::smoke(crate::bench::default_cache(root)),
    )?;
    eprintln!("==> all checks passed");
    Ok(())
}
