//! [`Queue`]s and the [`Work`] they run, ordered only by explicit timeline points.
//!
//! There is no implicit synchronization: two submissions to one queue may run in any order
//! unless one waits on a point the other signals. A submission runs once every wait point is
//! reached; when it completes it signals each of its signal points, and when it fails (or one
//! of its wait timelines fails) it fails each of its signal timelines with the error, so the
//! failure travels to everything downstream.
//!
//! [`InOrderQueue`](crate::InOrderQueue) wraps a queue to run its submissions one after the
//! other, in submission order.

use crate::buffer::Buffer;
use crate::error::HalError;
use crate::executable::Executable;
use crate::timeline::Timeline;
use crate::value::DeviceValue;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A point on a timeline: the timeline and the value to wait for or to signal.
pub type TimePoint = (Arc<Timeline>, u64);

/// Where an [`Work::Execute`] leaves its outputs. Clone it before submitting, and
/// [`take`](OutputSlot::take) the outputs after the work's signal point is reached.
#[derive(Clone, Default)]
pub struct OutputSlot(Arc<Mutex<Option<Vec<DeviceValue>>>>);

impl OutputSlot {
    /// An empty slot.
    pub fn new() -> OutputSlot {
        OutputSlot::default()
    }

    /// Stores outputs (called by the queue).
    pub fn set(&self, outputs: Vec<DeviceValue>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(outputs);
    }

    /// Takes the outputs; fails with [`HalError::OutputsNotReady`] when the work has not
    /// completed successfully or they were taken already.
    pub fn take(&self) -> Result<Vec<DeviceValue>, HalError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or(HalError::OutputsNotReady)
    }
}

impl fmt::Debug for OutputSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filled = self.0.lock().map(|s| s.is_some()).unwrap_or(false);
        f.debug_struct("OutputSlot")
            .field("filled", &filled)
            .finish()
    }
}

/// Something a queue does.
#[derive(Debug)]
pub enum Work {
    /// Runs an executable of this queue's device on `inputs`, leaving its outputs in
    /// `outputs`.
    Execute {
        /// What to run.
        executable: Arc<dyn Executable>,
        /// One value per executable input, in the device's memory.
        inputs: Vec<DeviceValue>,
        /// Receives the outputs.
        outputs: OutputSlot,
    },
    /// Copies `len` bytes from `src` at `src_offset` to `dst` at `dst_offset`.
    Copy {
        /// Source buffer.
        src: Arc<dyn Buffer>,
        /// Byte offset in the source.
        src_offset: usize,
        /// Destination buffer (may be `src`; overlapping ranges copy as if through a
        /// temporary).
        dst: Arc<dyn Buffer>,
        /// Byte offset in the destination.
        dst_offset: usize,
        /// Number of bytes.
        len: usize,
    },
    /// Fills `len` bytes of `dst` at `offset` with a repeated pattern of 1, 2, 4 or 8 bytes;
    /// `len` must be a multiple of the pattern's length.
    Fill {
        /// Destination buffer.
        dst: Arc<dyn Buffer>,
        /// Byte offset.
        offset: usize,
        /// Number of bytes.
        len: usize,
        /// The repeated bytes.
        pattern: Vec<u8>,
    },
}

impl Work {
    /// A short name for traces and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Execute { .. } => "execute",
            Work::Copy { .. } => "copy",
            Work::Fill { .. } => "fill",
        }
    }

    /// Checks what can be checked before the work runs (pattern length, ranges).
    pub fn validate(&self) -> Result<(), HalError> {
        let range = |offset: usize, len: usize, size: usize| match offset.checked_add(len) {
            Some(end) if end <= size => Ok(()),
            _ => Err(HalError::OutOfBounds { offset, len, size }),
        };
        match self {
            Work::Execute {
                executable, inputs, ..
            } => {
                if inputs.len() != executable.inputs().len() {
                    return Err(HalError::Invalid(format!(
                        "executable '{}' takes {} inputs, {} given",
                        executable.name(),
                        executable.inputs().len(),
                        inputs.len()
                    )));
                }
                Ok(())
            }
            Work::Copy {
                src,
                src_offset,
                dst,
                dst_offset,
                len,
            } => {
                range(*src_offset, *len, src.size())?;
                range(*dst_offset, *len, dst.size())
            }
            Work::Fill {
                dst,
                offset,
                len,
                pattern,
            } => {
                if ![1, 2, 4, 8].contains(&pattern.len()) {
                    return Err(HalError::Invalid(format!(
                        "fill pattern of {} bytes (1, 2, 4 or 8 expected)",
                        pattern.len()
                    )));
                }
                if len % pattern.len() != 0 {
                    return Err(HalError::Invalid(format!(
                        "fill length {len} is not a multiple of the {}-byte pattern",
                        pattern.len()
                    )));
                }
                range(*offset, *len, dst.size())
            }
        }
    }
}

/// A queue of a device.
pub trait Queue: Send + Sync {
    /// A name for errors and traces (`cpu:0`).
    fn name(&self) -> &str;

    /// Submits `work` to run once every point in `waits` is reached; on completion each point
    /// in `signals` is signalled, on failure each of their timelines is failed with the error.
    ///
    /// Returns once the work is accepted. An error returned here (invalid work, a queue that
    /// is shutting down, a [`HalError::Deadlock`] when the submission would close a cycle of
    /// waits) means the work was not accepted and nothing is signalled or failed.
    ///
    /// Implementations record every submission in the [wait-for graph](crate::wait_graph)
    /// as its module documentation describes.
    fn submit(
        &self,
        work: Work,
        waits: &[TimePoint],
        signals: &[TimePoint],
    ) -> Result<(), HalError>;
}
