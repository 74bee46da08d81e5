//! Window geometry shared by convolution and pooling: resolves a canonical
//! [`Window`] against concrete 2-D input and kernel extents.

use super::KResult;
use tessera_ir::op::{AutoPad, Window};

/// A resolved 2-D window: every value per spatial axis (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Kernel extent.
    pub kernel: [usize; 2],
    /// Stride.
    pub strides: [usize; 2],
    /// Dilation.
    pub dilations: [usize; 2],
    /// Padding before the first element.
    pub pad_begin: [usize; 2],
    /// Output extent.
    pub out: [usize; 2],
}

fn pair(v: &[usize], what: &str) -> KResult<[usize; 2]> {
    match v {
        [] => Ok([1, 1]),
        [a, b] if *a > 0 && *b > 0 => Ok([*a, *b]),
        _ => Err(format!("{what} {v:?}: expected two positive values")),
    }
}

/// Resolves `window` for an input of spatial extent `input` and a kernel of extent `kernel`.
///
/// Output extent per axis: `floor((in + pad_begin + pad_end − dilation·(k − 1) − 1) / stride)
/// + 1`; with `SAME_UPPER`/`SAME_LOWER`, `ceil(in / stride)` with the total padding split
/// evenly and the odd one at the end (upper) or start (lower); `VALID` pads nothing.
pub fn resolve(window: &Window, input: [usize; 2], kernel: [usize; 2]) -> KResult<Geometry> {
    let strides = pair(&window.strides, "strides")?;
    let dilations = pair(&window.dilations, "dilations")?;
    let (mut begin, mut end) = match window.pads.as_slice() {
        [] => ([0, 0], [0, 0]),
        [a, b, c, d] => ([*a, *b], [*c, *d]),
        p => return Err(format!("pads {p:?}: expected four values")),
    };
    let mut out = [0; 2];
    for i in 0..2 {
        if kernel[i] == 0 {
            return Err(format!("kernel extent {kernel:?} has a zero"));
        }
        let span = dilations[i]
            .checked_mul(kernel[i] - 1)
            .and_then(|s| s.checked_add(1))
            .ok_or("kernel span overflows")?;
        match window.auto_pad {
            AutoPad::NotSet => {}
            AutoPad::Valid => {
                begin[i] = 0;
                end[i] = 0;
            }
            AutoPad::SameUpper | AutoPad::SameLower => {
                let o = input[i].div_ceil(strides[i]);
                let need = o
                    .saturating_sub(1)
                    .saturating_mul(strides[i])
                    .saturating_add(span)
                    .saturating_sub(input[i]);
                let small = need / 2;
                let (b, e) = if window.auto_pad == AutoPad::SameUpper {
                    (small, need - small)
                } else {
                    (need - small, small)
                };
                begin[i] = b;
                end[i] = e;
            }
        }
        let padded = input[i]
            .checked_add(begin[i])
            .and_then(|p| p.checked_add(end[i]))
            .ok_or("padded extent overflows")?;
        if padded < span {
            return Err(format!(
                "window of span {span} does not fit the padded extent {padded} on spatial axis {i}"
            ));
        }
        out[i] = (padded - span) / strides[i] + 1;
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pad_begin: begin,
        out,
    })
}

impl Geometry {
    /// The input coordinate read by output position `o` and kernel tap `k` on `axis`, or
    /// `None` when it falls in the padding (`extent` is the input extent).
    pub fn input_at(&self, axis: usize, o: usize, k: usize, extent: usize) -> Option<usize> {
        let pos = o
            .checked_mul(self.strides[axis])?
            .checked_add(k.checked_mul(self.dilations[axis])?)?;
        pos.checked_sub(self.pad_begin[axis])
            .filter(|&i| i < extent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(strides: &[usize], pads: &[usize], dil: &[usize], auto: AutoPad) -> Window {
        Window {
            kernel_shape: vec![],
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dil.to_vec(),
            auto_pad: auto,
        }
    }

    #[test]
    fn extents() {
        let g = resolve(&win(&[], &[], &[], AutoPad::NotSet), [5, 5], [3, 3]).unwrap();
        assert_eq!(g.out, [3, 3]);
        let g = resolve(
            &win(&[2, 2], &[1, 1, 1, 1], &[], AutoPad::NotSet),
            [5, 5],
            [3, 3],
        );
        assert_eq!(g.unwrap().out, [3, 3]);
        let g = resolve(&win(&[], &[], &[2, 2], AutoPad::NotSet), [7, 7], [3, 3]).unwrap();
        assert_eq!(g.out, [3, 3]);
        // SAME: out = ceil(in / stride); odd padding goes to the end (upper) or start (lower).
        let g = resolve(&win(&[2, 2], &[], &[], AutoPad::SameUpper), [6, 5], [4, 4]).unwrap();
        assert_eq!(g.out, [3, 3]);
        assert_eq!(g.pad_begin, [1, 1]);
        let g = resolve(&win(&[1, 1], &[], &[], AutoPad::SameLower), [5, 5], [2, 2]).unwrap();
        assert_eq!((g.out, g.pad_begin), ([5, 5], [1, 1]));
        let g = resolve(
            &win(&[], &[9, 9, 9, 9], &[], AutoPad::Valid),
            [5, 5],
            [3, 3],
        )
        .unwrap();
        assert_eq!((g.out, g.pad_begin), ([3, 3], [0, 0]));
        assert_eq!(g.input_at(0, 1, 2, 5), Some(3));
        let g = resolve(
            &win(&[], &[1, 1, 1, 1], &[], AutoPad::NotSet),
            [3, 3],
            [3, 3],
        )
        .unwrap();
        assert_eq!(g.input_at(0, 0, 0, 3), None);
        assert_eq!(g.input_at(1, 2, 2, 3), None);
    }

    #[test]
    fn errors() {
        let w = win(&[], &[], &[], AutoPad::NotSet);
        assert!(resolve(&w, [2, 2], [3, 3]).is_err());
        assert!(resolve(&w, [2, 2], [0, 1]).is_err());
        assert!(resolve(&win(&[0, 1], &[], &[], AutoPad::NotSet), [4, 4], [1, 1]).is_err());
        assert!(resolve(&win(&[], &[1, 1], &[], AutoPad::NotSet), [4, 4], [1, 1]).is_err());
        assert!(resolve(&win(&[], &[], &[1], AutoPad::NotSet), [4, 4], [1, 1]).is_err());
    }
}
