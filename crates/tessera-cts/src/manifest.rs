//! The expected-failures manifest and the suite verdict.
//!
//! The manifest is a text file with one line per case that is known not to pass:
//!
//! ```text
//! # Comments start with '#'; blank lines are ignored.
//! test_string_concat   # string tensors are not supported
//! test_dft             # unsupported: DFT
//! ```
//!
//! Every entry needs a reason after the `#`. A case of the suite that does not pass and is
//! not listed is a *regression*; a listed case that passes is an *unexpected pass* (remove it
//! from the manifest); a listed name that is not a case of the suite is an *unknown entry*.
//! Any of the three fails the suite. [`Manifest::regenerate`] rewrites the manifest from a run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::CtsError;
use crate::suite::{CaseResult, Outcome};

/// Longest reason [`Manifest::regenerate`] writes for a new entry, in characters.
pub const MAX_NEW_REASON: usize = 120;

/// The column [`Manifest::render`] aligns reasons to, at most.
pub const ALIGN_LIMIT: usize = 48;

/// The parsed expected-failures manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Comment and blank lines before the first entry, kept verbatim when rewriting.
    pub header: Vec<String>,
    /// Case name → reason.
    pub entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses manifest text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, CtsError> {
        let mut m = Manifest::default();
        let err = |line: usize, message: String| CtsError::Manifest {
            path: path.to_path_buf(),
            line,
            message,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                if m.entries.is_empty() {
                    m.header.push(raw.trim_end().to_string());
                }
                continue;
            }
            let (name, reason) = match line.split_once('#') {
                Some((n, r)) => (n.trim(), r.trim()),
                None => (line, ""),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(
                    i + 1,
                    format!("expected `test_name  # reason`, found {line:?}"),
                ));
            }
            if reason.is_empty() {
                return Err(err(
                    i + 1,
                    format!("entry '{name}' has no reason after '#'"),
                ));
            }
            if m.entries
                .insert(name.to_string(), reason.to_string())
                .is_some()
            {
                return Err(err(i + 1, format!("'{name}' is listed twice")));
            }
        }
        Ok(m)
    }

    /// Reads and parses the manifest at `path`; a missing file is an empty manifest.
    pub fn load(path: &Path) -> Result<Manifest, CtsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Manifest::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(CtsError::io(path, e)),
        }
    }

    /// Writes the manifest to `path`.
    pub fn save(&self, path: &Path) -> Result<(), CtsError> {
        std::fs::write(path, self.render()).map_err(|e| CtsError::io(path, e))
    }

    /// The reason recorded for `case`, if listed.
    pub fn reason(&self, case: &str) -> Option<&str> {
        self.entries.get(case).map(String::as_str)
    }

    /// The manifest as text: the header, then one `name  # reason` line per entry, sorted,
    /// with the reasons aligned (names longer than [`ALIGN_LIMIT`] characters push theirs
    /// right).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            out.push_str(h);
            out.push('\n');
        }
        let width = self
            .entries
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(0)
            .min(ALIGN_LIMIT);
        for (name, reason) in &self.entries {
            out.push_str(&format!("{name:width$}  # {reason}\n"));
        }
        out
    }

    /// Judges a run: `results` are the cases that ran, `known` every case name of the suite
    /// (including those a filter left out).
    pub fn verdict(&self, results: &[CaseResult], known: &BTreeSet<String>) -> Verdict {
        let mut v = Verdict::default();
        for r in results {
            match (r.outcome.is_pass(), self.reason(&r.name)) {
                (false, None) => v.regressions.push(Regression {
                    name: r.name.clone(),
                    outcome: r.outcome.label().to_string(),
                    reason: r.outcome.reason(),
                }),
                (true, Some(reason)) => v.unexpected_passes.push(UnexpectedPass {
                    name: r.name.clone(),
                    manifest_reason: reason.to_string(),
                }),
                _ => {}
            }
        }
        v.unknown_entries = self
            .entries
            .keys()
            .filter(|n| !known.contains(*n))
            .cloned()
            .collect();
        v
    }

    /// The manifest after a run: passing cases are removed, failing ones are listed (keeping
    /// an existing reason; a new one gets its outcome and message on one line, cut to
    /// [`MAX_NEW_REASON`] characters), entries of cases that did not run are kept and
    /// entries naming no case of the suite are dropped. The header is kept; comment lines
    /// between entries are not.
    pub fn regenerate(&self, results: &[CaseResult], known: &BTreeSet<String>) -> Manifest {
        let mut entries: BTreeMap<String, String> = self
            .entries
            .iter()
            .filter(|(n, _)| known.contains(*n))
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        for r in results {
            if r.outcome.is_pass() {
                entries.remove(&r.name);
            } else if !entries.contains_key(&r.name) {
                entries.insert(r.name.clone(), new_reason(&r.outcome));
            }
        }
        let header = if self.header.is_empty() {
            DEFAULT_HEADER.lines().map(str::to_string).collect()
        } else {
            self.header.clone()
        };
        Manifest { header, entries }
    }
}

