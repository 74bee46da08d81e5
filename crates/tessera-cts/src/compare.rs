//! Comparison of produced values against the expected ones, with per-dtype tolerances.
//!
//! A floating-point element passes when `|got - expected| <= atol + rtol * |expected|` (the
//! rule of `numpy.testing.assert_allclose`, which ONNX's backend runner uses), or when both are
//! NaN, or when both are the same infinity. Integers and booleans must be equal; float8 and float4 values must be
//! equal too (NaN equal to NaN). Dtypes and
//! shapes must match exactly. Sequences are compared length first, then element by element;
//! optionals must agree on presence, then their contents are compared.
//!
//! The tolerance table and its reasoning are in the crate documentation.

use std::fmt;

use serde::Serialize;
use tessera_ir::{dispatch_dtype, DType, Storage, Tensor, Value};

/// A relative and an absolute tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// Relative tolerance, scaled by `|expected|`.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Tolerance {
    /// True when `got` is close enough to `expected` (NaN equals NaN, infinities must match).
    pub fn accepts(&self, expected: f64, got: f64) -> bool {
        if expected == got || (expected.is_nan() && got.is_nan()) {
            return true;
        }
        if !expected.is_finite() || !got.is_finite() {
            return false;
        }
        (got - expected).abs() <= self.atol + self.rtol * expected.abs()
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rtol {:e}, atol {:e}", self.rtol, self.atol)
    }
}

/// The tolerance per floating-point dtype; every other dtype compares exactly.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    /// For `f64` outputs.
    pub f64: Tolerance,
    /// For `f32` outputs.
    pub f32: Tolerance,
    /// For `f16` outputs.
    pub f16: Tolerance,
    /// For `bf16` outputs.
    pub bf16: Tolerance,
}

impl Default for Tolerances {
    /// The table in the crate documentation.
    fn default() -> Self {
        let onnx = Tolerance {
            rtol: 1e-3,
            atol: 1e-7,
        };
        Tolerances {
            f64: onnx,
            f32: onnx,
            f16: Tolerance {
                rtol: 2e-3,
                atol: 1e-3,
            },
            bf16: Tolerance {
                rtol: 1.6e-2,
                atol: 1e-2,
            },
        }
    }
}

impl Tolerances {
    /// The tolerance for `dtype`, or `None` when it compares exactly.
    pub fn for_dtype(&self, dtype: DType) -> Option<Tolerance> {
        match dtype {
            DType::F64 => Some(self.f64),
            DType::F32 => Some(self.f32),
            DType::F16 => Some(self.f16),
            DType::BF16 => Some(self.bf16),
            _ => None,
        }
    }

    /// Applies a case's own `rtol`/`atol` (from its `data.json`, as ONNX's loader reads them):
    /// they replace the `f32`/`f64` tolerances, and loosen (never tighten) `f16`/`bf16`.
    pub fn with_override(mut self, rtol: Option<f64>, atol: Option<f64>) -> Tolerances {
        if let Some(r) = rtol {
            self.f64.rtol = r;
            self.f32.rtol = r;
            self.f16.rtol = self.f16.rtol.max(r);
            self.bf16.rtol = self.bf16.rtol.max(r);
        }
        if let Some(a) = atol {
            self.f64.atol = a;
            self.f32.atol = a;
            self.f16.atol = self.f16.atol.max(a);
            self.bf16.atol = self.bf16.atol.max(a);
        }
        self
    }
}

/// Where and how a produced value differs from the expected one.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// The output name, with sequence indices and `?` for optional contents appended
    /// (`y`, `seq[2]`, `opt?`).
    pub path: String,
    /// What differs.
    pub kind: MismatchKind,
}

/// The kinds of difference [`compare_values`] finds.
#[derive(Clone, Debug, PartialEq)]
pub enum MismatchKind {
    /// A tensor where a sequence was expected, or the like.
    Kind {
        /// Expected value kind.
        expected: &'static str,
        /// Produced value kind.
        got: &'static str,
    },
    /// Element types differ.
    DType {
        /// Expected dtype.
        expected: DType,
        /// Produced dtype.
        got: DType,
    },
    /// Shapes differ.
    Shape {
        /// Expected shape.
        expected: Vec<usize>,
        /// Produced shape.
        got: Vec<usize>,
    },
    /// Sequence lengths differ.
    SequenceLength {
        /// Expected length.
        expected: usize,
        /// Produced length.
        got: usize,
    },
    /// One optional is present and the other is not.
    Presence {
        /// Whether the expected optional holds a value.
        expected_present: bool,
    },
    /// Some elements are outside the tolerance.
    Values(Box<ValueDiff>),
}

