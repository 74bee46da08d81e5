//! Decoding of ONNX `TensorProto`s (initializers, `Constant` attributes, test data) into
//! [`Tensor`]s, including data stored in external files next to the model.
//!
//! Every size is checked against the bytes actually present before anything is allocated, so a
//! hostile file cannot make the importer allocate more than its own size.

use crate::error::OnnxError;
use crate::pb::{tensor_proto::DataType as PbType, TensorProto};
use half::{bf16, f16};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use tessera_ir::{checked_numel, DType, Tensor, TensorData};

/// Maps an ONNX `TensorProto.DataType` code to a Tessera dtype; `Err` names the unsupported
/// type.
pub fn dtype_from_onnx(code: i32) -> Result<DType, String> {
    let t = PbType::try_from(code).map_err(|_| format!("unknown tensor element type {code}"))?;
    Ok(match t {
        PbType::Float => DType::F32,
        PbType::Double => DType::F64,
        PbType::Float16 => DType::F16,
        PbType::Bfloat16 => DType::BF16,
        PbType::Int8 => DType::I8,
        PbType::Int16 => DType::I16,
        PbType::Int32 => DType::I32,
        PbType::Int64 => DType::I64,
        PbType::Uint8 => DType::U8,
        PbType::Uint16 => DType::U16,
        PbType::Uint32 => DType::U32,
        PbType::Uint64 => DType::U64,
        PbType::Bool => DType::Bool,
        PbType::Float8e4m3fn => DType::F8E4M3Fn,
        PbType::Float8e4m3fnuz => DType::F8E4M3FnUz,
        PbType::Float8e5m2 => DType::F8E5M2,
        PbType::Float8e5m2fnuz => DType::F8E5M2FnUz,
        PbType::Float8e8m0 => DType::F8E8M0,
        PbType::Float4e2m1 => DType::F4E2M1,
        PbType::Int4 => DType::I4,
        PbType::Uint4 => DType::U4,
        PbType::Int2 => DType::I2,
        PbType::Uint2 => DType::U2,
        other => {
            return Err(format!(
                "element type {} is not supported",
                other.as_str_name()
            ))
        }
    })
}

/// Maps a Tessera dtype to its ONNX `TensorProto.DataType` code.
pub fn dtype_to_onnx(d: DType) -> i32 {
    (match d {
        DType::F32 => PbType::Float,
        DType::F64 => PbType::Double,
        DType::F16 => PbType::Float16,
        DType::BF16 => PbType::Bfloat16,
        DType::I8 => PbType::Int8,
        DType::I16 => PbType::Int16,
        DType::I32 => PbType::Int32,
        DType::I64 => PbType::Int64,
        DType::U8 => PbType::Uint8,
        DType::U16 => PbType::Uint16,
        DType::U32 => PbType::Uint32,
        DType::U64 => PbType::Uint64,
        DType::Bool => PbType::Bool,
        DType::F8E4M3Fn => PbType::Float8e4m3fn,
        DType::F8E4M3FnUz => PbType::Float8e4m3fnuz,
        DType::F8E5M2 => PbType::Float8e5m2,
        DType::F8E5M2FnUz => PbType::Float8e5m2fnuz,
        DType::F8E8M0 => PbType::Float8e8m0,
        DType::F4E2M1 => PbType::Float4e2m1,
        DType::I4 => PbType::Int4,
        DType::U4 => PbType::Uint4,
        DType::I2 => PbType::Int2,
        DType::U2 => PbType::Uint2,
    }) as i32
}

fn malformed(name: &str, message: impl Into<String>) -> OnnxError {
    OnnxError::Malformed {
        what: format!("tensor '{name}'"),
        message: message.into(),
    }
}

