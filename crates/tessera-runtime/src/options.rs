//! [`SessionOptions`]: how a session is built.

use std::collections::HashMap;

/// Options for building a [`Session`](crate::Session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Device URIs in order of preference (`cpu`, `cpu://threads=2`, `vnpu://0`). Each node
    /// runs on the first device that supports it. Unless [`no_fallback`](Self::no_fallback)
    /// is set, `cpu` is appended as the last resort when no CPU device is listed, so nodes a
    /// preferred accelerator lacks still run — visibly, in
    /// [`Session::placement`](crate::Session::placement). Default: `["cpu"]`.
    pub devices: Vec<String>,
    /// Values for symbolic dims (`batch` → 1). The graph is specialized to them before
    /// optimization, and inputs must match them.
    pub dims: HashMap<String, usize>,
    /// Use only the listed devices: a node none of them supports is an error (listing every
    /// such node) instead of running on the CPU.
    pub no_fallback: bool,
    /// Run the optimization pipeline (`tessera_passes::optimize`). When off, the graph is only
    /// type-inferred and verified. Default: on.
    pub optimize: bool,
    /// How many runs may be in flight at once through [`Session::submit`] (and
    /// [`Session::run`] from several threads); more wait for one to finish. Default: 4.
    ///
    /// [`Session::submit`]: crate::Session::submit
    /// [`Session::run`]: crate::Session::run
    pub max_in_flight: usize,
    /// When composite ops (`LayerNorm`, `Gemm`, `Gelu`, …) are replaced by their
    /// decomposition into primitives. Default: [`DecomposePolicy::Auto`].
    pub decompose: DecomposePolicy,
}

/// When a session replaces composite ops by their decomposition into primitives (see
/// `tessera_passes::decompose`). Either way a decomposition goes whole to one device: the
/// most preferred device that supports every one of its primitives. Each decomposition, and
/// each one considered but not used, is listed in
/// [`Placement`](crate::Placement) (`tessera inspect` prints them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecomposePolicy {
    /// Only for devices that lack the fused op: each composite node goes to the first device
    /// in the preference list that runs it, fused or decomposed. A device that claims the op
    /// runs it fused, so a graph on the CPU alone is unchanged.
    #[default]
    Auto,
    /// Every composite with a rule is decomposed, even for devices that claim the fused op
    /// (nodes whose rule declines, or whose primitives no device runs, stay fused). Meant for
    /// checking decompositions against reference outputs and for comparing fused with
    /// decomposed execution.
    All,
}

impl std::str::FromStr for DecomposePolicy {
    type Err = String;
    /// `auto` or `all`, ignoring case.
    fn from_str(s: &str) -> Result<DecomposePolicy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DecomposePolicy::Auto),
            "all" => Ok(DecomposePolicy::All),
            other => Err(format!(
                "unknown decomposition policy '{other}' (expected auto or all)"
            )),
        }
    }
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            devices: vec!["cpu".to_string()],
            dims: HashMap::new(),
            no_fallback: false,
            optimize: true,
            max_in_flight: 4,
            decompose: DecomposePolicy::Auto,
        }
    }
}

impl SessionOptions {
    /// Replaces the device preference list.
    pub fn with_devices<S: Into<String>>(mut self, devices: impl IntoIterator<Item = S>) -> Self {
        self.devices = devices.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the value of a symbolic dim.
    pub fn with_dim(mut self, name: impl Into<String>, value: usize) -> Self {
        self.dims.insert(name.into(), value);
        self
    }

    /// Sets [`no_fallback`](Self::no_fallback).
    pub fn with_no_fallback(mut self, no_fallback: bool) -> Self {
        self.no_fallback = no_fallback;
        self
    }

    /// Sets [`max_in_flight`](Self::max_in_flight) (at least 1).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`decompose`](Self::decompose).
    pub fn with_decompose(mut self, policy: DecomposePolicy) -> Self {
        self.decompose = policy;
        self
    }

    /// Sets [`optimize`](Self::optimize).
    pub fn with_optimize(mut self, optimize: bool) -> Self {
        self.optimize = optimize;
        self
    }
}