/// How the elements of two tensors of equal dtype and shape differ.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueDiff {
    /// How many elements differ.
    pub count: usize,
    /// How many elements were compared.
    pub total: usize,
    /// Largest `|got - expected|` over all elements (NaN pairs excluded).
    pub max_abs: f64,
    /// Largest `|got - expected| / |expected|` over elements with a non-zero expected value.
    pub max_rel: f64,
    /// Multi-dimensional index of the first differing element.
    pub first_index: Vec<usize>,
    /// The expected element at `first_index`.
    pub expected: String,
    /// The produced element at `first_index`.
    pub got: String,
    /// The tolerance applied; `None` for an exact comparison.
    pub tolerance: Option<Tolerance>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "output '{}': ", self.path)?;
        match &self.kind {
            MismatchKind::Kind { expected, got } => {
                write!(f, "expected a {expected}, got a {got}")
            }
            MismatchKind::DType { expected, got } => {
                write!(f, "expected dtype {expected}, got {got}")
            }
            MismatchKind::Shape { expected, got } => {
                write!(f, "expected shape {expected:?}, got {got:?}")
            }
            MismatchKind::SequenceLength { expected, got } => {
                write!(f, "expected a sequence of {expected}, got {got}")
            }
            MismatchKind::Presence { expected_present } => {
                if *expected_present {
                    write!(f, "expected a value, got an empty optional")
                } else {
                    write!(f, "expected an empty optional, got a value")
                }
            }
            MismatchKind::Values(d) => {
                let ValueDiff {
                    count,
                    total,
                    max_abs,
                    max_rel,
                    first_index,
                    expected,
                    got,
                    tolerance,
                } = &**d;
                write!(
                    f,
                    "{count} of {total} elements differ (max abs err {max_abs:.3e}, \
                     max rel err {max_rel:.3e}; "
                )?;
                match tolerance {
                    Some(t) => write!(f, "{t})")?,
                    None => write!(f, "exact)")?,
                }
                write!(
                    f,
                    "; first at {first_index:?}: expected {expected}, got {got}"
                )
            }
        }
    }
}

impl std::error::Error for Mismatch {}

/// Compares a produced value with the expected one; `name` is the output name used in the
/// report.
pub fn compare_values(
    name: &str,
    expected: &Value,
    got: &Value,
    tol: &Tolerances,
) -> Result<(), Mismatch> {
    let fail = |kind| {
        Err(Mismatch {
            path: name.to_string(),
            kind,
        })
    };
    match (expected, got) {
        (Value::Tensor(e), Value::Tensor(g)) => compare_tensors(name, e, g, tol),
        (Value::Sequence(e), Value::Sequence(g)) => {
            if e.len() != g.len() {
                return fail(MismatchKind::SequenceLength {
                    expected: e.len(),
                    got: g.len(),
                });
            }
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                compare_values(&format!("{name}[{i}]"), ev, gv, tol)?;
            }
            Ok(())
        }
        (Value::Optional(e), Value::Optional(g)) => match (e, g) {
            (None, None) => Ok(()),
            (Some(ev), Some(gv)) => compare_values(&format!("{name}?"), ev, gv, tol),
            (e, _) => fail(MismatchKind::Presence {
                expected_present: e.is_some(),
            }),
        },
        (e, g) => fail(MismatchKind::Kind {
            expected: e.kind(),
            got: g.kind(),
        }),
    }
}

/// Compares two tensors: dtype and shape exactly, then the elements.
pub fn compare_tensors(
    name: &str,
    expected: &Tensor,
    got: &Tensor,
    tol: &Tolerances,
) -> Result<(), Mismatch> {
    let fail = |kind| {
        Err(Mismatch {
            path: name.to_string(),
            kind,
        })
    };
    if expected.dtype() != got.dtype() {
        return fail(MismatchKind::DType {
            expected: expected.dtype(),
            got: got.dtype(),
        });
    }
    if expected.shape() != got.shape() {
        return fail(MismatchKind::Shape {
            expected: expected.shape().to_vec(),
            got: got.shape().to_vec(),
        });
    }
    let dtype = expected.dtype();
    // Low-precision floats (float8, float4) have no tolerance of their own: every value is
    // one of a few hundred codes, so they compare exactly, with NaN equal to NaN.
    let tolerance = tol.for_dtype(dtype).or_else(|| {
        dtype.is_low_precision_float().then_some(Tolerance {
            rtol: 0.0,
            atol: 0.0,
        })
    });
    let found = dispatch_dtype!(dtype, T => match (T::slice(expected.data()), T::slice(got.data())) {
        (Some(e), Some(g)) => elements(e, g, tolerance),
        // Unreachable after the dtype check; reported rather than assumed.
        _ => {
            return fail(MismatchKind::DType {
                expected: dtype,
                got: got.dtype(),
            })
        }
    });
    match found {
        None => Ok(()),
        Some(d) => fail(MismatchKind::Values(Box::new(ValueDiff {
            count: d.count,
            total: expected.len(),
            max_abs: d.max_abs,
            max_rel: d.max_rel,
            first_index: unravel(d.first, expected.shape()),
            expected: d.expected,
            got: d.got,
            tolerance,
        }))),
    }
}

