//! Elementwise kernels: `Unary`, `Binary` (numpy broadcasting), `Where`, `Clip` and `Cast`.
//!
//! f32 and f64 compute natively; f16 and bf16 compute in f32 and round once per element.
//! Integer arithmetic wraps; integer division and remainder by zero yield 0 (ONNX leaves them
//! undefined) so that no input can make a kernel panic.

use super::util::{broadcast_all, broadcast_strides, tensor};
use super::{one, Inputs, Outputs};
use crate::error::{invalid, unsupported, KResult};
use half::{bf16, f16};
use num_traits::Float;
use rayon::prelude::*;
use tessera_ir::op::{BinaryOp, UnaryOp};
use tessera_ir::{dispatch_dtype, DType, Element, Op, Storage, Tensor};

/// Element counts from which kernels split the work across threads.
pub(crate) const PAR_MIN: usize = 1 << 15;

/// Runs the elementwise ops; `None` for ops of other families.
pub fn run(op: &Op, ins: &Inputs) -> Option<KResult<Outputs>> {
    Some(match op {
        Op::Unary(u) => unary(*u, ins).and_then(one),
        Op::Binary(b) => binary(*b, ins).and_then(one),
        Op::Where(_) => where_(ins).and_then(one),
        Op::Clip(_) => clip(ins).and_then(one),
        Op::Cast(c) => ins
            .tensor(0)
            .and_then(|x| one(x.cast_with(c.to, c.saturate, c.round_mode))),
        Op::BitCast(b) => ins.tensor(0).and_then(|x| bitcast(b, x)).and_then(one),
        _ => return None,
    })
}

/// `BitCast`: reinterprets the little-endian bytes of `x` as `b.to`.
fn bitcast(b: &tessera_ir::op::BitCast, x: &Tensor) -> KResult<Tensor> {
    let shape = b.out_shape(x.dtype(), x.shape()).ok_or_else(|| {
        crate::error::invalid(
            "BitCast",
            format!(
                "cannot reinterpret {} {:?} as {}",
                x.dtype(),
                x.shape(),
                b.to
            ),
        )
    })?;
    Ok(Tensor::from_le_bytes(b.to, shape, &x.to_le_bytes())?)
}

/// True for the ops of this family.
pub fn supports(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_) | Op::Binary(_) | Op::Where(_) | Op::Clip(_) | Op::Cast(_) | Op::BitCast(_)
    )
}

// ---------------------------------------------------------------------------------------------
// Element traits

/// A float type kernels compute in (f32 or f64).
pub(crate) trait Fl: Float + Send + Sync + 'static {
    /// Converts a constant.
    fn c(v: f64) -> Self;
    /// The Gauss error function.
    fn erf(self) -> Self;
}

