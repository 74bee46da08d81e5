//! Low-precision element types: the float8 family, FLOAT8E8M0, FLOAT4E2M1 and the 4- and 2-bit
//! integers.
//!
//! Every type is stored unpacked, one element per byte, as a `#[repr(transparent)]` newtype:
//! float codes keep their bit pattern in the low bits of a `u8` (`F4E2M1` uses the low nibble),
//! integers hold their value sign-extended (`I4`, `I2` over `i8`) or zero-extended (`U4`, `U2`
//! over `u8`). Packing (two 4-bit or four 2-bit elements per byte, low bits first) only happens
//! at the ONNX boundary.
//!
//! Conversions follow the ONNX `Cast` specification:
//!
//! * decoding to `f32`/`f64` is exact for every code;
//! * encoding from `f64` rounds to nearest, ties to even. With `saturate` (the `Cast` default)
//!   values beyond the largest finite value, and ±∞, become ±max; without it they become ∞
//!   (E5M2) or NaN (the `FN`/`FNUZ` formats). NaN stays NaN; the `FNUZ` formats have no −0 (−0
//!   and negative values that round to zero encode as +0).
//! * `F4E2M1` has neither ∞ nor NaN: out-of-range values and ±∞ saturate to ±6. NaN becomes a
//!   zero of the opposite sign (+NaN → −0), which is what the ONNX reference implementation
//!   (through `ml_dtypes`) produces and the ONNX 1.21 test data expect.
//! * `F8E8M0` (unsigned power of two `2^(e−127)`, `0xFF` = NaN) rounds per [`RoundMode`]
//!   (`Up` by default); with `saturate` values below `2^−127` (including 0) become `2^−127` and
//!   values above `2^127`, and +∞, become `2^127`; without it both become NaN. The sign is
//!   ignored (casting negative values is undefined in ONNX).
//! * integers truncate toward zero and wrap, like the other integer types (NaN becomes 0).

use crate::dtype::{DType, Element};

/// Rounding of conversions to [`F8E8M0`] (the ONNX `Cast` `round_mode` attribute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RoundMode {
    /// Away from zero (the ONNX default).
    #[default]
    Up,
    /// Toward zero.
    Down,
    /// To nearest; ties away from zero.
    Nearest,
}

