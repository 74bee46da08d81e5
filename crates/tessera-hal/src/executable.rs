//! [`Executable`]: a compiled [`Subgraph`](crate::Subgraph), ready to be submitted to one of
//! its device's queues.

use crate::error::HalError;
use crate::value::DeviceValue;
use std::any::Any;
use std::fmt;
use tessera_ir::ValueType;

/// One input or output of an executable.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The value's name in the subgraph.
    pub name: String,
    /// Its static type, where known (shapes may be symbolic or unknown).
    pub ty: Option<ValueType>,
}

impl Binding {
    /// Checks that `value` is of this binding's kind (tensor, sequence, optional) and, for a
    /// tensor, of its dtype; shapes are left to the executable (they may be symbolic or
    /// data-dependent). The error says what was expected and what was given
    /// (`f32 expected, i32 given`), for the caller to prefix with the executable and input.
    pub fn check(&self, value: &DeviceValue) -> Result<(), String> {
        let Some(ty) = &self.ty else { return Ok(()) };
        let (expected, given) = match (ty, value) {
            (ValueType::Tensor(t), DeviceValue::Tensor(view)) if t.dtype != view.dtype => {
                (t.dtype.to_string(), view.dtype.to_string())
            }
            (ValueType::Tensor(_), DeviceValue::Tensor(_))
            | (ValueType::Sequence(_), DeviceValue::Sequence(_))
            | (ValueType::Optional(_), DeviceValue::Optional(_)) => return Ok(()),
            (ValueType::Tensor(_), other) => ("a tensor".into(), format!("a {}", other.kind())),
            (ValueType::Sequence(_), other) => ("a sequence".into(), format!("a {}", other.kind())),
            (ValueType::Optional(_), other) => {
                ("an optional".into(), format!("a {}", other.kind()))
            }
        };
        Err(format!("{expected} expected, {given} given"))
    }
}

/// A compiled subgraph.
///
/// Executables are run by submitting [`Work::Execute`](crate::Work::Execute) to a queue of the
/// device that compiled them. The queue calls [`Executable::execute`] once the work's waits are
/// satisfied. A device whose queue records commands for hardware instead of calling back into
/// the host downcasts the executable through [`Executable::as_any`] and uses its own
/// representation; `execute` is then its synchronous path.
pub trait Executable: Send + Sync + fmt::Debug {
    /// The subgraph's name.
    fn name(&self) -> &str;

    /// The inputs, in the order [`Executable::execute`] takes them.
    fn inputs(&self) -> &[Binding];

    /// The outputs, in the order [`Executable::execute`] returns them.
    fn outputs(&self) -> &[Binding];

    /// Runs the executable on `inputs` (one per [`Executable::inputs`] entry, in memory of
    /// this executable's device) and returns one value per [`Executable::outputs`] entry.
    ///
    /// Outputs are allocated by the executable in its device's memory, because their shapes
    /// may depend on the input data (`NonZero`, `Unique`, data-dependent `Reshape`).
    fn execute(&self, inputs: &[DeviceValue]) -> Result<Vec<DeviceValue>, HalError>;

    /// The concrete executable, for downcasting by the driver that created it.
    fn as_any(&self) -> &dyn Any;
}
