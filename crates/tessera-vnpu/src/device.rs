//! [`VnpuDevice`]: one virtual NPU behind the HAL [`Device`] trait — its configuration, its
//! memory, its in-order queue and its compiler.

use crate::config::VnpuConfig;
use crate::memory::{MemoryStats, VnpuHeap};
use crate::support;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tessera_hal::{
    Buffer, Device, DeviceInfo, DeviceKind, Executable, ExternalBuffer, HalError, HostQueue,
    InOrderQueue, MemoryKind, Queue, Subgraph, Support,
};
use tessera_ir::{Node, ValueType};

/// What a device shares with the executables it compiled.
#[derive(Debug)]
pub(crate) struct DeviceState {
    pub(crate) uri: String,
    pub(crate) config: VnpuConfig,
    pub(crate) heap: Arc<VnpuHeap>,
    /// Executes started so far (the count `fail_at` / `fail_after` refer to).
    pub(crate) executes: AtomicU64,
}

/// A virtual NPU.
pub struct VnpuDevice {
    info: DeviceInfo,
    state: Arc<DeviceState>,
    /// The single hardware ring: in order, on its own worker thread, and moving on after a
    /// faulting job ([`InOrderQueue::continuing`]).
    queue: Arc<InOrderQueue>,
}

impl VnpuDevice {
    /// The driver name.
    pub const DRIVER: &'static str = "vnpu";

    /// Creates a device named by `uri` (`vnpu://0`) with `config`.
    pub fn new(uri: impl Into<String>, config: VnpuConfig) -> Result<VnpuDevice, HalError> {
        let uri = uri.into();
        let info = VnpuDevice::describe(&uri, &config);
        let ring: Arc<dyn Queue> = Arc::new(HostQueue::new(format!("{uri}:0"))?);
        let queue = Arc::new(InOrderQueue::continuing(ring));
        let state = Arc::new(DeviceState {
            heap: VnpuHeap::new(uri.clone(), config.memory_bytes),
            uri,
            config,
            executes: AtomicU64::new(0),
        });
        Ok(VnpuDevice { info, state, queue })
    }

    /// The [`DeviceInfo`] of a device with `config`.
    pub fn describe(uri: &str, config: &VnpuConfig) -> DeviceInfo {
        let mut info = DeviceInfo::new(Self::DRIVER, "Tessera virtual NPU", DeviceKind::Npu);
        info.uri = uri.to_string();
        info.vendor = "Tessera".to_string();
        info.cores = 1;
        info.features = if config.int8 { "f32 i8" } else { "f32" }.to_string();
        info.memory_bytes = u64::try_from(config.memory_bytes).ok();
        info.extra.push(("ops".into(), config.ops_string()));
        if !config.latency.is_zero() {
            info.extra
                .push(("latency_ms".into(), config.latency.as_millis().to_string()));
        }
        for (k, v) in [
            ("fail_at", config.fail_at),
            ("fail_after", config.fail_after),
        ] {
            if let Some(v) = v {
                info.extra.push((k.into(), v.to_string()));
            }
        }
        if let Some(n) = &config.fail_node {
            info.extra.push(("fail_node".into(), n.clone()));
        }
        info
    }

    /// The configuration.
    pub fn config(&self) -> &VnpuConfig {
        &self.state.config
    }

    /// The memory accounting (budget, bytes in use, peak, host maps).
    pub fn memory_stats(&self) -> MemoryStats {
        self.state.heap.stats()
    }

    /// Executes started on this device so far.
    pub fn executes(&self) -> u64 {
        self.state.executes.load(Ordering::Relaxed)
    }

    /// The device's queue, with its concrete type (for [`InOrderQueue::submitted`]).
    pub fn ring(&self) -> &Arc<InOrderQueue> {
        &self.queue
    }
}

impl Device for VnpuDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, node: &Node, inputs: &[Option<ValueType>]) -> Support {
        match support::check(&self.state.config, node, inputs) {
            Ok(_) => Support::Yes,
            Err(reason) => Support::No { reason },
        }
    }

    fn compile(&self, subgraph: &Subgraph) -> Result<Arc<dyn Executable>, HalError> {
        Ok(Arc::new(crate::compile::compile(&self.state, subgraph)?))
    }

    fn memory_kinds(&self) -> &[MemoryKind] {
        &[MemoryKind::DeviceHostVisible]
    }

    fn allocate(&self, size: usize, kind: MemoryKind) -> Result<Arc<dyn Buffer>, HalError> {
        if kind != MemoryKind::DeviceHostVisible {
            return Err(HalError::Allocation {
                size,
                kind,
                reason: "the vnpu has only device host-visible memory".into(),
            });
        }
        Ok(self.state.heap.allocate(size)?)
    }

    /// Memory shared by file descriptor (a memfd; a dma-buf on real hardware).
    fn allocate_exportable(&self, size: usize) -> Result<Arc<dyn Buffer>, HalError> {
        Ok(self.state.heap.allocate_exportable(size)?)
    }

    /// Maps a memfd buffer of the CPU, another vnpu or another process without a copy.
    fn import(&self, ext: ExternalBuffer) -> Result<Arc<dyn Buffer>, HalError> {
        Ok(self.state.heap.import(ext)?)
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn queue(&self, index: usize) -> Result<Arc<dyn Queue>, HalError> {
        if index == 0 {
            Ok(self.queue.clone())
        } else {
            Err(HalError::NoSuchQueue {
                device: self.info.uri.clone(),
                index,
                count: 1,
            })
        }
    }
}
