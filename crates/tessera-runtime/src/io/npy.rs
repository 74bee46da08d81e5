//! The `.npy` format: a magic string, a version, a Python-literal header and the raw data.

use super::pylit::{self, Lit};
use super::{io_error, NpyError};
use std::path::Path;
use tessera_ir::{checked_numel, DType, Tensor};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

fn format_err(message: impl Into<String>) -> NpyError {
    NpyError::Format {
        what: "npy file".into(),
        message: message.into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Little,
    Big,
}

/// Maps a NumPy type descriptor to a dtype and byte order.
fn parse_descr(descr: &str) -> Option<(DType, Endian)> {
    let (order, code) = match descr.as_bytes().first()? {
        b'<' => (Some(Endian::Little), &descr[1..]),
        b'>' => (Some(Endian::Big), &descr[1..]),
        b'|' => (None, &descr[1..]),
        b'=' => (
            Some(if cfg!(target_endian = "big") {
                Endian::Big
            } else {
                Endian::Little
            }),
            &descr[1..],
        ),
        _ => (None, descr),
    };
    let dtype = match code {
        "f2" | "e" => DType::F16,
        "f4" | "f" => DType::F32,
        "f8" | "d" => DType::F64,
        "i1" | "b" => DType::I8,
        "i2" | "h" => DType::I16,
        "i4" | "i" => DType::I32,
        "i8" | "q" => DType::I64,
        "u1" | "B" => DType::U8,
        "u2" | "H" => DType::U16,
        "u4" | "I" => DType::U32,
        "u8" | "Q" => DType::U64,
        "b1" | "?" => DType::Bool,
        _ => return None,
    };
    // A byte order is meaningless for one-byte types; a missing one on wider types means
    // native order only in the single-character forms.
    let order = match (order, dtype.size()) {
        (_, 1) => Endian::Little,
        (Some(o), _) => o,
        (None, _) if code.len() == 1 => {
            if cfg!(target_endian = "big") {
                Endian::Big
            } else {
                Endian::Little
            }
        }
        (None, _) => return None,
    };
    Some((dtype, order))
}

fn descr_of(dtype: DType) -> Result<&'static str, NpyError> {
    Ok(match dtype {
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        DType::BF16 => {
            return Err(NpyError::Unrepresentable {
                dtype,
                reason: "NumPy has no bfloat16 dtype; cast the tensor to f32 first (exact)".into(),
            })
        }
        d if d.is_low_precision() => {
            return Err(NpyError::Unrepresentable {
                dtype,
                reason: "NumPy has no such dtype; cast the tensor to f32 first (exact)".into(),
            })
        }
        _ => {
            return Err(NpyError::Unrepresentable {
                dtype,
                reason: "unsupported dtype".into(),
            })
        }
    })
}

struct Header {
    dtype: DType,
    endian: Endian,
    fortran: bool,
    shape: Vec<usize>,
    data_start: usize,
}

