//! The ONNX node tests of every op that `tessera_passes::decompose` has a rule for, run on
//! the CPU twice: as a normal session does (the CPU claims every composite, so fused), and
//! with every composite decomposed into primitives (`DecomposePolicy::All`). The decomposed
//! run must pass exactly the cases the fused run passes, and must really have decomposed
//! every case that loads, so the rules are measured against ONNX's reference outputs rather
//! than against the fused kernels.
//!
//! Reads the tests from `$TESSERA_TESTDATA` or `<workspace>/.cache/onnx-testdata` (run
//! `cargo xtask fetch-testdata` first); without them the test prints why and passes.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_cts::{
    discover_cases, node_tests_dir, run_suite, testdata_root, Case, CtsError, Outcome, RunOptions,
    RuntimeRunner,
};
use tessera_runtime::{DecomposePolicy, Session, SessionOptions};

/// The ONNX operators whose canonical ops have a decomposition rule.
const DECOMPOSED_OPS: [&str; 8] = [
    "Gemm",
    "BatchNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "LpNormalization",
    "Gelu",
];

fn passing(results: &[tessera_cts::CaseResult]) -> BTreeSet<String> {
    results
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .map(|r| r.name.clone())
        .collect()
}

#[test]
fn decomposed_ops_pass_the_node_tests_they_pass_fused() {
    let dir = node_tests_dir(&testdata_root());
    let cases = match discover_cases(&dir) {
        Ok(c) => c,
        Err(e @ CtsError::NoTestData { .. }) => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    // The plain cases hold the composite op itself; the `_expanded` ones are already
    // primitives.
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| DECOMPOSED_OPS.contains(&c.op.as_str()) && !c.name.contains("_expanded"))
        .collect();
    assert!(cases.len() >= 50, "only {} cases found", cases.len());

    let fused_runner = RuntimeRunner::new(vec!["cpu".into()]);
    let mut all_runner = fused_runner.clone();
    all_runner.decompose = DecomposePolicy::All;
    let opts = RunOptions::default();
    let fused = run_suite(Arc::new(fused_runner), &cases, &opts);
    let decomposed = run_suite(Arc::new(all_runner), &cases, &opts);

    let (want, got) = (passing(&fused), passing(&decomposed));
    let lost: Vec<String> = decomposed
        .iter()
        .filter(|r| want.contains(&r.name) && r.outcome != Outcome::Pass)
        .map(|r| format!("{}: {:?}", r.name, r.outcome))
        .collect();
    let gained: Vec<&String> = got.difference(&want).collect();
    println!(
        "{} cases: {} pass fused, {} pass decomposed",
        cases.len(),
        want.len(),
        got.len()
    );
    assert!(
        lost.is_empty() && gained.is_empty(),
        "decomposed runs differ from fused ones\nfail only decomposed:\n  {}\npass only \
         decomposed: {gained:?}",
        lost.join("\n  ")
    );

    // Every case that loads was decomposed, node by node.
    let mut not_decomposed = Vec::new();
    let mut decomposed_cases = 0;
    for c in &cases {
        let opts = SessionOptions::default()
            .with_no_fallback(true)
            .with_decompose(DecomposePolicy::All);
        let Ok(s) = Session::from_file(c.dir.join("model.onnx"), opts) else {
            continue;
        };
        let p = s.placement();
        let composite_left = s.graph().nodes.iter().any(|n| n.op.is_composite());
        if p.decomposed.is_empty() || composite_left {
            let why: Vec<&str> = p
                .unused_decompositions
                .iter()
                .map(|u| u.reason.as_str())
                .collect();
            not_decomposed.push(format!("{}: {why:?}", c.name));
        } else {
            decomposed_cases += 1;
        }
    }
    println!("{decomposed_cases} cases decomposed");
    assert!(
        not_decomposed.is_empty(),
        "not decomposed:\n  {}",
        not_decomposed.join("\n  ")
    );
}
