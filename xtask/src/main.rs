//! Tessera developer tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! Tasks:
//!
//! - `fetch-testdata`: download the `onnx==1.21.0` wheel with pip and unpack its ONNX backend node
//!   tests (`onnx/backend/test/data/node/`) into the test-data cache, which the conformance suite
//!   (`tessera-cts`) reads.
//! - `ort-sweep`: run every cached node test through ONNX Runtime's CPU provider
//!   (`tools/ort_sweep.py`), giving the reference pass count Tessera is measured against.
//! - `test`: the project's test command: Python deps, test data, fmt, clippy, all tests.
//! - `gen-op-docs`: regenerate `docs/ops.md` from the op definitions' doc comments.
//! - `regen-proto`: regenerate the committed prost code of `tessera-onnx` (feature `regen-proto`).
//! - `gen-models`: regenerate the project's own test models and their ONNX Runtime reference
//!   outputs (`tools/gen_models.py`).
//! - `bench-compare`: time Tessera and ONNX Runtime side by side on the benchmark models
//!   (`tools/gen_bench_models.py`, `tools/ort_bench.py`) and print a Markdown table.
//!
//! The cache directory is, in order of precedence: `--cache DIR`, the `TESSERA_TESTDATA`
//! environment variable, then `.cache/onnx-testdata` under the workspace root.

mod bench;
mod proto;
mod python;
mod test;
mod testdata;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Environment variable that overrides the default test-data cache directory.
const TESTDATA_ENV: &str = "TESSERA_TESTDATA";

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Tessera developer tasks", version)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Download the ONNX backend node tests (onnx 1.21.0) into the test-data cache.
    FetchTestdata {
        /// Cache directory (default: $TESSERA_TESTDATA, else .cache/onnx-testdata in the workspace).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Download and unpack again even when the cache already holds the tests.
        #[arg(long)]
        force: bool,
    },
    /// Run every cached node test through ONNX Runtime (CPU) and print the pass count.
    OrtSweep {
        /// Cache directory (default: $TESSERA_TESTDATA, else .cache/onnx-testdata in the workspace).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Write a JSON report {case: "pass" | "fail: reason"} to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Print one line per case.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Generate the project's test models, sample inputs and ONNX Runtime reference outputs.
    GenModels {
        /// Output directory (default: models/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Generate only the named model (repeatable), e.g. `--only tiny_cnn`.
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Write model.onnx, input.npy, input.npz, ort.npz (one `--only` model; example layout).
        #[arg(long)]
        plain_names: bool,
    },
    /// Regenerate tessera-onnx's committed protobuf code (needs `--features regen-proto`).
    RegenProto,
    /// Regenerate docs/ops.md from the op definitions' doc comments.
    GenOpDocs,
    /// Time Tessera against ONNX Runtime on the benchmark models; print a Markdown table.
    BenchCompare {
        /// Models to run, comma-separated (default: all): mlp, mobilenetv2, resnet50, bert_base.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        models: Vec<String>,
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8", value_name = "N,M")]
        batches: Vec<usize>,
        /// Thread counts, comma-separated (default: 1 and all cores).
        #[arg(long, value_delimiter = ',', value_name = "N,M")]
        threads: Vec<usize>,
        /// Alternating Tessera / ONNX Runtime rounds per configuration.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Timed runs per process.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Untimed runs per process before the timed ones.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Model cache (default: .cache/bench-models in the workspace).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Use this `tessera` binary instead of building the release one.
        #[arg(long, value_name = "PATH")]
        bin: Option<PathBuf>,
        /// Build and use the debug binary (quick to build, slow to run).
        #[arg(long)]
        debug: bool,
        /// Also collect Tessera's node profile in every run (slower; exercises --profile).
        #[arg(long)]
        profile: bool,
        /// CI smoke mode: the MLP, batch 1, one thread, one run, debug binary; the other
        /// options except --cache and --bin are ignored.
        #[arg(long)]
        smoke: bool,
    },
    /// Run every check: Python deps, test data, fmt, clippy, the whole test suite.
    Test {
        /// Cache directory for the ONNX node tests.
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Skip clippy.
        #[arg(long)]
        fast: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen task.
fn run(cli: Cli) -> Result<()> {
    let root = workspace_root();
    match cli.task {
        Task::FetchTestdata { cache, force } => {
            let cache = resolve_cache(cache, &root);
            testdata::fetch(&cache, force)
        }
        Task::OrtSweep {
            cache,
            report,
            verbose,
        } => {
            let cache = resolve_cache(cache, &root);
            let mut args = vec!["--cache".into(), cache.into_os_string()];
            if let Some(report) = report {
                args.push("--report".into());
                args.push(report.into_os_string());
            }
            if verbose {
                args.push("--verbose".into());
            }
            python::run_script(&root.join("tools").join("ort_sweep.py"), &args)
        }
        Task::GenModels {
            out,
            only,
            plain_names,
        } => {
            let out = out.unwrap_or_else(|| root.join("models"));
            let mut args = vec!["--out".into(), out.into_os_string()];
            for name in only {
                args.push("--only".into());
                args.push(name.into());
            }
            if plain_names {
                args.push("--plain-names".into());
            }
            python::run_script(&root.join("tools").join("gen_models.py"), &args)
        }
        Task::BenchCompare {
            models,
            batches,
            threads,
            rounds,
            runs,
            warmup,
            cache,
            bin,
            debug,
            profile,
            smoke,
        } => {
            let cache = cache.unwrap_or_else(|| bench::default_cache(&root));
            let mut opts = if smoke {
                bench::Options::smoke(cache)
            } else {
                bench::Options {
                    models: if models.is_empty() {
                        bench::ALL_MODELS.iter().map(|m| m.to_string()).collect()
                    } else {
                        models
                    },
                    batches,
                    threads,
                    rounds,
                    runs,
                    warmup,
                    cache,
                    bin: None,
                    debug,
                    profile,
                }
            };
            opts.bin = bin;
            bench::compare(&root, &opts)
        }
        Task::RegenProto => proto::regen(&root),
        Task::Test { cache, fast } => {
            let cache = resolve_cache(cache, &root);
            test::run(&root, &cache, fast)
        }
        Task::GenOpDocs => {
            let status = std::process::Command::new(
                std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            )
            .args(["test", "-q", "-p", "tessera-ir", "--test", "ops_doc"])
            .env("TESSERA_BLESS", "1")
            .current_dir(&root)
            .status()?;
            anyhow::ensure!(status.success(), "regenerating docs/ops.md failed");
            println!("wrote {}", root.join("docs/ops.md").display());
            Ok(())
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// Picks the test-data cache: explicit flag, then `$TESSERA_TESTDATA`, then the workspace default.
fn resolve_cache(flag: Option<PathBuf>, root: &Path) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(TESTDATA_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| root.join(".cache").join("onnx-testdata"))
}