fn parse_header(bytes: &[u8], entry: &str) -> Result<Header, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(format_err("not a .npy file (bad magic string)"));
    }
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(format_err("truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format_err(format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            format_err(format!(
                "header of {len} bytes is longer than the file ({} bytes)",
                bytes.len()
            ))
        })?;
    let text =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| format_err("header is not UTF-8"))?;
    let Lit::Dict(entries) = pylit::parse(text).map_err(|m| format_err(format!("header: {m}")))?
    else {
        return Err(format_err("header is not a dict"));
    };
    let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(Lit::Str(s)) => s.clone(),
        Some(other) => {
            return Err(NpyError::UnsupportedDType {
                descr: format!("{other:?}"),
                entry: entry.into(),
            })
        }
        None => return Err(format_err("header has no 'descr'")),
    };
    let (dtype, endian) = parse_descr(&descr).ok_or(NpyError::UnsupportedDType {
        descr,
        entry: entry.into(),
    })?;
    let fortran = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        None => false,
        Some(_) => return Err(format_err("'fortran_order' is not a boolean")),
    };
    let shape = match get("shape") {
        Some(Lit::Tuple(dims)) => {
            dims.iter()
                .map(|d| match d {
                    Lit::Int(n) => usize::try_from(*n)
                        .map_err(|_| format_err(format!("invalid dimension {n}"))),
                    _ => Err(format_err("shape has a non-integer dimension")),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(Lit::Int(n)) => {
            vec![usize::try_from(*n).map_err(|_| format_err(format!("invalid dimension {n}")))?]
        }
        _ => return Err(format_err("header has no 'shape' tuple")),
    };
    Ok(Header {
        dtype,
        endian,
        fortran,
        shape,
        data_start: end,
    })
}

/// Reorders column-major element bytes into row-major order.
fn fortran_to_c(data: &[u8], shape: &[usize], elem: usize) -> Vec<u8> {
    let rank = shape.len();
    let n: usize = shape.iter().product();
    let mut fstride = vec![1usize; rank];
    for k in 1..rank {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        let src: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&data[src * elem..(src + 1) * elem]);
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

pub(crate) fn read_entry(bytes: &[u8], entry: &str) -> Result<Tensor, NpyError> {
    let h = parse_header(bytes, entry)?;
    let n = checked_numel(&h.shape)?;
    let elem = h.dtype.size();
    let need = n
        .checked_mul(elem)
        .ok_or_else(|| format_err("array too large"))?;
    let data = &bytes[h.data_start..];
    if data.len() != need {
        return Err(format_err(format!(
            "a {} array of shape {:?} needs {need} data bytes, the file has {}",
            h.dtype,
            h.shape,
            data.len()
        )));
    }
    let mut owned;
    let mut data = data;
    if h.endian == Endian::Big && elem > 1 {
        owned = data.to_vec();
        owned.chunks_exact_mut(elem).for_each(|c| c.reverse());
        data = &owned;
    }
    if h.fortran && h.shape.len() > 1 {
        owned = fortran_to_c(data, &h.shape, elem);
        data = &owned;
    }
    Ok(Tensor::from_le_bytes(h.dtype, h.shape, data)?)
}

/// Decodes a `.npy` file held in memory.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Tensor, NpyError> {
    read_entry(bytes, "")
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    read_npy_bytes(&bytes).map_err(|e| match e {
        NpyError::Format { what, message } => NpyError::Format {
            what: format!("{what} {}", path.display()),
            message,
        },
        other => other,
    })
}

/// Encodes `t` as a `.npy` file (format version 1.0, or 2.0 for very long headers).
pub fn npy_bytes(t: &Tensor) -> Result<Vec<u8>, NpyError> {
    let descr = descr_of(t.dtype())?;
    let shape = match t.shape() {
        [d] => format!("({d},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2 or 4) + header, padded with spaces to a multiple of
    // 64 and terminated by a newline.
    let prefix = if header.len() + 11 <= u16::MAX as usize {
        10
    } else {
        12
    };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.extend(std::iter::repeat_n(' ', total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + t.byte_len());
    out.extend_from_slice(MAGIC);
    if prefix == 10 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        let len = u32::try_from(header.len()).map_err(|_| format_err("header too long"))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&t.to_le_bytes());
    Ok(out)
}

/// Writes `t` to a `.npy` file.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), NpyError> {
    let bytes = npy_bytes(t)?;
    std::fs::write(path, bytes).map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::half::{bf16, f16};

    fn every_dtype() -> Vec<Tensor> {
        vec![
            Tensor::from_vec(
                vec![2, 3],
                vec![1.5f32, -2.0, 0.0, 3.25, f32::INFINITY, -0.0],
            )
            .unwrap(),
            Tensor::from_vec(vec![2], vec![1e300f64, -7.0]).unwrap(),
            Tensor::from_vec(
                vec![3],
                vec![f16::from_f32(0.5), f16::MAX, f16::NEG_INFINITY],
            )
            .unwrap(),
            Tensor::from_vec(vec![2], vec![-128i8, 127]).unwrap(),
            Tensor::from_vec(vec![2], vec![-300i16, 300]).unwrap(),
            Tensor::from_vec(vec![1, 2], vec![i32::MIN, i32::MAX]).unwrap(),
            Tensor::from_vec(vec![2, 1], vec![i64::MIN, i64::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u8, 255]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u16, 65535]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u32, u32::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u64, u64::MAX]).unwrap(),
            Tensor::from_vec(vec![2, 2], vec![true, false, false, true]).unwrap(),
            Tensor::scalar(42.0f32),
            Tensor::from_vec(vec![0, 3], Vec::<f32>::new()).unwrap(),
        ]
    }

    #[test]
    fn round_trip_every_dtype() {
        for t in every_dtype() {
            let b = npy_bytes(&t).unwrap();
            assert_eq!(&b[..6], MAGIC);
            let header_end = 10 + u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!(header_end % 64, 0, "header is padded to 64 bytes");
            assert_eq!(b[header_end - 1], b'\n');
            assert_eq!(read_npy_bytes(&b).unwrap(), t, "{}", t.dtype());
        }
    }

    #[test]
    fn bf16_is_refused() {
        let t = Tensor::from_vec(vec![1], vec![bf16::ONE]).unwrap();
        let e = npy_bytes(&t).unwrap_err();
        assert!(
            matches!(
                e,
                NpyError::Unrepresentable {
                    dtype: DType::BF16,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("cast"), "{e}");
    }

    fn handmade(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn big_endian_and_fortran_order() {
        let data: Vec<u8> = [1i32, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let b = handmade(
            "{'descr': '>i4', 'fortran_order': False, 'shape': (6,), }\n",
            &data,
        );
        let t = read_npy_bytes(&b).unwrap();
        assert_eq!(t.as_slice::<i32>().unwrap(), &[1, 2, 3, 4, 5, 6]);
        // Column-major [[1, 2, 3], [4, 5, 6]] is stored as 1 4 2 5 3 6.
        let data: Vec<u8> = [1i32, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b = handmade(
            "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }\n",
            &data,
        );
        let t = read_npy_bytes(&b).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice::<i32>().unwrap(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn untrusted_headers() {
        let f4 = |shape: &str| {
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n")
        };
        // Claims far more data than present: refused before allocating.
        let b = handmade(&f4("(1000000000000,)"), &[0; 8]);
        assert!(read_npy_bytes(&b).is_err());
        let b = handmade(&f4("(4294967296, 4294967296)"), &[]);
        assert!(read_npy_bytes(&b).is_err());
        let b = handmade(&f4("(-1,)"), &[]);
        assert!(read_npy_bytes(&b).is_err());
        // Too little / too much data.
        assert!(read_npy_bytes(&handmade(&f4("(3,)"), &[0; 8])).is_err());
        assert!(read_npy_bytes(&handmade(&f4("(1,)"), &[0; 8])).is_err());
        // Header longer than the file.
        let mut b = handmade(&f4("(1,)"), &[0; 4]);
        b[8] = 0xff;
        b[9] = 0xff;
        assert!(read_npy_bytes(&b).is_err());
        // Unsupported dtypes name the descriptor.
        for d in ["<U3", "|O", "<c8", "<V2", "f4"] {
            let h = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': (1,), }}\n");
            let e = read_npy_bytes(&handmade(&h, &[0; 4])).unwrap_err();
            assert!(matches!(e, NpyError::UnsupportedDType { .. }), "{d}: {e}");
        }
        let h = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
        assert!(read_npy_bytes(&handmade(h, &[0; 4])).is_err());
        assert!(read_npy_bytes(b"not numpy").is_err());
        assert!(read_npy_bytes(b"").is_err());
        for n in 0..b.len() {
            let _ = read_npy_bytes(&b[..n]);
        }
    }

    #[test]
    fn native_and_single_char_descriptors() {
        let data = 2.5f32.to_le_bytes();
        for d in ["=f4", "f", "<f4"] {
            let h = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': (), }}\n");
            if cfg!(target_endian = "little") {
                assert_eq!(
                    read_npy_bytes(&handmade(&h, &data)).unwrap(),
                    Tensor::scalar(2.5f32),
                    "{d}"
                );
            }
        }
    }
}