impl Fl for f32 {
    #[inline]
    fn c(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn erf(self) -> Self {
        erf64(self as f64) as f32
    }
}

impl Fl for f64 {
    #[inline]
    fn c(v: f64) -> Self {
        v
    }
    #[inline]
    fn erf(self) -> Self {
        erf64(self)
    }
}

/// A float storage type and the type it computes in (f16 and bf16 compute in f32).
pub(crate) trait FloatStore: Storage {
    /// Compute type.
    type C: Fl;
    /// Widens to the compute type.
    fn to_c(self) -> Self::C;
    /// Rounds from the compute type.
    fn from_c(c: Self::C) -> Self;
}

macro_rules! float_store {
    ($t:ty, $c:ty, $to:expr, $from:expr) => {
        impl FloatStore for $t {
            type C = $c;
            #[inline]
            fn to_c(self) -> $c {
                ($to)(self)
            }
            #[inline]
            fn from_c(c: $c) -> Self {
                ($from)(c)
            }
        }
    };
}
float_store!(f32, f32, |x: f32| x, |x: f32| x);
float_store!(f64, f64, |x: f64| x, |x: f64| x);
float_store!(f16, f32, |x: f16| x.to_f32(), f16::from_f32);
float_store!(bf16, f32, |x: bf16| x.to_f32(), bf16::from_f32);

/// Arithmetic on every element type. Which methods apply to which dtypes is checked by the
/// callers; the bool implementations are placeholders that are never reached.
pub(crate) trait Scalar: Storage + PartialOrd {
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// Remainder with the sign of the divisor.
    fn rem_py(self, o: Self) -> Self;
    /// Remainder with the sign of the dividend.
    fn fmod(self, o: Self) -> Self;
    /// Minimum, NaN-propagating.
    fn min_n(self, o: Self) -> Self;
    /// Maximum, NaN-propagating.
    fn max_n(self, o: Self) -> Self;
    /// Power with an exponent of the same type.
    fn pow_same(self, o: Self) -> Self;
    /// Power with an integer exponent.
    fn pow_i(self, e: i64) -> Self;
    fn shl(self, o: Self) -> Self;
    fn shr(self, o: Self) -> Self;
    fn band(self, o: Self) -> Self;
    fn bor(self, o: Self) -> Self;
    fn bxor(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
    fn bnot(self) -> Self;
}

macro_rules! int_scalar {
    ($t:ty, $signed:expr) => {
        #[allow(unused_comparisons)]
        impl Scalar for $t {
            #[inline]
            fn zero() -> Self {
                0
            }
            #[inline]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline]
            fn div(self, o: Self) -> Self {
                if o == 0 {
                    0
                } else {
                    self.wrapping_div(o)
                }
            }
            #[inline]
            fn rem_py(self, o: Self) -> Self {
                if o == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(o);
                if r != 0 && ((r < 0) != (o < 0)) {
                    r.wrapping_add(o)
                } else {
                    r
                }
            }
            #[inline]
            fn fmod(self, o: Self) -> Self {
                if o == 0 {
                    0
                } else {
                    self.wrapping_rem(o)
                }
            }
            #[inline]
            fn min_n(self, o: Self) -> Self {
                Ord::min(self, o)
            }
            #[inline]
            fn max_n(self, o: Self) -> Self {
                Ord::max(self, o)
            }
            #[inline]
            fn pow_same(self, o: Self) -> Self {
                self.pow_i(o as i64)
            }
            #[inline]
            fn pow_i(self, e: i64) -> Self {
                if e < 0 {
                    // Only ±1 have integer reciprocals; 0^-n is undefined (0 here).
                    let minus_one = $signed && self < 0 && self.wrapping_add(1) == 0;
                    return if self == 1 {
                        1
                    } else if minus_one {
                        if e % 2 == 0 {
                            1
                        } else {
                            self
                        }
                    } else {
                        0
                    };
                }
                let mut base = self;
                let mut e = e as u64;
                let mut acc: $t = 1;
                while e > 0 {
                    if e & 1 == 1 {
                        acc = acc.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                acc
            }
            #[inline]
            fn shl(self, o: Self) -> Self {
                u32::try_from(o)
                    .ok()
                    .and_then(|s| self.checked_shl(s))
                    .unwrap_or(0)
            }
            #[inline]
            fn shr(self, o: Self) -> Self {
                u32::try_from(o)
                    .ok()
                    .and_then(|s| self.checked_shr(s))
                    .unwrap_or(0)
            }
            #[inline]
            fn band(self, o: Self) -> Self {
                self & o
            }
            #[inline]
            fn bor(self, o: Self) -> Self {
                self | o
            }
            #[inline]
            fn bxor(self, o: Self) -> Self {
                self ^ o
            }
            #[inline]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline]
            fn abs(self) -> Self {
                if self < 0 {
                    self.wrapping_neg()
                } else {
                    self
                }
            }
            #[inline]
            fn sign(self) -> Self {
                if self > 0 {
                    1
                } else if self < 0 {
                    (0 as $t).wrapping_sub(1)
                } else {
                    0
                }
            }
            #[inline]
            fn bnot(self) -> Self {
                !self
            }
        }
    };
}
int_scalar!(i8, true);
int_scalar!(i16, true);
int_scalar!(i32, true);
int_scalar!(i64, true);
int_scalar!(u8, false);
int_scalar!(u16, false);
int_scalar!(u32, false);
int_scalar!(u64, false);

macro_rules! float_scalar {
    ($t:ty) => {
        impl Scalar for $t {
            #[inline]
            fn zero() -> Self {
                <$t>::from_c(0.0)
            }
            #[inline]
            fn add(self, o: Self) -> Self {
                <$t>::from_c(self.to_c() + o.to_c())
            }
            #[inline]
            fn sub(self, o: Self) -> Self {
                <$t>::from_c(self.to_c() - o.to_c())
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                <$t>::from_c(self.to_c() * o.to_c())
            }
            #[inline]
            fn div(self, o: Self) -> Self {
                <$t>::from_c(self.to_c() / o.to_c())
            }
            #[inline]
            fn rem_py(self, o: Self) -> Self {
                let (a, b) = (self.to_c(), o.to_c());
                let r = a % b;
                let zero = <<$t as FloatStore>::C as num_traits::Zero>::zero();
                <$t>::from_c(if r != zero && ((r < zero) != (b < zero)) {
                    r + b
                } else {
                    r
                })
            }
            #[inline]
            fn fmod(self, o: Self) -> Self {
                <$t>::from_c(self.to_c() % o.to_c())
            }
            #[inline]
            fn min_n(self, o: Self) -> Self {
                let (a, b) = (self.to_c(), o.to_c());
                if a.is_nan() || b.is_nan() {
                    <$t>::from_c(<<$t as FloatStore>::C as Float>::nan())
                } else if b < a {
                    o
                } else {
                    self
                }
            }
            #[inline]
            fn max_n(self, o: Self) -> Self {
                let (a, b) = (self.to_c(), o.to_c());
                if a.is_nan() || b.is_nan() {
                    <$t>::from_c(<<$t as FloatStore>::C as Float>::nan())
                } else if b > a {
                    o
                } else {
                    self
                }
            }
            #[inline]
            fn pow_same(self, o: Self) -> Self {
                <$t>::from_c(self.to_c().powf(o.to_c()))
            }
            #[inline]
            fn pow_i(self, e: i64) -> Self {
                <$t>::from_c(self.to_c().powf(Fl::c(e as f64)))
            }
            fn shl(self, _: Self) -> Self {
                self
            }
            fn shr(self, _: Self) -> Self {
                self
            }
            fn band(self, _: Self) -> Self {
                self
            }
            fn bor(self, _: Self) -> Self {
                self
            }
            fn bxor(self, _: Self) -> Self {
                self
            }
            #[inline]
            fn neg(self) -> Self {
                <$t>::from_c(-self.to_c())
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::from_c(self.to_c().abs())
            }
            #[inline]
            fn sign(self) -> Self {
                <$t>::from_c(apply_float(UnaryOp::Sign, self.to_c()))
            }
            fn bnot(self) -> Self {
                self
            }
        }
    };
}
float_scalar!(f32);
float_scalar!(f64);
float_scalar!(f16);
float_scalar!(bf16);

impl Scalar for bool {
    fn zero() -> Self {
        false
    }
    fn add(self, o: Self) -> Self {
        self | o
    }
    fn sub(self, o: Self) -> Self {
        self ^ o
    }
    fn mul(self, o: Self) -> Self {
        self & o
    }
    fn div(self, _: Self) -> Self {
        self
    }
    fn rem_py(self, _: Self) -> Self {
        false
    }
    fn fmod(self, _: Self) -> Self {
        false
    }
    fn min_n(self, o: Self) -> Self {
        self & o
    }
    fn max_n(self, o: Self) -> Self {
        self | o
    }
    fn pow_same(self, _: Self) -> Self {
        self
    }
    fn pow_i(self, _: i64) -> Self {
        self
    }
    fn shl(self, _: Self) -> Self {
        self
    }
    fn shr(self, _: Self) -> Self {
        self
    }
    fn band(self, o: Self) -> Self {
        self & o
    }
    fn bor(self, o: Self) -> Self {
        self | o
    }
    fn bxor(self, o: Self) -> Self {
        self ^ o
    }
    fn neg(self) -> Self {
        self
    }
    fn abs(self) -> Self {
        self
    }
    fn sign(self) -> Self {
        self
    }
    fn bnot(self) -> Self {
        !self
    }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting maps

/// `f` over every element, in parallel for large inputs.
pub(crate) fn map1<A: Element, O: Element>(x: &[A], f: impl Fn(A) -> O + Sync + Send) -> Vec<O> {
    if x.len() >= PAR_MIN {
        x.par_iter().map(|&a| f(a)).collect()
    } else {
        x.iter().map(|&a| f(a)).collect()
    }
}

/// Flat offset of row `r` (an index over all but the last axis of `out`) into an input read
/// with broadcast strides `st`.
#[inline]
fn row_base(r: usize, out: &[usize], st: &[usize]) -> usize {
    let mut rem = r;
    let mut off = 0;
    for ax in (0..out.len().saturating_sub(1)).rev() {
        let i = rem % out[ax];
        rem /= out[ax];
        off += i * st[ax];
    }
    off
}

/// `f(a, b)` with numpy broadcasting of `a` (shape `ash`) and `b` (shape `bsh`) to `out`.
pub(crate) fn map2<A: Element, B: Element, O: Element>(
    (ash, a): (&[usize], &[A]),
    (bsh, b): (&[usize], &[B]),
    out: &[usize],
    f: impl Fn(A, B) -> O + Sync + Send,
) -> Vec<O> {
    let n: usize = out.iter().product();
    if n == 0 {
        return vec![];
    }
    if ash == out && bsh == out {
        return if n >= PAR_MIN {
            a.par_iter().zip(b).map(|(&p, &q)| f(p, q)).collect()
        } else {
            a.iter().zip(b).map(|(&p, &q)| f(p, q)).collect()
        };
    }
    if b.len() == 1 && ash == out {
        let q = b[0];
        return map1(a, |p| f(p, q));
    }
    if a.len() == 1 && bsh == out {
        let p = a[0];
        return map1(b, |q| f(p, q));
    }
    let rank = out.len();
    let (sa, sb) = (broadcast_strides(ash, out), broadcast_strides(bsh, out));
    let last = out[rank - 1];
    let (la, lb) = (sa[rank - 1], sb[rank - 1]);
    let mut res = vec![O::default(); n];
    let body = |(r, chunk): (usize, &mut [O])| {
        let (oa, ob) = (row_base(r, out, &sa), row_base(r, out, &sb));
        for (j, o) in chunk.iter_mut().enumerate() {
            *o = f(a[oa + j * la], b[ob + j * lb]);
        }
    };
    if n >= PAR_MIN {
        res.par_chunks_mut(last).enumerate().for_each(body);
    } else {
        res.chunks_mut(last).enumerate().for_each(body);
    }
    res
}

/// `f(a, b, c)` with numpy broadcasting of all three to `out`.
fn map3<A: Element, B: Element, C: Element, O: Element>(
    (ash, a): (&[usize], &[A]),
    (bsh, b): (&[usize], &[B]),
    (csh, c): (&[usize], &[C]),
    out: &[usize],
    f: impl Fn(A, B, C) -> O + Sync + Send,
) -> Vec<O> {
    let n: usize = out.iter().product();
    if n == 0 {
        return vec![];
    }
    if out.is_empty() {
        return vec![f(a[0], b[0], c[0])];
    }
    let rank = out.len();
    let (sa, sb, sc) = (
        broadcast_strides(ash, out),
        broadcast_strides(bsh, out),
        broadcast_strides(csh, out),
    );
    let last = out[rank - 1];
    let (la, lb, lc) = (sa[rank - 1], sb[rank - 1], sc[rank - 1]);
    let mut res = vec![O::default(); n];
    let body = |(r, chunk): (usize, &mut [O])| {
        let (oa, ob, oc) = (
            row_base(r, out, &sa),
            row_base(r, out, &sb),
            row_base(r, out, &sc),
        );
        for (j, o) in chunk.iter_mut().enumerate() {
            *o = f(a[oa + j * la], b[ob + j * lb], c[oc + j * lc]);
        }
    };
    if n >= PAR_MIN {
        res.par_chunks_mut(last).enumerate().for_each(body);
    } else {
        res.chunks_mut(last).enumerate().for_each(body);
    }
    res
}

// ---------------------------------------------------------------------------------------------
// Unary

#[inline]
fn sigmoid<C: Fl>(x: C) -> C {
    if x >= C::zero() {
        C::one() / (C::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (C::one() + e)
    }
}

#[inline]
fn softplus<C: Fl>(x: C) -> C {
    if x > C::zero() {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

#[inline]
fn round_even<C: Fl>(x: C) -> C {
    let r = x.round();
    if (r - x).abs() == C::c(0.5) {
        C::c(2.0) * (x * C::c(0.5)).round()
    } else {
        r
    }
}

/// One float unary function (the bool-valued and non-float ops are handled by the caller).
#[inline]
pub(crate) fn apply_float<C: Fl>(op: UnaryOp, x: C) -> C {
    use UnaryOp::*;
    let (z, one) = (C::zero(), C::one());
    let c = |v: f32| C::c(v as f64);
    match op {
        Abs => x.abs(),
        Neg => -x,
        Sign => {
            if x > z {
                one
            } else if x < z {
                -one
            } else {
                z
            }
        }
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => round_even(x),
        Exp => x.exp(),
        Log => x.ln(),
        Sqrt => x.sqrt(),
        Reciprocal => x.recip(),
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Tanh => x.tanh(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        Erf => x.erf(),
        Sigmoid => sigmoid(x),
        Relu => {
            if x < z {
                z
            } else {
                x
            }
        }
        Softplus => softplus(x),
        Softsign => x / (one + x.abs()),
        Mish => x * softplus(x).tanh(),
        HardSwish => x * (x / C::c(6.0) + C::c(0.5)).max(z).min(one),
        LeakyRelu { alpha } => {
            if x < z {
                c(alpha) * x
            } else {
                x
            }
        }
        Elu { alpha } => {
            if x > z {
                x
            } else {
                c(alpha) * x.exp_m1()
            }
        }
        Selu { alpha, gamma } => {
            if x > z {
                c(gamma) * x
            } else {
                c(gamma) * (c(alpha) * x.exp() - c(alpha))
            }
        }
        Celu { alpha } => {
            let a = c(alpha);
            z.max(x) + z.min(a * (x / a).exp_m1())
        }
        HardSigmoid { alpha, beta } => (c(alpha) * x + c(beta)).max(z).min(one),
        ThresholdedRelu { alpha } => {
            if x > c(alpha) {
                x
            } else {
                z
            }
        }
        Shrink { bias, lambd } => {
            if x < -c(lambd) {
                x + c(bias)
            } else if x > c(lambd) {
                x - c(bias)
            } else {
                z
            }
        }
        Swish { alpha } => x * sigmoid(c(alpha) * x),
        Gelu {
            tanh_approximation: false,
        } => C::c(0.5) * x * (one + (x * C::c(std::f64::consts::FRAC_1_SQRT_2)).erf()),
        Gelu {
            tanh_approximation: true,
        } => {
            let k = C::c((2.0 / std::f64::consts::PI).sqrt());
            C::c(0.5) * x * (one + (k * (x + C::c(0.044715) * x * x * x)).tanh())
        }
        Not | BitwiseNot | IsNaN | IsInf { .. } => x,
    }
}

fn unary_float<T: FloatStore>(op: UnaryOp, x: &Tensor) -> KResult<Tensor> {
    let v = x.as_slice::<T>()?;
    let shape = x.shape().to_vec();
    match op {
        UnaryOp::IsNaN => tensor(shape, map1(v, |a| a.to_c().is_nan())),
        UnaryOp::IsInf {
            detect_negative,
            detect_positive,
        } => tensor(
            shape,
            map1(v, |a| {
                let a = a.to_c();
                let z = <T::C as num_traits::Zero>::zero();
                a.is_infinite() && ((a > z && detect_positive) || (a < z && detect_negative))
            }),
        ),
        _ => tensor(shape, map1(v, |a| T::from_c(apply_float(op, a.to_c())))),
    }
}

fn unary_int<T: Scalar>(name: &str, op: UnaryOp, x: &Tensor) -> KResult<Tensor> {
    let v = x.as_slice::<T>()?;
    let shape = x.shape().to_vec();
    let signed = T::DTYPE.is_signed_int();
    match op {
        UnaryOp::Abs => tensor(shape, map1(v, T::abs)),
        UnaryOp::Neg if signed => tensor(shape, map1(v, T::neg)),
        UnaryOp::Sign => tensor(shape, map1(v, T::sign)),
        UnaryOp::Relu => tensor(shape, map1(v, |a| a.max_n(T::zero()))),
        UnaryOp::BitwiseNot => tensor(shape, map1(v, T::bnot)),
        _ => Err(unsupported(
            name,
            format!("{op:?} is not defined on {}", T::DTYPE),
        )),
    }
}

fn unary(op: UnaryOp, ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let d = x.dtype();
    if d == DType::Bool {
        return match op {
            UnaryOp::Not | UnaryOp::BitwiseNot => {
                tensor(x.shape().to_vec(), map1(x.as_slice::<bool>()?, |a| !a))
            }
            _ => Err(unsupported(
                ins.op,
                format!("{op:?} is not defined on bool"),
            )),
        };
    }
    if matches!(op, UnaryOp::Not | UnaryOp::BitwiseNot) && d.is_float() {
        return Err(unsupported(ins.op, format!("{op:?} is not defined on {d}")));
    }
    crate::dispatch_float!(d, T => unary_float::<T>(op, x), _ => {
        dispatch_dtype!(d, T => unary_int::<T>(ins.op, op, x), lowp l => Err(unsupported(
            "unary",
            format!("dtype {l} is not supported by unary"),
        )))
    })
}

// ---------------------------------------------------------------------------------------------
// Binary

fn binary(op: BinaryOp, ins: &Inputs) -> KResult<Tensor> {
    let (a, b) = (ins.tensor(0)?, ins.tensor(1)?);
    let out = broadcast_all(ins.op, &[a.shape(), b.shape()])?;
    if a.dtype() != b.dtype() {
        return match op {
            BinaryOp::Pow => pow_mixed(ins.op, a, b, &out),
            BinaryOp::PRelu | BinaryOp::BitShiftLeft | BinaryOp::BitShiftRight
                if a.dtype().is_numeric() && b.dtype().is_numeric() =>
            {
                binary_typed_dispatch(ins.op, op, a, &b.cast(a.dtype()), &out)
            }
            _ => Err(invalid(
                ins.op,
                format!(
                    "operands have different dtypes {} and {}",
                    a.dtype(),
                    b.dtype()
                ),
            )),
        };
    }
    binary_typed_dispatch(ins.op, op, a, b, &out)
}

fn binary_typed_dispatch(
    name: &str,
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &[usize],
) -> KResult<Tensor> {
    dispatch_dtype!(a.dtype(), T => binary_typed::<T>(name, op, a, b, out), lowp l => Err(unsupported(
        "binary_typed_dispatch",
        format!("dtype {l} is not supported by binary_typed_dispatch"),
    )))
}

fn binary_typed<T: Scalar>(
    name: &str,
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &[usize],
) -> KResult<Tensor> {
    use BinaryOp::*;
    let d = T::DTYPE;
    let (x, y) = (a.as_slice::<T>()?, b.as_slice::<T>()?);
    let (xa, yb) = ((a.shape(), x), (b.shape(), y));
    macro_rules! m {
        ($f:expr) => {
            tensor(out.to_vec(), map2(xa, yb, out, $f))
        };
    }
    let num = d.is_numeric();
    let int = d.is_int();
    let boolean = d == DType::Bool;
    match op {
        Add if num => m!(T::add),
        Sub if num => m!(T::sub),
        Mul if num => m!(T::mul),
        Div if num => m!(T::div),
        Pow if num => m!(T::pow_same),
        Mod if num => m!(T::rem_py),
        Fmod if num => m!(T::fmod),
        Min => m!(T::min_n),
        Max => m!(T::max_n),
        And if boolean => m!(T::band),
        Or if boolean => m!(T::bor),
        Xor if boolean => m!(T::bxor),
        Equal => m!(|p: T, q: T| p == q),
        Less => m!(|p: T, q: T| p < q),
        LessOrEqual => m!(|p: T, q: T| p <= q),
        Greater => m!(|p: T, q: T| p > q),
        GreaterOrEqual => m!(|p: T, q: T| p >= q),
        BitShiftLeft if int => m!(T::shl),
        BitShiftRight if int => m!(T::shr),
        BitwiseAnd if int || boolean => m!(T::band),
        BitwiseOr if int || boolean => m!(T::bor),
        BitwiseXor if int || boolean => m!(T::bxor),
        PRelu if num => {
            if out != a.shape() {
                return Err(invalid(
                    name,
                    format!(
                        "slope of shape {:?} does not broadcast to input shape {:?}",
                        b.shape(),
                        a.shape()
                    ),
                ));
            }
            m!(|p: T, s: T| if p < T::zero() { p.mul(s) } else { p })
        }
        _ => Err(unsupported(name, format!("{op:?} is not defined on {d}"))),
    }
}

/// `Pow` with an exponent whose dtype differs from the base's; the output has the base's dtype.
fn pow_mixed(name: &str, a: &Tensor, b: &Tensor, out: &[usize]) -> KResult<Tensor> {
    let (ad, bd) = (a.dtype(), b.dtype());
    if !ad.is_numeric() || !bd.is_numeric() {
        return Err(unsupported(
            name,
            format!("Pow is not defined on {ad} and {bd}"),
        ));
    }
    if bd.is_float() || ad.is_float() {
        let e = b.cast(DType::F64);
        let ev = e.as_slice::<f64>()?;
        dispatch_dtype!(ad, T => {
            let x = a.as_slice::<T>()?;
            tensor(
                out.to_vec(),
                map2((a.shape(), x), (b.shape(), ev), out, |p: T, q: f64| {
                    T::from_f64(p.to_f64().powf(q))
                }),
            )
        })
    } else {
        let e = b.cast(DType::I64);
        let ev = e.as_slice::<i64>()?;
        dispatch_dtype!(ad, T => {
            let x = a.as_slice::<T>()?;
            tensor(
                out.to_vec(),
                map2((a.shape(), x), (b.shape(), ev), out, |p: T, q: i64| p.pow_i(q)),
            )
        }, lowp l => Err(unsupported(
            "pow_mixed",
            format!("dtype {l} is not supported by pow_mixed"),
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Where, Clip

fn where_(ins: &Inputs) -> KResult<Tensor> {
    let (c, x, y) = (ins.tensor(0)?, ins.tensor(1)?, ins.tensor(2)?);
    let cond = c.as_slice::<bool>().map_err(|_| {
        invalid(
            ins.op,
            format!("condition must be bool, found {}", c.dtype()),
        )
    })?;
    if x.dtype() != y.dtype() {
        return Err(invalid(
            ins.op,
            format!(
                "branches have different dtypes {} and {}",
                x.dtype(),
                y.dtype()
            ),
        ));
    }
    let out = broadcast_all(ins.op, &[c.shape(), x.shape(), y.shape()])?;
    dispatch_dtype!(x.dtype(), T => {
        let (xv, yv) = (x.as_slice::<T>()?, y.as_slice::<T>()?);
        tensor(
            out.clone(),
            map3(
                (c.shape(), cond),
                (x.shape(), xv),
                (y.shape(), yv),
                &out,
                |k: bool, p: T, q: T| if k { p } else { q },
            ),
        )
    })
}

#[allow(clippy::bool_comparison)]
fn clip(ins: &Inputs) -> KResult<Tensor> {
    let x = ins.tensor(0)?;
    let d = x.dtype();
    if d == DType::Bool {
        return Err(unsupported(ins.op, "Clip is not defined on bool"));
    }
    let bound = |i: usize| -> KResult<Option<Tensor>> {
        match ins.opt_tensor(i)? {
            None => Ok(None),
            Some(t) if t.is_empty() => Ok(None),
            Some(t) if t.len() != 1 => Err(invalid(
                ins.op,
                format!("bound {i} must be a scalar, has shape {:?}", t.shape()),
            )),
            Some(t) if t.dtype() != d => Err(invalid(
                ins.op,
                format!("bound {i} has dtype {}, input has {d}", t.dtype()),
            )),
            Some(t) => Ok(Some(t.clone())),
        }
    };
    let (lo, hi) = (bound(1)?, bound(2)?);
    dispatch_dtype!(d, T => {
        let v = x.as_slice::<T>()?;
        let first = |t: &Option<Tensor>| -> KResult<Option<T>> {
            Ok(match t {
                Some(t) => t.as_slice::<T>()?.first().copied(),
                None => None,
            })
        };
        let (lo, hi) = (first(&lo)?, first(&hi)?);
        tensor(
            x.shape().to_vec(),
            map1(v, |a: T| {
                let mut y = a;
                if let Some(l) = lo {
                    if y < l {
                        y = l;
                    }
                }
                if let Some(h) = hi {
                    if y > h {
                        y = h;
                    }
                }
                y
            }),
        )
    }, lowp l => Err(unsupported(
            "clip",
            format!("dtype {l} is not supported by clip"),
        )))
}

// ---------------------------------------------------------------------------------------------
// erf (FreeBSD msun s_erf.c, via the `libm` crate; Copyright (C) 1993 by Sun Microsystems, Inc.
// Permission to use, copy, modify, and distribute this software is freely granted, provided
// that this notice is preserved.)

#[allow(clippy::excessive_precision)]
const ERX: f64 = 8.450_629_115_104_675_292_97e-1;
#[allow(clippy::excessive_precision)]
const EFX8: f64 = 1.027_033_336_764_100_690_53;
#[allow(clippy::excessive_precision)]
const PP: [f64; 5] = [
    1.283_791_670_955_125_585_61e-1,
    -3.250_421_072_470_014_993_70e-1,
    -2.848_174_957_559_851_047_66e-2,
    -5.770_270_296_489_441_591_57e-3,
    -2.376_301_665_665_016_260_84e-5,
];
#[allow(clippy::excessive_precision)]
const QQ: [f64; 5] = [
    3.979_172_239_591_553_528_19e-1,
    6.502_224_998_876_729_444_85e-2,
    5.081_306_281_875_765_627_76e-3,
    1.324_947_380_043_216_445_26e-4,
    -3.960_228_278_775_368_123_20e-6,
];
#[allow(clippy::excessive_precision)]
const PA: [f64; 7] = [
    -2.362_118_560_752_659_440_77e-3,
    4.148_561_186_837_483_316_66e-1,
    -3.722_078_760_357_013_238_47e-1,
    3.183_466_199_011_617_536_74e-1,
    -1.108_946_942_823_966_774_76e-1,
    3.547_830_432_561_823_593_71e-2,
    -2.166_375_594_868_790_843_00e-3,
];
#[allow(clippy::excessive_precision)]
const QA: [f64; 6] = [
    1.064_208_804_008_442_282_86e-1,
    5.403_979_177_021_710_489_37e-1,
    7.182_865_441_419_626_628_68e-2,
    1.261_712_198_087_616_421_12e-1,
    1.363_708_391_202_905_073_62e-2,
    1.198_449_984_679_910_741_70e-2,
];
#[allow(clippy::excessive_precision)]
const RA: [f64; 8] = [
    -9.864_944_034_847_148_227_05e-3,
    -6.938_585_727_071_817_643_72e-1,
    -1.055_862_622_532_329_098_14e1,
    -6.237_533_245_032_600_603_96e1,
    -1.623_966_694_625_734_703_55e2,
    -1.846_050_929_067_110_359_94e2,
    -8.128_743_550_630_659_342_46e1,
    -9.814_329_344_169_145_485_92,
];
#[allow(clippy::excessive_precision)]
const SA: [f64; 8] = [
    1.965_127_166_743_925_712_92e1,
    1.376_577_541_435_190_426_00e2,
    4.345_658_774_752_292_288_21e2,
    6.453_872_717_332_678_803_36e2,
    4.290_081_400_275_678_333_86e2,
    1.086_350_055_417_794_351_34e2,
    6.570_249_770_319_281_701_35,
    -6.042_441_521_485_809_874_38e-2,
];
#[allow(clippy::excessive_precision)]
const RB: [f64; 7] = [
    -9.864_942_924_700_099_285_97e-3,
    -7.992_832_376_805_230_065_74e-1,
    -1.775_795_491_775_475_198_89e1,
    -1.606_363_848_558_219_160_62e2,
    -6.375_664_433_683_896_277_22e2,
    -1.025_095_131_611_077_249_54e3,
    -4.835_191_916_086_513_970_19e2,
];
#[allow(clippy::excessive_precision)]
const SB: [f64; 7] = [
    3.033_806_074_348_245_829_24e1,
    3.257_925_129_965_739_188_26e2,
    1.536_729_586_084_436_959_94e3,
    3.199_858_219_508_595_539_08e3,
    2.553_050_406_433_164_425_83e3,
    4.745_285_412_069_553_672_15e2,
    -2.244_095_244_658_581_833_62e1,
];

/// Polynomial with coefficients `c` (lowest degree first) at `x`.
#[inline]
fn poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
}

/// The Gauss error function in double precision (< 1 ulp).
pub(crate) fn erf64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax.is_infinite() {
        return x.signum();
    }
    if ax < 0.84375 {
        if ax < 3.725_290_298_461_914e-9 {
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        let z = x * x;
        let r = poly(&PP, z);
        let s = 1.0 + z * poly(&QQ, z);
        return x + x * (r / s);
    }
    let y = if ax < 1.25 {
        let s = ax - 1.0;
        let p = poly(&PA, s);
        let q = 1.0 + s * poly(&QA, s);
        ERX + p / q
    } else if ax < 6.0 {
        let s = 1.0 / (ax * ax);
        let (r, big_s) = if ax < 1.0 / 0.35 {
            (poly(&RA, s), 1.0 + s * poly(&SA, s))
        } else {
            (poly(&RB, s), 1.0 + s * poly(&SB, s))
        };
        // z: ax with the low 32 bits cleared.
        let z = f64::from_bits(ax.to_bits() & 0xffff_ffff_0000_0000);
        1.0 - (-z * z - 0.5625).exp() * ((z - ax) * (z + ax) + r / big_s).exp() / ax
    } else {
        1.0
    };
    if x < 0.0 {
        -y
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_ir::Value;

    fn run1(op: Op, inputs: &[Option<Tensor>]) -> KResult<Tensor> {
        let vals: Vec<Option<Value>> = inputs
            .iter()
            .map(|t| t.clone().map(Value::Tensor))
            .collect();
        let refs: Vec<Option<&Value>> = vals.iter().map(|v| v.as_ref()).collect();
        let name = op.name();
        let ins = Inputs {
            op: &name,
            values: &refs,
        };
        let out = run(&op, &ins).expect("elementwise op")?;
        match out.into_iter().next().flatten() {
            Some(Value::Tensor(t)) => Ok(t),
            _ => panic!("no tensor output"),
        }
    }

    #[test]
    fn bitcast_matches_naive() {
        use tessera_ir::op::BitCast;
        let x = t(&[3], vec![1.0f32, -2.5, 0.0]);
        let y = run1(Op::BitCast(BitCast { to: DType::I32 }), &[Some(x)]).unwrap();
        let want: Vec<i32> = [1.0f32, -2.5, 0.0]
            .iter()
            .map(|v| v.to_bits() as i32)
            .collect();
        assert_eq!(y.as_slice::<i32>().unwrap(), &want[..]);
        // Wider to narrower appends an axis; narrower to wider removes it.
        let x = t(&[2], vec![0x0102_0304u32, 0xa0b0_c0d0]);
        let y = run1(Op::BitCast(BitCast { to: DType::U8 }), &[Some(x.clone())]).unwrap();
        assert_eq!(y.shape(), &[2, 4]);
        assert_eq!(
            y.as_slice::<u8>().unwrap(),
            &[4, 3, 2, 1, 0xd0, 0xc0, 0xb0, 0xa0]
        );
        let z = run1(Op::BitCast(BitCast { to: DType::U32 }), &[Some(y)]).unwrap();
        assert_eq!(z, x);
        let bad = t(&[3], vec![1u8, 2, 3]);
        assert!(run1(Op::BitCast(BitCast { to: DType::U16 }), &[Some(bad)]).is_err());
    }

    fn t<T: tessera_ir::Storage>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    #[test]
    fn erf_reference_values() {
        // Values from a high-precision reference.
        let cases = [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
        ];
        for (x, want) in cases {
            assert!((erf64(x) - want).abs() < 1e-15, "erf({x}) = {}", erf64(x));
        }
        assert_eq!(erf64(10.0), 1.0);
        assert!(erf64(f64::NAN).is_nan());
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn unary_matches_naive() {
        let xs = vec![-3.0f32, -0.5, 0.0, 0.5, 2.5, 7.0];
        let x = t(&[2, 3], xs.clone());
        let cases: Vec<(UnaryOp, fn(f64) -> f64)> = vec![
            (UnaryOp::Exp, f64::exp),
            (UnaryOp::Tanh, f64::tanh),
            (UnaryOp::Sigmoid, |v| 1.0 / (1.0 + (-v).exp())),
            (UnaryOp::Relu, |v| v.max(0.0)),
            (UnaryOp::Softplus, |v| (1.0 + v.exp()).ln()),
            (UnaryOp::Round, |v: f64| v.round_ties_even()),
            (
                UnaryOp::Gelu {
                    tanh_approximation: false,
                },
                |v| 0.5 * v * (1.0 + erf64(v / 2f64.sqrt())),
            ),
        ];
        for (op, f) in cases {
            let y = run1(Op::Unary(op), &[Some(x.clone())]).unwrap();
            for (a, &b) in y.to_f64_vec().iter().zip(&xs) {
                let want = f(b as f64);
                assert!(
                    (a - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{op:?}({b})"
                );
            }
        }
        let h = x.cast(DType::F16);
        let y = run1(Op::Unary(UnaryOp::Neg), &[Some(h)]).unwrap();
        assert_eq!(y.dtype(), DType::F16);
        assert_eq!(y.to_f64_vec(), vec![3.0, 0.5, 0.0, -0.5, -2.5, -7.0]);
    }

    #[test]
    fn unary_ints_and_bool() {
        let x = t(&[3], vec![-128i8, -3, 5]);
        let y = run1(Op::Unary(UnaryOp::Abs), &[Some(x.clone())]).unwrap();
        assert_eq!(y.to_i64_vec(), vec![-128, 3, 5]);
        let y = run1(Op::Unary(UnaryOp::Sign), &[Some(x)]).unwrap();
        assert_eq!(y.to_i64_vec(), vec![-1, -1, 1]);
        let b = t(&[2], vec![true, false]);
        let y = run1(Op::Unary(UnaryOp::Not), &[Some(b)]).unwrap();
        assert_eq!(y.as_slice::<bool>().unwrap(), &[false, true]);
        assert!(run1(Op::Unary(UnaryOp::Exp), &[Some(t(&[1], vec![1i32]))]).is_err());
    }

    #[test]
    fn binary_broadcast_matches_naive() {
        let a: Vec<f32> = (0..24).map(|i| i as f32 - 7.0).collect();
        let b: Vec<f32> = (0..4).map(|i| i as f32 + 0.5).collect();
        let y = run1(
            Op::Binary(BinaryOp::Sub),
            &[Some(t(&[2, 3, 4], a.clone())), Some(t(&[4], b.clone()))],
        )
        .unwrap();
        assert_eq!(y.shape(), &[2, 3, 4]);
        let yv = y.as_slice::<f32>().unwrap();
        for i in 0..24 {
            assert_eq!(yv[i], a[i] - b[i % 4]);
        }
        // (3,1) with (1,4)
        let p = t(&[3, 1], vec![1i32, 2, 3]);
        let q = t(&[1, 4], vec![10i32, 20, 30, 40]);
        let y = run1(Op::Binary(BinaryOp::Mul), &[Some(p), Some(q)]).unwrap();
        assert_eq!(y.shape(), &[3, 4]);
        let want: Vec<i64> = (1..=3)
            .flat_map(|i| (1..=4).map(move |j| i * j * 10))
            .collect();
        assert_eq!(y.to_i64_vec(), want);
    }

    #[test]
    fn integer_division_and_modulo() {
        let a = t(&[4], vec![-7i32, 7, -7, 7]);
        let b = t(&[4], vec![2i32, -2, -2, 0]);
        let y = run1(
            Op::Binary(BinaryOp::Div),
            &[Some(a.clone()), Some(b.clone())],
        )
        .unwrap();
        assert_eq!(y.to_i64_vec(), vec![-3, -3, 3, 0]);
        let y = run1(
            Op::Binary(BinaryOp::Mod),
            &[Some(a.clone()), Some(b.clone())],
        )
        .unwrap();
        assert_eq!(y.to_i64_vec(), vec![1, -1, -1, 0]);
        let y = run1(Op::Binary(BinaryOp::Fmod), &[Some(a), Some(b)]).unwrap();
        assert_eq!(y.to_i64_vec(), vec![-1, 1, -1, 0]);
        let fa = t(&[2], vec![-7.5f32, 7.5]);
        let fb = t(&[2], vec![2.0f32, -2.0]);
        let y = run1(Op::Binary(BinaryOp::Fmod), &[Some(fa), Some(fb)]).unwrap();
        assert_eq!(y.to_f64_vec(), vec![-1.5, 1.5]);
    }

    #[test]
    fn pow_min_max_compare_shift() {
        let a = t(&[3], vec![2.0f32, 3.0, f32::NAN]);
        let e = t(&[3], vec![3i64, 2, 1]);
        let y = run1(Op::Binary(BinaryOp::Pow), &[Some(a.clone()), Some(e)]).unwrap();
        assert_eq!(y.dtype(), DType::F32);
        assert_eq!(&y.to_f64_vec()[..2], &[8.0, 9.0]);
        let b = t(&[3], vec![1.0f32, 5.0, 0.0]);
        let y = run1(
            Op::Binary(BinaryOp::Max),
            &[Some(a.clone()), Some(b.clone())],
        )
        .unwrap();
        let v = y.to_f64_vec();
        assert_eq!(&v[..2], &[2.0, 5.0]);
        assert!(v[2].is_nan());
        let y = run1(Op::Binary(BinaryOp::Less), &[Some(a), Some(b)]).unwrap();
        assert_eq!(y.as_slice::<bool>().unwrap(), &[false, true, false]);
        let u = t(&[3], vec![1u8, 16, 255]);
        let s = t(&[3], vec![3u8, 2, 9]);
        let y = run1(
            Op::Binary(BinaryOp::BitShiftLeft),
            &[Some(u.clone()), Some(s.clone())],
        )
        .unwrap();
        assert_eq!(y.to_i64_vec(), vec![8, 64, 0]);
        let y = run1(Op::Binary(BinaryOp::BitShiftRight), &[Some(u), Some(s)]).unwrap();
        assert_eq!(y.to_i64_vec(), vec![0, 4, 0]);
        let i = t(&[2], vec![3i32, -2]);
        let p = t(&[2], vec![4i32, 3]);
        let y = run1(Op::Binary(BinaryOp::Pow), &[Some(i), Some(p)]).unwrap();
        assert_eq!(y.to_i64_vec(), vec![81, -8]);
    }

    #[test]
    fn where_and_clip() {
        let c = t(&[2, 1], vec![true, false]);
        let x = t(&[2], vec![1i64, 2]);
        let y = t(&[], vec![9i64]);
        let r = run1(
            Op::Where(tessera_ir::op::Where),
            &[Some(c), Some(x), Some(y)],
        )
        .unwrap();
        assert_eq!(r.shape(), &[2, 2]);
        assert_eq!(r.to_i64_vec(), vec![1, 2, 9, 9]);
        let x = t(&[4], vec![-2.0f32, 0.5, 3.0, f32::NAN]);
        let lo = t(&[], vec![0.0f32]);
        let r = run1(
            Op::Clip(tessera_ir::op::Clip),
            &[Some(x.clone()), Some(lo), None],
        )
        .unwrap();
        let v = r.to_f64_vec();
        assert_eq!(&v[..3], &[0.0, 0.5, 3.0]);
        assert!(v[3].is_nan());
        // min > max: everything becomes max (numpy semantics).
        let r = run1(
            Op::Clip(tessera_ir::op::Clip),
            &[
                Some(x),
                Some(t(&[], vec![2.0f32])),
                Some(t(&[], vec![1.0f32])),
            ],
        )
        .unwrap();
        assert_eq!(&r.to_f64_vec()[..3], &[1.0, 1.0, 1.0]);
    }

    #[test]
    fn large_broadcast_parallel_path() {
        let n = 300;
        let a: Vec<f32> = (0..n * n).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let y = run1(
            Op::Binary(BinaryOp::Add),
            &[Some(t(&[n, n], a.clone())), Some(t(&[n, 1], b.clone()))],
        )
        .unwrap();
        let v = y.as_slice::<f32>().unwrap();
        for i in 0..n {
            for j in 0..n {
                assert_eq!(v[i * n + j], a[i * n + j] + b[i]);
            }
        }
    }
}
