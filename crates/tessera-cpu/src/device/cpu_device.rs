//! [`CpuDevice`]: the host CPU behind the HAL [`Device`] trait.
//!
//! # Shareable memory
//!
//! [`Device::allocate`] gives [`CpuBuffer`]s: plain heap memory that can also hold a tensor
//! as-is, so the runtime's intermediate values cost no system call and no copy. They are not
//! exportable. Memory meant for another device or process is asked for explicitly with
//! [`Device::allocate_exportable`], which gives a [`MemFdBuffer`](tessera_hal::MemFdBuffer)
//! (a sealed memfd mapped shared; Linux only). [`Device::import`] maps a memfd another
//! device or process exported, without copying. Executables read either kind like any
//! host-visible buffer.

use super::buffer::CpuBuffer;
use super::executable::{tensor_to_view, view_to_tensor, CpuExecutable};
use std::sync::Arc;
use tessera_hal::{
    Buffer, BufferView, Device, DeviceInfo, Executable, ExternalBuffer, HalError, HostQueue,
    MemoryKind, Queue, Subgraph, Support,
};
use tessera_ir::{Graph, Node, Op, Tensor, ValueType};

/// The host CPU as a device: host memory, one queue, executables that run
/// [`crate::exec::run_graph`].
pub struct CpuDevice {
    info: DeviceInfo,
    pool: Option<Arc<rayon::ThreadPool>>,
    queue: Arc<HostQueue>,
}

impl CpuDevice {
    /// A device described by `info`, running kernels in `pool` (rayon's global pool when
    /// `None`).
    pub fn new(
        info: DeviceInfo,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Result<CpuDevice, HalError> {
        let queue = Arc::new(HostQueue::new(format!("{}:0", info.uri))?);
        Ok(CpuDevice { info, pool, queue })
    }

    /// Number of threads kernels run on.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }
}

/// Why the CPU cannot run `op` (or an op nested in its subgraphs), if it cannot.
fn refusal(op: &Op) -> Option<String> {
    if !crate::kernels::supports(op) {
        return Some(format!("no CPU kernel for {}", op.name()));
    }
    op.subgraphs().into_iter().find_map(|g| {
        g.nodes.iter().find_map(|n| {
            refusal(&n.op).map(|r| format!("{r} (node '{}' in a {} body)", n.name, op.name()))
        })
    })
}

fn check_graph(g: &Graph) -> Result<(), String> {
    let refused: Vec<String> = g
        .nodes
        .iter()
        .filter_map(|n| refusal(&n.op).map(|r| format!("node '{}': {r}", n.name)))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("; "))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CompileError(String);

impl Device for CpuDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, node: &Node, _inputs: &[Option<ValueType>]) -> Support {
        match refusal(&node.op) {
            None => Support::Yes,
            Some(reason) => Support::No { reason },
        }
    }

    fn compile(&self, subgraph: &Subgraph) -> Result<Arc<dyn Executable>, HalError> {
        let fail = |m: String| HalError::compile(&self.info.uri, &subgraph.name, CompileError(m));
        tessera_ir::verify(&subgraph.graph).map_err(|e| fail(e.to_string()))?;
        check_graph(&subgraph.graph).map_err(fail)?;
        Ok(Arc::new(CpuExecutable::new(
            self.info.uri.clone(),
            subgraph.name.clone(),
            subgraph.graph.clone(),
            self.pool.clone(),
        )))
    }

    fn memory_kinds(&self) -> &[MemoryKind] {
        &[MemoryKind::Host]
    }

    fn allocate(&self, size: usize, kind: MemoryKind) -> Result<Arc<dyn Buffer>, HalError> {
        if kind != MemoryKind::Host {
            return Err(HalError::Allocation {
                size,
                kind,
                reason: "the CPU device has only host memory".into(),
            });
        }
        Ok(Arc::new(CpuBuffer::zeroed(size)?))
    }

    fn allocate_exportable(&self, size: usize) -> Result<Arc<dyn Buffer>, HalError> {
        #[cfg(target_os = "linux")]
        {
            Ok(Arc::new(tessera_hal::MemFdBuffer::new(size)?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(HalError::Unsupported {
                device: self.info.uri.clone(),
                what: format!("exportable allocations of {size} bytes (memfd needs Linux)"),
            })
        }
    }

    fn import(&self, ext: ExternalBuffer) -> Result<Arc<dyn Buffer>, HalError> {
        match ext.kind() {
            #[cfg(target_os = "linux")]
            tessera_hal::ExternalKind::MemFd => {
                Ok(Arc::new(tessera_hal::MemFdBuffer::import(ext)?))
            }
            kind => Err(HalError::Unsupported {
                device: self.info.uri.clone(),
                what: format!("importing a {kind} buffer"),
            }),
        }
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

    fn upload(&self, tensor: &Tensor) -> Result<BufferView, HalError> {
        Ok(tensor_to_view(tensor.clone()))
    }

    fn download(&self, view: &BufferView) -> Result<Tensor, HalError> {
        view_to_tensor(view)
    }
}
