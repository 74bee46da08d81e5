//! Output shapes of the data-movement ops the device runs without copying: `Reshape` and
//! `Flatten` (the executable hands out a new view of the same buffer).

use super::{numel, KResult};
use tessera_ir::normalize_axis;

/// `Reshape`: the shape `spec` asks for, for an input of `in_shape`. A 0 copies the input
/// extent at that position (unless `allowzero`), one −1 is inferred.
pub fn reshape(in_shape: &[usize], spec: &[i64], allowzero: bool) -> KResult<Vec<usize>> {
    let total = numel(in_shape)?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        out.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            -1 => return Err(format!("shape {spec:?} has more than one -1")),
            0 if !allowzero => *in_shape.get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?} copies axis {i}, input has rank {}",
                    in_shape.len()
                )
            })?,
            d if d >= 0 => usize::try_from(d).map_err(|e| e.to_string())?,
            d => return Err(format!("shape {spec:?} has the invalid extent {d}")),
        });
    }
    let known = numel(&out)?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!(
                "cannot infer the -1 in {spec:?} for {total} elements"
            ));
        }
        out[i] = total / known;
    }
    if numel(&out)? != total {
        return Err(format!(
            "shape {spec:?} does not hold the {total} elements of {in_shape:?}"
        ));
    }
    Ok(out)
}

/// `Flatten`: `[Π in[..axis], Π in[axis..]]`; `axis` may be negative or equal to the rank.
pub fn flatten(in_shape: &[usize], axis: i64) -> KResult<Vec<usize>> {
    let r = in_shape.len();
    let a = if axis == r as i64 {
        r
    } else {
        normalize_axis(axis, r)
            .ok_or_else(|| format!("axis {axis} is out of range for rank {r}"))?
    };
    Ok(vec![numel(&in_shape[..a])?, numel(&in_shape[a..])?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshapes() {
        assert_eq!(reshape(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape(&[2, 3, 4], &[4, 6], false).unwrap(), vec![4, 6]);
        assert_eq!(reshape(&[0, 3], &[0, 3], true).unwrap(), vec![0, 3]);
        assert!(reshape(&[2, 3], &[-1, -1], false).is_err());
        assert!(reshape(&[2, 3], &[4, -1], false).is_err());
        assert!(reshape(&[2, 3], &[5], false).is_err());
        assert!(reshape(&[2, 3], &[-2, 3], false).is_err());
        assert!(reshape(&[2], &[0, 0], false).is_err());
    }

    #[test]
    fn flattens() {
        assert_eq!(flatten(&[2, 3, 4], 1).unwrap(), vec![2, 12]);
        assert_eq!(flatten(&[2, 3, 4], -1).unwrap(), vec![6, 4]);
        assert_eq!(flatten(&[2, 3, 4], 0).unwrap(), vec![1, 24]);
        assert_eq!(flatten(&[2, 3, 4], 3).unwrap(), vec![24, 1]);
        assert!(flatten(&[2, 3], 4).is_err());
    }
}
