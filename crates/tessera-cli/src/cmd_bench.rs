//! `tessera bench`: time a model: warm-up runs, then timed runs; latency median and p90,
//! throughput, peak resident memory and, with `--profile`, the time per op type.
//!
//! Latency is the wall time of one [`Session::run`] call (input checks included). Throughput is
//! the batch size divided by the median latency. Peak memory is the process's high-water mark
//! (`VmHWM` in `/proc/self/status`, Linux only), which includes loading the model. The profile
//! comes from separate runs after the timed ones ([`Session::run_profiled`]), so timing nodes
//! does not touch the latencies reported.

use crate::cli_util::{human_bytes, sanitize_file_name, spinner, SessionArgs};
use crate::inputs;
use anyhow::{bail, Context};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tessera_ir::{Dim, Graph, Value};
use tessera_runtime::hal::DeviceUri;
use tessera_runtime::{io, Profile, Session};

/// Benchmark a model: warm-up, timed runs, latency / throughput / memory, optional profile.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// An input, as in `tessera run`: `NAME=file.npy`, `file.npz` or `file.npy`. Repeatable.
    /// Without any, random inputs of the right shapes are generated.
    #[arg(long = "input", value_name = "SPEC")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Kernel threads: every CPU device of --device (and the CPU fallback) becomes
    /// `cpu://threads=N`. Default: the CPU device's default, one thread per core.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Batch size: the value of the symbolic leading dim of the model's inputs (the same as
    /// `--dim NAME=N` for that dim).
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Timed runs.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub runs: usize,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub warmup: usize,
    /// Also time every node (in as many extra runs as --runs) and print the time per op type.
    #[arg(long)]
    pub profile: bool,
    /// Print one JSON object (every latency included) instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Write the outputs of the last timed run to `DIR/<name>.npy`.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Seed for random inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Loads, compiles, runs and reports.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let mut options = args.session.options()?;
    if let Some(n) = args.threads {
        options.devices = with_threads(&options.devices, n, options.no_fallback)?;
    }
    let pb = (!args.json).then(|| spinner(format!("loading {}", args.model.display())));
    let t = Instant::now();
    let model = tessera_onnx::load_model_file(&args.model)
        .with_context(|| format!("loading {}", args.model.display()));
    let load = t.elapsed();
    let model = model?;
    if let Some(batch) = args.batch {
        set_batch(&model.graph, batch, &mut options.dims)?;
    }
    let dims = options.dims.clone();
    if let Some(pb) = &pb {
        pb.set_message(format!("compiling {}", args.model.display()));
    }
    let built = Session::from_model(model, options);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let session = built.with_context(|| format!("preparing {}", args.model.display()))?;

    let given = if args.inputs.is_empty() {
        inputs::random(session.inputs(), &dims, args.seed)?
    } else {
        inputs::load(&args.inputs, session.inputs())?
    };
    let batch = args.batch.or_else(|| {
        given
            .first()
            .and_then(|(_, t)| t.shape().first().copied())
    });
    let values: Vec<(String, Value)> = given
        .into_iter()
        .map(|(n, t)| (n, Value::Tensor(t)))
        .collect();

    let pb = (!args.json).then(|| spinner("running"));
    for _ in 0..args.warmup {
        session.run(values.clone())?;
    }
    let mut times = Vec::with_capacity(args.runs);
    let mut outputs = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        outputs = session.run(values.clone())?;
        times.push(t.elapsed());
    }
    let profile = if args.profile {
        if let Some(pb) = &pb {
            pb.set_message("profiling");
        }
        let mut all = Profile::default();
        for _ in 0..args.runs {
            all.merge(session.run_profiled(values.clone())?.1);
        }
        Some(all)
    } else {
        None
    };
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let written = match &args.output_dir {
        Some(dir) => write_outputs(dir, &outputs)?,
        None => Vec::new(),
    };

    let stats = Stats::new(&times);
    let peak = peak_rss_bytes();
    let devices: Vec<String> = session.devices().into_iter().map(|d| d.uri).collect();
    let threads: Option<usize> = session
        .devices()
        .iter()
        .find(|d| d.driver == "cpu")
        .and_then(|d| d.extra("threads"))
        .and_then(|t| t.parse().ok());
    let timings = session.timings();
    let throughput = batch.unwrap_or(1) as f64 / stats.median.as_secs_f64().max(1e-12);

    if args.json {
        let out = json!({
            "model": args.model.display().to_string(),
            "devices": devices,
            "threads": threads,
            "batch": batch,
            "dims": dims,
            "runs": args.runs,
            "warmup": args.warmup,
            "load_ms": ms_f(load),
            "optimize_ms": ms_f(timings.optimize),
            "compile_ms": ms_f(timings.compile),
            "times_ms": times.iter().map(|d| ms_f(*d)).collect::<Vec<_>>(),
            "median_ms": ms_f(stats.median),
            "p90_ms": ms_f(stats.p90),
            "mean_ms": ms_f(stats.mean),
            "min_ms": ms_f(stats.min),
            "throughput_per_s": throughput,
            "peak_rss_bytes": peak,
            "outputs": written,
            "profile": profile.as_ref().map(profile_json),
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "model       {}{}",
        args.model.display(),
        batch.map_or_else(String::new, |b| format!(" (batch {b})"))
    );
    println!(
        "devices     {}{}",
        devices.join(", "),
        threads.map_or_else(String::new, |t| format!(" ({t} CPU thread{})", if t == 1 { "" } else { "s" }))
    );
    println!(
        "prepare     load {}, optimize {}, compile {}",
        ms_s(load),
        ms_s(timings.optimize),
        ms_s(timings.compile)
    );
    println!("runs        {} timed after {} warm-up", args.runs, args.warmup);
    println!(
        "latency     median {}, p90 {}, mean {}, min {}",
        ms_s(stats.median),
        ms_s(stats.p90),
        ms_s(stats.mean),
        ms_s(stats.min)
    );
    println!(
        "throughput  {throughput:.2} inferences/s (batch {} / median latency)",
        batch.unwrap_or(1)
    );
    println!(
        "peak memory {}",
        peak.map_or_else(
            || "unavailable (no /proc/self/status)".to_string(),
            |b| format!("{} resident (VmHWM)", human_bytes(b))
        )
    );
    for w in &written {
        println!("output      {} -> {}", w["name"], w["file"]);
    }
    if let Some(p) = &profile {
        print!("{}", format_profile(p));
    }
    Ok(())
}

/// `devices` with `threads=n` set on every CPU device; a CPU device with it is appended when
/// none is listed and the CPU may serve as the fallback.
fn with_threads(devices: &[String], n: usize, no_fallback: bool) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(devices.len() + 1);
    let mut has_cpu = false;
    for d in devices {
        let mut uri = DeviceUri::parse(d).with_context(|| format!("--device {d}"))?;
        if uri.driver == "cpu" {
            has_cpu = true;
            uri.options.retain(|(k, _)| k != "threads");
            uri.options.push(("threads".into(), n.to_string()));
        }
        out.push(uri.to_string());
    }
    if !has_cpu && !no_fallback {
        out.push(format!("cpu://threads={n}"));
    }
    Ok(out)
}

