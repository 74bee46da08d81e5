//! `cargo xtask bench-compare`: Tessera against ONNX Runtime, side by side, on the benchmark
//! models the project generates itself (`tools/gen_bench_models.py`).
//!
//! For each model × batch size × thread count (1 and every core), several rounds alternate a
//! Tessera process (`tessera bench --json`) and an ONNX Runtime process (`tools/ort_bench.py`),
//! so that drift in the machine's speed hits both. Both read the same input files (written once
//! by the generator), run the same warm-up and timed runs, on the same number of intra-op
//! threads (ONNX Runtime: one inter-op thread, sequential execution). The medians are taken
//! over the timed runs of all rounds together; peak memory is the largest process high-water
//! mark of any round.
//!
//! Outputs agree when, for every output, the largest absolute difference is at most
//! [`REL_TOLERANCE`] times the largest absolute ONNX Runtime value: an f32 tolerance relative to
//! the output's magnitude, loose enough for different summation orders across a deep network and
//! tight enough to catch any wrong kernel. A disagreement fails the task after the table.
//!
//! `--smoke` keeps the harness working in CI: the MLP at batch 1, one thread, one round of one
//! run, with the node profile on, using the debug build of `tessera`.

use crate::python::{spawn_error, PYTHON};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Largest accepted `max |tessera − ort| / max |ort|` per output.
pub const REL_TOLERANCE: f64 = 1e-4;

/// Must equal `FORMAT_VERSION` in `tools/gen_bench_models.py`.
const MODELS_FORMAT_VERSION: u64 = 1;

/// Every benchmark model, in table order.
pub const ALL_MODELS: &[&str] = &["mlp", "mobilenetv2", "resnet50", "bert_base"];

/// The model cache under the workspace root: `.cache/bench-models` (git-ignored).
pub fn default_cache(root: &Path) -> PathBuf {
    root.join(".cache").join("bench-models")
}

/// What to measure and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Models to run (names from [`ALL_MODELS`]).
    pub models: Vec<String>,
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Thread counts; empty means 1 and all cores.
    pub threads: Vec<usize>,
    /// Alternating rounds per configuration.
    pub rounds: usize,
    /// Timed runs per process.
    pub runs: usize,
    /// Untimed runs per process, before the timed ones.
    pub warmup: usize,
    /// Where the models and inputs are cached.
    pub cache: PathBuf,
    /// Use this `tessera` binary instead of building one.
    pub bin: Option<PathBuf>,
    /// Build (and use) the debug binary instead of the release one.
    pub debug: bool,
    /// Ask Tessera for its node profile too (exercises `--profile`).
    pub profile: bool,
}

impl Options {
    /// The CI smoke configuration: the MLP, batch 1, one thread, one round of one run.
    pub fn smoke(cache: PathBuf) -> Options {
        Options {
            models: vec!["mlp".into()],
            batches: vec![1],
            threads: vec![1],
            rounds: 1,
            runs: 1,
            warmup: 0,
            cache,
            bin: None,
            debug: true,
            profile: true,
        }
    }
}

/// One measured configuration, all rounds pooled.
#[derive(Debug)]
struct Row {
    model: String,
    batch: usize,
    threads: usize,
    tessera_ms: Vec<f64>,
    ort_ms: Vec<f64>,
    tessera_peak: u64,
    ort_peak: u64,
    /// Worst relative error over outputs and rounds, or why the outputs could not be compared.
    agreement: Result<f64, String>,
}

