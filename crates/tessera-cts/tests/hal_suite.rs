//! The HAL conformance suite on every registered driver: one test per driver of
//! `tessera_runtime::builtin_drivers()`, run on the driver's first enumerated device and
//! judged against `hal-expected-failures.txt`.
//!
//! The drivers are enumerated at run time (a new backend is tested by being registered), so
//! this test has its own harness (`harness = false`). It runs the drivers one after the
//! other, since some cases observe process-wide state (open descriptors, the deadlock
//! checker's graph). Arguments: words filter drivers by substring (`cargo test --test
//! hal_suite -- vnpu`); `--list` lists the tests; other flags are accepted and ignored.

use std::process::ExitCode;
use std::sync::Arc;

use tessera_cts::{run_hal_suite_with, HalExpectedFailures, HalRunOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = args.iter().any(|a| a == "--list");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let registry = Arc::new(tessera_runtime::builtin_drivers());
    let drivers: Vec<String> = registry
        .names()
        .into_iter()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    if list {
        for d in &drivers {
            println!("hal_suite::{d}: test");
        }
        return ExitCode::SUCCESS;
    }
    let expected = match HalExpectedFailures::load_default() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = HalRunOptions {
        expected,
        ..HalRunOptions::default()
    };
    println!("\nrunning {} tests", drivers.len());
    let mut failed = Vec::new();
    for name in &drivers {
        let uri = registry
            .driver(name)
            .and_then(|d| d.enumerate().into_iter().next())
            .map(|info| info.uri)
            .unwrap_or_else(|| name.clone());
        let report = run_hal_suite_with(registry.clone(), &uri, &opts, &mut |_, _, _| {});
        println!("\n{}", report.case_table());
        println!("{}", report.summary_line());
        if report.verdict.is_ok() {
            println!("test hal_suite::{name} ... ok");
        } else {
            println!("test hal_suite::{name} ... FAILED");
            failed.push((name.clone(), report.verdict.describe()));
        }
    }
    println!();
    if failed.is_empty() {
        println!("test result: ok. {} passed; 0 failed", drivers.len());
        ExitCode::SUCCESS
    } else {
        for (name, why) in &failed {
            eprintln!("---- hal_suite::{name} ----\n{why}");
        }
        eprintln!(
            "(a case known to fail on a driver goes into crates/tessera-cts/\
             hal-expected-failures.txt as `driver/case  # reason`)"
        );
        println!(
            "test result: FAILED. {} passed; {} failed",
            drivers.len() - failed.len(),
            failed.len()
        );
        ExitCode::FAILURE
    }
}
