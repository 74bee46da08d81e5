//! Dtypes, the `struct_size` rule for versioned structs, and checked access to what callers
//! pass in (pointers, strings, shapes).

use crate::error::{Error, Result};
use std::ffi::{c_char, CStr};
use tessera_ir::DType;

/// Element types, numbered as ONNX's `TensorProto.DataType` (so `TESSERA_DTYPE_FLOAT` is 1).
/// Every type Tessera knows is here; numbers never change. Elements are stored row-major,
/// little-endian; `BOOL` and the low-precision types (float8, float4, 4- and 2-bit integers)
/// take one byte per element (unpacked).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraDtype {
    /// No dtype: a value that is not a tensor, or whose type is unknown.
    Undefined = 0,
    /// IEEE 754 binary32.
    Float = 1,
    /// Unsigned 8-bit integer.
    Uint8 = 2,
    /// Signed 8-bit integer.
    Int8 = 3,
    /// Unsigned 16-bit integer.
    Uint16 = 4,
    /// Signed 16-bit integer.
    Int16 = 5,
    /// Signed 32-bit integer.
    Int32 = 6,
    /// Signed 64-bit integer.
    Int64 = 7,
    /// Boolean, one byte (0 or 1) per element.
    Bool = 9,
    /// IEEE 754 binary16.
    Float16 = 10,
    /// IEEE 754 binary64.
    Double = 11,
    /// Unsigned 32-bit integer.
    Uint32 = 12,
    /// Unsigned 64-bit integer.
    Uint64 = 13,
    /// bfloat16.
    Bfloat16 = 16,
    /// FLOAT8E4M3FN.
    Float8E4M3Fn = 17,
    /// FLOAT8E4M3FNUZ.
    Float8E4M3Fnuz = 18,
    /// FLOAT8E5M2.
    Float8E5M2 = 19,
    /// FLOAT8E5M2FNUZ.
    Float8E5M2Fnuz = 20,
    /// UINT4, one element per byte.
    Uint4 = 21,
    /// INT4, one element per byte.
    Int4 = 22,
    /// FLOAT4E2M1, one element per byte.
    Float4E2M1 = 23,
    /// FLOAT8E8M0.
    Float8E8M0 = 24,
    /// UINT2, one element per byte.
    Uint2 = 25,
    /// INT2, one element per byte.
    Int2 = 26,
}

impl From<DType> for TesseraDtype {
    fn from(d: DType) -> TesseraDtype {
        match d {
            DType::F32 => TesseraDtype::Float,
            DType::F64 => TesseraDtype::Double,
            DType::F16 => TesseraDtype::Float16,
            DType::BF16 => TesseraDtype::Bfloat16,
            DType::I8 => TesseraDtype::Int8,
            DType::I16 => TesseraDtype::Int16,
            DType::I32 => TesseraDtype::Int32,
            DType::I64 => TesseraDtype::Int64,
            DType::U8 => TesseraDtype::Uint8,
            DType::U16 => TesseraDtype::Uint16,
            DType::U32 => TesseraDtype::Uint32,
            DType::U64 => TesseraDtype::Uint64,
            DType::Bool => TesseraDtype::Bool,
            DType::F8E4M3Fn => TesseraDtype::Float8E4M3Fn,
            DType::F8E4M3FnUz => TesseraDtype::Float8E4M3Fnuz,
            DType::F8E5M2 => TesseraDtype::Float8E5M2,
            DType::F8E5M2FnUz => TesseraDtype::Float8E5M2Fnuz,
            DType::F8E8M0 => TesseraDtype::Float8E8M0,
            DType::F4E2M1 => TesseraDtype::Float4E2M1,
            DType::I4 => TesseraDtype::Int4,
            DType::U4 => TesseraDtype::Uint4,
            DType::I2 => TesseraDtype::Int2,
            DType::U2 => TesseraDtype::Uint2,
        }
    }
}

/// The dtype a caller's `TesseraDtype` value names.
pub(crate) fn dtype_from_code(code: i32) -> Result<DType> {
    DType::ALL
        .into_iter()
        .find(|&d| TesseraDtype::from(d) as i32 == code)
        .ok_or_else(|| Error::invalid(format!("{code} is not a TesseraDtype value")))
}

/// A struct whose first field is `size_t struct_size`: callers from older and newer headers
/// share it, each side touching only the fields both know (see `docs/c-api.md`).
pub(crate) trait Versioned: Sized {
    /// The struct with every field at its default (zero, null).
    fn empty() -> Self;
    /// How many leading bytes hold the fields that lie wholly within `given` bytes.
    fn known_prefix(given: usize) -> usize;
    /// Sets `struct_size`.
    fn set_struct_size(&mut self, n: usize);
}

