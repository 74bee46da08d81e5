//! Buffer cases: allocation of every memory kind and size, host maps, range checks,
//! `upload` / `download` round trips and [`BufferView`] bounds.

use std::sync::Arc;

use tessera_hal::{Buffer, BufferView, HalError};
use tessera_ir::half::{bf16, f16};
use tessera_ir::{DType, Tensor};

use super::{check, host_visible_kind, CaseFailure, CaseResult, Context, HalCase, HalTarget};

/// The buffer cases.
pub const CASES: &[HalCase] = &[
    HalCase {
        name: "buffers.allocate_each_kind",
        about: "every memory kind allocates sizes 0, 1, odd, 4 KiB + 1 and 16 MiB",
        run: allocate_each_kind,
    },
    HalCase {
        name: "buffers.map_round_trip",
        about: "bytes written through a map of a host-visible buffer read back the same",
        run: map_round_trip,
    },
    HalCase {
        name: "buffers.out_of_range_refused",
        about: "reads and writes past the end are refused with OutOfBounds",
        run: out_of_range_refused,
    },
    HalCase {
        name: "buffers.upload_download_round_trip",
        about: "upload then download gives the tensor back, for several dtypes and shapes",
        run: upload_download_round_trip,
    },
    HalCase {
        name: "buffers.view_bounds",
        about: "BufferView::new accepts views inside the buffer and refuses the rest",
        run: view_bounds,
    },
];

/// Sizes every kind must allocate.
const SIZES: &[usize] = &[0, 1, 7, 4097, 16 << 20];