/// The header of a manifest written from scratch.
const DEFAULT_HEADER: &str = "\
# Expected failures of the ONNX node test suite: one `test_name  # reason` per line.
# A failing case missing here, or a passing case listed here, fails the suite.
# Regenerate with `tessera cts --update-manifest` (existing reasons are kept).
";

/// A one-line reason for a new manifest entry.
fn new_reason(outcome: &Outcome) -> String {
    let text = match outcome.reason() {
        Some(r) => format!("{}: {r}", outcome.label()),
        None => outcome.label().to_string(),
    };
    let line = one_line(&text);
    if line.chars().count() <= MAX_NEW_REASON {
        line
    } else {
        let cut: String = line.chars().take(MAX_NEW_REASON - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// `text` with every run of whitespace (newlines included) replaced by one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The judgement of a run against the manifest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// Cases that did not pass and are not in the manifest.
    pub regressions: Vec<Regression>,
    /// Cases in the manifest that passed.
    pub unexpected_passes: Vec<UnexpectedPass>,
    /// Manifest entries that name no case of the suite.
    pub unknown_entries: Vec<String>,
}

/// A case that did not pass and is not in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regression {
    /// Case name.
    pub name: String,
    /// Outcome label (`fail`, `unsupported`, `error`, `panic`, `timeout`).
    pub outcome: String,
    /// The outcome's message.
    pub reason: Option<String>,
}

/// A case in the manifest that passed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnexpectedPass {
    /// Case name.
    pub name: String,
    /// The reason the manifest gives.
    pub manifest_reason: String,
}

impl Verdict {
    /// True when there are no regressions, unexpected passes or unknown entries.
    pub fn is_ok(&self) -> bool {
        self.regressions.is_empty()
            && self.unexpected_passes.is_empty()
            && self.unknown_entries.is_empty()
    }

    /// Every problem, one per line (empty when [`Verdict::is_ok`]).
    pub fn describe(&self, manifest_path: &Path) -> String {
        let mut out = String::new();
        if !self.regressions.is_empty() {
            out.push_str(&format!(
                "{} regression(s): failing cases not in {}:\n",
                self.regressions.len(),
                manifest_path.display()
            ));
            for r in &self.regressions {
                let reason = one_line(r.reason.as_deref().unwrap_or(""));
                out.push_str(&format!("  {}  [{}] {}\n", r.name, r.outcome, reason));
            }
        }
        if !self.unexpected_passes.is_empty() {
            out.push_str(&format!(
                "{} unexpected pass(es): remove them from {}:\n",
                self.unexpected_passes.len(),
                manifest_path.display()
            ));
            for p in &self.unexpected_passes {
                out.push_str(&format!(
                    "  {}  (listed as: {})\n",
                    p.name, p.manifest_reason
                ));
            }
        }
        if !self.unknown_entries.is_empty() {
            out.push_str(&format!(
                "{} manifest entr(ies) name no case of the suite; remove them from {}:\n",
                self.unknown_entries.len(),
                manifest_path.display()
            ));
            for n in &self.unknown_entries {
                out.push_str(&format!("  {n}\n"));
            }
        }
        out
    }
}

