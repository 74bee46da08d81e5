//! Host tensors: a shape plus typed element storage, shared cheaply by reference count.
//!
//! [`Tensor`] is what constants, test data and CPU kernels work with. Storage is an enum of
//! typed vectors ([`TensorData`]), so every access is checked against the dtype; the
//! [`dispatch_dtype!`](crate::dispatch_dtype) macro turns one generic body into a match over
//! every dtype.

use crate::dtype::{DType, Element};
use crate::error::IrError;
use crate::lowp::{
    self, F8E4M3Fn, F8E4M3FnUz, F8E5M2FnUz, RoundMode, F4E2M1, F8E5M2, F8E8M0, I2, I4, U2, U4,
};
use half::{bf16, f16};
use std::sync::Arc;

/// The largest number of elements a single tensor may hold (2^32, i.e. 16 GiB of f32).
///
/// Every size computed from untrusted input (a model file, an input array, a shape tensor read
/// at run time) is checked against this before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 32;

/// Typed element storage of a tensor, in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    F8E4M3Fn(Vec<F8E4M3Fn>),
    F8E4M3FnUz(Vec<F8E4M3FnUz>),
    F8E5M2(Vec<F8E5M2>),
    F8E5M2FnUz(Vec<F8E5M2FnUz>),
    F8E8M0(Vec<F8E8M0>),
    F4E2M1(Vec<F4E2M1>),
    I4(Vec<I4>),
    U4(Vec<U4>),
    I2(Vec<I2>),
    U2(Vec<U2>),
}

/// Expands `$body` once per dtype with `$T` bound to the element type of `$dtype`.
///
/// The second form, `dispatch_dtype!(d, T => body, lowp l => fallback)`, expands `body` only
/// for the arithmetic dtypes and evaluates `fallback` (with `l` bound to the dtype) for the
/// low-precision ones, for kernels that have no meaning on them.
///
/// ```
/// use tessera_ir::{dispatch_dtype, DType, Element};
/// fn size_of(d: DType) -> usize {
///     dispatch_dtype!(d, T => std::mem::size_of::<T>())
/// }
/// assert_eq!(size_of(DType::BF16), 2);
/// ```
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {{
        use $crate::DType as __D;
        match $dtype {
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            __D::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            __D::Bool => {
                type $T = bool;
                $body
            }
            __D::F8E4M3Fn => {
                type $T = $crate::lowp::F8E4M3Fn;
                $body
            }
            __D::F8E4M3FnUz => {
                type $T = $crate::lowp::F8E4M3FnUz;
                $body
            }
            __D::F8E5M2 => {
                type $T = $crate::lowp::F8E5M2;
                $body
            }
            __D::F8E5M2FnUz => {
                type $T = $crate::lowp::F8E5M2FnUz;
                $body
            }
            __D::F8E8M0 => {
                type $T = $crate::lowp::F8E8M0;
                $body
            }
            __D::F4E2M1 => {
                type $T = $crate::lowp::F4E2M1;
                $body
            }
            __D::I4 => {
                type $T = $crate::lowp::I4;
                $body
            }
            __D::U4 => {
                type $T = $crate::lowp::U4;
                $body
            }
            __D::I2 => {
                type $T = $crate::lowp::I2;
                $body
            }
            __D::U2 => {
                type $T = $crate::lowp::U2;
                $body
            }
        }
    }};
    ($dtype:expr, $T:ident => $body:expr, lowp $L:ident => $fallback:expr) => {{
        use $crate::DType as __D;
        match $dtype {
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            __D::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            __D::Bool => {
                type $T = bool;
                $body
            }
            $L @ (__D::F8E4M3Fn
            | __D::F8E4M3FnUz
            | __D::F8E5M2
            | __D::F8E5M2FnUz
            | __D::F8E8M0
            | __D::F4E2M1
            | __D::I4
            | __D::U4
            | __D::I2
            | __D::U2) => $fallback,
        }
    }};
}

/// Typed access to [`TensorData`] for one element type.
pub trait Storage: Element {
    /// The slice if `data` holds this type.
    fn slice(data: &TensorData) -> Option<&[Self]>;
    /// The mutable vector if `data` holds this type.
    fn vec_mut(data: &mut TensorData) -> Option<&mut Vec<Self>>;
    /// Wraps a vector as storage.
    fn wrap(v: Vec<Self>) -> TensorData;
}

