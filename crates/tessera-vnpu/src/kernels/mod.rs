//! The virtual NPU's kernels: small, plain, scalar loops over row-major slices.
//!
//! Each kernel takes element slices and concrete shapes and returns a new vector (and its
//! shape), or a message saying what is wrong with its inputs; the executable adds the node
//! and op to that message. Correctness and readability come first: a vendor replaces these
//! with command-stream generation for their hardware.
//!
//! - [`window`]: window geometry (pads, strides, dilations, `auto_pad`) shared by convolution
//!   and pooling.
//! - [`conv`]: 2-D convolution with groups and dilations.
//! - [`pool`]: 2-D max and average pooling.
//! - [`matmul`]: `MatMul` with batch broadcasting, `Gemm`, `MatMulInteger`.
//! - [`elementwise`]: `Add` and `Mul` with numpy broadcasting, `Relu`.
//! - [`shape`]: the output shapes of `Reshape` and `Flatten`.

pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod pool;
pub mod shape;
pub mod window;

/// What a kernel returns: the result or a message saying what is wrong with the inputs.
pub type KResult<T> = Result<T, String>;

/// Number of elements of `shape`, refusing more than [`tessera_ir::MAX_ELEMENTS`].
pub fn numel(shape: &[usize]) -> KResult<usize> {
    tessera_ir::checked_numel(shape).map_err(|e| e.to_string())
}

/// Row-major strides of `shape`, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    tessera_ir::strides_of(shape)
}

/// Fails unless `data` holds exactly the elements of `shape`.
pub fn check_len<T>(data: &[T], shape: &[usize], what: &str) -> KResult<()> {
    if data.len() == numel(shape)? {
        Ok(())
    } else {
        Err(format!(
            "{what} has {} elements, its shape {shape:?} needs {}",
            data.len(),
            numel(shape)?
        ))
    }
}

/// For each element of `out_shape` (row-major), the flat index of the element of `in_shape`
/// it reads under numpy broadcasting (`in_shape` right-aligned, extent-1 axes repeated).
/// Fails when `in_shape` does not broadcast to `out_shape`.
pub fn broadcast_map(in_shape: &[usize], out_shape: &[usize]) -> KResult<Vec<usize>> {
    let bad = || format!("shape {in_shape:?} does not broadcast to {out_shape:?}");
    if in_shape.len() > out_shape.len() {
        return Err(bad());
    }
    let lead = out_shape.len() - in_shape.len();
    let in_strides = strides(in_shape);
    // The stride of each output axis in the input: 0 where the input repeats.
    let mut step = vec![0; out_shape.len()];
    for (i, (&d, &s)) in in_shape.iter().zip(&in_strides).enumerate() {
        let o = out_shape[lead + i];
        if d == o {
            step[lead + i] = s;
        } else if d != 1 {
            return Err(bad());
        }
    }
    let n = numel(out_shape)?;
    let mut map = Vec::with_capacity(n);
    let mut coord = vec![0usize; out_shape.len()];
    let mut at = 0usize;
    for _ in 0..n {
        map.push(at);
        // Advance the coordinate like an odometer, keeping `at` in step.
        for ax in (0..out_shape.len()).rev() {
            coord[ax] += 1;
            at += step[ax];
            if coord[ax] < out_shape[ax] {
                break;
            }
            at -= step[ax] * coord[ax];
            coord[ax] = 0;
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_maps() {
        assert_eq!(
            broadcast_map(&[3], &[2, 3]).unwrap(),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(
            broadcast_map(&[2, 1], &[2, 3]).unwrap(),
            vec![0, 0, 0, 1, 1, 1]
        );
        assert_eq!(broadcast_map(&[], &[2]).unwrap(), vec![0, 0]);
        assert_eq!(broadcast_map(&[2, 2], &[2, 2]).unwrap(), vec![0, 1, 2, 3]);
        assert!(broadcast_map(&[3], &[2, 2]).is_err());
        assert!(broadcast_map(&[1, 2], &[2]).is_err());
        assert!(broadcast_map(&[2], &[0, 2]).unwrap().is_empty());
    }
}
