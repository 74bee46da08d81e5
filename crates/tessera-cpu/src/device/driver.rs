//! [`CpuDriver`]: enumerates the host CPU and creates [`CpuDevice`]s from URIs.
//!
//! Options: `threads=N` (1 ≤ N ≤ 1024) runs kernels in a dedicated pool of N threads; without
//! it kernels use rayon's global pool. The only device selector is `0`.

use super::cpu_device::CpuDevice;
use super::detect;
use std::sync::Arc;
use tessera_hal::{Device, DeviceInfo, DeviceKind, DeviceUri, Driver, HalError};

/// Largest accepted `threads=` value.
pub const MAX_THREADS: usize = 1024;

/// The CPU driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuDriver;

impl CpuDriver {
    /// The driver name and URI scheme.
    pub const NAME: &'static str = "cpu";

    /// A description of the host CPU; `threads` is the size of the pool kernels run on.
    pub fn host_info(uri: &str, threads: usize) -> DeviceInfo {
        let features = detect::simd_features();
        let (vendor, model) = detect::vendor_and_model();
        let mut info = DeviceInfo::new(Self::NAME, "cpu", DeviceKind::Cpu);
        info.uri = uri.to_string();
        info.vendor = vendor;
        info.cores = detect::logical_cores();
        info.features = features.join(" ");
        info.memory_bytes = detect::total_memory();
        info.extra
            .push(("simd".into(), detect::simd_level(&features).into()));
        info.extra.push(("threads".into(), threads.to_string()));
        if let Some(m) = model {
            info.extra.push(("model".into(), m));
        }
        info
    }
}

impl Driver for CpuDriver {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn enumerate(&self) -> Vec<DeviceInfo> {
        vec![CpuDriver::host_info(
            Self::NAME,
            rayon::current_num_threads(),
        )]
    }

