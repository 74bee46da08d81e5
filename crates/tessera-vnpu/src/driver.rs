//! [`VnpuDriver`]: enumerates virtual NPUs and creates them from URIs.
//!
//! URI: `vnpu`, `vnpu://N` or `vnpu://N?key=value&…` where `N` is a device index below the
//! driver's device count (1 by default) and the options are those of
//! [`VnpuConfig::from_uri`]: `ops=conv+matmul+…`, `int8=true|false`, `latency_ms=N`,
//! `fail_at=N`, `fail_after=N`, `fail_node=NAME`, `memory_mb=N`. Unknown options are errors.
//! Each `create` makes a new, independent device (its own memory and queue).

use crate::config::VnpuConfig;
use crate::device::VnpuDevice;
use std::sync::Arc;
use tessera_hal::{Device, DeviceInfo, DeviceUri, Driver, HalError};

/// The virtual NPU driver.
#[derive(Debug, Clone, Copy)]
pub struct VnpuDriver {
    devices: usize,
}

impl Default for VnpuDriver {
    /// A driver with one device, `vnpu://0`.
    fn default() -> VnpuDriver {
        VnpuDriver { devices: 1 }
    }
}

impl VnpuDriver {
    /// The driver name and URI scheme.
    pub const NAME: &'static str = "vnpu";

    /// A driver with one device.
    pub fn new() -> VnpuDriver {
        VnpuDriver::default()
    }

    /// A driver exposing `devices` devices, `vnpu://0` to `vnpu://{devices − 1}`.
    pub fn with_devices(devices: usize) -> VnpuDriver {
        VnpuDriver { devices }
    }

    /// Creates device `index` with `config`, bypassing URI parsing (for tests and embedders).
    pub fn create_with(&self, index: usize, config: VnpuConfig) -> Result<VnpuDevice, HalError> {
        if index >= self.devices {
            return Err(HalError::NoSuchDevice {
                driver: Self::NAME.into(),
                selector: index.to_string(),
            });
        }
        VnpuDevice::new(format!("{}://{index}", Self::NAME), config)
    }
}

impl Driver for VnpuDriver {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn enumerate(&self) -> Vec<DeviceInfo> {
        let config = VnpuConfig::default();
        (0..self.devices)
            .map(|i| VnpuDevice::describe(&format!("{}://{i}", Self::NAME), &config))
            .collect()
    }

    fn create(&self, uri: &DeviceUri) -> Result<Arc<dyn Device>, HalError> {
        let config = VnpuConfig::from_uri(uri)?;
        let index = match &uri.selector {
            None => 0,
            Some(sel) => sel
                .parse::<usize>()
                .ok()
                .filter(|&i| i < self.devices)
                .ok_or_else(|| HalError::NoSuchDevice {
                    driver: Self::NAME.into(),
                    selector: sel.clone(),
                })?,
        };
        let text = if uri.options.is_empty() {
            format!("{}://{index}", Self::NAME)
        } else {
            let mut canonical = uri.clone();
            canonical.selector = Some(index.to_string());
            canonical.to_string()
        };
        Ok(Arc::new(VnpuDevice::new(text, config)?))
    }
}
