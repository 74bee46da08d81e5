//! [`VnpuError`]: what the virtual NPU reports when compiling or executing fails.
//!
//! These errors travel inside [`tessera_hal::HalError::Compile`] and
//! [`tessera_hal::HalError::Execute`] as their `source`, so a caller that waited on a failed
//! timeline can reach them through [`tessera_hal::HalError::root`] and downcast.

/// An error of the virtual NPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VnpuError {
    /// A failure requested by the device configuration (`fail_at`, `fail_after`,
    /// `fail_node`), for tests of error propagation.
    #[error("injected failure: {0}")]
    Injected(String),
    /// A kernel refused its inputs (shapes, attributes, values).
    #[error("node '{node}' ({op}): {message}")]
    Kernel {
        /// Node name.
        node: String,
        /// Op name.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// An executable input that is not in this device's memory.
    #[error("input '{input}': {reason}")]
    ForeignInput {
        /// The input's name.
        input: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A subgraph that cannot be compiled for this device.
    #[error("{0}")]
    Unsupported(String),
}