/// The differences found between two element slices.
struct Differences {
    count: usize,
    first: usize,
    expected: String,
    got: String,
    max_abs: f64,
    max_rel: f64,
}

/// Compares two equally long slices; exactly when `tolerance` is `None`.
fn elements<T: Storage>(e: &[T], g: &[T], tolerance: Option<Tolerance>) -> Option<Differences> {
    let mut d: Option<Differences> = None;
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for (i, (&ev, &gv)) in e.iter().zip(g).enumerate() {
        let (x, y) = (ev.to_f64(), gv.to_f64());
        let ok = match tolerance {
            Some(t) => t.accepts(x, y),
            None => ev == gv,
        };
        if !(x.is_nan() || y.is_nan()) {
            // Equal infinities differ by NaN; they are equal, so they count as 0.
            let abs = if x == y { 0.0 } else { (y - x).abs() };
            max_abs = max_abs.max(abs);
            if x != 0.0 {
                max_rel = max_rel.max(abs / x.abs());
            }
        }
        if !ok {
            match &mut d {
                Some(d) => d.count += 1,
                None => {
                    d = Some(Differences {
                        count: 1,
                        first: i,
                        expected: format!("{ev:?}"),
                        got: format!("{gv:?}"),
                        max_abs: 0.0,
                        max_rel: 0.0,
                    })
                }
            }
        }
    }
    d.map(|d| Differences {
        max_abs,
        max_rel,
        ..d
    })
}

