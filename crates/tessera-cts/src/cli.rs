//! The `tessera cts` command in a few calls: options ([`CtsOptions`], which also parses the
//! command's own flags), one run that prints the per-op table, the verdict and the summary
//! ([`run`] / [`run_with`]), and [`run_cli`] for a caller that just forwards its arguments.
//!
//! ```text
//! tessera cts [--device cpu[,dev2…]] [--filter REGEX] [--report report.json]
//!             [--update-manifest] [--jobs N] [--timeout SECS] [--manifest FILE]
//!             [--testdata DIR] [--verbose]
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::discover::{discover_cases, node_tests_dir, testdata_root};
use crate::error::CtsError;
use crate::manifest::{manifest_path_for, one_line, Manifest};
use crate::report::SuiteReport;
use crate::runner::CaseRunner;
use crate::suite::{run_suite_with_progress, CaseResult, RunOptions, DEFAULT_TIMEOUT};

/// Options of a conformance run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtsOptions {
    /// Device preference list (default `["cpu"]`).
    pub devices: Vec<String>,
    /// Only cases whose name matches this regex run.
    pub filter: Option<String>,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Rewrite the manifest from this run instead of failing on its differences.
    pub update_manifest: bool,
    /// Cases run at once (default: available parallelism).
    pub jobs: Option<usize>,
    /// Per-case time limit in seconds (default 60; 0 means none).
    pub timeout_secs: Option<u64>,
    /// The manifest (default: [`manifest_path_for`] the devices).
    pub manifest: Option<PathBuf>,
    /// The test-data root holding `onnx-1.21.0/` (default: [`testdata_root`]).
    pub testdata: Option<PathBuf>,
    /// List every case that did not pass, not only regressions.
    pub verbose: bool,
}

impl Default for CtsOptions {
    fn default() -> Self {
        CtsOptions {
            devices: vec!["cpu".to_string()],
            filter: None,
            report: None,
            update_manifest: false,
            jobs: None,
            timeout_secs: None,
            manifest: None,
            testdata: None,
            verbose: false,
        }
    }
}

/// Usage text of the flags [`CtsOptions::parse_args`] understands.
pub const USAGE: &str = "\
usage: tessera cts [options]
  --device LIST       device preference list, comma-separated or repeated (default: cpu)
  --filter REGEX      run only cases whose name matches
  --report FILE       write a JSON report
  --update-manifest   rewrite the expected-failures manifest from this run
  --jobs N            cases run at once (default: number of cores)
  --timeout SECS      per-case time limit, 0 for none (default: 60)
  --manifest FILE     expected-failures manifest (default: the device's, in tessera-cts)
  --testdata DIR      folder holding onnx-1.21.0/ (default: $TESSERA_TESTDATA or .cache/onnx-testdata)
  --verbose           list every case that did not pass
";

impl CtsOptions {
    /// Parses the command's flags (without the program or subcommand name). `--flag value`
    /// and `--flag=value` are both accepted.
    pub fn parse_args<I, S>(args: I) -> Result<CtsOptions, CtsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = CtsOptions::default();
        let mut devices: Vec<String> = Vec::new();
        let mut it = args.into_iter().map(|s| s.as_ref().to_string());
        let usage = |m: String| CtsError::Usage(format!("{m}\n{USAGE}"));
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let value = |it: &mut dyn Iterator<Item = String>| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| usage(format!("{flag} needs a value")))
            };
            let number = |v: String, flag: &str| {
                v.parse::<u64>()
                    .map_err(|_| usage(format!("{flag} needs a whole number, got '{v}'")))
            };
            match flag.as_str() {
                "--device" | "--devices" => devices.extend(
                    value(&mut it)?
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(String::from),
                ),
                "--filter" => o.filter = Some(value(&mut it)?),
                "--report" => o.report = Some(value(&mut it)?.into()),
                "--manifest" => o.manifest = Some(value(&mut it)?.into()),
                "--testdata" => o.testdata = Some(value(&mut it)?.into()),
                "--jobs" | "-j" => {
                    let n = number(value(&mut it)?, &flag)?;
                    o.jobs = Some(usize::try_from(n).unwrap_or(usize::MAX).max(1));
                }
                "--timeout" => o.timeout_secs = Some(number(value(&mut it)?, &flag)?),
                "--update-manifest" if inline.is_none() => o.update_manifest = true,
                "--verbose" | "-v" if inline.is_none() => o.verbose = true,
                "--help" | "-h" => return Err(CtsError::Usage(USAGE.to_string())),
                _ => return Err(usage(format!("unknown argument '{arg}'"))),
            }
        }
        if !devices.is_empty() {
            o.devices = devices;
        }
        Ok(o)
    }

    /// The manifest this run uses.
    pub fn manifest_path(&self) -> PathBuf {
        self.manifest
            .clone()
            .unwrap_or_else(|| manifest_path_for(&self.devices))
    }

    /// The suite's run options from these options.
    pub fn run_options(&self) -> Result<RunOptions, CtsError> {
        let mut r = RunOptions::default();
        if let Some(f) = &self.filter {
            r.filter = Some(Regex::new(f)?);
        }
        if let Some(j) = self.jobs {
            r.jobs = j.max(1);
        }
        r.timeout = match self.timeout_secs {
            None => Some(DEFAULT_TIMEOUT),
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
        };
        Ok(r)
    }
}

