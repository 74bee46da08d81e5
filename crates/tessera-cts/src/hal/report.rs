//! The HAL suite's report (counts, per-case records, a per-case table, JSON) and its manifest
//! of known failures, `hal-expected-failures.txt`.
//!
//! The manifest has the node suite's format (see [`crate::manifest`]): one
//! `driver/case  # reason` line per case known to fail on a driver, for instance
//! `vnpu/queues.execute  # reason`. The verdict fails on a failing case that is not listed (a
//! **regression**), a listed case that does not fail (an **unexpected pass**: remove the
//! line) and a listed case name that is not in the suite (an **unknown entry**).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::CtsError;
use crate::manifest::Manifest;

use super::{hal_cases, HalCaseResult, HalOutcome};

/// `hal-expected-failures.txt` in this crate's source folder.
pub fn default_hal_manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hal-expected-failures.txt")
}

/// Known failures of the HAL suite: `driver/case` → reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HalExpectedFailures {
    manifest: Manifest,
}

impl HalExpectedFailures {
    /// Parses manifest text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<HalExpectedFailures, CtsError> {
        Ok(HalExpectedFailures {
            manifest: Manifest::parse(text, path)?,
        })
    }

    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<HalExpectedFailures, CtsError> {
        let text = std::fs::read_to_string(path).map_err(|e| CtsError::io(path, e))?;
        HalExpectedFailures::parse(&text, path)
    }

    /// Reads [`default_hal_manifest_path`].
    pub fn load_default() -> Result<HalExpectedFailures, CtsError> {
        HalExpectedFailures::load(&default_hal_manifest_path())
    }

    /// The reason `case` is expected to fail on `driver`, if it is.
    pub fn reason(&self, driver: &str, case: &str) -> Option<&str> {
        self.manifest
            .entries
            .get(&format!("{driver}/{case}"))
            .map(String::as_str)
    }

    /// Entries whose case part names no case of the suite.
    pub fn unknown_entries(&self) -> Vec<String> {
        let cases = hal_cases();
        self.manifest
            .entries
            .keys()
            .filter(|k| {
                k.split_once('/')
                    .is_none_or(|(_, case)| !cases.iter().any(|c| c.name == case))
            })
            .cloned()
            .collect()
    }
}

/// How many cases ended how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HalCounts {
    /// Cases run.
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Failed (including panics and cases past their time limit).
    pub fail: usize,
    /// Did not apply to the device.
    pub skip: usize,
    /// Failed and listed in the manifest.
    pub expected_failure: usize,
    /// Listed in the manifest but did not fail.
    pub unexpected_pass: usize,
    /// Failed and not listed.
    pub regression: usize,
}

/// One case in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HalCaseRecord {
    /// Case name (`family.case`).
    pub name: String,
    /// `pass`, `fail` or `skip`.
    pub outcome: &'static str,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Remarks recorded by the case (how the device passed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The manifest's reason, when the case is listed for this driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_reason: Option<String>,
    /// `ok`, `expected_failure`, `unexpected_pass` or `regression`.
    pub status: &'static str,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The judgement of a run against the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HalVerdict {
    /// Failing cases not listed, with their reasons.
    pub regressions: Vec<(String, String)>,
    /// Listed cases that did not fail.
    pub unexpected_passes: Vec<String>,
    /// Manifest entries naming no case of the suite.
    pub unknown_entries: Vec<String>,
}

impl HalVerdict {
    /// True when there is nothing to complain about.
    pub fn is_ok(&self) -> bool {
        self.regressions.is_empty()
            && self.unexpected_passes.is_empty()
            && self.unknown_entries.is_empty()
    }

    /// Every complaint, one per line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (name, reason) in &self.regressions {
            out.push_str(&format!("FAILED {name}: {reason}\n"));
        }
        for name in &self.unexpected_passes {
            out.push_str(&format!(
                "UNEXPECTED PASS {name}: listed in hal-expected-failures.txt; remove it\n"
            ));
        }
        for entry in &self.unknown_entries {
            out.push_str(&format!(
                "UNKNOWN ENTRY {entry} in hal-expected-failures.txt\n"
            ));
        }
        out
    }
}

/// The report of one HAL suite run on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HalReport {
    /// Which suite (`hal`).
    pub suite: &'static str,
    /// The device URI the cases ran on.
    pub device: String,
    /// The driver of that device.
    pub driver: String,
    /// Overall counts.
    pub counts: HalCounts,
    /// The judgement against the manifest.
    pub verdict: HalVerdict,
    /// Every case that ran, in suite order.
    pub cases: Vec<HalCaseRecord>,
}

