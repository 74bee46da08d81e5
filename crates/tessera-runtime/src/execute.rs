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
//! Inputs bound to shared memory ([`ExternalTensor`]) are imported by the first device that
//! reads them, the same way. Outputs bound to shared memory are written by the device that
//! produced them: it imports the caller's buffer and its queue copies the value in
//! ([`Work::Copy`]); where it cannot import, the bytes go through a host mapping.
//!
//! Each part is submitted to queue 0 of its device and signals the run's timeline at its own
//! point; the run waits for that point before the next part, so one run is a chain. Several
//! runs in flight at once (see [`Session::submit`](crate::Session::submit)) overlap on
//! different devices: while run N's second part runs on one device, run N+1's first part runs
//! on the other.

use crate::binding::{ExternalTensor, RunInput};
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
enum Resident {
    /// On the host (a model input, or a constant).
    Host(Value),
    /// In caller memory shared by file descriptor (a bound input).
    External(ExternalTensor),
    /// In the memory of device `device`.
    Device { device: usize, value: DeviceValue },
}

impl Compiled {
    /// Runs every part on `inputs` (one per graph input, already validated). Outputs with an
    /// entry in `bound` (one slot per graph output) are written there; the others are
    /// returned on the host, by name, in model order.
    pub fn run(
        &self,
        inputs: Vec<RunInput>,
        mut bound: Vec<Option<ExternalTensor>>,
    ) -> Result<Vec<(String, Value)>, RuntimeError> {
        let mut env: HashMap<ValueId, Resident> = self
            .graph
            .inputs
            .iter()
            .copied()
            .zip(inputs.into_iter().map(|i| match i {
                RunInput::Value(v) => Resident::Host(v),
                RunInput::External(t) => Resident::External(t),
            }))
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
        bound.resize_with(self.graph.outputs.len(), || None);
        let mut point = self.parts.len() as u64;
        let mut results = Vec::new();
        for (&id, slot) in self.graph.outputs.iter().zip(bound) {
            let name = self.graph.name_of(id).to_string();
            if let Some(dst) = slot {
                point += 1;
                self.write_bound(&name, env.get(&id), id, &dst, &timeline, point)?;
                continue;
            }
            results.push({
                let value = match env.get(&id) {
                    Some(Resident::Host(v)) => v.clone(),
                    Some(Resident::External(t)) => {
                        Value::Tensor(read_external(t).map_err(|e| RuntimeError::Execute {
                            part: format!("reading output '{name}'"),
                            device: "host".into(),
                            source: Box::new(e),
                        })?)
                    }
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
                (name, value)
            });
        }
        Ok(results)
    }

    /// Writes the output `name` (resident as `r`, or a constant) into the caller's buffer
    /// `dst`: by a copy on the producing device's queue into its import of `dst`, or through
    /// a host mapping of `dst` where the device cannot import it.
    fn write_bound(
        &self,
        name: &str,
        r: Option<&Resident>,
        id: ValueId,
        dst: &ExternalTensor,
        timeline: &Arc<Timeline>,
        point: u64,
    ) -> Result<(), RuntimeError> {
        let fail = |device: &str, e: HalError| RuntimeError::Execute {
            part: format!("writing output '{name}' to its bound buffer"),
            device: device.to_string(),
            source: Box::new(e.root().clone()),
        };
        let mismatch = |dtype: tessera_ir::DType, shape: &[usize]| {
            RuntimeError::Binding(format!(
                "output '{name}' is a {dtype} tensor of shape {shape:?}; its bound buffer holds \
                 a {} tensor of shape {:?}",
                dst.dtype, dst.shape
            ))
        };
        let host = |t: &tessera_ir::Tensor| -> Result<(), RuntimeError> {
            if t.dtype() != dst.dtype || t.shape() != dst.shape.as_slice() {
                return Err(mismatch(t.dtype(), t.shape()));
            }
            write_external(dst, &t.to_le_bytes()).map_err(|e| fail("host", e))
        };
        match r {
            Some(Resident::Device {
                device,
                value: DeviceValue::Tensor(view),
            }) => {
                if view.dtype != dst.dtype || view.shape != dst.shape {
                    return Err(mismatch(view.dtype, &view.shape));
                }
                let d = self.devices[*device].as_ref();
                let uri = d.info().uri.clone();
                let imported = dst.buffer.try_clone().and_then(|b| d.import(b));
                match imported {
                    Ok(target) => {
                        let copy = Work::Copy {
                            src: view.buffer.clone(),
                            src_offset: view.offset,
                            dst: target,
                            dst_offset: 0,
                            len: view.byte_len(),
                        };
                        d.queue(0)
                            .and_then(|q| copy_and_wait(&q, copy, timeline, point))
                            .map_err(|e| fail(&uri, e))
                    }
                    Err(_) => host(&d.download(view).map_err(|e| fail(&uri, e))?),
                }
            }
            Some(Resident::Device { value, .. }) => Err(RuntimeError::Binding(format!(
                "output '{name}' is a {}, only tensors can be bound to a buffer",
                value.kind()
            ))),
            Some(Resident::Host(Value::Tensor(t))) => host(t),
            Some(Resident::Host(v)) => Err(RuntimeError::Binding(format!(
                "output '{name}' is a {}, only tensors can be bound to a buffer",
                v.kind()
            ))),
            Some(Resident::External(src)) => {
                if src.dtype != dst.dtype || src.shape != dst.shape {
                    return Err(mismatch(src.dtype, &src.shape));
                }
                host(&read_external(src).map_err(|e| fail("host", e))?)
            }
            None => match self.graph.constant(id) {
                Some(t) => host(t),
                None => Err(RuntimeError::Graph(tessera_ir::IrError::Invalid(format!(
                    "output '{name}' was not computed"
                )))),
            },
        }
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
            Resident::External(t) => self.place_external(t, to),
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

impl Compiled {
    /// A bound input on device `to`: its buffer imported in place where `to` imports it,
    /// staged through a host mapping otherwise.
    fn place_external(&self, t: &ExternalTensor, to: &dyn Device) -> Result<DeviceValue, HalError> {
        let len = t.byte_len() as u64;
        if let Ok(buffer) = t.buffer.try_clone().and_then(|b| to.import(b)) {
            self.transfers
                .imported_bytes
                .fetch_add(len, Ordering::Relaxed);
            return Ok(DeviceValue::Tensor(BufferView::new(
                buffer,
                t.dtype,
                t.shape.clone(),
                0,
            )?));
        }
        let tensor = read_external(t)?;
        self.transfers
            .staged_bytes
            .fetch_add(len, Ordering::Relaxed);
        Ok(DeviceValue::Tensor(to.upload(&tensor)?))
    }
}

/// Submits `copy` to `queue`, signalling `point` on `timeline`, and waits for it.
fn copy_and_wait(
    queue: &Arc<dyn tessera_hal::Queue>,
    copy: Work,
    timeline: &Arc<Timeline>,
    point: u64,
) -> Result<(), HalError> {
    queue.submit(copy, &[], &[(timeline.clone(), point)])?;
    timeline.wait(point, Timeline::FOREVER)
}

/// The host's mapping of a shared buffer (Linux: memfd).
fn host_map(t: &ExternalTensor) -> Result<Arc<dyn tessera_hal::Buffer>, HalError> {
    #[cfg(target_os = "linux")]
    {
        Ok(Arc::new(tessera_hal::MemFdBuffer::import(
            t.buffer.try_clone()?,
        )?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(HalError::Unsupported {
            device: "host".into(),
            what: format!("mapping a {} buffer", t.buffer.kind()),
        })
    }
}

/// The tensor a bound buffer holds, read through a host mapping.
fn read_external(t: &ExternalTensor) -> Result<tessera_ir::Tensor, HalError> {
    let bytes = host_map(t)?.read_bytes(0, t.byte_len())?;
    tessera_ir::Tensor::from_le_bytes(t.dtype, t.shape.clone(), &bytes)
        .map_err(|e| HalError::Invalid(e.to_string()))
}

/// Writes `bytes` at the start of a bound buffer through a host mapping.
fn write_external(t: &ExternalTensor, bytes: &[u8]) -> Result<(), HalError> {
    host_map(t)?.write_bytes(0, bytes)
}

/// `view` mapped into `to` without a copy, when its buffer exports and `to` imports.
fn import_view(to: &dyn Device, view: &BufferView) -> Option<BufferView> {
    let ext = view.buffer.export().ok()?;
    let buffer = to.import(ext).ok()?;
    BufferView::new(buffer, view.dtype, view.shape.clone(), view.offset).ok()
}