/// Runs the comparison and prints the Markdown table; fails when any outputs disagree.
pub fn compare(root: &Path, opts: &Options) -> Result<()> {
    if opts.runs == 0 || opts.rounds == 0 {
        bail!("--runs and --rounds must be at least 1");
    }
    let bin = match &opts.bin {
        Some(b) => b.clone(),
        None => build_tessera(root, opts.debug)?,
    };
    let manifest = ensure_models(root, &opts.cache, &opts.models, &opts.batches)?;
    let threads = if opts.threads.is_empty() {
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        if all > 1 {
            vec![1, all]
        } else {
            vec![1]
        }
    } else {
        opts.threads.clone()
    };
    let out_root = tempfile::tempdir().context("creating a scratch directory")?;
    let mut rows = Vec::new();
    for model in &opts.models {
        let entry = &manifest["models"][model.as_str()];
        let file = opts.cache.join(str_field(entry, "file")?);
        for &batch in &opts.batches {
            let inputs: Vec<(String, PathBuf)> = entry["batches"][batch.to_string()]
                .as_object()
                .with_context(|| format!("manifest: no inputs for {model} batch {batch}"))?
                .iter()
                .map(|(name, f)| {
                    let f = f.as_str().unwrap_or_default();
                    (name.clone(), opts.cache.join(f))
                })
                .collect();
            for &t in &threads {
                let row = measure(
                    &bin,
                    root,
                    opts,
                    &file,
                    model,
                    batch,
                    t,
                    &inputs,
                    out_root.path(),
                )?;
                eprintln!(
                    "    tessera {:.2} ms, onnxruntime {:.2} ms",
                    median(&row.tessera_ms),
                    median(&row.ort_ms)
                );
                rows.push(row);
            }
        }
    }
    println!("{}", table(&rows, opts));
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| !matches!(r.agreement, Ok(e) if e <= REL_TOLERANCE))
        .map(|r| format!("{} batch {} ({} threads)", r.model, r.batch, r.threads))
        .collect();
    if !bad.is_empty() {
        bail!(
            "Tessera's outputs differ from ONNX Runtime's by more than {REL_TOLERANCE:e} \
             (relative): {}",
            bad.join(", ")
        );
    }
    Ok(())
}

/// Alternates Tessera and ONNX Runtime processes for one configuration.
#[allow(clippy::too_many_arguments)]
fn measure(
    bin: &Path,
    root: &Path,
    opts: &Options,
    model_file: &Path,
    model: &str,
    batch: usize,
    threads: usize,
    inputs: &[(String, PathBuf)],
    scratch: &Path,
) -> Result<Row> {
    let out_dir = scratch.join(format!("{model}-b{batch}-t{threads}"));
    let mut row = Row {
        model: model.to_string(),
        batch,
        threads,
        tessera_ms: Vec::new(),
        ort_ms: Vec::new(),
        tessera_peak: 0,
        ort_peak: 0,
        agreement: Ok(0.0),
    };
    let input_args: Vec<String> = inputs
        .iter()
        .map(|(n, p)| format!("{n}={}", p.display()))
        .collect();
    let counts = [
        "--threads".to_string(),
        threads.to_string(),
        "--runs".into(),
        opts.runs.to_string(),
        "--warmup".into(),
        opts.warmup.to_string(),
        "--json".into(),
    ];
    for round in 1..=opts.rounds {
        eprintln!(
            "==> {model} batch {batch}, {threads} thread(s): round {round}/{}",
            opts.rounds
        );
        let mut cmd = Command::new(bin);
        cmd.arg("bench")
            .arg(model_file)
            .args(["--batch", &batch.to_string()])
            .args(&counts)
            .arg("--output-dir")
            .arg(&out_dir);
        for i in &input_args {
            cmd.args(["--input", i]);
        }
        if opts.profile {
            cmd.arg("--profile");
        }
        let t = run_json(&mut cmd, "tessera bench")?;
        row.tessera_ms.extend(f64_list(&t["times_ms"]));
        row.tessera_peak = row
            .tessera_peak
            .max(t["peak_rss_bytes"].as_u64().unwrap_or(0));

        let mut cmd = Command::new(PYTHON);
        cmd.arg(root.join("tools/ort_bench.py"))
            .arg(model_file)
            .args(&counts)
            .arg("--compare")
            .arg(&out_dir);
        for i in &input_args {
            cmd.args(["--input", i]);
        }
        let o = run_json(&mut cmd, "tools/ort_bench.py")?;
        row.ort_ms.extend(f64_list(&o["times_ms"]));
        row.ort_peak = row.ort_peak.max(o["peak_rss_bytes"].as_u64().unwrap_or(0));
        row.agreement = worse(row.agreement, agreement(&o["compare"]));
    }
    Ok(row)
}

