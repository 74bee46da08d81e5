//! `tessera cts`: runs the ONNX backend node tests against a device and judges the result
//! against the manifest of expected failures; with `--hal`, runs the HAL conformance suite
//! (`tessera_cts::hal`) on one device instead.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use tessera_cts::{CtsOptions, RuntimeRunner};

/// Run the conformance suite (ONNX node tests) against a device.
///
/// Prints pass / fail / unsupported / expected-failure counts and a per-op table. Fails when a
/// case not listed in the manifest fails, or a listed one passes (so the count only goes up).
/// The test data comes from `cargo xtask fetch-testdata` (or `TESSERA_TESTDATA`).
///
/// With `--hal`, runs the HAL conformance suite (buffers, queues, timelines, external memory,
/// failure propagation, deadlocks) on the first device of `--device` and prints one row per
/// case; `--filter` and `--report` apply to it too.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run the HAL conformance suite instead of the ONNX node tests.
    #[arg(long)]
    pub hal: bool,
    /// Device preference list, comma separated (e.g. `cpu`).
    #[arg(long, default_value = "cpu", value_delimiter = ',')]
    pub device: Vec<String>,
    /// Only run cases whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write a machine-readable JSON report here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Rewrite the manifest of expected failures from this run.
    #[arg(long)]
    pub update_manifest: bool,
    /// Cases to run at once (default: all cores).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Per-case time limit in seconds (0: none).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Manifest of expected failures (default: the suite's own for the device).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Test-data folder holding `onnx-1.21.0/`.
    #[arg(long, value_name = "DIR")]
    pub testdata: Option<PathBuf>,
    /// List every case that did not pass, not only regressions.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the suite with a progress bar and prints the report.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.hal {
        return run_hal(args);
    }
    let opts = CtsOptions {
        devices: args.device.clone(),
        filter: args.filter,
        report: args.report,
        update_manifest: args.update_manifest,
        jobs: args.jobs,
        timeout_secs: args.timeout,
        manifest: args.manifest,
        testdata: args.testdata,
        verbose: args.verbose,
    };
    let runner = Arc::new(RuntimeRunner::new(args.device));
    let bar = indicatif::ProgressBar::new(0);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut progress = |r: &tessera_cts::CaseResult, done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(r.name.clone());
    };
    let result = tessera_cts::run_with(&opts, runner, &mut std::io::stdout(), &mut progress);
    bar.finish_and_clear();
    let result = result?;
    if !result.passed() {
        bail!(
            "conformance verdict failed against {} (see above)",
            result.manifest_path.display()
        );
    }
    Ok(())
}

/// `tessera cts --hal`: the HAL suite on the first device of `--device`, judged against
/// `hal-expected-failures.txt` (or `--manifest`).
fn run_hal(args: Args) -> anyhow::Result<()> {
    let uri = args.device.first().cloned().unwrap_or_else(|| "cpu".into());
    let expected = match &args.manifest {
        Some(path) => tessera_cts::HalExpectedFailures::load(path)?,
        None => tessera_cts::HalExpectedFailures::load_default().unwrap_or_default(),
    };
    let mut opts = tessera_cts::HalRunOptions {
        filter: args
            .filter
            .as_deref()
            .map(tessera_cts::hal::Regex::new)
            .transpose()?,
        expected,
        ..tessera_cts::HalRunOptions::default()
    };
    if let Some(secs) = args.timeout.filter(|s| *s > 0) {
        opts.timeout = std::time::Duration::from_secs(secs);
    }
    let registry = Arc::new(tessera_runtime::builtin_drivers());
    // Progress on stderr only when it is a terminal, like the node suite's bar.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = tessera_cts::run_hal_suite_with(registry, &uri, &opts, &mut |r, done, total| {
        if tty {
            eprint!("\r{done}/{total} {:<60}", r.name);
        }
    });
    if tty {
        eprint!("\r{:<80}\r", "");
    }
    print!("{}", report.case_table());
    println!("{}", report.summary_line());
    if let Some(path) = &args.report {
        report.write_json(path)?;
    }
    if !report.verdict.is_ok() {
        bail!("HAL conformance verdict failed on {uri}:\n{}", report.verdict.describe());
    }
    Ok(())
}
