//! Element types of tensors and the [`Element`] trait that ties a Rust scalar type to its
//! [`DType`].

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor.
///
/// Covers every numeric ONNX tensor type plus `bool`. Strings and complex numbers are not tensor
/// element types in Tessera; importers reject them with a clear error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16: the top 16 bits of a binary32.
    BF16,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Boolean, one byte per element (0 or 1).
    Bool,
    /// FLOAT8E4M3FN (see [`crate::lowp`]; like every low-precision type, one element per byte).
    F8E4M3Fn,
    /// FLOAT8E4M3FNUZ.
    F8E4M3FnUz,
    /// FLOAT8E5M2.
    F8E5M2,
    /// FLOAT8E5M2FNUZ.
    F8E5M2FnUz,
    /// FLOAT8E8M0 (unsigned power of two).
    F8E8M0,
    /// FLOAT4E2M1, unpacked (one element per byte).
    F4E2M1,
    /// INT4, unpacked.
    I4,
    /// UINT4, unpacked.
    U4,
    /// INT2, unpacked.
    I2,
    /// UINT2, unpacked.
    U2,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 23] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
        DType::F8E4M3Fn,
        DType::F8E4M3FnUz,
        DType::F8E5M2,
        DType::F8E5M2FnUz,
        DType::F8E8M0,
        DType::F4E2M1,
        DType::I4,
        DType::U4,
        DType::I2,
        DType::U2,
    ];

    /// Size of one element in bytes, in Tessera's (unpacked) storage.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8
            | DType::U8
            | DType::Bool
            | DType::F8E4M3Fn
            | DType::F8E4M3FnUz
            | DType::F8E5M2
            | DType::F8E5M2FnUz
            | DType::F8E8M0
            | DType::F4E2M1
            | DType::I4
            | DType::U4
            | DType::I2
            | DType::U2 => 1,
        }
    }

    /// Width of one element in bits as ONNX stores it (4 and 2 for the packed types).
    pub fn bits(self) -> usize {
        match self {
            DType::F4E2M1 | DType::I4 | DType::U4 => 4,
            DType::I2 | DType::U2 => 2,
            d => d.size() * 8,
        }
    }

    /// True for the low-precision storage types (float8, float4, 4- and 2-bit integers). They
    /// support conversion (`Cast`, quantization) and data movement, not arithmetic.
    pub fn is_low_precision(self) -> bool {
        self.is_low_precision_float() || self.is_low_precision_int()
    }

    /// True for the float8 types and FLOAT4E2M1.
    pub fn is_low_precision_float(self) -> bool {
        matches!(
            self,
            DType::F8E4M3Fn
                | DType::F8E4M3FnUz
                | DType::F8E5M2
                | DType::F8E5M2FnUz
                | DType::F8E8M0
                | DType::F4E2M1
        )
    }

    /// True for INT4, UINT4, INT2, UINT2.
    pub fn is_low_precision_int(self) -> bool {
        matches!(self, DType::I4 | DType::U4 | DType::I2 | DType::U2)
    }

    /// True for the arithmetic floating-point types (not the low-precision ones).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// True for the arithmetic signed and unsigned integer types (not `Bool`, not the
    /// low-precision ones).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::I8
                | DType::I16
                | DType::I32
                | DType::I64
                | DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
        )
    }

    /// True for signed integer types.
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }

    /// True for the arithmetic types: every type but `Bool` and the low-precision ones.
    pub fn is_numeric(self) -> bool {
        self != DType::Bool && !self.is_low_precision()
    }

    /// Lower-case name as used in the text dump and the docs (`f32`, `i64`, `bool`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
            DType::F8E4M3Fn => "f8e4m3fn",
            DType::F8E4M3FnUz => "f8e4m3fnuz",
            DType::F8E5M2 => "f8e5m2",
            DType::F8E5M2FnUz => "f8e5m2fnuz",
            DType::F8E8M0 => "f8e8m0",
            DType::F4E2M1 => "f4e2m1",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I2 => "i2",
            DType::U2 => "u2",
        }
    }

    /// Parses a name produced by [`DType::name`].
    pub fn from_name(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust scalar type that can be a tensor element.
///
/// Implemented for `f32`, `f64`, [`f16`], [`bf16`], the fixed-width integers and `bool`.
pub trait Element: Copy + Send + Sync + PartialEq + fmt::Debug + Default + 'static {
    /// The dtype this type represents.
    const DTYPE: DType;
    /// Converts to `f64` (exactly for every type but `u64`/`i64` beyond 2^53).
    fn to_f64(self) -> f64;
    /// Converts from `f64` with ONNX `Cast` semantics: floats round to nearest, integers
    /// truncate toward zero and wrap (as C casts do on the platforms ONNX Runtime targets),
    /// `bool` is `x != 0`.
    fn from_f64(v: f64) -> Self;
    /// Converts to `i64` (floats truncate toward zero).
    fn to_i64(self) -> i64;
    /// Converts from `i64` with wrapping for narrower integers.
    fn from_i64(v: i64) -> Self;
}

macro_rules! int_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                if v.is_nan() {
                    0
                } else {
                    // Truncate toward zero, then wrap into the target width.
                    (v.trunc() as i128) as $t
                }
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
        }
    };
}
int_element!(i8, I8);
int_element!(i16, I16);
int_element!(i32, I32);
int_element!(i64, I64);
int_element!(u8, U8);
int_element!(u16, U16);
int_element!(u32, U32);
int_element!(u64, U64);

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v as f64
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    #[inline]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self.to_f32() as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        f16::from_f64(v as f64)
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self.to_f32() as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        bf16::from_f64(v as f64)
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
    }

    #[test]
    fn cast_semantics() {
        assert_eq!(i8::from_f64(-1.7), -1);
        assert_eq!(u8::from_f64(300.0), 44);
        assert_eq!(i32::from_f64(f64::NAN), 0);
        assert!(bool::from_f64(0.5));
    }
}
