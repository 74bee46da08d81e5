//! The ONNX backend node tests on the CPU device, judged against `expected-failures.txt`, and
//! again with the virtual NPU first in the preference list (`vnpu,cpu`): real partitions and
//! transfers between devices must pass exactly the same cases as the CPU alone.
//!
//! Reads the tests from `$TESSERA_TESTDATA` or `<workspace>/.cache/onnx-testdata` (run
//! `cargo xtask fetch-testdata` first). Fails on any regression (a case that does not pass and
//! is not in the manifest), any unexpected pass (a listed case that passes) and any manifest
//! entry that names no case, printing every one. Run with `--nocapture` to see the per-op
//! table and the summary line on success too.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_cts::{
    default_manifest_path, discover_cases, node_tests_dir, run_suite_with_progress, testdata_root,
    Manifest, RunOptions, RuntimeRunner, SuiteReport,
};

#[test]
fn onnx_node_suite_on_cpu() {
    node_suite(&["cpu"]);
}

#[test]
fn onnx_node_suite_on_vnpu_then_cpu() {
    node_suite(&["vnpu", "cpu"]);
}

fn node_suite(devices: &[&str]) {
    let label = devices.join(",");
    let root = testdata_root();
    let cases = match discover_cases(&node_tests_dir(&root)) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let manifest_path = default_manifest_path();
    let manifest = match Manifest::load(&manifest_path) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let known: BTreeSet<String> = cases.iter().map(|c| c.name.clone()).collect();

    let runner = Arc::new(RuntimeRunner::new(
        devices.iter().map(|d| d.to_string()).collect(),
    ));
    let opts = RunOptions::default();
    let mut last_tenth = 0;
    let results = run_suite_with_progress(runner, &cases, &opts, &mut |_, done, total| {
        let tenth = done * 10 / total.max(1);
        if tenth > last_tenth {
            last_tenth = tenth;
            eprintln!("onnx node suite on {label}: {done}/{total}");
        }
    });
    let report = SuiteReport::new(&label, &results, &manifest, &known);

    println!("{}", report.op_table());
    println!("{}", report.summary_line());
    if !report.verdict.is_ok() {
        panic!(
            "{}\n{}\n(if these changes are intended, run `cargo run -p tessera-cli -- cts \
             --update-manifest` or edit {} by hand)",
            report.verdict.describe(&manifest_path),
            report.summary_line(),
            manifest_path.display()
        );
    }
}
