//! Errors raised by the HAL and by device backends.
//!
//! [`HalError`] is `Clone` because a failed [`Timeline`](crate::Timeline) hands the same error
//! to every waiter. Backend-specific errors travel as a shared `source` so callers can still
//! downcast them.

use std::error::Error;
use std::sync::Arc;

/// A backend error shared between every holder of a [`HalError`].
pub type SharedError = Arc<dyn Error + Send + Sync + 'static>;

/// An error of the HAL or of a device backend.
#[derive(Debug, thiserror::Error, Clone)]
pub enum HalError {
    /// A device URI could not be parsed.
    #[error("invalid device URI '{uri}': {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No registered driver has this name.
    #[error("no driver named '{name}' (registered: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownDriver {
        /// The requested driver name.
        name: String,
        /// Names of the registered drivers.
        known: Vec<String>,
    },
    /// A driver with this name is already registered.
    #[error("a driver named '{0}' is already registered")]
    DuplicateDriver(String),
    /// A device option is unknown or has an invalid value.
    #[error("driver '{driver}': option '{key}': {reason}")]
    InvalidOption {
        /// Driver name.
        driver: String,
        /// Option key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The driver has no device matching the URI's selector.
    #[error("driver '{driver}' has no device '{selector}'")]
    NoSuchDevice {
        /// Driver name.
        driver: String,
        /// The device selector from the URI.
        selector: String,
    },
    /// A queue index past the device's queue count.
    #[error("device '{device}' has {count} queue(s), queue {index} requested")]
    NoSuchQueue {
        /// Device name.
        device: String,
        /// Requested index.
        index: usize,
        /// Number of queues.
        count: usize,
    },
    /// Memory could not be allocated.
    #[error("cannot allocate {size} bytes of {kind} memory: {reason}")]
    Allocation {
        /// Requested size in bytes.
        size: usize,
        /// Requested memory kind.
        kind: crate::MemoryKind,
        /// Why.
        reason: String,
    },
    /// A buffer access outside the buffer.
    #[error("access of {len} bytes at offset {offset} is outside a buffer of {size} bytes")]
    OutOfBounds {
        /// Start of the access.
        offset: usize,
        /// Length of the access.
        len: usize,
        /// Buffer size.
        size: usize,
    },
    /// A map of a buffer whose memory the host cannot see.
    #[error("buffer of {kind} memory is not host visible")]
    NotHostVisible {
        /// The buffer's memory kind.
        kind: crate::MemoryKind,
    },
    /// Something is structurally wrong with a request (shapes, dtypes, counts).
    #[error("{0}")]
    Invalid(String),
    /// The device cannot do what was asked (an op, a dtype, a memory kind, …).
    #[error("{device}: unsupported: {what}")]
    Unsupported {
        /// Device name.
        device: String,
        /// What is unsupported.
        what: String,
    },
    /// A backend failed to compile a subgraph.
    #[error("{device}: compiling '{subgraph}': {source}")]
    Compile {
        /// Device name.
        device: String,
        /// Subgraph name.
        subgraph: String,
        /// The backend's error.
        #[source]
        source: SharedError,
    },
    /// A backend failed while executing.
    #[error("{device}: executing '{executable}': {source}")]
    Execute {
        /// Device name.
        device: String,
        /// Executable name.
        executable: String,
        /// The backend's error.
        #[source]
        source: SharedError,
    },
    /// A timeline was asked to move backwards or to stay where it is.
    #[error("timeline '{timeline}' is at {current}; signalling {requested} would not advance it")]
    TimelineRegression {
        /// Timeline label.
        timeline: String,
        /// Its current value.
        current: u64,
        /// The value that was signalled.
        requested: u64,
    },
    /// A wait on a timeline that failed before reaching the awaited value.
    #[error("timeline '{timeline}' failed before reaching {value}: {source}")]
    TimelineFailed {
        /// Timeline label.
        timeline: String,
        /// The value that was awaited (or signalled).
        value: u64,
        /// The error the timeline was failed with.
        #[source]
        source: Box<HalError>,
    },
    /// A wait gave up.
    #[error("timed out after {waited_ms} ms waiting for timeline '{timeline}' to reach {value} (it is at {current})")]
    Timeout {
        /// Timeline label.
        timeline: String,
        /// The awaited value.
        value: u64,
        /// The value at the time of giving up.
        current: u64,
        /// How long the wait lasted, in milliseconds.
        waited_ms: u128,
    },
    /// Waiting could never finish: a submission that would close a cycle of waits (refused
    /// at submit), or a host wait on a point that no pending or running work can signal.
    /// See [`crate::wait_graph`].
    #[error("deadlock: {0}")]
    Deadlock(Box<crate::wait_graph::DeadlockReport>),
    /// A queue was shut down with work still waiting.
    #[error("queue '{0}' was shut down before the work could run")]
    QueueShutdown(String),
    /// A system call failed (mapping memory, creating or passing a file descriptor, …).
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: SharedError,
    },
    /// An external buffer's offset and size do not fit the memory behind its file descriptor.
    #[error("external buffer of {size} bytes at offset {offset} does not fit the {available} bytes behind its file descriptor")]
    ExternalRange {
        /// Offset requested by the external buffer.
        offset: u64,
        /// Size requested by the external buffer.
        size: u64,
        /// Bytes the file descriptor actually holds.
        available: u64,
    },
    /// A timeline point imported from a file descriptor failed on the exporting side (in
    /// another process or device); the exporter's own error does not cross the boundary.
    #[error("the exported timeline point this timeline imported (value {value}) failed on the exporting side")]
    ImportedPointFailed {
        /// The local value the imported point stood for.
        value: u64,
    },
    /// An executable's output slot was read before the work ran or after it was taken.
    #[error("output slot is empty (the work has not completed, failed, or the outputs were already taken)")]
    OutputsNotReady,
}

impl HalError {
    /// Wraps a backend's compile error.
    pub fn compile(
        device: impl Into<String>,
        subgraph: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> HalError {
        HalError::Compile {
            device: device.into(),
            subgraph: subgraph.into(),
            source: Arc::new(source),
        }
    }

    /// Wraps a backend's execution error.
    pub fn execute(
        device: impl Into<String>,
        executable: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> HalError {
        HalError::Execute {
            device: device.into(),
            executable: executable.into(),
            source: Arc::new(source),
        }
    }

    /// Wraps an operating-system error raised while doing `what`.
    pub fn os(what: impl Into<String>, source: impl Error + Send + Sync + 'static) -> HalError {
        HalError::Os {
            what: what.into(),
            source: Arc::new(source),
        }
    }

    /// The innermost error, following [`HalError::TimelineFailed`] chains, so that a caller
    /// waiting at the end of a pipeline sees what went wrong at its start.
    pub fn root(&self) -> &HalError {
        match self {
            HalError::TimelineFailed { source, .. } => source.root(),
            other => other,
        }
    }
}