    fn create(&self, uri: &DeviceUri) -> Result<Arc<dyn Device>, HalError> {
        uri.check_options(&["threads"])?;
        if let Some(sel) = &uri.selector {
            if sel != "0" {
                return Err(HalError::NoSuchDevice {
                    driver: Self::NAME.into(),
                    selector: sel.clone(),
                });
            }
        }
        let threads: Option<usize> = uri.parse_option("threads")?;
        let pool = match threads {
            None => None,
            Some(n) if n == 0 || n > MAX_THREADS => {
                return Err(HalError::InvalidOption {
                    driver: Self::NAME.into(),
                    key: "threads".into(),
                    reason: format!("{n} is outside 1..={MAX_THREADS}"),
                })
            }
            Some(n) => Some(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("tessera-cpu-{i}"))
                    .build()
                    .map_err(|e| HalError::InvalidOption {
                        driver: Self::NAME.into(),
                        key: "threads".into(),
                        reason: format!("cannot start {n} threads: {e}"),
                    })?,
            )),
        };
        let n = pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        let info = CpuDriver::host_info(&uri.to_string(), n);
        Ok(Arc::new(CpuDevice::new(info, pool)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tessera_hal::{DeviceValue, OutputSlot, Subgraph, Support, Timeline, Work};
    use tessera_ir::op::UnaryOp;
    use tessera_ir::{DType, Graph, Op, Tensor, TensorType, Value, ValueType};

    fn create(uri: &str) -> Result<Arc<dyn Device>, HalError> {
        CpuDriver.create(&DeviceUri::parse(uri)?)
    }

    #[test]
    fn enumerate_describes_the_host() {
        let infos = CpuDriver.enumerate();
        assert_eq!(infos.len(), 1);
        let i = &infos[0];
        assert_eq!(i.driver, "cpu");
        assert!(i.cores >= 1);
        assert!(i.extra("simd").is_some());
    }

    #[test]
    fn options() {
        let d = create("cpu://threads=2").unwrap();
        assert_eq!(d.info().extra("threads"), Some("2"));
        assert_eq!(d.info().uri, "cpu://threads=2");
        assert!(create("cpu").is_ok());
        assert!(create("cpu://0").is_ok());
        for bad in [
            "cpu://threads=0",
            "cpu://threads=x",
            "cpu://threads=5000",
            "cpu://1",
            "cpu://thread=2",
        ] {
            assert!(create(bad).is_err(), "{bad}");
        }
    }

    fn identity_graph() -> Graph {
        let mut g = Graph::new("id");
        let ty = ValueType::Tensor(TensorType::known(DType::F32, &[2]));
        let x = g.add_value("x", Some(ty.clone()));
        g.inputs.push(x);
        g.outputs.push(x);
        g
    }

    #[test]
    fn executes_a_graph_through_the_queue() {
        let d = create("cpu://threads=1").unwrap();
        let exe = d.compile(&Subgraph::new("id", identity_graph())).unwrap();
        assert_eq!(exe.inputs().len(), 1);
        let t = Tensor::from_vec(vec![2], vec![1.5f32, -2.0]).unwrap();
        let input = DeviceValue::upload(d.as_ref(), &Value::Tensor(t.clone())).unwrap();
        let slot = OutputSlot::new();
        let done = Arc::new(Timeline::new("done"));
        d.queue(0)
            .unwrap()
            .submit(
                Work::Execute {
                    executable: exe,
                    inputs: vec![input],
                    outputs: slot.clone(),
                },
                &[],
                &[(done.clone(), 1)],
            )
            .unwrap();
        done.wait(1, Duration::from_secs(10)).unwrap();
        let out = slot.take().unwrap();
        assert_eq!(out[0].download(d.as_ref()).unwrap(), Value::Tensor(t));
        assert!(d.queue(1).is_err());
    }

    #[test]
    fn refuses_nodes_without_kernels() {
        let d = create("cpu").unwrap();
        let mut g = identity_graph();
        let x = g.inputs[0];
        let y = g.add_value("y", None);
        g.add_node("r", Op::Unary(UnaryOp::Relu), vec![Some(x)], vec![Some(y)]);
        g.outputs = vec![y];
        let node = &g.nodes[0];
        match d.supports(node, &[None]) {
            Support::Yes => assert!(crate::kernels::supports(&node.op)),
            Support::No { reason } => {
                assert_eq!(reason, "no CPU kernel for Relu");
                let e = d.compile(&Subgraph::new("g", g)).unwrap_err();
                assert!(e.to_string().contains("no CPU kernel for Relu"), "{e}");
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn imported_buffers_are_shared_and_executable() {
        let d = create("cpu://threads=1").unwrap();
        // Plain allocations stay plain; exportable ones export.
        assert!(d
            .allocate(8, tessera_hal::MemoryKind::Host)
            .unwrap()
            .export()
            .is_err());
        let exported = d.allocate_exportable(12).unwrap();
        let imported = d.import(exported.export().unwrap()).unwrap();
        assert_eq!(imported.size(), 12);
        // An input written on the exporting side, read by an executable on the import.
        let bytes: Vec<u8> = [0.0f32, 1.5, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        exported.write_bytes(0, &bytes).unwrap();
        let view = tessera_hal::BufferView::new(imported.clone(), DType::F32, vec![2], 4).unwrap();
        let exe = d.compile(&Subgraph::new("id", identity_graph())).unwrap();
        let out = exe.execute(&[DeviceValue::Tensor(view)]).unwrap();
        let want = Tensor::from_vec(vec![2], vec![1.5f32, -2.0]).unwrap();
        assert_eq!(out[0].download(d.as_ref()).unwrap(), Value::Tensor(want));
        // Writes through the import reach the exporter.
        imported.write_bytes(0, &[7]).unwrap();
        assert_eq!(exported.read_bytes(0, 1).unwrap(), vec![7]);
        // Out of range, and dma-bufs, are refused.
        use tessera_hal::{ExternalBuffer, ExternalKind};
        let fd = || exported.export().unwrap().into_fd();
        let e = d
            .import(ExternalBuffer::new(fd(), 8, 8, ExternalKind::MemFd))
            .unwrap_err();
        assert!(matches!(e, HalError::ExternalRange { .. }), "{e}");
        let e = d
            .import(ExternalBuffer::new(fd(), 0, 8, ExternalKind::DmaBuf))
            .unwrap_err();
        assert!(matches!(e, HalError::Unsupported { .. }), "{e}");
    }

    #[test]
    fn allocate_host_only() {
        let d = create("cpu").unwrap();
        let b = d.allocate(16, tessera_hal::MemoryKind::Host).unwrap();
        assert_eq!(b.size(), 16);
        assert!(d
            .allocate(16, tessera_hal::MemoryKind::DeviceLocal)
            .is_err());
    }
}