/// The result of [`run`] / [`run_with`].
#[derive(Clone, Debug)]
pub struct CtsRun {
    /// The report (judged against the manifest as it was before any update).
    pub report: SuiteReport,
    /// The manifest used.
    pub manifest_path: PathBuf,
    /// Whether the manifest was rewritten (`--update-manifest`).
    pub manifest_updated: bool,
}

impl CtsRun {
    /// True when the run should exit successfully: the verdict is clean, or the manifest was
    /// just brought up to date.
    pub fn passed(&self) -> bool {
        self.manifest_updated || self.report.verdict.is_ok()
    }
}

/// Runs the suite on the Tessera runtime with the devices of `opts`, printing to `out`.
#[cfg(feature = "runtime")]
pub fn run(opts: &CtsOptions, out: &mut dyn Write) -> Result<CtsRun, CtsError> {
    let runner = Arc::new(crate::RuntimeRunner::new(opts.devices.clone()));
    run_with(opts, runner, out, &mut |_, _, _| {})
}

/// Runs the suite with any runner: discovers the cases, runs them (calling `progress(result,
/// done, total)` as each finishes), judges them against the manifest, optionally rewrites
/// it and writes the JSON report, and prints the per-op table, the non-passing cases
/// (regressions only unless `verbose`), the verdict and a summary line to `out`.
pub fn run_with(
    opts: &CtsOptions,
    runner: Arc<dyn CaseRunner>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(&CaseResult, usize, usize),
) -> Result<CtsRun, CtsError> {
    let io = |e: std::io::Error| CtsError::Io {
        path: PathBuf::from("<output>"),
        message: e.to_string(),
    };
    let root = opts.testdata.clone().unwrap_or_else(testdata_root);
    let cases = discover_cases(&node_tests_dir(&root))?;
    let known: BTreeSet<String> = cases.iter().map(|c| c.name.clone()).collect();
    let manifest_path = opts.manifest_path();
    let manifest = Manifest::load(&manifest_path)?;
    let run_opts = opts.run_options()?;

    let results = run_suite_with_progress(Arc::clone(&runner), &cases, &run_opts, progress);
    let report = SuiteReport::new(&runner.device(), &results, &manifest, &known);

    write!(out, "{}", report.op_table()).map_err(io)?;
    if opts.verbose {
        writeln!(out, "\ncases that did not pass:").map_err(io)?;
        for c in report.cases.iter().filter(|c| c.outcome != "pass") {
            let reason = one_line(c.reason.as_deref().unwrap_or(""));
            writeln!(out, "  {}  [{}] {}", c.name, c.outcome, reason).map_err(io)?;
        }
    }
    let mut manifest_updated = false;
    if opts.update_manifest {
        let fresh = manifest.regenerate(&results, &known);
        let added = fresh
            .entries
            .keys()
            .filter(|k| !manifest.entries.contains_key(*k))
            .count();
        let removed = manifest
            .entries
            .keys()
            .filter(|k| !fresh.entries.contains_key(*k))
            .count();
        fresh.save(&manifest_path)?;
        manifest_updated = true;
        writeln!(
            out,
            "\nmanifest {} updated: {} entries (+{added}, -{removed})",
            manifest_path.display(),
            fresh.entries.len()
        )
        .map_err(io)?;
    } else if !report.verdict.is_ok() {
        write!(out, "\n{}", report.verdict.describe(&manifest_path)).map_err(io)?;
    }
    if let Some(path) = &opts.report {
        report.write_json(path)?;
        writeln!(out, "report written to {}", path.display()).map_err(io)?;
    }
    writeln!(out, "\n{}", report.summary_line()).map_err(io)?;
    Ok(CtsRun {
        report,
        manifest_path,
        manifest_updated,
    })
}