macro_rules! storage {
    ($t:ty, $v:ident) => {
        impl Storage for $t {
            #[inline]
            fn slice(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$v(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn vec_mut(data: &mut TensorData) -> Option<&mut Vec<Self>> {
                match data {
                    TensorData::$v(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn wrap(v: Vec<Self>) -> TensorData {
                TensorData::$v(v)
            }
        }
    };
}
storage!(f32, F32);
storage!(f64, F64);
storage!(f16, F16);
storage!(bf16, BF16);
storage!(i8, I8);
storage!(i16, I16);
storage!(i32, I32);
storage!(i64, I64);
storage!(u8, U8);
storage!(u16, U16);
storage!(u32, U32);
storage!(u64, U64);
storage!(bool, Bool);
storage!(F8E4M3Fn, F8E4M3Fn);
storage!(F8E4M3FnUz, F8E4M3FnUz);
storage!(F8E5M2, F8E5M2);
storage!(F8E5M2FnUz, F8E5M2FnUz);
storage!(F8E8M0, F8E8M0);
storage!(F4E2M1, F4E2M1);
storage!(I4, I4);
storage!(U4, U4);
storage!(I2, I2);
storage!(U2, U2);

impl TensorData {
    /// The dtype of the stored elements.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::Bool(_) => DType::Bool,
            TensorData::F8E4M3Fn(_) => DType::F8E4M3Fn,
            TensorData::F8E4M3FnUz(_) => DType::F8E4M3FnUz,
            TensorData::F8E5M2(_) => DType::F8E5M2,
            TensorData::F8E5M2FnUz(_) => DType::F8E5M2FnUz,
            TensorData::F8E8M0(_) => DType::F8E8M0,
            TensorData::F4E2M1(_) => DType::F4E2M1,
            TensorData::I4(_) => DType::I4,
            TensorData::U4(_) => DType::U4,
            TensorData::I2(_) => DType::I2,
            TensorData::U2(_) => DType::U2,
        }
    }

    /// Number of stored elements.
    pub fn len(&self) -> usize {
        dispatch_dtype!(self.dtype(), T => T::slice(self).map_or(0, |s| s.len()))
    }

    /// True when no elements are stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` default (zero / false) elements of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        dispatch_dtype!(dtype, T => T::wrap(vec![T::default(); n]))
    }
}

/// A host tensor: a concrete shape and row-major storage.
///
/// Cloning is cheap (the storage is reference counted); mutation goes through
/// [`Tensor::data_mut`], which copies only when the storage is shared.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<TensorData>,
}

/// Number of elements of `shape`, or an error when it overflows or exceeds [`MAX_ELEMENTS`].
pub fn checked_numel(shape: &[usize]) -> Result<usize, IrError> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| IrError::TooLarge {
                shape: shape.to_vec(),
            })?;
    }
    Ok(n)
}