/// The multi-dimensional index of flat (row-major) position `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (slot, &dim) in idx.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = i % dim;
            i /= dim;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::half::{bf16, f16};

    fn t<T: Storage>(shape: &[usize], v: Vec<T>) -> Value {
        Value::Tensor(Tensor::from_vec(shape.to_vec(), v).expect("valid test tensor"))
    }

    fn cmp(e: &Value, g: &Value) -> Result<(), Mismatch> {
        compare_values("y", e, g, &Tolerances::default())
    }

    #[test]
    fn f32_within_onnx_tolerance() {
        let e = t(&[3], vec![1.0f32, 100.0, 0.0]);
        assert!(cmp(&e, &t(&[3], vec![1.0009f32, 100.09, 1e-8])).is_ok());
        let err = cmp(&e, &t(&[3], vec![1.0f32, 100.2, 0.0])).unwrap_err();
        match err.kind {
            MismatchKind::Values(d) => {
                assert_eq!((d.count, d.total), (1, 3));
                assert_eq!(d.first_index, vec![1]);
                assert_eq!((d.expected.as_str(), d.got.as_str()), ("100.0", "100.2"));
                assert!((d.max_abs - 0.2).abs() < 1e-4);
            }
            k => panic!("unexpected {k:?}"),
        }
        // Absolute tolerance near zero is tiny for f32.
        assert!(cmp(&t(&[1], vec![0.0f32]), &t(&[1], vec![1e-6f32])).is_err());
    }

    #[test]
    fn nan_equals_nan_and_infinities_must_match() {
        let e = t(&[3], vec![f32::NAN, f32::INFINITY, 1.0]);
        assert!(cmp(&e, &t(&[3], vec![f32::NAN, f32::INFINITY, 1.0])).is_ok());
        assert!(cmp(&e, &t(&[3], vec![0.0f32, f32::INFINITY, 1.0])).is_err());
        assert!(cmp(&e, &t(&[3], vec![f32::NAN, f32::NEG_INFINITY, 1.0])).is_err());
        assert!(cmp(&e, &t(&[3], vec![f32::NAN, f32::MAX, 1.0])).is_err());
        assert!(cmp(&t(&[1], vec![1.0f64]), &t(&[1], vec![f64::NAN])).is_err());
    }

    #[test]
    fn half_types_are_looser() {
        let one = f16::from_f32(1.0);
        let two_ulps = f16::from_f32(1.0 + 2.0 * 2f32.powi(-10));
        let many_ulps = f16::from_f32(1.0 + 8.0 * 2f32.powi(-10));
        assert!(cmp(&t(&[1], vec![one]), &t(&[1], vec![two_ulps])).is_ok());
        assert!(cmp(&t(&[1], vec![one]), &t(&[1], vec![many_ulps])).is_err());
        let b = bf16::from_f32(3.0);
        let b1 = bf16::from_f32(3.0 + 2.0 * 2f32.powi(-7) * 2.0);
        assert!(cmp(&t(&[1], vec![b]), &t(&[1], vec![b1])).is_ok());
        assert!(cmp(&t(&[1], vec![b]), &t(&[1], vec![bf16::from_f32(3.25)])).is_err());
    }

    #[test]
    fn integers_and_bools_are_exact() {
        assert!(cmp(
            &t(&[2], vec![1i64, i64::MAX]),
            &t(&[2], vec![1i64, i64::MAX])
        )
        .is_ok());
        let err = cmp(
            &t(&[2, 2], vec![1i32, 2, 3, 4]),
            &t(&[2, 2], vec![1i32, 2, 3, 5]),
        )
        .unwrap_err();
        match err.kind {
            MismatchKind::Values(d) => {
                assert_eq!(d.first_index, vec![1, 1]);
                assert_eq!(d.tolerance, None);
            }
            k => panic!("unexpected {k:?}"),
        }
        assert!(cmp(&t(&[1], vec![u64::MAX]), &t(&[1], vec![u64::MAX - 1])).is_err());
        assert!(cmp(&t(&[2], vec![true, false]), &t(&[2], vec![true, true])).is_err());
    }

    #[test]
    fn dtype_and_shape_must_match() {
        let err = cmp(&t(&[2], vec![1.0f32, 2.0]), &t(&[2], vec![1.0f64, 2.0])).unwrap_err();
        assert!(matches!(err.kind, MismatchKind::DType { .. }));
        let err = cmp(&t(&[2], vec![1.0f32, 2.0]), &t(&[1, 2], vec![1.0f32, 2.0])).unwrap_err();
        assert!(matches!(err.kind, MismatchKind::Shape { .. }));
        let err = cmp(&t(&[], vec![1.0f32]), &t(&[1], vec![1.0f32])).unwrap_err();
        assert!(err.to_string().contains("expected shape []"));
    }

    #[test]
    fn sequences_and_optionals() {
        let seq = |v: Vec<f32>| Value::Sequence(v.into_iter().map(|x| t(&[1], vec![x])).collect());
        assert!(cmp(&seq(vec![1.0, 2.0]), &seq(vec![1.0, 2.0])).is_ok());
        let err = cmp(&seq(vec![1.0, 2.0]), &seq(vec![1.0, 3.0])).unwrap_err();
        assert_eq!(err.path, "y[1]");
        let err = cmp(&seq(vec![1.0, 2.0]), &seq(vec![1.0])).unwrap_err();
        assert!(matches!(
            err.kind,
            MismatchKind::SequenceLength {
                expected: 2,
                got: 1
            }
        ));
        let some = Value::Optional(Some(Box::new(seq(vec![1.0]))));
        assert!(cmp(&some, &some.clone()).is_ok());
        assert!(cmp(&Value::Optional(None), &Value::Optional(None)).is_ok());
        let err = cmp(&some, &Value::Optional(None)).unwrap_err();
        assert!(matches!(
            err.kind,
            MismatchKind::Presence {
                expected_present: true
            }
        ));
        let err = cmp(&some, &seq(vec![1.0])).unwrap_err();
        assert!(err
            .to_string()
            .contains("expected a optional, got a sequence"));
    }

    #[test]
    fn message_names_everything() {
        let err = cmp(&t(&[2], vec![1.0f32, 2.0]), &t(&[2], vec![1.5f32, 2.0])).unwrap_err();
        let msg = err.to_string();
        for part in [
            "output 'y'",
            "1 of 2 elements differ",
            "max abs err 5.000e-1",
            "max rel err 5.000e-1",
            "rtol 1e-3, atol 1e-7",
            "first at [0]: expected 1.0, got 1.5",
        ] {
            assert!(msg.contains(part), "{msg:?} lacks {part:?}");
        }
    }

    #[test]
    fn overrides_replace_f32_and_loosen_half() {
        let t = Tolerances::default().with_override(Some(1e-2), Some(1e-4));
        assert_eq!(
            t.f32,
            Tolerance {
                rtol: 1e-2,
                atol: 1e-4
            }
        );
        assert_eq!(t.f16.rtol, 1e-2);
        assert_eq!(t.f16.atol, 1e-3);
        assert_eq!(t.bf16.rtol, 1.6e-2);
    }

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
    }
}