/// Decodes `t`. `base_dir` is the model's folder, used for external data (`None` refuses it).
pub fn tensor_from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, OnnxError> {
    let name = t.name();
    let dtype = dtype_from_onnx(t.data_type.unwrap_or(0)).map_err(|m| malformed(name, m))?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(malformed(
                name,
                format!("negative dimension {d} in {:?}", t.dims),
            ));
        }
        shape.push(usize::try_from(d).map_err(|_| malformed(name, "dimension too large"))?);
    }
    let n = checked_numel(&shape).map_err(|e| malformed(name, e.to_string()))?;
    if t.segment.is_some() {
        return Err(malformed(name, "segmented tensors are not supported"));
    }
    let per_byte = 8 / dtype.bits().min(8);
    if t.data_location == Some(1) {
        let want = if per_byte > 1 {
            n.div_ceil(per_byte)
        } else {
            n * dtype.size()
        };
        let bytes = read_external(t, base_dir, want)?;
        return from_bytes(name, dtype, shape, n, &bytes);
    }
    if let Some(raw) = &t.raw_data {
        return from_bytes(name, dtype, shape, n, raw);
    }
    if per_byte > 1 {
        // Packed bytes, one per int32_data entry.
        let want = n.div_ceil(per_byte);
        if t.int32_data.len() != want {
            return Err(malformed(
                name,
                format!(
                    "shape {shape:?} needs {want} packed bytes but int32_data holds {}",
                    t.int32_data.len()
                ),
            ));
        }
        let bytes: Vec<u8> = t.int32_data.iter().map(|&x| x as u8).collect();
        return from_bytes(name, dtype, shape, n, &bytes);
    }
    let count = |len: usize, field: &str| -> Result<(), OnnxError> {
        if len != n {
            Err(malformed(
                name,
                format!("shape {shape:?} needs {n} values but {field} holds {len}"),
            ))
        } else {
            Ok(())
        }
    };
    let data = match dtype {
        DType::F32 => {
            count(t.float_data.len(), "float_data")?;
            TensorData::F32(t.float_data.clone())
        }
        DType::F64 => {
            count(t.double_data.len(), "double_data")?;
            TensorData::F64(t.double_data.clone())
        }
        DType::I64 => {
            count(t.int64_data.len(), "int64_data")?;
            TensorData::I64(t.int64_data.clone())
        }
        DType::U32 | DType::U64 => {
            count(t.uint64_data.len(), "uint64_data")?;
            if dtype == DType::U32 {
                TensorData::U32(t.uint64_data.iter().map(|&v| v as u32).collect())
            } else {
                TensorData::U64(t.uint64_data.clone())
            }
        }
        _ => {
            count(t.int32_data.len(), "int32_data")?;
            let v = &t.int32_data;
            match dtype {
                DType::I32 => TensorData::I32(v.clone()),
                DType::I16 => TensorData::I16(v.iter().map(|&x| x as i16).collect()),
                DType::I8 => TensorData::I8(v.iter().map(|&x| x as i8).collect()),
                DType::U16 => TensorData::U16(v.iter().map(|&x| x as u16).collect()),
                DType::U8 => TensorData::U8(v.iter().map(|&x| x as u8).collect()),
                DType::Bool => TensorData::Bool(v.iter().map(|&x| x != 0).collect()),
                DType::F16 => {
                    TensorData::F16(v.iter().map(|&x| f16::from_bits(x as u16)).collect())
                }
                DType::BF16 => {
                    TensorData::BF16(v.iter().map(|&x| bf16::from_bits(x as u16)).collect())
                }
                DType::F8E4M3Fn
                | DType::F8E4M3FnUz
                | DType::F8E5M2
                | DType::F8E5M2FnUz
                | DType::F8E8M0 => {
                    let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
                    return Tensor::from_le_bytes(dtype, shape, &bytes)
                        .map_err(|e| malformed(name, e.to_string()));
                }
                _ => return Err(malformed(name, "unexpected storage field")),
            }
        }
    };
    Tensor::new(shape, data).map_err(|e| malformed(name, e.to_string()))
}

/// Builds a tensor from raw bytes, unpacking the 4-bit (two per byte) and 2-bit (four per
/// byte) types, low bits first.
fn from_bytes(
    name: &str,
    dtype: DType,
    shape: Vec<usize>,
    n: usize,
    bytes: &[u8],
) -> Result<Tensor, OnnxError> {
    let bits = dtype.bits();
    let bytes = if bits < 8 {
        let per_byte = 8 / bits;
        let want = n.div_ceil(per_byte);
        if bytes.len() != want {
            return Err(malformed(
                name,
                format!(
                    "shape {shape:?} of {dtype} needs {want} packed bytes, found {}",
                    bytes.len()
                ),
            ));
        }
        unpack(bytes, bits, n)
    } else {
        bytes.to_vec()
    };
    Tensor::from_le_bytes(dtype, shape, &bytes).map_err(|e| malformed(name, e.to_string()))
}

/// Splits each byte into `8 / bits` fields, low bits first, keeping the first `n`.
pub fn unpack(bytes: &[u8], bits: usize, n: usize) -> Vec<u8> {
    let mask = ((1u16 << bits) - 1) as u8;
    bytes
        .iter()
        .flat_map(|&b| (0..8 / bits).map(move |i| (b >> (i * bits)) & mask))
        .take(n)
        .collect()
}

/// Packs `8 / bits` fields per byte, low bits first (the inverse of [`unpack`]).
pub fn pack(fields: &[u8], bits: usize) -> Vec<u8> {
    let mask = ((1u16 << bits) - 1) as u8;
    fields
        .chunks(8 / bits)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (i, &f)| acc | ((f & mask) << (i * bits)))
        })
        .collect()
}