/// The manifest of the CPU device, in this crate's folder.
pub fn default_manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("expected-failures.txt")
}

/// The manifest for a device preference list: `expected-failures-<device>.txt` (the first
/// device's driver name, before any `://`) when that file exists, `expected-failures.txt`
/// (the CPU's) otherwise.
///
/// A list that falls back to the CPU (`vnpu,cpu`) must pass exactly the cases the CPU alone
/// passes — partitioning and transfers may not change a result — so it shares the CPU's
/// manifest unless a device-specific one is added on purpose.
pub fn manifest_path_for(devices: &[String]) -> PathBuf {
    let first = devices.first().map(String::as_str).unwrap_or("cpu");
    let name = first.split("://").next().unwrap_or(first);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let specific =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("expected-failures-{name}.txt"));
    if name == "cpu" || name.is_empty() || !specific.is_file() {
        default_manifest_path()
    } else {
        specific
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Manifest, CtsError> {
        Manifest::parse(text, Path::new("m.txt"))
    }

    fn result(name: &str, outcome: Outcome) -> CaseResult {
        CaseResult {
            name: name.into(),
            op: "Op".into(),
            outcome,
            duration: Duration::ZERO,
        }
    }

    fn known(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_entries_comments_and_blanks() {
        let m = parse("# header\n\ntest_a  # why a\n  # inner comment\ntest_b#why b # more\n\n")
            .expect("valid");
        assert_eq!(m.header, vec!["# header".to_string(), String::new()]);
        assert_eq!(m.reason("test_a"), Some("why a"));
        assert_eq!(m.reason("test_b"), Some("why b # more"));
        assert_eq!(m.entries.len(), 2);
    }

    #[test]
    fn rejects_missing_reason_bad_names_and_duplicates() {
        let e = parse("test_a\n").unwrap_err().to_string();
        assert!(e.contains("m.txt:1") && e.contains("no reason"), "{e}");
        let e = parse("test_a   #   \n").unwrap_err().to_string();
        assert!(e.contains("no reason"), "{e}");
        let e = parse("# c\ntest a # x\n").unwrap_err().to_string();
        assert!(e.contains("m.txt:2"), "{e}");
        let e = parse("test_a # x\ntest_a # y\n").unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn verdict_finds_regressions_unexpected_passes_and_unknown_names() {
        let m = parse("test_listed_fail # known\ntest_listed_pass # was broken\ntest_gone # x\n")
            .expect("valid");
        let results = vec![
            result("test_ok", Outcome::Pass),
            result("test_listed_fail", Outcome::Fail("bad".into())),
            result("test_listed_pass", Outcome::Pass),
            result("test_new_fail", Outcome::Unsupported("no Foo".into())),
            result("test_new_panic", Outcome::Panic("boom".into())),
        ];
        let all = known(&[
            "test_ok",
            "test_listed_fail",
            "test_listed_pass",
            "test_new_fail",
            "test_new_panic",
            "test_filtered_out",
        ]);
        let v = m.verdict(&results, &all);
        assert!(!v.is_ok());
        let names: Vec<_> = v.regressions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["test_new_fail", "test_new_panic"]);
        assert_eq!(v.regressions[0].outcome, "unsupported");
        assert_eq!(v.unexpected_passes.len(), 1);
        assert_eq!(v.unexpected_passes[0].name, "test_listed_pass");
        assert_eq!(v.unknown_entries, vec!["test_gone".to_string()]);
        let text = v.describe(Path::new("m.txt"));
        assert!(text.contains("remove them from m.txt"), "{text}");
        assert!(text.contains("test_new_panic  [panic] boom"), "{text}");
    }

    #[test]
    fn clean_run_is_ok() {
        let m = parse("test_b # known\n").expect("valid");
        let results = vec![
            result("test_a", Outcome::Pass),
            result("test_b", Outcome::Timeout(Duration::from_secs(60))),
        ];
        let v = m.verdict(&results, &known(&["test_a", "test_b", "test_c"]));
        assert!(v.is_ok(), "{v:?}");
        assert!(v.describe(Path::new("m")).is_empty());
    }

    #[test]
    fn regenerate_keeps_reasons_and_header() {
        let m = parse(
            "# mine\ntest_keep # old reason\ntest_fixed # x\ntest_gone # y\ntest_skipped # z\n",
        )
        .expect("valid");
        let long = "word ".repeat(60);
        let results = vec![
            result("test_keep", Outcome::Fail("new message".into())),
            result("test_fixed", Outcome::Pass),
            result(
                "test_new",
                Outcome::Error(format!("line one\n  line two {long}")),
            ),
            result("test_hash", Outcome::Fail("see #12".into())),
        ];
        let all = known(&[
            "test_keep",
            "test_fixed",
            "test_new",
            "test_skipped",
            "test_hash",
        ]);
        let n = m.regenerate(&results, &all);
        assert_eq!(n.header, vec!["# mine".to_string()]);
        assert_eq!(n.reason("test_keep"), Some("old reason"));
        assert_eq!(n.reason("test_fixed"), None);
        assert_eq!(n.reason("test_gone"), None);
        assert_eq!(n.reason("test_skipped"), Some("z"));
        let r = n.reason("test_new").expect("added");
        assert!(r.starts_with("error: line one line two word"), "{r}");
        assert_eq!(r.chars().count(), MAX_NEW_REASON);
        assert!(r.ends_with('…'));
        // The rendered text parses back to the same manifest.
        let text = n.render();
        assert_eq!(parse(&text).expect("round trip"), n);
        assert!(text.contains("test_keep     # old reason\n"), "{text}");
        assert_eq!(n.reason("test_hash"), Some("fail: see #12"));
        assert!(n.verdict(&results, &all).is_ok());
    }

    #[test]
    fn long_names_do_not_push_every_reason_right() {
        let long = format!("test_{}", "x".repeat(70));
        let text = format!("test_a # a\n{long} # b\n");
        let m = parse(&text).expect("valid");
        let rendered = m.render();
        assert!(rendered.contains(&format!("{long}  # b\n")), "{rendered}");
        let pad = ALIGN_LIMIT - "test_a".len();
        assert!(
            rendered.contains(&format!("test_a{}  # a\n", " ".repeat(pad))),
            "{rendered}"
        );
        assert_eq!(parse(&rendered).expect("round trip"), m);
    }

    #[test]
    fn multi_line_reasons_print_on_one_line() {
        let results = vec![result(
            "test_x",
            Outcome::Unsupported("2 nodes:\n  a\n  b".into()),
        )];
        let v = Manifest::default().verdict(&results, &known(&["test_x"]));
        let text = v.describe(Path::new("m"));
        assert!(
            text.contains("test_x  [unsupported] 2 nodes: a b\n"),
            "{text}"
        );
    }

    #[test]
    fn fresh_manifest_gets_default_header() {
        let n = Manifest::default().regenerate(
            &[result("test_a", Outcome::Fail("x".into()))],
            &known(&["test_a"]),
        );
        assert!(n.render().starts_with("# Expected failures"));
        assert_eq!(parse(&n.render()).expect("parses").entries, n.entries);
    }

    #[test]
    fn manifest_path_per_device() {
        assert_eq!(manifest_path_for(&["cpu".into()]), default_manifest_path());
        assert_eq!(manifest_path_for(&[]), default_manifest_path());
        // No device-specific manifest: the list shares the CPU's.
        assert_eq!(
            manifest_path_for(&["vnpu://0".into(), "cpu".into()]),
            default_manifest_path()
        );
        assert_eq!(
            manifest_path_for(&["nosuchdevice".into()]),
            default_manifest_path()
        );
    }
}
