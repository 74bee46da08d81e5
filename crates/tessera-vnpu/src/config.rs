//! [`VnpuConfig`]: what a virtual NPU can do and how it misbehaves — its op set, its dtypes,
//! its memory budget, and injected latency and failures.
//!
//! Tests build a config with the builder methods; users write the same settings as device URI
//! options (`vnpu://0?ops=conv+relu&latency_ms=5`), parsed by [`VnpuConfig::from_uri`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tessera_hal::{DeviceUri, HalError};
use tessera_ir::op::{BinaryOp, PoolKind, UnaryOp};
use tessera_ir::Op;

/// The ops the virtual NPU has kernels for, each naming one canonical op (or one kind of
/// one, for `Unary`, `Binary` and `Pool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VnpuOp {
    /// `Conv` (2-D, NCHW), f32.
    Conv,
    /// `MatMul`, f32.
    MatMul,
    /// `Gemm`, f32.
    Gemm,
    /// `MatMulInteger` on i8 operands, i32 result.
    MatMulInteger,
    /// `Binary(Add)`, f32 and i8 (wrapping).
    Add,
    /// `Binary(Mul)`, f32 and i8 (wrapping).
    Mul,
    /// `Unary(Relu)`, f32 and i8.
    Relu,
    /// `Pool` with `PoolKind::Max` (2-D), f32 and i8.
    MaxPool,
    /// `Pool` with `PoolKind::Average` (2-D), f32.
    AveragePool,
    /// `Reshape`, any supported dtype (no copy).
    Reshape,
    /// `Flatten`, any supported dtype (no copy).
    Flatten,
}

impl VnpuOp {
    /// Every op, in declaration order.
    pub const ALL: [VnpuOp; 11] = [
        VnpuOp::Conv,
        VnpuOp::MatMul,
        VnpuOp::Gemm,
        VnpuOp::MatMulInteger,
        VnpuOp::Add,
        VnpuOp::Mul,
        VnpuOp::Relu,
        VnpuOp::MaxPool,
        VnpuOp::AveragePool,
        VnpuOp::Reshape,
        VnpuOp::Flatten,
    ];

    /// The op of `op`, when the virtual NPU has a kernel for it.
    pub fn of(op: &Op) -> Option<VnpuOp> {
        Some(match op {
            Op::Conv(_) => VnpuOp::Conv,
            Op::MatMul(_) => VnpuOp::MatMul,
            Op::Gemm(_) => VnpuOp::Gemm,
            Op::MatMulInteger(_) => VnpuOp::MatMulInteger,
            Op::Binary(BinaryOp::Add) => VnpuOp::Add,
            Op::Binary(BinaryOp::Mul) => VnpuOp::Mul,
            Op::Unary(UnaryOp::Relu) => VnpuOp::Relu,
            Op::Pool(p) => match p.kind {
                PoolKind::Max => VnpuOp::MaxPool,
                PoolKind::Average { .. } => VnpuOp::AveragePool,
                PoolKind::Lp { .. } => return None,
            },
            Op::Reshape(_) => VnpuOp::Reshape,
            Op::Flatten(_) => VnpuOp::Flatten,
            _ => return None,
        })
    }

    /// The lower-case name used in the `ops=` URI option (`conv`, `maxpool`, …).
    pub fn name(self) -> &'static str {
        match self {
            VnpuOp::Conv => "conv",
            VnpuOp::MatMul => "matmul",
            VnpuOp::Gemm => "gemm",
            VnpuOp::MatMulInteger => "matmulinteger",
            VnpuOp::Add => "add",
            VnpuOp::Mul => "mul",
            VnpuOp::Relu => "relu",
            VnpuOp::MaxPool => "maxpool",
            VnpuOp::AveragePool => "averagepool",
            VnpuOp::Reshape => "reshape",
            VnpuOp::Flatten => "flatten",
        }
    }
}

impl fmt::Display for VnpuOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VnpuOp {
    type Err = String;
    /// Parses a name as written in the `ops=` option, ignoring case.
    fn from_str(s: &str) -> Result<VnpuOp, String> {
        VnpuOp::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = VnpuOp::ALL.iter().map(|o| o.name()).collect();
                format!("unknown op '{s}' (known: {})", known.join(", "))
            })
    }
}