impl HalReport {
    /// Builds the report of `results` on device `uri` of `driver`, judged against `expected`.
    pub fn new(
        uri: &str,
        driver: &str,
        results: &[HalCaseResult],
        expected: &HalExpectedFailures,
    ) -> HalReport {
        let mut counts = HalCounts::default();
        let mut verdict = HalVerdict {
            unknown_entries: expected.unknown_entries(),
            ..HalVerdict::default()
        };
        let mut cases = Vec::with_capacity(results.len());
        for r in results {
            counts.total += 1;
            match r.outcome {
                HalOutcome::Pass => counts.pass += 1,
                HalOutcome::Fail(_) => counts.fail += 1,
                HalOutcome::Skip(_) => counts.skip += 1,
            }
            let listed = expected.reason(driver, r.name);
            let failed = matches!(r.outcome, HalOutcome::Fail(_));
            let status = match (failed, listed.is_some()) {
                (false, false) => "ok",
                (false, true) => {
                    counts.unexpected_pass += 1;
                    verdict.unexpected_passes.push(r.name.to_string());
                    "unexpected_pass"
                }
                (true, true) => {
                    counts.expected_failure += 1;
                    "expected_failure"
                }
                (true, false) => {
                    counts.regression += 1;
                    verdict.regressions.push((
                        r.name.to_string(),
                        r.outcome.reason().unwrap_or_default().to_string(),
                    ));
                    "regression"
                }
            };
            cases.push(HalCaseRecord {
                name: r.name.to_string(),
                outcome: r.outcome.label(),
                reason: r.outcome.reason().map(str::to_string),
                notes: r.notes.clone(),
                manifest_reason: listed.map(str::to_string),
                status,
                seconds: r.duration.as_secs_f64(),
            });
        }
        HalReport {
            suite: "hal",
            device: uri.to_string(),
            driver: driver.to_string(),
            counts,
            verdict,
            cases,
        }
    }

    /// One line: `hal on cpu: 30 cases: 27 pass, 0 fail, 3 skip; …; verdict OK`.
    pub fn summary_line(&self) -> String {
        let c = &self.counts;
        format!(
            "hal on {}: {} cases: {} pass, {} fail, {} skip; {} expected failures, \
             {} unexpected passes, {} regressions; {}",
            self.device,
            c.total,
            c.pass,
            c.fail,
            c.skip,
            c.expected_failure,
            c.unexpected_pass,
            c.regression,
            if self.verdict.is_ok() {
                "verdict OK"
            } else {
                "verdict FAILED"
            }
        )
    }

    /// One row per case: name, outcome, milliseconds, and the reason (or notes).
    pub fn case_table(&self) -> String {
        let width = self
            .cases
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!(
            "{:<width$}  {:<7}  {:>8}  detail\n",
            "case", "outcome", "ms"
        );
        for c in &self.cases {
            let outcome = match c.status {
                "expected_failure" => "xfail",
                "unexpected_pass" => "xpass",
                _ => c.outcome,
            };
            let detail = match (&c.reason, c.notes.is_empty()) {
                (Some(r), _) => r.clone(),
                (None, false) => c.notes.join("; "),
                (None, true) => String::new(),
            };
            let line = format!(
                "{:<width$}  {:<7}  {:>8.1}  {}",
                c.name,
                outcome,
                c.seconds * 1e3,
                detail
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, CtsError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the JSON report to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), CtsError> {
        std::fs::write(path, self.to_json()?).map_err(|e| CtsError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn r(name: &'static str, outcome: HalOutcome) -> HalCaseResult {
        HalCaseResult {
            name,
            outcome,
            notes: Vec::new(),
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn counts_verdict_and_json() {
        let expected = HalExpectedFailures::parse(
            "# header\nx/queues.execute  # known\nx/buffers.view_bounds  # fixed since\n\
             x/no.such_case  # stale\n",
            Path::new("m"),
        )
        .expect("valid manifest");
        let results = vec![
            r("queues.execute", HalOutcome::Fail("wrong".into())),
            r("buffers.view_bounds", HalOutcome::Pass),
            r("queues.fill_ranges", HalOutcome::Fail("bad".into())),
            r(
                "external.export_import",
                HalOutcome::Skip("no export".into()),
            ),
        ];
        let rep = HalReport::new("x://0", "x", &results, &expected);
        let c = &rep.counts;
        assert_eq!((c.total, c.pass, c.fail, c.skip), (4, 1, 2, 1));
        assert_eq!(
            (c.expected_failure, c.unexpected_pass, c.regression),
            (1, 1, 1)
        );
        assert_eq!(rep.verdict.unknown_entries, vec!["x/no.such_case"]);
        assert!(!rep.verdict.is_ok());
        assert!(rep.summary_line().ends_with("verdict FAILED"));
        let table = rep.case_table();
        assert!(table.contains("xfail"), "{table}");
        let v: serde_json::Value =
            serde_json::from_str(&rep.to_json().expect("serializes")).expect("parses");
        assert_eq!(v["suite"], "hal");
        assert_eq!(v["cases"][0]["status"], "expected_failure");
        assert_eq!(v["cases"][3]["outcome"], "skip");
        assert_eq!(v["cases"][3]["reason"], "no export");
    }

    #[test]
    fn the_shipped_manifest_parses_and_names_known_cases() {
        let m = HalExpectedFailures::load_default().expect("hal-expected-failures.txt parses");
        assert!(m.unknown_entries().is_empty(), "{:?}", m.unknown_entries());
    }
}
