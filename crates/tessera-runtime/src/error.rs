//! [`RuntimeError`]: everything that can go wrong between a model file and its outputs, each
//! variant carrying the context a user needs (node, device, input name, expected vs found).

use crate::partition::Refusal;
use std::fmt;
use tessera_hal::HalError;
use tessera_ir::{DType, IrError};
use tessera_onnx::OnnxError;
use tessera_passes::PassError;

/// A node that no device in the preference list runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnplacedNode {
    /// Node name.
    pub node: String,
    /// Canonical op name.
    pub op: String,
    /// Every device's reason for refusing it.
    pub refusals: Vec<Refusal>,
}

/// One thing wrong with the inputs given to [`Session::run`](crate::Session::run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputProblem {
    /// A model input was not given.
    Missing {
        /// Input name.
        name: String,
        /// Its expected type.
        expected: String,
    },
    /// A name that is not a model input.
    Unknown {
        /// The given name.
        name: String,
        /// The model's input names.
        known: Vec<String>,
    },
    /// The same input given twice.
    Duplicate {
        /// Input name.
        name: String,
    },
    /// A tensor where a sequence was expected, or the like.
    Kind {
        /// Input name (with `[i]` for sequence elements).
        name: String,
        /// Expected kind.
        expected: &'static str,
        /// Given kind.
        found: &'static str,
    },
    /// Wrong element type.
    DType {
        /// Input name.
        name: String,
        /// Expected dtype.
        expected: DType,
        /// Given dtype.
        found: DType,
    },
    /// Wrong number of dimensions.
    Rank {
        /// Input name.
        name: String,
        /// Expected rank.
        expected: usize,
        /// Given shape.
        found: Vec<usize>,
    },
    /// A dimension differs from a known extent (fixed in the model, or by a symbolic dim's
    /// value given in the session options).
    Dim {
        /// Input name.
        name: String,
        /// Axis.
        axis: usize,
        /// Expected extent.
        expected: usize,
        /// Given extent.
        found: usize,
        /// The symbolic name of the dim, when it was set by the session options.
        symbol: Option<String>,
    },
    /// A tensor in shared memory that its buffer cannot hold.
    External {
        /// Input name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A symbolic dim bound to two different extents.
    Symbol {
        /// The symbol.
        symbol: String,
        /// First binding: input, axis, extent.
        first: (String, usize, usize),
        /// Conflicting binding: input, axis, extent.
        second: (String, usize, usize),
    },
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputProblem::Missing { name, expected } => {
                write!(f, "input '{name}' ({expected}) is missing")
            }
            InputProblem::Unknown { name, known } => write!(
                f,
                "'{name}' is not an input of the model (inputs: {})",
                known.join(", ")
            ),
            InputProblem::Duplicate { name } => write!(f, "input '{name}' is given twice"),
            InputProblem::Kind {
                name,
                expected,
                found,
            } => write!(f, "input '{name}': expected a {expected}, got a {found}"),
            InputProblem::DType {
                name,
                expected,
                found,
            } => write!(f, "input '{name}': expected dtype {expected}, got {found}"),
            InputProblem::Rank {
                name,
                expected,
                found,
            } => write!(
                f,
                "input '{name}': expected rank {expected}, got shape {found:?} (rank {})",
                found.len()
            ),
            InputProblem::Dim {
                name,
                axis,
                expected,
                found,
                symbol,
            } => {
                write!(
                    f,
                    "input '{name}': dim {axis} must be {expected}, got {found}"
                )?;
                if let Some(s) = symbol {
                    write!(f, " ('{s}' is set to {expected})")?;
                }
                Ok(())
            }
            InputProblem::External { name, reason } => write!(f, "input '{name}': {reason}"),
            InputProblem::Symbol {
                symbol,
                first,
                second,
            } => write!(
                f,
                "dim '{symbol}' is {} in input '{}' (dim {}) but {} in input '{}' (dim {})",
                first.2, first.0, first.1, second.2, second.0, second.1
            ),
        }
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("\n  {i}")).collect::<String>()
}

fn unplaced(nodes: &[UnplacedNode]) -> String {
    nodes
        .iter()
        .map(|n| {
            let why: Vec<String> = n
                .refusals
                .iter()
                .map(|r| format!("{}: {}", r.device, r.reason))
                .collect();
            format!("\n  {} ({}): {}", n.node, n.op, why.join("; "))
        })
        .collect()
}

/// An error of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model could not be read or imported.
    #[error("loading the model: {0}")]
    Load(#[from] OnnxError),
    /// The optimization pipeline failed.
    #[error("optimizing the graph: {0}")]
    Optimize(#[from] PassError),
    /// The graph is invalid (inference or verification).
    #[error("invalid graph: {0}")]
    Graph(#[from] IrError),
    /// A model input has no static type, so inputs cannot be checked or generated.
    #[error("model input '{0}' has no type")]
    UntypedInput(String),
    /// A value was given for a symbolic dim no input uses.
    #[error("no input has a dim named '{name}' (symbolic dims: {})", if .known.is_empty() { "none".to_string() } else { .known.join(", ") })]
    UnknownDim {
        /// The given name.
        name: String,
        /// The symbolic dims of the model's inputs.
        known: Vec<String>,
    },
    /// The device list is empty.
    #[error("no device given")]
    NoDevices,
    /// A device could not be created.
    #[error("device '{uri}': {source}")]
    Device {
        /// The URI as given.
        uri: String,
        /// The HAL error.
        #[source]
        source: Box<HalError>,
    },
    /// Some nodes are supported by no device in the list; every one is listed.
    #[error("{} node(s) not supported by {}:{}", .nodes.len(), .devices.join(", "), unplaced(.nodes))]
    Unsupported {
        /// The devices tried, in order.
        devices: Vec<String>,
        /// Every node no device accepted.
        nodes: Vec<UnplacedNode>,
    },
    /// A device failed to compile its part.
    #[error("compiling '{part}' for {device}: {source}")]
    Compile {
        /// Part name.
        part: String,
        /// Device URI.
        device: String,
        /// The HAL error.
        #[source]
        source: Box<HalError>,
    },
    /// The inputs given to `run` do not match the model; every problem is listed.
    #[error("{} problem(s) with the inputs:{}", .0.len(), list(.0))]
    Inputs(Vec<InputProblem>),
    /// Outputs bound to caller memory do not match the model, or an external tensor is
    /// malformed; every problem is listed.
    #[error("binding: {0}")]
    Binding(String),
    /// A run's completion fence could not be exported as a file descriptor.
    #[error("exporting the run's completion fence: {0}")]
    Fence(#[source] Box<HalError>),
    /// A background run could not be started.
    #[error("cannot start a run thread: {0}")]
    Spawn(String),
    /// A background run panicked (a bug: please report it with the model).
    #[error("a run panicked: {0}")]
    Panicked(String),
    /// A part failed while running.
    #[error("running '{part}' on {device}: {source}")]
    Execute {
        /// Part name.
        part: String,
        /// Device URI.
        device: String,
        /// The HAL error (the original error, not the timeline that carried it).
        #[source]
        source: Box<HalError>,
    },
}