impl Tensor {
    /// Builds a tensor from a shape and storage; fails when their sizes disagree.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, IrError> {
        let n = checked_numel(&shape)?;
        if n != data.len() {
            return Err(IrError::ShapeDataMismatch {
                shape,
                len: data.len(),
            });
        }
        Ok(Tensor {
            shape,
            data: Arc::new(data),
        })
    }

    /// Builds a tensor from a typed vector.
    pub fn from_vec<T: Storage>(shape: Vec<usize>, v: Vec<T>) -> Result<Tensor, IrError> {
        Tensor::new(shape, T::wrap(v))
    }

    /// A rank-0 tensor holding `v`.
    pub fn scalar<T: Storage>(v: T) -> Tensor {
        Tensor {
            shape: vec![],
            data: Arc::new(T::wrap(vec![v])),
        }
    }

    /// A zero-filled tensor.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor, IrError> {
        let n = checked_numel(&shape)?;
        Ok(Tensor {
            shape,
            data: Arc::new(TensorData::zeros(dtype, n)),
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the element data in bytes.
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// The storage.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Mutable storage; copies first if the storage is shared with another tensor.
    pub fn data_mut(&mut self) -> &mut TensorData {
        Arc::make_mut(&mut self.data)
    }

    /// The elements as a typed slice; fails when `T` is not the tensor's dtype.
    pub fn as_slice<T: Storage>(&self) -> Result<&[T], IrError> {
        T::slice(&self.data).ok_or(IrError::DTypeMismatch {
            expected: T::DTYPE,
            found: self.dtype(),
        })
    }

    /// The elements as a mutable typed vector (copy-on-write).
    pub fn as_mut_vec<T: Storage>(&mut self) -> Result<&mut Vec<T>, IrError> {
        let found = self.dtype();
        T::vec_mut(Arc::make_mut(&mut self.data)).ok_or(IrError::DTypeMismatch {
            expected: T::DTYPE,
            found,
        })
    }

    /// Same data, new shape of equal element count (no copy).
    pub fn reshape(&self, shape: Vec<usize>) -> Result<Tensor, IrError> {
        let n = checked_numel(&shape)?;
        if n != self.len() {
            return Err(IrError::ShapeDataMismatch {
                shape,
                len: self.len(),
            });
        }
        Ok(Tensor {
            shape,
            data: self.data.clone(),
        })
    }

    /// Every element converted to `f64` (for tests, references and small index tensors).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        dispatch_dtype!(self.dtype(), T => T::slice(&self.data)
            .map(|s| s.iter().map(|x| x.to_f64()).collect())
            .unwrap_or_default())
    }

    /// Every element converted to `i64` (for shape, axis and index tensors).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        dispatch_dtype!(self.dtype(), T => T::slice(&self.data)
            .map(|s| s.iter().map(|x| x.to_i64()).collect())
            .unwrap_or_default())
    }

    /// The tensor's elements converted to `dtype` with ONNX `Cast` rules (via `f64`, or
    /// exactly via `i64` between integer types).
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let src = self.dtype();
        let data = dispatch_dtype!(dtype, O => {
            let v: Vec<O> = if dtype.is_int() && (src.is_int() || src == DType::Bool) {
                self.to_i64_vec().into_iter().map(O::from_i64).collect()
            } else {
                self.to_f64_vec().into_iter().map(O::from_f64).collect()
            };
            O::wrap(v)
        });
        Tensor {
            shape: self.shape.clone(),
            data: Arc::new(data),
        }
    }

    /// Like [`Tensor::cast`], with the ONNX `Cast` options for float8 targets: `saturate`
    /// (out-of-range values clamp to ±max rather than becoming ∞/NaN) and the FLOAT8E8M0
    /// `round_mode`. Other targets ignore them.
    pub fn cast_with(&self, dtype: DType, saturate: bool, round_mode: RoundMode) -> Tensor {
        if dtype == self.dtype()
            || !dtype.is_low_precision_float()
            || (saturate && round_mode == RoundMode::Up)
        {
            return self.cast(dtype);
        }
        let bytes: Vec<u8> = self
            .to_f64_vec()
            .into_iter()
            .map(|v| lowp::encode_bits(dtype, v, saturate, round_mode).unwrap_or(0))
            .collect();
        // One byte per element of a low-precision dtype: the sizes always agree.
        Tensor::from_le_bytes(dtype, self.shape.clone(), &bytes)
            .unwrap_or_else(|_| self.cast(dtype))
    }

    /// The raw little-endian bytes of the elements (`bool` as 0/1 bytes, low-precision types
    /// as one byte each: the float code, or the integer's two's complement bits).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        match &*self.data {
            TensorData::F32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::F64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::F16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::BF16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::I8(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::I16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::I32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::I64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::U8(v) => out.extend_from_slice(v),
            TensorData::U16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::U32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::U64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TensorData::Bool(v) => v.iter().for_each(|&x| out.push(x as u8)),
            TensorData::F8E4M3Fn(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::F8E4M3FnUz(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::F8E5M2(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::F8E5M2FnUz(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::F8E8M0(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::F4E2M1(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::I4(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::U4(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::I2(v) => v.iter().for_each(|x| out.push(x.to_bits())),
            TensorData::U2(v) => v.iter().for_each(|x| out.push(x.to_bits())),
        }
        out
    }

    /// Builds a tensor from raw little-endian bytes (one byte per element for the low-precision
    /// types, bits beyond the type's width ignored); fails when the byte count does not match
    /// the shape.
    pub fn from_le_bytes(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Result<Tensor, IrError> {
        let n = checked_numel(&shape)?;
        let want = n
            .checked_mul(dtype.size())
            .ok_or_else(|| IrError::TooLarge {
                shape: shape.clone(),
            })?;
        if bytes.len() != want {
            return Err(IrError::ByteLength {
                dtype,
                shape,
                expected: want,
                found: bytes.len(),
            });
        }
        macro_rules! le {
            ($t:ty, $w:expr) => {
                bytes
                    .chunks_exact($w)
                    .map(|c| {
                        let mut a = [0u8; $w];
                        a.copy_from_slice(c);
                        <$t>::from_le_bytes(a)
                    })
                    .collect::<Vec<$t>>()
            };
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(le!(f32, 4)),
            DType::F64 => TensorData::F64(le!(f64, 8)),
            DType::F16 => TensorData::F16(le!(f16, 2)),
            DType::BF16 => TensorData::BF16(le!(bf16, 2)),
            DType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::I16 => TensorData::I16(le!(i16, 2)),
            DType::I32 => TensorData::I32(le!(i32, 4)),
            DType::I64 => TensorData::I64(le!(i64, 8)),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::U16 => TensorData::U16(le!(u16, 2)),
            DType::U32 => TensorData::U32(le!(u32, 4)),
            DType::U64 => TensorData::U64(le!(u64, 8)),
            DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DType::F8E4M3Fn => {
                TensorData::F8E4M3Fn(bytes.iter().map(|&b| F8E4M3Fn::from_bits(b)).collect())
            }
            DType::F8E4M3FnUz => {
                TensorData::F8E4M3FnUz(bytes.iter().map(|&b| F8E4M3FnUz::from_bits(b)).collect())
            }
            DType::F8E5M2 => {
                TensorData::F8E5M2(bytes.iter().map(|&b| F8E5M2::from_bits(b)).collect())
            }
            DType::F8E5M2FnUz => {
                TensorData::F8E5M2FnUz(bytes.iter().map(|&b| F8E5M2FnUz::from_bits(b)).collect())
            }
            DType::F8E8M0 => {
                TensorData::F8E8M0(bytes.iter().map(|&b| F8E8M0::from_bits(b)).collect())
            }
            DType::F4E2M1 => {
                TensorData::F4E2M1(bytes.iter().map(|&b| F4E2M1::from_bits(b)).collect())
            }
            DType::I4 => TensorData::I4(bytes.iter().map(|&b| I4::from_bits(b)).collect()),
            DType::U4 => TensorData::U4(bytes.iter().map(|&b| U4::from_bits(b)).collect()),
            DType::I2 => TensorData::I2(bytes.iter().map(|&b| I2::from_bits(b)).collect()),
            DType::U2 => TensorData::U2(bytes.iter().map(|&b| U2::from_bits(b)).collect()),
        };
        Tensor::new(shape, data)
    }

    /// A short human-readable summary: dtype, shape and a few statistics.
    pub fn summary(&self) -> String {
        let v = self.to_f64_vec();
        let shape = format!("{:?}", self.shape);
        if v.is_empty() {
            return format!("{} {shape} (empty)", self.dtype());
        }
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &x in &v {
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x;
        }
        let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:.5}")).collect();
        format!(
            "{} {shape} min {lo:.5} max {hi:.5} mean {:.5} [{}{}]",
            self.dtype(),
            sum / v.len() as f64,
            head.join(", "),
            if v.len() > 4 { ", …" } else { "" }
        )
    }
}

/// Row-major strides (in elements) of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let t = Tensor::from_vec(vec![2, 2], vec![1.5f32, -2.0, 0.0, 7.25]).unwrap();
        let b = t.to_le_bytes();
        assert_eq!(
            Tensor::from_le_bytes(DType::F32, vec![2, 2], &b).unwrap(),
            t
        );
        assert!(Tensor::from_le_bytes(DType::F32, vec![3], &b).is_err());
    }

    #[test]
    fn rejects_absurd_sizes() {
        assert!(Tensor::zeros(DType::F32, vec![1 << 20, 1 << 20]).is_err());
        assert!(checked_numel(&[usize::MAX, 2]).is_err());
    }

    #[test]
    fn cast_ints_exactly() {
        let t = Tensor::from_vec(vec![2], vec![i64::MAX, -1]).unwrap();
        assert_eq!(t.cast(DType::I32).to_i64_vec(), vec![-1, -1]);
        assert_eq!(t.cast(DType::U8).to_i64_vec(), vec![255, 255]);
    }
}