/// Reads the external data of `t`, refusing paths that escape `base_dir` and ranges beyond
/// the end of the file.
fn read_external(
    t: &TensorProto,
    base_dir: Option<&Path>,
    want: usize,
) -> Result<Vec<u8>, OnnxError> {
    let name = t.name();
    let base = base_dir.ok_or_else(|| {
        malformed(
            name,
            "external data is not allowed for models loaded from memory",
        )
    })?;
    let (mut location, mut offset, mut length) = (None, 0u64, None);
    for kv in &t.external_data {
        match kv.key() {
            "location" => location = Some(kv.value().to_string()),
            "offset" => {
                offset = kv
                    .value()
                    .parse()
                    .map_err(|_| malformed(name, "bad external data offset"))?
            }
            "length" => {
                length = Some(
                    kv.value()
                        .parse::<u64>()
                        .map_err(|_| malformed(name, "bad external data length"))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or_else(|| malformed(name, "external data without a location"))?;
    let rel = Path::new(&location);
    if rel.is_absolute()
        || rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(malformed(
            name,
            format!("external data path '{location}' leaves the model's folder"),
        ));
    }
    let base_c = base
        .canonicalize()
        .map_err(|e| malformed(name, format!("model folder: {e}")))?;
    let path = base_c.join(rel);
    let path_c = path
        .canonicalize()
        .map_err(|e| malformed(name, format!("external data file '{location}': {e}")))?;
    if !path_c.starts_with(&base_c) {
        return Err(malformed(
            name,
            format!("external data path '{location}' leaves the model's folder"),
        ));
    }
    let mut f = std::fs::File::open(&path_c)
        .map_err(|e| malformed(name, format!("external data file '{location}': {e}")))?;
    let file_len = f
        .metadata()
        .map_err(|e| malformed(name, e.to_string()))?
        .len();
    let len = length.unwrap_or(want as u64);
    if len != want as u64 {
        return Err(malformed(
            name,
            format!("external data length {len} does not match the {want} bytes the shape needs"),
        ));
    }
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(malformed(
            name,
            format!(
                "external data range {offset}+{len} exceeds file '{location}' of {file_len} bytes"
            ),
        ));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| malformed(name, e.to_string()))?;
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf)
        .map_err(|e| malformed(name, e.to_string()))?;
    Ok(buf)
}

/// Encodes a tensor as a `TensorProto` with raw data.
pub fn tensor_to_proto(t: &Tensor, name: &str) -> TensorProto {
    TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype_to_onnx(t.dtype())),
        name: Some(name.to_string()),
        raw_data: Some(if t.dtype().bits() < 8 {
            pack(&t.to_le_bytes(), t.dtype().bits())
        } else {
            t.to_le_bytes()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_round_trip() {
        use tessera_ir::{Element, I2, I4, U4};
        let t = Tensor::from_vec(vec![3], [-8i64, 7, -1].map(I4::from_i64).to_vec()).unwrap();
        let p = tensor_to_proto(&t, "x");
        assert_eq!(p.raw_data.as_deref(), Some(&[0x78u8, 0x0F][..]));
        assert_eq!(tensor_from_proto(&p, None).unwrap(), t);
        let t = Tensor::from_vec(vec![5], [1i64, -2, 0, -1, 1].map(I2::from_i64).to_vec()).unwrap();
        let p = tensor_to_proto(&t, "x");
        assert_eq!(p.raw_data.as_deref(), Some(&[0b1100_1001u8, 0x01][..]));
        assert_eq!(tensor_from_proto(&p, None).unwrap(), t);
        // int32_data holds the packed bytes.
        let mut q = tensor_to_proto(
            &Tensor::from_vec(vec![2], [3i64, 12].map(U4::from_i64).to_vec()).unwrap(),
            "u",
        );
        q.raw_data = None;
        q.int32_data = vec![0xC3];
        assert_eq!(
            tensor_from_proto(&q, None).unwrap().to_i64_vec(),
            vec![3, 12]
        );
        q.int32_data = vec![0xC3, 0];
        assert!(tensor_from_proto(&q, None).is_err());
    }

    #[test]
    fn round_trip_and_checks() {
        let t = Tensor::from_vec(vec![2, 3], vec![1i64, 2, 3, 4, 5, 6]).unwrap();
        let p = tensor_to_proto(&t, "x");
        assert_eq!(tensor_from_proto(&p, None).unwrap(), t);
        let mut bad = p.clone();
        bad.dims = vec![1 << 20, 1 << 20];
        assert!(tensor_from_proto(&bad, None)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        let mut neg = p;
        neg.dims = vec![-1];
        assert!(tensor_from_proto(&neg, None)
            .unwrap_err()
            .to_string()
            .contains("negative"));
    }
}