impl RoundMode {
    /// Parses the ONNX attribute value (`up`, `down`, `nearest`).
    pub fn from_name(s: &str) -> Option<RoundMode> {
        match s {
            "up" => Some(RoundMode::Up),
            "down" => Some(RoundMode::Down),
            "nearest" => Some(RoundMode::Nearest),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Special {
    /// IEEE-like: exponent all ones is ∞ (mantissa 0) or NaN.
    Ieee,
    /// `FN`: only `S.1…1.1…1` is NaN, no ∞.
    Fn,
    /// `FNUZ`: `0x80` is the only NaN, no ∞, no −0.
    FnUz,
    /// No ∞ and no NaN.
    None,
}

/// A small binary floating-point format.
struct Fmt {
    ebits: u32,
    mbits: u32,
    bias: i32,
    special: Special,
}

impl Fmt {
    fn sign_bit(&self) -> u8 {
        1 << (self.ebits + self.mbits)
    }

    fn decode(&self, b: u8) -> f64 {
        let neg = b & self.sign_bit() != 0;
        let emax = (1i32 << self.ebits) - 1;
        let e = ((b >> self.mbits) as i32) & emax;
        let mmask = (1i32 << self.mbits) - 1;
        let m = (b as i32) & mmask;
        match self.special {
            Special::Ieee if e == emax => {
                return if m != 0 {
                    f64::NAN
                } else if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            Special::Fn if e == emax && m == mmask => return f64::NAN,
            Special::FnUz if neg && e == 0 && m == 0 => return f64::NAN,
            _ => {}
        }
        let mag = if e == 0 {
            m as f64 * pow2(1 - self.bias - self.mbits as i32)
        } else {
            (1.0 + m as f64 / (1u32 << self.mbits) as f64) * pow2(e - self.bias)
        };
        if neg {
            -mag
        } else {
            mag
        }
    }

    /// The largest finite magnitude's code (without sign).
    fn max_code(&self) -> u8 {
        let all = (self.sign_bit() - 1) as i32;
        (match self.special {
            // Exponent all ones is reserved.
            Special::Ieee => all - (1 << self.mbits),
            Special::Fn => all - 1,
            Special::FnUz | Special::None => all,
        }) as u8
    }

    fn nan_code(&self, neg: bool) -> u8 {
        let s = if neg { self.sign_bit() } else { 0 };
        match self.special {
            // Quiet NaN: top mantissa bit set.
            Special::Ieee => (self.sign_bit() - 1 - ((1 << (self.mbits - 1)) - 1)) | s,
            Special::Fn => (self.sign_bit() - 1) | s,
            Special::FnUz => 0x80,
            // No NaN code: the reference maps NaN to a zero with the sign bit flipped.
            Special::None => {
                if neg {
                    0
                } else {
                    self.sign_bit()
                }
            }
        }
    }

    fn encode(&self, x: f64, saturate: bool) -> u8 {
        let neg = x.is_sign_negative();
        let s = if neg { self.sign_bit() } else { 0 };
        if x.is_nan() {
            return self.nan_code(neg);
        }
        let max = self.decode(self.max_code());
        let overflow = || -> u8 {
            if saturate || self.special == Special::None {
                self.max_code() | s
            } else {
                match self.special {
                    Special::Ieee => (self.sign_bit() - (1 << self.mbits)) | s,
                    _ => self.nan_code(neg),
                }
            }
        };
        let a = x.abs();
        if a.is_infinite() {
            return overflow();
        }
        let min_normal = pow2(1 - self.bias);
        let e = if a < min_normal {
            1 - self.bias
        } else {
            (((a.to_bits() >> 52) & 0x7ff) as i32) - 1023
        };
        let q = pow2(e - self.mbits as i32);
        let r = (a / q).round_ties_even() * q;
        if r > max {
            return overflow();
        }
        if r == 0.0 {
            return if self.special == Special::FnUz { 0 } else { s };
        }
        let code = if r < min_normal {
            (r / pow2(1 - self.bias - self.mbits as i32)) as u8
        } else {
            let re = (((r.to_bits() >> 52) & 0x7ff) as i32) - 1023;
            let m = ((r / pow2(re) - 1.0) * (1u32 << self.mbits) as f64) as u8;
            (((re + self.bias) as u8) << self.mbits) | m
        };
        code | s
    }
}

fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

const E4M3FN: Fmt = Fmt {
    ebits: 4,
    mbits: 3,
    bias: 7,
    special: Special::Fn,
};
const E4M3FNUZ: Fmt = Fmt {
    ebits: 4,
    mbits: 3,
    bias: 8,
    special: Special::FnUz,
};
const E5M2: Fmt = Fmt {
    ebits: 5,
    mbits: 2,
    bias: 15,
    special: Special::Ieee,
};
const E5M2FNUZ: Fmt = Fmt {
    ebits: 5,
    mbits: 2,
    bias: 16,
    special: Special::FnUz,
};
const E2M1: Fmt = Fmt {
    ebits: 2,
    mbits: 1,
    bias: 1,
    special: Special::None,
};

macro_rules! minifloat {
    ($(#[$doc:meta])* $name:ident, $fmt:ident, $d:ident, $mask:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[repr(transparent)]
        pub struct $name(u8);

        impl $name {
            /// The element with this bit pattern (bits outside the format are dropped).
            pub const fn from_bits(b: u8) -> Self {
                $name(b & $mask)
            }
            /// The bit pattern.
            pub const fn to_bits(self) -> u8 {
                self.0
            }
            /// Converts with round-to-nearest-even; `saturate` as in ONNX `Cast`.
            pub fn from_f64_sat(v: f64, saturate: bool) -> Self {
                $name($fmt.encode(v, saturate))
            }
            /// The exact value.
            pub fn to_f32(self) -> f32 {
                $fmt.decode(self.0) as f32
            }
        }

        impl Element for $name {
            const DTYPE: DType = DType::$d;
            #[inline]
            fn to_f64(self) -> f64 {
                $fmt.decode(self.0)
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                Self::from_f64_sat(v, true)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self.to_f64() as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                Self::from_f64(v as f64)
            }
        }
    };
}

minifloat!(
    /// FLOAT8E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no ∞, NaN `S.1111.111`,
    /// max 448.
    F8E4M3Fn, E4M3FN, F8E4M3Fn, 0xFF
);
minifloat!(
    /// FLOAT8E4M3FNUZ: 1 sign, 4 exponent (bias 8), 3 mantissa bits; no ∞, no −0, NaN `0x80`,
    /// max 240.
    F8E4M3FnUz, E4M3FNUZ, F8E4M3FnUz, 0xFF
);
minifloat!(
    /// FLOAT8E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-like ∞ and NaN,
    /// max 57344.
    F8E5M2, E5M2, F8E5M2, 0xFF
);
minifloat!(
    /// FLOAT8E5M2FNUZ: 1 sign, 5 exponent (bias 16), 2 mantissa bits; no ∞, no −0, NaN
    /// `0x80`, max 57344.
    F8E5M2FnUz, E5M2FNUZ, F8E5M2FnUz, 0xFF
);
minifloat!(
    /// FLOAT4E2M1: 1 sign, 2 exponent (bias 1), 1 mantissa bit in the low nibble; no ∞, no
    /// NaN, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    F4E2M1, E2M1, F4E2M1, 0x0F
);

/// FLOAT8E8M0: an unsigned power of two `2^(bits − 127)`; `0xFF` is NaN; no zero, no sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct F8E8M0(u8);

impl Default for F8E8M0 {
    /// `2^0 = 1` (the format has no zero).
    fn default() -> Self {
        F8E8M0(127)
    }
}

impl F8E8M0 {
    /// The element with this bit pattern.
    pub const fn from_bits(b: u8) -> Self {
        F8E8M0(b)
    }
    /// The bit pattern.
    pub const fn to_bits(self) -> u8 {
        self.0
    }
    /// Converts with the given saturation and rounding (see the module docs).
    pub fn from_f64_mode(v: f64, saturate: bool, mode: RoundMode) -> Self {
        if v.is_nan() {
            return F8E8M0(0xFF);
        }
        let a = v.abs();
        let (lo, hi) = if saturate { (0, 0xFE) } else { (0xFF, 0xFF) };
        if a.is_infinite() {
            return F8E8M0(hi);
        }
        if a == 0.0 {
            return F8E8M0(lo);
        }
        // a = frac · 2^e with frac in [1, 2).
        let (mut e, frac) = if a < f64::MIN_POSITIVE {
            // Far below 2^-127: only `Up` reaches the smallest value.
            (-1100, 1.5)
        } else {
            let e = (((a.to_bits() >> 52) & 0x7ff) as i32) - 1023;
            (e, a / pow2(e))
        };
        let up = match mode {
            RoundMode::Up => frac > 1.0,
            RoundMode::Down => false,
            RoundMode::Nearest => frac >= 1.5,
        };
        if up {
            e += 1;
        }
        if mode == RoundMode::Up && e < -127 {
            return F8E8M0(0);
        }
        if e < -127 {
            F8E8M0(lo)
        } else if e > 127 {
            F8E8M0(hi)
        } else {
            F8E8M0((e + 127) as u8)
        }
    }
}

impl Element for F8E8M0 {
    const DTYPE: DType = DType::F8E8M0;
    #[inline]
    fn to_f64(self) -> f64 {
        if self.0 == 0xFF {
            f64::NAN
        } else {
            pow2(self.0 as i32 - 127)
        }
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        Self::from_f64_mode(v, true, RoundMode::Up)
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        Self::from_f64(v as f64)
    }
}

macro_rules! small_int {
    ($(#[$doc:meta])* $name:ident, $repr:ty, $d:ident, $bits:expr, $signed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name($repr);

        impl $name {
            /// Smallest value.
            pub const MIN: i64 = if $signed { -(1 << ($bits - 1)) } else { 0 };
            /// Largest value.
            pub const MAX: i64 = if $signed { (1 << ($bits - 1)) - 1 } else { (1 << $bits) - 1 };
            /// `v` wrapped into the type's range (two's complement).
            pub const fn wrapping(v: i64) -> Self {
                let low = v & ((1 << $bits) - 1);
                let x = if $signed && low >= (1 << ($bits - 1)) { low - (1 << $bits) } else { low };
                $name(x as $repr)
            }
            /// The element whose `bits`-wide two's complement pattern is the low bits of `b`.
            pub const fn from_bits(b: u8) -> Self {
                Self::wrapping(b as i64)
            }
            /// The `bits`-wide bit pattern.
            pub const fn to_bits(self) -> u8 {
                (self.0 as u8) & ((1 << $bits) - 1)
            }
            /// The value.
            pub const fn get(self) -> i64 {
                self.0 as i64
            }
        }

        impl Element for $name {
            const DTYPE: DType = DType::$d;
            #[inline]
            fn to_f64(self) -> f64 {
                self.0 as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                if v.is_nan() {
                    $name(0)
                } else {
                    Self::wrapping((v.trunc() as i128) as i64)
                }
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self.0 as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                Self::wrapping(v)
            }
        }
    };
}

small_int!(
    /// INT4: signed 4-bit integer in [−8, 7].
    I4, i8, I4, 4, true
);
small_int!(
    /// UINT4: unsigned 4-bit integer in [0, 15].
    U4, u8, U4, 4, false
);
small_int!(
    /// INT2: signed 2-bit integer in [−2, 1].
    I2, i8, I2, 2, true
);
small_int!(
    /// UINT2: unsigned 2-bit integer in [0, 3].
    U2, u8, U2, 2, false
);

/// Encodes `v` as the bit pattern of the low-precision `dtype` with explicit `Cast` options;
/// `None` for other dtypes.
pub fn encode_bits(dtype: DType, v: f64, saturate: bool, mode: RoundMode) -> Option<u8> {
    Some(match dtype {
        DType::F8E4M3Fn => E4M3FN.encode(v, saturate),
        DType::F8E4M3FnUz => E4M3FNUZ.encode(v, saturate),
        DType::F8E5M2 => E5M2.encode(v, saturate),
        DType::F8E5M2FnUz => E5M2FNUZ.encode(v, saturate),
        DType::F4E2M1 => E2M1.encode(v, saturate),
        DType::F8E8M0 => F8E8M0::from_f64_mode(v, saturate, mode).0,
        DType::I4 => I4::from_f64(v).to_bits(),
        DType::U4 => U4::from_f64(v).to_bits(),
        DType::I2 => I2::from_f64(v).to_bits(),
        DType::U2 => U2::from_f64(v).to_bits(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Element>(codes: u32, from: fn(u8) -> T, bits: fn(T) -> u8) {
        for c in 0..codes {
            let x = from(c as u8);
            let v = x.to_f64();
            if v.is_nan() {
                assert!(T::from_f64(v).to_f64().is_nan());
                continue;
            }
            if v.is_infinite() {
                // The default (saturating) cast maps ±∞ to ±max.
                assert!(T::from_f64(v).to_f64().is_finite());
                continue;
            }
            // Exact through f32 and back.
            assert_eq!(v as f32 as f64, v);
            assert_eq!(
                bits(T::from_f64(v as f32 as f64)),
                c as u8,
                "code {c:#x} = {v}"
            );
        }
    }

    #[test]
    fn exhaustive_round_trips() {
        round_trip(256, F8E4M3Fn::from_bits, F8E4M3Fn::to_bits);
        round_trip(256, F8E4M3FnUz::from_bits, F8E4M3FnUz::to_bits);
        round_trip(256, F8E5M2::from_bits, F8E5M2::to_bits);
        round_trip(256, F8E5M2FnUz::from_bits, F8E5M2FnUz::to_bits);
        round_trip(16, F4E2M1::from_bits, F4E2M1::to_bits);
        round_trip(255, F8E8M0::from_bits, F8E8M0::to_bits);
        round_trip(16, I4::from_bits, I4::to_bits);
        round_trip(16, U4::from_bits, U4::to_bits);
        round_trip(4, I2::from_bits, I2::to_bits);
        round_trip(4, U2::from_bits, U2::to_bits);
    }

    #[test]
    fn spec_values() {
        assert_eq!(F8E4M3Fn::from_bits(0x7E).to_f64(), 448.0);
        assert_eq!(F8E4M3Fn::from_bits(0x01).to_f64(), 2f64.powi(-9));
        assert!(F8E4M3Fn::from_bits(0x7F).to_f64().is_nan());
        assert_eq!(F8E4M3FnUz::from_bits(0x7F).to_f64(), 240.0);
        assert!(F8E4M3FnUz::from_bits(0x80).to_f64().is_nan());
        assert_eq!(F8E5M2::from_bits(0x7B).to_f64(), 57344.0);
        assert_eq!(F8E5M2::from_bits(0x7C).to_f64(), f64::INFINITY);
        assert!(F8E5M2::from_bits(0x7D).to_f64().is_nan());
        assert_eq!(F8E5M2FnUz::from_bits(0x7F).to_f64(), 57344.0);
        assert_eq!(F8E5M2FnUz::from_bits(0x01).to_f64(), 2f64.powi(-17));
        let f4: Vec<f64> = (0..16).map(|b| F4E2M1::from_bits(b).to_f64()).collect();
        assert_eq!(&f4[..8], &[0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(F8E8M0::from_bits(127).to_f64(), 1.0);
        assert_eq!(F8E8M0::from_bits(0).to_f64(), 2f64.powi(-127));
    }

    #[test]
    fn saturation_and_specials() {
        // Saturating (default) cast.
        assert_eq!(F8E4M3Fn::from_f64(1e6).to_bits(), 0x7E);
        assert_eq!(F8E4M3Fn::from_f64(f64::NEG_INFINITY).to_bits(), 0xFE);
        assert_eq!(F8E5M2::from_f64(f64::INFINITY).to_bits(), 0x7B);
        assert_eq!(F8E4M3FnUz::from_f64(-0.0).to_bits(), 0);
        assert_eq!(F8E4M3FnUz::from_f64(-1e-9).to_bits(), 0);
        assert_eq!(F8E4M3Fn::from_f64(-0.0).to_bits(), 0x80);
        // Non-saturating.
        assert!(F8E4M3Fn::from_f64_sat(1e6, false).to_f64().is_nan());
        assert!(F8E4M3FnUz::from_f64_sat(f64::INFINITY, false)
            .to_f64()
            .is_nan());
        assert_eq!(F8E5M2::from_f64_sat(1e6, false).to_f64(), f64::INFINITY);
        assert_eq!(
            F8E5M2::from_f64_sat(-1e6, false).to_f64(),
            f64::NEG_INFINITY
        );
        // Rounding to nearest even: 464 is halfway between 448 and 480.
        assert_eq!(F8E4M3Fn::from_f64(464.0).to_f64(), 448.0);
        assert!(F8E4M3Fn::from_f64_sat(465.0, false).to_f64().is_nan());
        assert_eq!(F8E4M3Fn::from_f64(0.47892547).to_f64(), 0.46875);
        // Float4: ties to even, overflow to 6, NaN to -0.
        let f4 = |v: f64| F4E2M1::from_f64(v).to_f64();
        assert_eq!(
            [f4(0.25), f4(0.75), f4(2.5), f4(5.0), f4(1e6), f4(-9.0),],
            [0.0, 1.0, 2.0, 4.0, 6.0, -6.0]
        );
        assert_eq!(F4E2M1::from_f64(f64::NAN).to_bits(), 0x8);
        assert_eq!(F4E2M1::from_f64(-f64::NAN).to_bits(), 0x0);
        // E8M0 rounding modes.
        let e = |v: f64, s: bool, m: RoundMode| F8E8M0::from_f64_mode(v, s, m).to_f64();
        assert_eq!(e(0.124, true, RoundMode::Up), 0.125);
        assert_eq!(e(1.1, true, RoundMode::Up), 2.0);
        assert_eq!(e(1.1, true, RoundMode::Down), 1.0);
        assert_eq!(e(1.5, true, RoundMode::Nearest), 2.0);
        assert_eq!(e(1.4, true, RoundMode::Nearest), 1.0);
        assert_eq!(e(0.0, true, RoundMode::Up), 2f64.powi(-127));
        assert!(e(0.0, false, RoundMode::Nearest).is_nan());
        assert_eq!(e(f64::INFINITY, true, RoundMode::Up), 2f64.powi(127));
        assert!(e(1e300, false, RoundMode::Up).is_nan());
        // Integers truncate and wrap.
        assert_eq!(I4::from_f64(-9.0).get(), 7);
        assert_eq!(I4::from_f64(7.9).get(), 7);
        assert_eq!(U4::from_f64(-1.0).get(), 15);
        assert_eq!(I2::from_f64(2.0).get(), -2);
        assert_eq!(U2::from_i64(5).get(), 1);
    }
}
