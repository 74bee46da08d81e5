//! Helpers shared by the subcommands: session options from the command line, progress
//! spinners, error rendering, file-name sanitizing and number formatting.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;
use tessera_runtime::{DecomposePolicy, SessionOptions};

/// Options shared by every subcommand that builds a session.
#[derive(clap::Args, Debug, Clone)]
pub struct SessionArgs {
    /// Device URIs in order of preference (repeat or separate with commas), e.g.
    /// `--device vnpu://0,cpu`. Nodes the listed devices lack fall back to the CPU unless
    /// --no-fallback is given.
    #[arg(
        long = "device",
        value_name = "URI",
        value_delimiter = ',',
        default_value = "cpu"
    )]
    pub devices: Vec<String>,
    /// Value of a symbolic dim, e.g. `--dim batch=1` (repeatable).
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
    /// Fail, listing every node the listed devices do not support, instead of falling back
    /// to the CPU.
    #[arg(long)]
    pub no_fallback: bool,
    /// Skip graph optimization (the graph is still type-checked and verified).
    #[arg(long)]
    pub no_optimize: bool,
    /// When composite ops (LayerNorm, Gemm, Gelu, …) are decomposed into primitives: `auto`
    /// for devices that lack them, `all` wherever a decomposition applies (to compare with
    /// the fused ops).
    #[arg(long, value_name = "auto|all", default_value = "auto")]
    pub decompose: DecomposePolicy,
}

impl SessionArgs {
    /// The `--dim` values as a map.
    pub fn dim_map(&self) -> anyhow::Result<HashMap<String, usize>> {
        let mut m = HashMap::new();
        for d in &self.dims {
            let Some((k, v)) = d.split_once('=') else {
                bail!("--dim '{d}': expected NAME=N");
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                bail!("--dim '{d}': the name is empty");
            }
            let n: usize = v
                .parse()
                .with_context(|| format!("--dim '{d}': '{v}' is not a non-negative integer"))?;
            if m.insert(k.to_string(), n).is_some() {
                bail!("--dim '{k}' is given twice");
            }
        }
        Ok(m)
    }

    /// The session options these arguments describe.
    pub fn options(&self) -> anyhow::Result<SessionOptions> {
        Ok(SessionOptions {
            devices: self.devices.iter().map(|d| d.trim().to_string()).collect(),
            dims: self.dim_map()?,
            no_fallback: self.no_fallback,
            optimize: !self.no_optimize,
            decompose: self.decompose,
            ..SessionOptions::default()
        })
    }
}

/// A spinner on stderr (drawn only when stderr is a terminal).
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(message.into());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// The error and its causes on one line, skipping causes whose text the message already
/// contains (the library errors repeat their source in their own message).
pub fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A file-name-safe version of a tensor name: characters outside `[A-Za-z0-9._-]` become
/// `_`, and names that are empty or start with a dot get a leading `_`.
pub fn sanitize_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s
}

/// Bytes as a human-readable size (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count with thousands separators (`25,557,032`).
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(sanitize_file_name("logits"), "logits");
        assert_eq!(sanitize_file_name("a/b:0"), "a_b_0");
        assert_eq!(sanitize_file_name("../x"), "_.._x");
        assert_eq!(sanitize_file_name(""), "_");
        assert_eq!(sanitize_file_name("é"), "_");
    }

    #[test]
    fn numbers() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(grouped(25557032), "25,557,032");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(0), "0");
    }

    #[test]
    fn dims() {
        let a = |dims: &[&str]| SessionArgs {
            devices: vec!["cpu".into()],
            dims: dims.iter().map(|s| s.to_string()).collect(),
            no_fallback: false,
            no_optimize: false,
            decompose: DecomposePolicy::Auto,
        };
        assert_eq!(a(&["batch=2"]).dim_map().unwrap()["batch"], 2);
        assert!(a(&["batch"]).dim_map().is_err());
        assert!(a(&["batch=-1"]).dim_map().is_err());
        assert!(a(&["=1"]).dim_map().is_err());
        assert!(a(&["b=1", "b=2"]).dim_map().is_err());
    }

    #[test]
    fn error_chains_are_not_repeated() {
        let inner = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(inner).context("reading x: disk on fire");
        assert_eq!(render_error(&e), "reading x: disk on fire");
        let e = anyhow::anyhow!("low").context("high");
        assert_eq!(render_error(&e), "high: low");
    }
}
