//! Running the compiled parts of a session once: where every value lives between parts, and
//! how it crosses from one device to another.
//!
//! A value produced by a part stays in its device's memory ([`Resident::Device`]) until a part
//! on another device needs it or the run returns it. Crossing devices goes, in order of
//! preference, through
//!
//! 1. **zero-copy import**: the source buffer is exported as a file descriptor
//!    ([`Buffer::export`](tessera_hal::Buffer::export)) and the target device maps it
//!    ([`Device::import`]); no byte is copied;
//! 2. **staging through the host**: [`Device::download`] then [`Device::upload`].
//!
//! Each part is submitted to queue 0 of its device and signals the run's timeline at its own
//! point; the run waits for that point before the next part, so one run is a chain. Several
//! runs in flight at once (see [`Session::submit`](crate::Session::submit)) overlap on
//! different devices: while run N's second part runs on one device, run N+1's first part runs
//! on the other.

use crate::error::RuntimeError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tessera_hal::{
    BufferView, Device, DeviceValue, Executable, HalError, OutputSlot, Timeline, Work,
};
use tessera_ir::{Graph, Value, ValueId};

/// One compiled part: a subgraph on one device.
pub(crate) struct Part {
    /// Index into [`Compiled::devices`].
    pub device: usize,
    pub executable: Arc<dyn Executable>,
    /// Graph values feeding the executable's inputs, in order.
    pub inputs: Vec<ValueId>,
    /// Graph values the executable's outputs define, in order.
    pub outputs: Vec<ValueId>,
    /// Values no later part or output needs once this part has run.
    pub release: Vec<ValueId>,
}

/// How many bytes crossed devices, and how.
#[derive(Debug, Default)]
pub(crate) struct TransferCounters {
    pub imported_bytes: AtomicU64,
    pub staged_bytes: AtomicU64,
}

/// Everything a run needs, shared by every run in flight.
pub(crate) struct Compiled {
    pub graph: Graph,
    pub devices: Vec<Arc<dyn Device>>,
    pub parts: Vec<Part>,
    pub transfers: TransferCounters,
}

/// Where a value is during a run.
#[derive(Clone)]
enum Resident {
    /// On the host (a model input, or a constant).
    Host(Value),
    /// In the memory of device `device`.
    Device { device: usize, value: DeviceValue },
}

impl Compiled {
    /// Runs every part on `inputs` (one value per graph input, already validated) and returns
    /// the graph outputs on the host.
    pub fn run(&self, inputs: Vec<Value>) -> Result<Vec<(String, Value)>, RuntimeError> {
        let mut env: HashMap<ValueId, Resident> = self
            .graph
            .inputs
            .iter()
            .copied()
            .zip(inputs.into_iter().map(Resident::Host))
            .collect();
        let timeline = Arc::new(Timeline::new(format!("{}:run", self.graph.name)));
        for (i, part) in self.parts.iter().enumerate() {
            let outs = self.run_part(part, &env, &timeline, i as u64 + 1)?;
            for (id, value) in part.outputs.iter().zip(outs) {
                env.insert(
                    *id,
                    Resident::Device {
                        device: part.device,
                        value,
                    },
                );
            }
            for id in &part.release {
                env.remove(id);
            }
        }
        self.graph
            .outputs
            .iter()
            .map(|&id| {
                let name = self.graph.name_of(id).to_string();
                let value = match env.get(&id) {
                    Some(Resident::Host(v)) => v.clone(),
                    Some(Resident::Device { device, value }) => {
                        let d = self.devices[*device].as_ref();
                        value.download(d).map_err(|e| RuntimeError::Execute {
                            part: format!("reading output '{name}'"),
                            device: d.info().uri.clone(),
                            source: Box::new(e.root().clone()),
                        })?
                    }
                    None => match self.graph.constant(id) {
                        Some(t) => Value::Tensor(t.clone()),
                        None => {
                            return Err(RuntimeError::Graph(tessera_ir::IrError::Invalid(format!(
                                "output '{name}' was not computed"
                            ))))
                        }
                    },
                };
                Ok((name, value))
            })
            .collect()
    }

    fn run_part(
        &self,
        part: &Part,
        env: &HashMap<ValueId, Resident>,
        timeline: &Arc<Timeline>,
        point: u64,
    ) -> Result<Vec<DeviceValue>, RuntimeError> {
        let device = self.devices[part.device].as_ref();
        let err = |source: HalError| RuntimeError::Execute {
            part: part.executable.name().to_string(),
            device: device.info().uri.clone(),
            source: Box::new(source.root().clone()),
        };
        let inputs = part
            .inputs
            .iter()
            .map(|id| {
                let r = env.get(id).ok_or_else(|| {
                    HalError::Invalid(format!(
                        "value '{}' is not available",
                        self.graph.name_of(*id)
                    ))
                })?;
                self.place(r, part.device)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let slot = OutputSlot::new();
        device
            .queue(0)
            .and_then(|q| {
                q.submit(
                    Work::Execute {
                        executable: part.executable.clone(),
                        inputs,
                        outputs: slot.clone(),
                    },
                    &[],
                    &[(timeline.clone(), point)],
                )
            })
            .map_err(err)?;
        timeline.wait(point, Timeline::FOREVER).map_err(err)?;
        slot.take().map_err(err)
    }

    /// The value `r` in the memory of device `target`.
    fn place(&self, r: &Resident, target: usize) -> Result<DeviceValue, HalError> {
        let to = self.devices[target].as_ref();
        match r {
            Resident::Host(v) => DeviceValue::upload(to, v),
            Resident::Device { device, value } if *device == target => Ok(value.clone()),
            Resident::Device { device, value } => {
                self.transfer(self.devices[*device].as_ref(), to, value)
            }
        }
    }

    /// Moves a device value between two devices: zero-copy where the source buffer exports
    /// and the target imports, staged through the host otherwise.
    fn transfer(
        &self,
        from: &dyn Device,
        to: &dyn Device,
        value: &DeviceValue,
    ) -> Result<DeviceValue, HalError> {
        Ok(match value {
            DeviceValue::Tensor(view) => DeviceValue::Tensor(self.transfer_view(from, to, view)?),
            DeviceValue::Sequence(items) => DeviceValue::Sequence(
                items
                    .iter()
                    .map(|v| self.transfer(from, to, v))
                    .collect::<Result<_, _>>()?,
            ),
            DeviceValue::Optional(v) => DeviceValue::Optional(match v {
                None => None,
                Some(v) => Some(Box::new(self.transfer(from, to, v)?)),
            }),
        })
    }

    fn transfer_view(
        &self,
        from: &dyn Device,
        to: &dyn Device,
        view: &BufferView,
    ) -> Result<BufferView, HalError> {
        if let Some(imported) = import_view(to, view) {
            self.transfers
                .imported_bytes
                .fetch_add(view.byte_len() as u64, Ordering::Relaxed);
            return Ok(imported);
        }
        let tensor = from.download(view)?;
        self.transfers
            .staged_bytes
            .fetch_add(view.byte_len() as u64, Ordering::Relaxed);
        to.upload(&tensor)
    }
}

/// `view` mapped into `to` without a copy, when its buffer exports and `to` imports.
fn import_view(to: &dyn Device, view: &BufferView) -> Option<BufferView> {
    let ext = view.buffer.export().ok()?;
    let buffer = to.import(ext).ok()?;
    BufferView::new(buffer, view.dtype, view.shape.clone(), view.offset).ok()
}