/// The worst relative error of an `ort_bench.py` comparison, or why it failed.
fn agreement(compare: &Value) -> Result<f64, String> {
    let items = compare
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| "no outputs compared".to_string())?;
    let mut worst: f64 = 0.0;
    for c in items {
        let name = c["name"].as_str().unwrap_or("?");
        if let Some(e) = c["error"].as_str() {
            return Err(format!("{name}: {e}"));
        }
        let rel = c["rel_err"]
            .as_f64()
            .ok_or_else(|| format!("{name}: no relative error"))?;
        if rel.is_nan() {
            return Err(format!("{name}: NaN"));
        }
        worst = worst.max(rel);
    }
    Ok(worst)
}

fn worse(a: Result<f64, String>, b: Result<f64, String>) -> Result<f64, String> {
    match (a, b) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(x), Ok(y)) => Ok(x.max(y)),
    }
}

/// Runs `cmd` and parses the last line of its stdout as JSON.
fn run_json(cmd: &mut Command, what: &str) -> Result<Value> {
    let out = cmd.output().map_err(|e| spawn_error(e, Path::new(what)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{what} failed ({}):\n{}{}", out.status, stdout, stderr);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{what} printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("{what} printed no JSON: {line}"))
}

fn f64_list(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("manifest entry without '{key}': {v}"))
}

/// Builds `tessera` and returns its path.
fn build_tessera(root: &Path, debug: bool) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "-p", "tessera-cli", "--bin", "tessera"])
        .current_dir(root);
    if !debug {
        cmd.arg("--release");
    }
    eprintln!(
        "==> cargo build{} -p tessera-cli",
        if debug { "" } else { " --release" }
    );
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("building tessera failed ({status})");
    }
    let meta = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !meta.status.success() {
        bail!("cargo metadata failed ({})", meta.status);
    }
    let meta: Value = serde_json::from_slice(&meta.stdout).context("parsing cargo metadata")?;
    let target = meta["target_directory"]
        .as_str()
        .context("cargo metadata gave no target_directory")?;
    let bin = Path::new(target)
        .join(if debug { "debug" } else { "release" })
        .join(format!("tessera{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

/// Reads the cache's manifest, generating the models (or batch sizes) it lacks first.
fn ensure_models(root: &Path, cache: &Path, models: &[String], batches: &[usize]) -> Result<Value> {
    let manifest_path = cache.join("manifest.json");
    let read = || -> Option<Value> {
        let text = std::fs::read_to_string(&manifest_path).ok()?;
        serde_json::from_str(&text).ok()
    };
    let present = |m: &Value, name: &str| {
        let e = &m["models"][name];
        let file_ok = e["file"].as_str().is_some_and(|f| cache.join(f).is_file());
        let batches_ok = batches.iter().all(|b| {
            e["batches"][b.to_string()]
                .as_object()
                .is_some_and(|files| {
                    files
                        .values()
                        .all(|f| f.as_str().is_some_and(|f| cache.join(f).is_file()))
                })
        });
        m["version"].as_u64() == Some(MODELS_FORMAT_VERSION) && file_ok && batches_ok
    };
    let missing: Vec<&String> = match read() {
        Some(m) => models.iter().filter(|n| !present(&m, n)).collect(),
        None => models.iter().collect(),
    };
    if !missing.is_empty() {
        let mut args: Vec<std::ffi::OsString> = vec!["--out".into(), cache.into()];
        for m in &missing {
            args.push("--only".into());
            args.push(m.as_str().into());
        }
        args.push("--batches".into());
        args.push(
            batches
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        );
        eprintln!("==> generating benchmark models into {}", cache.display());
        crate::python::run_script(&root.join("tools/gen_bench_models.py"), &args)?;
    }
    let m = read().with_context(|| format!("reading {}", manifest_path.display()))?;
    if let Some(name) = models.iter().find(|n| !present(&m, n)) {
        bail!(
            "the generator did not produce {name} (see {})",
            manifest_path.display()
        );
    }
    Ok(m)
}

/// Median of `v` (0 when empty).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn mib(b: u64) -> String {
    format!("{:.0}", b as f64 / (1024.0 * 1024.0))
}

/// The Markdown table and the geometric mean of the ratios per thread count.
fn table(rows: &[Row], opts: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| model | batch | threads | Tessera median ms | ORT median ms | Tessera/ORT | \
         Tessera peak MiB | ORT peak MiB | outputs agree |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let mut by_threads: Vec<(usize, Vec<f64>)> = Vec::new();
    for r in rows {
        let (t, o) = (median(&r.tessera_ms), median(&r.ort_ms));
        let ratio = if o > 0.0 { t / o } else { f64::NAN };
        let agree = match &r.agreement {
            Ok(e) if *e <= REL_TOLERANCE => format!("yes ({e:.1e})"),
            Ok(e) => format!("**no** ({e:.1e})"),
            Err(why) => format!("**no** ({why})"),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {t:.2} | {o:.2} | {ratio:.2} | {} | {} | {agree} |",
            r.model,
            r.batch,
            r.threads,
            mib(r.tessera_peak),
            mib(r.ort_peak)
        );
        if ratio.is_finite() && ratio > 0.0 {
            match by_threads.iter_mut().find(|(n, _)| *n == r.threads) {
                Some((_, v)) => v.push(ratio),
                None => by_threads.push((r.threads, vec![ratio])),
            }
        }
    }
    let _ = writeln!(s);
    for (n, ratios) in &by_threads {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let _ = writeln!(
            s,
            "Geometric mean of Tessera/ORT at {n} thread{}: {geo:.2} ({} configurations)",
            if *n == 1 { "" } else { "s" },
            ratios.len()
        );
    }
    let _ = write!(
        s,
        "\n{} alternating round(s) per configuration, each {} warm-up + {} timed runs per \
         runtime; outputs agree when max |Tessera - ORT| <= {REL_TOLERANCE:e} x max |ORT|.",
        opts.rounds, opts.warmup, opts.runs
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn agreement_takes_the_worst_output() {
        let c = json!([{"name": "a", "rel_err": 1e-6}, {"name": "b", "rel_err": 3e-5}]);
        assert_eq!(agreement(&c), Ok(3e-5));
        let e = json!([{"name": "a", "rel_err": 1e-6}, {"name": "b", "error": "shape [1], ONNX Runtime [2]"}]);
        assert_eq!(agreement(&e), Err("b: shape [1], ONNX Runtime [2]".into()));
        assert!(agreement(&json!([])).is_err());
        assert!(agreement(&json!(null)).is_err());
        assert_eq!(worse(Ok(1.0), Ok(2.0)), Ok(2.0));
        assert!(worse(Ok(1.0), Err("x".into())).is_err());
    }

    #[test]
    fn table_has_ratios_and_geometric_means() {
        let row = |threads, t: f64, o: f64, agreement| Row {
            model: "m".into(),
            batch: 1,
            threads,
            tessera_ms: vec![t],
            ort_ms: vec![o],
            tessera_peak: 100 << 20,
            ort_peak: 50 << 20,
            agreement,
        };
        let rows = [
            row(1, 2.0, 1.0, Ok(1e-6)),
            row(1, 8.0, 1.0, Ok(1e-3)),
            row(2, 1.0, 1.0, Err("x: NaN".into())),
        ];
        let t = table(&rows, &Options::smoke(PathBuf::new()));
        assert!(
            t.contains("| m | 1 | 1 | 2.00 | 1.00 | 2.00 | 100 | 50 | yes (1.0e-6) |"),
            "{t}"
        );
        assert!(
            t.contains("| 8.00 | 1.00 | 8.00 | 100 | 50 | **no** (1.0e-3) |"),
            "{t}"
        );
        assert!(t.contains("**no** (x: NaN)"), "{t}");
        assert!(t.contains("at 1 thread: 4.00 (2 configurations)"), "{t}");
        assert!(t.contains("at 2 threads: 1.00 (1 configurations)"), "{t}");
    }
}