/// Parses `args` (the flags after `cts`), runs the suite on the Tessera runtime and prints
/// to stdout (errors to stderr). Returns the process exit code: 0 when the verdict is clean
/// (or the manifest was updated), 1 when it is not, 2 when the suite could not run.
#[cfg(feature = "runtime")]
pub fn run_cli<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let result = CtsOptions::parse_args(args).and_then(|o| run(&o, &mut std::io::stdout()));
    match result {
        Ok(r) if r.passed() => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("tessera cts: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let o = CtsOptions::parse_args([
            "--device",
            "vnpu,cpu",
            "--filter=^test_add",
            "--report",
            "r.json",
            "--update-manifest",
            "-j",
            "3",
            "--timeout",
            "0",
            "--verbose",
        ])
        .expect("valid");
        assert_eq!(o.devices, vec!["vnpu".to_string(), "cpu".to_string()]);
        assert_eq!(o.filter.as_deref(), Some("^test_add"));
        assert_eq!(o.report, Some(PathBuf::from("r.json")));
        assert!(o.update_manifest && o.verbose);
        assert_eq!(o.jobs, Some(3));
        let r = o.run_options().expect("valid");
        assert_eq!((r.jobs, r.timeout), (3, None));
        assert!(r.filter.is_some());
        // No vnpu-specific manifest exists: a vnpu,cpu list shares the CPU one.
        assert!(o.manifest_path().ends_with("expected-failures.txt"));

        let d = CtsOptions::parse_args(Vec::<String>::new()).expect("empty is fine");
        assert_eq!(d, CtsOptions::default());
        assert_eq!(d.run_options().expect("ok").timeout, Some(DEFAULT_TIMEOUT));
        let d = CtsOptions::parse_args(["--device", "cpu", "--device", "gpu"]).expect("ok");
        assert_eq!(d.devices, vec!["cpu".to_string(), "gpu".to_string()]);
    }

    /// Passes every case except those with `bad` in the name, which are unsupported.
    struct Fake;

    struct Loaded;

    impl CaseRunner for Fake {
        fn device(&self) -> String {
            "fake".into()
        }
        fn prepare(
            &self,
            model: &std::path::Path,
        ) -> Result<Box<dyn crate::PreparedCase>, crate::BoxError> {
            if model.to_string_lossy().contains("bad") {
                return Err("op Foo is not supported".into());
            }
            Ok(Box::new(Loaded))
        }
    }

    impl crate::PreparedCase for Loaded {
        fn inputs(&self) -> &[crate::IoSpec] {
            &[]
        }
        fn outputs(&self) -> &[crate::IoSpec] {
            &[]
        }
        fn run(
            &self,
            _: Vec<(String, tessera_ir::Value)>,
        ) -> Result<Vec<(String, tessera_ir::Value)>, crate::BoxError> {
            Ok(vec![])
        }
    }

    #[test]
    fn end_to_end_with_manifest_update() {
        let root = std::env::temp_dir().join(format!("tessera-cts-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let node = node_tests_dir(&root);
        for case in ["test_good", "test_bad", "test_other"] {
            std::fs::create_dir_all(node.join(case).join("test_data_set_0")).expect("mkdir");
            std::fs::write(node.join(case).join("model.onnx"), b"").expect("write");
        }
        let manifest = root.join("expected-failures.txt");
        std::fs::write(&manifest, "# mine\ntest_good # used to fail\n").expect("write");
        let mut opts = CtsOptions {
            testdata: Some(root.clone()),
            manifest: Some(manifest.clone()),
            report: Some(root.join("report.json")),
            filter: Some("good|bad".into()),
            ..CtsOptions::default()
        };

        let mut out = Vec::new();
        let mut calls = 0;
        let run =
            run_with(&opts, Arc::new(Fake), &mut out, &mut |_, _, _| calls += 1).expect("runs");
        let text = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(calls, 2);
        assert!(!run.passed());
        assert_eq!(run.report.counts.total, 2);
        assert!(text.contains("1 regression(s)"), "{text}");
        assert!(
            text.contains("test_bad  [unsupported] load: op Foo is not supported"),
            "{text}"
        );
        assert!(text.contains("1 unexpected pass(es)"), "{text}");
        assert!(text.contains("verdict FAILED"), "{text}");
        let json = std::fs::read_to_string(root.join("report.json")).expect("report written");
        assert!(json.contains("\"regression\""), "{json}");

        opts.update_manifest = true;
        let mut out = Vec::new();
        let run = run_with(&opts, Arc::new(Fake), &mut out, &mut |_, _, _| {}).expect("runs");
        assert!(run.passed() && run.manifest_updated);
        let written = std::fs::read_to_string(&manifest).expect("manifest");
        assert_eq!(
            written,
            "# mine\ntest_bad  # unsupported: load: op Foo is not supported\n"
        );

        opts.update_manifest = false;
        opts.filter = None;
        let mut out = Vec::new();
        let run = run_with(&opts, Arc::new(Fake), &mut out, &mut |_, _, _| {}).expect("runs");
        assert!(
            run.report.verdict.is_ok(),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(run.report.counts.total, 3);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            vec!["--jobs"],
            vec!["--jobs", "x"],
            vec!["--frobnicate"],
            vec!["--verbose=yes"],
        ] {
            let e = CtsOptions::parse_args(bad.clone()).unwrap_err();
            assert!(matches!(e, CtsError::Usage(_)), "{bad:?}: {e}");
        }
        let o = CtsOptions::parse_args(["--filter", "("]).expect("parses");
        assert!(matches!(o.run_options(), Err(CtsError::Filter(_))));
    }
}