fn allocate_each_kind(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let kinds = dev.memory_kinds().to_vec();
    check(!kinds.is_empty(), || {
        "memory_kinds() is empty: a device must allocate at least one kind".into()
    })?;
    for kind in kinds {
        for &size in SIZES {
            let b = dev
                .allocate(size, kind)
                .ctx(&format!("allocating {size} bytes of {kind} memory"))?;
            check(b.size() == size, || {
                format!(
                    "allocated {size} bytes of {kind} memory, size() says {}",
                    b.size()
                )
            })?;
            check(b.memory_kind() == kind, || {
                format!(
                    "allocated {kind} memory, memory_kind() says {}",
                    b.memory_kind()
                )
            })?;
            if !kind.is_host_visible() {
                match b.map_read(&mut |_| {}) {
                    Err(HalError::NotHostVisible { .. }) => {}
                    other => {
                        return Err(CaseFailure::fail(format!(
                            "map_read of a {kind} buffer: expected NotHostVisible, got {other:?}"
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

fn map_round_trip(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let kinds: Vec<_> = dev
        .memory_kinds()
        .iter()
        .copied()
        .filter(|k| k.is_host_visible())
        .collect();
    if kinds.is_empty() {
        host_visible_kind(&*dev)?;
    }
    for kind in kinds {
        for &size in SIZES {
            let b = dev
                .allocate(size, kind)
                .ctx(&format!("allocating {size} bytes of {kind} memory"))?;
            let data: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
            let mut seen_len = None;
            b.map_write(&mut |bytes| {
                seen_len = Some(bytes.len());
                if bytes.len() == data.len() {
                    bytes.copy_from_slice(&data);
                }
            })
            .ctx(&format!("map_write of {size} bytes of {kind} memory"))?;
            check(seen_len == Some(size), || {
                format!("map_write of a {size}-byte buffer gave a slice of {seen_len:?} bytes")
            })?;
            let mut same = false;
            b.map_read(&mut |bytes| same = bytes == data.as_slice())
                .ctx(&format!("map_read of {size} bytes of {kind} memory"))?;
            check(same, || {
                format!("{size} bytes of {kind} memory do not read back what was written")
            })?;
            if size >= 7 {
                // The copying conveniences at an offset.
                b.write_bytes(size - 5, &[1, 2, 3])
                    .ctx("write_bytes at an offset")?;
                let got = b.read_bytes(size - 6, 5).ctx("read_bytes at an offset")?;
                let want = [data[size - 6], 1, 2, 3, data[size - 2]];
                check(got == want, || {
                    format!("read_bytes after write_bytes: got {got:?}, want {want:?}")
                })?;
            }
        }
    }
    Ok(())
}

fn expect_oob(r: Result<impl std::fmt::Debug, HalError>, what: &str) -> CaseResult {
    match r {
        Err(HalError::OutOfBounds { .. }) => Ok(()),
        other => Err(CaseFailure::fail(format!(
            "{what}: expected OutOfBounds, got {other:?}"
        ))),
    }
}

fn out_of_range_refused(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let kind = host_visible_kind(&*dev)?;
    for size in [0usize, 16] {
        let b = dev
            .allocate(size, kind)
            .ctx(&format!("allocating {size} bytes"))?;
        expect_oob(b.read_bytes(size, 1), "read of 1 byte at the end")?;
        expect_oob(
            b.read_bytes(0, size + 1),
            "read of one byte more than the size",
        )?;
        expect_oob(b.write_bytes(size, &[1]), "write of 1 byte at the end")?;
        expect_oob(
            b.write_bytes(0, &vec![0; size + 1]),
            "write of one byte more than the size",
        )?;
        expect_oob(b.read_bytes(usize::MAX, 2), "read at offset usize::MAX")?;
        expect_oob(
            b.write_bytes(usize::MAX, &[1, 2]),
            "write at offset usize::MAX",
        )?;
        let empty = b.read_bytes(size, 0).ctx("empty read at the end")?;
        check(empty.is_empty(), || "an empty read returned bytes".into())?;
    }
    Ok(())
}

fn upload_download_round_trip(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let tensors: Vec<Tensor> = vec![
        Tensor::from_vec(vec![2, 3], vec![1.5f32, -2.0, 0.0, 3.25, f32::MAX, -0.0]),
        Tensor::from_vec(vec![], vec![42.0f64]),
        Tensor::from_vec(vec![3, 1], vec![f16::from_f32(1.0), f16::ONE, f16::ZERO]),
        Tensor::from_vec(vec![2], vec![bf16::from_f32(-3.0), bf16::ONE]),
        Tensor::from_vec(vec![5], vec![-128i8, -1, 0, 1, 127]),
        Tensor::from_vec(
            vec![7],
            (0..7).map(|i| i * 1000 - 3000).collect::<Vec<i32>>(),
        ),
        Tensor::from_vec(vec![1, 1, 3], vec![i64::MIN, 0, i64::MAX]),
        Tensor::from_vec(vec![4], vec![true, false, false, true]),
        Tensor::from_vec(vec![0], Vec::<u8>::new()),
        Tensor::from_vec(vec![3, 0, 2], Vec::<f32>::new()),
        Tensor::from_vec(vec![4, 4], (0..16).map(|i| i as u16).collect::<Vec<u16>>()),
    ]
    .into_iter()
    .collect::<Result<_, _>>()
    .map_err(|e| CaseFailure::fail(format!("building test tensors: {e}")))?;
    let mut unsupported = Vec::new();
    for t in &tensors {
        let what = format!("{} tensor of shape {:?}", t.dtype(), t.shape());
        let view = match dev.upload(t) {
            Ok(v) => v,
            Err(HalError::Unsupported { what: w, .. }) => {
                unsupported.push(format!("{what} ({w})"));
                continue;
            }
            Err(e) => return Err(CaseFailure::fail(format!("uploading a {what}: {e}"))),
        };
        check(view.dtype == t.dtype() && view.shape == t.shape(), || {
            format!(
                "uploading a {what} gave a view of {} {:?}",
                view.dtype, view.shape
            )
        })?;
        check(view.offset + view.byte_len() <= view.buffer.size(), || {
            format!("uploading a {what} gave a view past the end of its buffer")
        })?;
        let back = dev.download(&view).ctx(&format!("downloading a {what}"))?;
        check(&back == t, || {
            format!("a {what} came back different: {back:?}, want {t:?}")
        })?;
    }
    if unsupported.len() == tensors.len() {
        return Err(CaseFailure::skip(format!(
            "the device uploads none of the test tensors: {}",
            unsupported.join(", ")
        )));
    }
    if !unsupported.is_empty() {
        target.note(format!("not uploaded: {}", unsupported.join(", ")));
    }
    Ok(())
}

fn view_bounds(target: &HalTarget) -> CaseResult {
    let dev = target.device()?;
    let kind = dev
        .memory_kinds()
        .first()
        .copied()
        .ok_or_else(|| CaseFailure::fail("memory_kinds() is empty"))?;
    let b: Arc<dyn Buffer> = dev.allocate(64, kind).ctx("allocating 64 bytes")?;
    let ok = |dtype: DType, shape: &[usize], offset: usize| -> CaseResult {
        let v = BufferView::new(b.clone(), dtype, shape.to_vec(), offset).ctx(&format!(
            "a {dtype} view of shape {shape:?} at offset {offset} in 64 bytes"
        ))?;
        let want = shape.iter().product::<usize>();
        check(
            v.numel() == want && v.byte_len() == want * dtype.size(),
            || {
                format!(
                    "view of {dtype} {shape:?}: numel {} byte_len {}",
                    v.numel(),
                    v.byte_len()
                )
            },
        )
    };
    let oob = |dtype: DType, shape: &[usize], offset: usize| -> CaseResult {
        expect_oob(
            BufferView::new(b.clone(), dtype, shape.to_vec(), offset),
            &format!("a {dtype} view of shape {shape:?} at offset {offset} in 64 bytes"),
        )
    };
    ok(DType::F32, &[16], 0)?;
    ok(DType::F32, &[4, 4], 0)?;
    ok(DType::U8, &[63], 1)?;
    ok(DType::F32, &[0], 64)?;
    ok(DType::F64, &[2, 0, 9], 64)?;
    ok(DType::I64, &[], 56)?;
    oob(DType::F32, &[16], 4)?;
    oob(DType::F32, &[17], 0)?;
    oob(DType::I64, &[], 57)?;
    oob(DType::U8, &[0], 65)?;
    oob(DType::U8, &[1], usize::MAX)?;
    match BufferView::new(b.clone(), DType::F32, vec![usize::MAX, 2], 0) {
        Err(HalError::Invalid(_)) | Err(HalError::OutOfBounds { .. }) => {}
        other => {
            return Err(CaseFailure::fail(format!(
                "a view of usize::MAX × 2 f32 elements: expected Invalid, got {other:?}"
            )))
        }
    }
    if kind.is_host_visible() {
        b.write_bytes(0, &(0..64).collect::<Vec<u8>>())
            .ctx("writing the buffer")?;
        let v = BufferView::new(b.clone(), DType::U16, vec![2, 2], 10).ctx("a u16 view")?;
        let got = v.read_bytes().ctx("reading a view")?;
        check(got == (10..18).collect::<Vec<u8>>(), || {
            format!("a view at offset 10 read {got:?}")
        })?;
    }
    Ok(())
}