/// Sets the symbolic leading dim of every input of `g` to `batch` in `dims`.
fn set_batch(g: &Graph, batch: usize, dims: &mut HashMap<String, usize>) -> anyhow::Result<()> {
    let mut found = false;
    for &id in &g.inputs {
        let leading = g
            .value(id)
            .ty
            .as_ref()
            .and_then(|t| t.as_tensor())
            .and_then(|t| t.shape.as_ref())
            .and_then(|s| s.first());
        if let Some(Dim::Sym(name)) = leading {
            match dims.get(name) {
                Some(&v) if v != batch => {
                    bail!("--batch {batch} contradicts --dim {name}={v}")
                }
                _ => {
                    dims.insert(name.clone(), batch);
                    found = true;
                }
            }
        }
    }
    if !found {
        bail!(
            "--batch: no input of the model has a symbolic leading dim (its batch size is \
             fixed); drop --batch or use --dim"
        );
    }
    Ok(())
}

/// Latency statistics of the timed runs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    median: Duration,
    /// Nearest-rank 90th percentile.
    p90: Duration,
    mean: Duration,
    min: Duration,
}

impl Stats {
    /// Statistics of `times` (not empty).
    fn new(times: &[Duration]) -> Stats {
        let mut sorted = times.to_vec();
        sorted.sort();
        let n = sorted.len().max(1);
        let at = |i: usize| sorted.get(i).copied().unwrap_or_default();
        let median = if n % 2 == 1 {
            at(n / 2)
        } else {
            (at(n / 2 - 1) + at(n / 2)) / 2
        };
        let rank = (n * 90).div_ceil(100).max(1);
        Stats {
            median,
            p90: at(rank - 1),
            mean: sorted.iter().sum::<Duration>() / n as u32,
            min: at(0),
        }
    }
}