/// Default memory budget: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;

/// Largest `latency_ms` accepted from a URI (one minute).
pub const MAX_LATENCY_MS: u64 = 60_000;

/// The URI option keys [`VnpuConfig::from_uri`] understands.
pub const URI_OPTIONS: [&str; 7] = [
    "ops",
    "int8",
    "latency_ms",
    "fail_at",
    "fail_after",
    "fail_node",
    "memory_mb",
];

/// The configuration of one virtual NPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VnpuConfig {
    /// The ops the device claims; everything else is refused by `supports`.
    pub ops: BTreeSet<VnpuOp>,
    /// Whether int8 kernels are enabled (f32 always is).
    pub int8: bool,
    /// Time added to every execute, before the kernels run.
    pub latency: Duration,
    /// Fail exactly the N-th execute on the device (counting from 1).
    pub fail_at: Option<u64>,
    /// Fail every execute after the first N (a device that dies).
    pub fail_after: Option<u64>,
    /// Fail every execute that reaches the node of this name.
    pub fail_node: Option<String>,
    /// Bytes of device memory; allocations beyond it fail.
    pub memory_bytes: usize,
}

impl Default for VnpuConfig {
    /// Every op, int8 on, no latency, no failures, [`DEFAULT_MEMORY_BYTES`].
    fn default() -> VnpuConfig {
        VnpuConfig {
            ops: VnpuOp::ALL.into_iter().collect(),
            int8: true,
            latency: Duration::ZERO,
            fail_at: None,
            fail_after: None,
            fail_node: None,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

impl VnpuConfig {
    /// The default configuration.
    pub fn new() -> VnpuConfig {
        VnpuConfig::default()
    }

    /// Claims exactly `ops`.
    pub fn with_ops(mut self, ops: impl IntoIterator<Item = VnpuOp>) -> VnpuConfig {
        self.ops = ops.into_iter().collect();
        self
    }

    /// Stops claiming `op`.
    pub fn without_op(mut self, op: VnpuOp) -> VnpuConfig {
        self.ops.remove(&op);
        self
    }

    /// Enables or disables the int8 kernels.
    pub fn with_int8(mut self, on: bool) -> VnpuConfig {
        self.int8 = on;
        self
    }

    /// Adds `latency` to every execute.
    pub fn with_latency(mut self, latency: Duration) -> VnpuConfig {
        self.latency = latency;
        self
    }

    /// Fails the `n`-th execute (1-based).
    pub fn fail_at(mut self, n: u64) -> VnpuConfig {
        self.fail_at = Some(n);
        self
    }

    /// Fails every execute after the first `n`.
    pub fn fail_after(mut self, n: u64) -> VnpuConfig {
        self.fail_after = Some(n);
        self
    }

    /// Fails every execute that reaches the node called `name`.
    pub fn fail_node(mut self, name: impl Into<String>) -> VnpuConfig {
        self.fail_node = Some(name.into());
        self
    }

    /// Sets the device memory budget in bytes.
    pub fn with_memory_bytes(mut self, bytes: usize) -> VnpuConfig {
        self.memory_bytes = bytes;
        self
    }

    /// Whether the `n`-th execute (1-based) must fail, and why.
    pub fn injected_execute_failure(&self, n: u64) -> Option<String> {
        if self.fail_at == Some(n) {
            return Some(format!("execute #{n} fails (fail_at={n})"));
        }
        match self.fail_after {
            Some(k) if n > k => Some(format!("execute #{n} fails (fail_after={k})")),
            _ => None,
        }
    }

    /// Reads the configuration from a device URI's options, starting from the default.
    ///
    /// Options: `ops=conv+matmul+…` (names joined by `+`, since `,` separates options),
    /// `int8=true|false`, `latency_ms=N`, `fail_at=N`, `fail_after=N`, `fail_node=NAME`,
    /// `memory_mb=N`. Unknown keys and bad values are [`HalError::InvalidOption`].
    pub fn from_uri(uri: &DeviceUri) -> Result<VnpuConfig, HalError> {
        uri.check_options(&URI_OPTIONS)?;
        let bad = |key: &str, reason: String| HalError::InvalidOption {
            driver: uri.driver.clone(),
            key: key.to_string(),
            reason,
        };
        let mut c = VnpuConfig::default();
        if let Some(list) = uri.option("ops") {
            let mut ops = BTreeSet::new();
            for name in list.split('+').filter(|s| !s.trim().is_empty()) {
                ops.insert(name.parse::<VnpuOp>().map_err(|e| bad("ops", e))?);
            }
            c.ops = ops;
        }
        if let Some(v) = uri.parse_option::<bool>("int8")? {
            c.int8 = v;
        }
        if let Some(ms) = uri.parse_option::<u64>("latency_ms")? {
            if ms > MAX_LATENCY_MS {
                return Err(bad(
                    "latency_ms",
                    format!("{ms} is above the limit of {MAX_LATENCY_MS}"),
                ));
            }
            c.latency = Duration::from_millis(ms);
        }
        if let Some(n) = uri.parse_option::<u64>("fail_at")? {
            if n == 0 {
                return Err(bad("fail_at", "executes are counted from 1".into()));
            }
            c.fail_at = Some(n);
        }
        c.fail_after = uri.parse_option::<u64>("fail_after")?;
        if let Some(name) = uri.option("fail_node") {
            if name.is_empty() {
                return Err(bad("fail_node", "the node name is empty".into()));
            }
            c.fail_node = Some(name.to_string());
        }
        if let Some(mb) = uri.parse_option::<usize>("memory_mb")? {
            c.memory_bytes = mb
                .checked_mul(1 << 20)
                .filter(|&b| b <= tessera_hal::host_buffer::MAX_HOST_BUFFER)
                .ok_or_else(|| bad("memory_mb", format!("{mb} MiB is too large")))?;
        }
        Ok(c)
    }

    /// The enabled ops as written in the `ops=` option.
    pub fn ops_string(&self) -> String {
        let names: Vec<&str> = self.ops.iter().map(|o| o.name()).collect();
        names.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VnpuConfig, HalError> {
        VnpuConfig::from_uri(&DeviceUri::parse(text)?)
    }

    #[test]
    fn uri_options() {
        let c =
            parse("vnpu://0?ops=conv+MatMul+add&latency_ms=5&fail_after=3&memory_mb=2&int8=false")
                .unwrap();
        assert_eq!(
            c.ops.iter().copied().collect::<Vec<_>>(),
            vec![VnpuOp::Conv, VnpuOp::MatMul, VnpuOp::Add]
        );
        assert_eq!(c.latency, Duration::from_millis(5));
        assert_eq!(c.fail_after, Some(3));
        assert_eq!(c.memory_bytes, 2 << 20);
        assert!(!c.int8);
        assert_eq!(c.ops_string(), "conv+matmul+add");
        let c = parse("vnpu://0?fail_node=conv1,fail_at=2").unwrap();
        assert_eq!(c.fail_node.as_deref(), Some("conv1"));
        assert_eq!(c.fail_at, Some(2));
        assert_eq!(parse("vnpu").unwrap(), VnpuConfig::default());
    }

    #[test]
    fn bad_options_are_errors() {
        for (text, needle) in [
            ("vnpu://0?speed=3", "unknown option"),
            ("vnpu://0?ops=conv+softmax", "unknown op 'softmax'"),
            ("vnpu://0?latency_ms=-1", "latency_ms"),
            ("vnpu://0?latency_ms=99999999", "above the limit"),
            ("vnpu://0?fail_at=0", "counted from 1"),
            ("vnpu://0?memory_mb=99999999999999", "too large"),
            ("vnpu://0?int8=maybe", "int8"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn injected_failures() {
        let c = VnpuConfig::new().fail_at(2);
        assert!(c.injected_execute_failure(1).is_none());
        assert!(c.injected_execute_failure(2).is_some());
        assert!(c.injected_execute_failure(3).is_none());
        let c = VnpuConfig::new().fail_after(1);
        assert!(c.injected_execute_failure(1).is_none());
        assert!(c.injected_execute_failure(2).is_some());
        assert!(c.injected_execute_failure(9).is_some());
    }
}
