//! [`TesseraContext`]: the drivers a session's devices come from, and the devices they see.

use crate::error::{guard, guard_void, Error, TesseraStatus};
use crate::types::{destroy, handle, read_versioned, versioned, write_out, write_versioned};
use std::ffi::{c_char, CString};
use tessera_hal::{DeviceKind, DriverRegistry};

/// Options for `tessera_context_create` (versioned: set `struct_size` to
/// `sizeof(TesseraContextOptions)`). None yet beyond the size; later versions add fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraContextOptions {
    /// `sizeof(TesseraContextOptions)` as the caller's header declares it.
    pub struct_size: usize,
}

versioned!(
    TesseraContextOptions { struct_size },
    TesseraContextOptions { struct_size: 0 }
);

/// The broad class of a device.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraDeviceKind {
    /// A simulator, a remote device or anything else.
    Other = 0,
    /// The host CPU.
    Cpu = 1,
    /// A graphics processor.
    Gpu = 2,
    /// A neural processing unit or other fixed-function ML accelerator.
    Npu = 3,
}

/// One device, as `tessera_context_device_info` describes it (versioned). The strings belong to
/// the context and live as long as it does.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraDeviceInfo {
    /// `sizeof(TesseraDeviceInfo)` as the caller's header declares it; set by the caller.
    pub struct_size: usize,
    /// The URI that selects the device in `TesseraSessionOptions.devices` (`cpu`, `vnpu://0`).
    pub uri: *const c_char,
    /// A human-readable name.
    pub name: *const c_char,
    /// The vendor, `unknown` when the driver cannot tell.
    pub vendor: *const c_char,
    /// The driver that owns the device.
    pub driver: *const c_char,
    /// The class of device.
    pub kind: TesseraDeviceKind,
    /// Compute units (logical cores for a CPU).
    pub cores: usize,
    /// Features detected at run time, space separated, strongest first.
    pub features: *const c_char,
    /// Memory the device can use in bytes; 0 when unknown.
    pub memory_bytes: u64,
}

versioned!(
    TesseraDeviceInfo {
        struct_size,
        uri,
        name,
        vendor,
        driver,
        kind,
        cores,
        features,
        memory_bytes
    },
    TesseraDeviceInfo {
        struct_size: 0,
        uri: std::ptr::null(),
        name: std::ptr::null(),
        vendor: std::ptr::null(),
        driver: std::ptr::null(),
        kind: TesseraDeviceKind::Other,
        cores: 0,
        features: std::ptr::null(),
        memory_bytes: 0,
    }
);

struct DeviceEntry {
    uri: CString,
    name: CString,
    vendor: CString,
    driver: CString,
    kind: TesseraDeviceKind,
    cores: usize,
    features: CString,
    memory_bytes: u64,
}

/// The drivers sessions create their devices with, and the devices those drivers see (listed
/// once, when the context is created). Thread-safe. Sessions keep what they need: a context may
/// be destroyed while its sessions live on.
pub struct TesseraContext {
    pub(crate) registry: &'static DriverRegistry,
    devices: Vec<DeviceEntry>,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

/// Creates a context with the built-in drivers (`cpu`, `vnpu`). `options` may be null.
///
/// # Safety
///
/// `options` is null or a valid `TesseraContextOptions`; `out_context` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_context_create(
    options: *const TesseraContextOptions,
    out_context: *mut *mut TesseraContext,
) -> TesseraStatus {
    guard(|| {
        if out_context.is_null() {
            return Err(Error::invalid("out_context is null"));
        }
        // SAFETY: valid or null by contract.
        let _options = unsafe { read_versioned(options, "options") }?;
        let registry = tessera_runtime::drivers();
        let devices = registry
            .enumerate()
            .into_iter()
            .map(|d| DeviceEntry {
                uri: c_string(&d.uri),
                name: c_string(&d.name),
                vendor: c_string(&d.vendor),
                driver: c_string(&d.driver),
                kind: match d.kind {
                    DeviceKind::Cpu => TesseraDeviceKind::Cpu,
                    DeviceKind::Gpu => TesseraDeviceKind::Gpu,
                    DeviceKind::Npu => TesseraDeviceKind::Npu,
                    DeviceKind::Other => TesseraDeviceKind::Other,
                },
                cores: d.cores,
                features: c_string(&d.features),
                memory_bytes: d.memory_bytes.unwrap_or(0),
            })
            .collect();
        let context = Box::into_raw(Box::new(TesseraContext { registry, devices }));
        // SAFETY: checked not null above; writable by contract.
        unsafe { write_out(out_context, context, "out_context") }
    })
}

/// Destroys a context. Null does nothing.
///
/// # Safety
///
/// `context` is null or a live context, not used after this call.
#[no_mangle]
pub unsafe extern "C" fn tessera_context_destroy(context: *mut TesseraContext) {
    // SAFETY: by contract.
    guard_void(|| unsafe { destroy(context) });
}

/// How many devices the context's drivers see.
///
/// # Safety
///
/// `context` is a live context; `out_count` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tessera_context_device_count(
    context: *const TesseraContext,
    out_count: *mut usize,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let context = unsafe { handle(context, "context") }?;
        // SAFETY: by contract.
        unsafe { write_out(out_count, context.devices.len(), "out_count") }
    })
}

/// Describes device `index` (from 0 to the count - 1) into `info`, whose `struct_size` the
/// caller sets.
///
/// # Safety
///
/// `context` is a live context; `info` points to `info->struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_context_device_info(
    context: *const TesseraContext,
    index: usize,
    info: *mut TesseraDeviceInfo,
) -> TesseraStatus {
    guard(|| {
        // SAFETY: by contract.
        let context = unsafe { handle(context, "context") }?;
        let d = context.devices.get(index).ok_or_else(|| {
            Error::new(
                TesseraStatus::NotFound,
                format!("device {index}: the context has {}", context.devices.len()),
            )
        })?;
        let value = TesseraDeviceInfo {
            struct_size: 0,
            uri: d.uri.as_ptr(),
            name: d.name.as_ptr(),
            vendor: d.vendor.as_ptr(),
            driver: d.driver.as_ptr(),
            kind: d.kind,
            cores: d.cores,
            features: d.features.as_ptr(),
            memory_bytes: d.memory_bytes,
        };
        // SAFETY: by contract.
        unsafe { write_versioned(info, value, "info") }
    })
}