/// The process's peak resident set size (`VmHWM`), where `/proc/self/status` exists.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then(|| kib.saturating_mul(1024))
}

/// Writes every tensor output to `dir/<name>.npy`; returns `{name, file}` for each.
fn write_outputs(
    dir: &Path,
    outputs: &[(String, Value)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut used = std::collections::HashSet::new();
    let mut written = Vec::new();
    for (name, value) in outputs {
        let Some(t) = value.as_tensor() else {
            continue;
        };
        let base = sanitize_file_name(name);
        if !used.insert(base.clone()) {
            bail!("outputs '{name}' and another share the file name {base}.npy");
        }
        let path = dir.join(format!("{base}.npy"));
        io::write_npy(&path, t).with_context(|| format!("writing output '{name}'"))?;
        written.push(json!({"name": name, "file": path.display().to_string()}));
    }
    Ok(written)
}

fn ms_f(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ms_s(d: Duration) -> String {
    format!("{:.2} ms", ms_f(d))
}

/// The profile per run as JSON: wall and node time, and each op type's share.
fn profile_json(p: &Profile) -> serde_json::Value {
    let runs = p.runs.max(1) as f64;
    let wall = ms_f(p.wall) / runs;
    let ops: Vec<serde_json::Value> = p
        .by_op()
        .into_iter()
        .map(|o| {
            let per_run = ms_f(o.total) / runs;
            json!({
                "op": o.op,
                "ms_per_run": per_run,
                "percent": if wall > 0.0 { 100.0 * per_run / wall } else { 0.0 },
                "calls_per_run": o.calls as f64 / runs,
            })
        })
        .collect();
    json!({
        "runs": p.runs,
        "wall_ms_per_run": wall,
        "node_ms_per_run": ms_f(p.node_time()) / runs,
        "ops": ops,
    })
}

/// The profile as a table: per op type, time per run, share of the run's wall time and nodes
/// per run, longest first; then the time outside any timed node.
fn format_profile(p: &Profile) -> String {
    let runs = p.runs.max(1) as f64;
    let wall = ms_f(p.wall) / runs;
    let pct = |v: f64| if wall > 0.0 { 100.0 * v / wall } else { 0.0 };
    let mut s = format!(
        "profile     {} runs; per run {wall:.2} ms wall, {:.2} ms in timed nodes\n",
        p.runs,
        ms_f(p.node_time()) / runs
    );
    s += &format!(
        "  {:<24} {:>10} {:>9} {:>10}\n",
        "op type", "ms/run", "% of run", "calls/run"
    );
    for o in p.by_op() {
        let v = ms_f(o.total) / runs;
        s += &format!(
            "  {:<24} {v:>10.3} {:>8.1}% {:>10}\n",
            o.op,
            pct(v),
            fmt_calls(o.calls as f64 / runs)
        );
    }
    let outside = (wall - ms_f(p.node_time()) / runs).max(0.0);
    s += &format!(
        "  {:<24} {outside:>10.3} {:>8.1}%\n",
        "(outside timed nodes)",
        pct(outside)
    );
    s
}

fn fmt_calls(c: f64) -> String {
    if c.fract() == 0.0 {
        format!("{c:.0}")
    } else {
        format!("{c:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::{DType, TensorType, ValueType};
    use tessera_runtime::NodeProfile;

    #[test]
    fn stats() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        let s = Stats::new(&ms(&[5, 1, 3, 2, 4, 10, 6, 7, 9, 8]));
        assert_eq!(s.median, Duration::from_micros(5500));
        assert_eq!(s.p90, Duration::from_millis(9));
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.mean, Duration::from_micros(5500));
        let one = Stats::new(&ms(&[7]));
        assert_eq!((one.median, one.p90, one.min), (ms(&[7])[0], ms(&[7])[0], ms(&[7])[0]));
        assert_eq!(Stats::new(&ms(&[1, 2, 3])).median, Duration::from_millis(2));
    }

    #[test]
    fn vm_hwm() {
        let s = "Name:\ttessera\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(s), Some(2048 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 1 kB"), None);
        assert_eq!(parse_vm_hwm("VmHWM: x kB"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn threads_go_to_every_cpu_device() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_threads(&v(&["cpu"]), 2, false).unwrap(),
            v(&["cpu://threads=2"])
        );
        assert_eq!(
            with_threads(&v(&["vnpu://0", "cpu://threads=8"]), 1, false).unwrap(),
            v(&["vnpu://0", "cpu://threads=1"])
        );
        assert_eq!(
            with_threads(&v(&["vnpu://0"]), 3, false).unwrap(),
            v(&["vnpu://0", "cpu://threads=3"])
        );
        assert_eq!(
            with_threads(&v(&["vnpu://0"]), 3, true).unwrap(),
            v(&["vnpu://0"])
        );
        assert!(with_threads(&v(&["bad uri!"]), 1, false).is_err());
    }

    #[test]
    fn batch_sets_the_symbolic_leading_dim() {
        let mut g = Graph::new("g");
        let ty = |dims: Vec<Dim>| {
            Some(ValueType::Tensor(TensorType {
                dtype: DType::F32,
                shape: Some(dims),
            }))
        };
        let x = g.add_value("x", ty(vec![Dim::Sym("n".into()), Dim::Known(3)]));
        g.inputs.push(x);
        let mut dims = HashMap::new();
        set_batch(&g, 8, &mut dims).unwrap();
        assert_eq!(dims["n"], 8);
        assert!(set_batch(&g, 8, &mut dims).is_ok());
        let e = set_batch(&g, 2, &mut dims).unwrap_err().to_string();
        assert!(e.contains("contradicts --dim n=8"), "{e}");

        let mut fixed = Graph::new("f");
        let y = fixed.add_value("y", ty(vec![Dim::Known(1), Dim::Known(3)]));
        fixed.inputs.push(y);
        assert!(set_batch(&fixed, 8, &mut HashMap::new()).is_err());
    }

    #[test]
    fn profile_table() {
        let node = |op: &str, us: u64| NodeProfile {
            part: "p".into(),
            device: "cpu".into(),
            node: op.to_lowercase(),
            op: op.into(),
            elapsed: Duration::from_micros(us),
        };
        let p = Profile {
            runs: 2,
            wall: Duration::from_millis(20),
            nodes: vec![
                node("Conv", 6000),
                node("Relu", 1000),
                node("Conv", 6000),
                node("Relu", 1000),
                node("Add", 500),
            ],
        };
        let table = format_profile(&p);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("2 runs; per run 10.00 ms wall, 7.25 ms in timed nodes"));
        assert!(lines[2].starts_with("  Conv") && lines[2].contains("6.000"), "{table}");
        assert!(lines[2].contains("60.0%") && lines[2].trim_end().ends_with(" 1"));
        assert!(lines[4].starts_with("  Add") && lines[4].trim_end().ends_with("0.5"));
        assert!(lines[5].contains("(outside timed nodes)") && lines[5].contains("27.5%"));
        let j = profile_json(&p);
        assert_eq!(j["ops"][0]["op"], "Conv");
        assert_eq!(j["ops"][0]["calls_per_run"], 1.0);
    }

    #[test]
    fn outputs_are_written_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let t = tessera_ir::Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
        let outs = vec![("a/b".to_string(), Value::Tensor(t.clone()))];
        let w = write_outputs(dir.path(), &outs).unwrap();
        assert_eq!(w[0]["name"], "a/b");
        assert_eq!(io::read_npy(&dir.path().join("a_b.npy")).unwrap(), t);
        let clash = vec![
            ("a/b".to_string(), Value::Tensor(t.clone())),
            ("a:b".to_string(), Value::Tensor(t)),
        ];
        assert!(write_outputs(dir.path(), &clash).is_err());
    }
}