/// The size of the field `f` selects (for [`versioned!`]).
pub(crate) fn field_size<T, F>(_f: impl Fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// Implements [`Versioned`] for a struct from the list of its fields, in declaration order.
macro_rules! versioned {
    ($t:ident { $($f:ident),+ $(,)? }, $empty:expr) => {
        impl $crate::types::Versioned for $t {
            fn empty() -> Self {
                $empty
            }
            fn known_prefix(given: usize) -> usize {
                let mut n = 0;
                $(
                    let end = std::mem::offset_of!($t, $f)
                        + $crate::types::field_size(|s: &$t| &s.$f);
                    if end <= given {
                        n = n.max(end);
                    }
                )+
                n
            }
            fn set_struct_size(&mut self, n: usize) {
                self.struct_size = n;
            }
        }
    };
}
pub(crate) use versioned;

/// Reads a versioned struct the caller passed in: the fields that fit in its `struct_size`,
/// defaults for the rest. A null pointer gives every default.
///
/// # Safety
///
/// `p` is null or points to at least `struct_size` readable bytes (the `struct_size` rule).
pub(crate) unsafe fn read_versioned<T: Versioned>(p: *const T, what: &str) -> Result<T> {
    let mut value = T::empty();
    if p.is_null() {
        return Ok(value);
    }
    // SAFETY: `p` is not null and, by the caller's contract, points to a struct that starts
    // with its `size_t struct_size`. `read_unaligned` asks nothing of the alignment.
    let given = unsafe { p.cast::<usize>().read_unaligned() };
    check_struct_size(given, what)?;
    let n = T::known_prefix(given);
    // SAFETY: the caller's struct has `given >= n` readable bytes; `value` is a `T` of at least
    // `n` bytes (`known_prefix` only counts fields of `T`), and the two cannot overlap. The
    // bytes copied are whole fields (integers, pointers, C bools), which a C caller can only
    // set to values their Rust types allow.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut value).cast::<u8>(), n) };
    Ok(value)
}

/// Fills a versioned struct for the caller: only the fields that fit in the `struct_size` it
/// set; its `struct_size` stays as it was.
///
/// # Safety
///
/// `p` is null (refused) or points to at least `struct_size` writable bytes.
pub(crate) unsafe fn write_versioned<T: Versioned>(
    p: *mut T,
    mut value: T,
    what: &str,
) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    // SAFETY: as in `read_versioned`: `p` points to a struct starting with `struct_size`.
    let given = unsafe { p.cast::<usize>().read_unaligned() };
    check_struct_size(given, what)?;
    value.set_struct_size(given);
    let n = T::known_prefix(given);
    // SAFETY: `n <= given` bytes are writable at `p`; `value` has at least `n` bytes; a local
    // cannot overlap the caller's memory.
    unsafe { std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), p.cast::<u8>(), n) };
    Ok(())
}

fn check_struct_size(given: usize, what: &str) -> Result<()> {
    if given < std::mem::size_of::<usize>() {
        return Err(Error::invalid(format!(
            "{what}: struct_size is {given}; set it to sizeof the struct"
        )));
    }
    Ok(())
}

/// A caller's C string as UTF-8.
///
/// # Safety
///
/// `p` is null (refused) or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    // SAFETY: not null, and NUL-terminated and alive by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// A caller's array; null is accepted for an empty one.
///
/// # Safety
///
/// `p` is null or points to `len` initialized `T`s that outlive `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{what} is null but its length is {len}"
        )));
    }
    // SAFETY: not null, and `len` valid elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A caller's out-pointer.
///
/// # Safety
///
/// `p` is null (refused) or valid for writes of a `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is null")));
    }
    // SAFETY: not null, and writable by the caller's contract; `T` is `Copy`-like plain data
    // (a handle pointer, an integer, a bool), so nothing is dropped.
    unsafe { p.write(value) };
    Ok(())
}

/// A caller's shape as extents.
pub(crate) fn shape_arg(shape: &[i64]) -> Result<Vec<usize>> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            usize::try_from(d)
                .map_err(|_| Error::invalid(format!("dimension {i} of the shape is {d}")))
        })
        .collect()
}

/// A handle the caller passes, as a reference.
///
/// # Safety
///
/// `p` is null (refused) or a live handle of type `T` created by this library.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: a non-null handle points to a live `T` from `Box::into_raw`, by contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("{what} is null")))
}

/// A handle the caller passes, as a mutable reference.
///
/// # Safety
///
/// As [`handle`], and no other call uses the handle at the same time.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: as in `handle`; exclusive use is the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid(format!("{what} is null")))
}

/// Frees a handle made by `Box::into_raw`; null does nothing.
///
/// # Safety
///
/// `p` is null or a live handle of type `T` not used after this call.
pub(crate) unsafe fn destroy<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: made by `Box::into_raw` and given back exactly once, by contract.
        drop(unsafe { Box::from_raw(p) });
    }
}
