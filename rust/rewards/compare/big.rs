//! Exact rationals over arbitrary-precision integers, for the numbers that
//! overflow `i128` (`2^{128}+1` against `2^{128}`, 40-digit literals). Used
//! only when the `i128` path ([`super::exact`]) fails and both sides are
//! purely rational in shape; every result is capped at [`MAX_BITS`] bits
//! (about 2,466 decimal digits), over the cap the value is `None` and the
//! caller compares structurally.

use super::*;
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Largest numerator or denominator, in bits.
pub const MAX_BITS: u64 = 8192;
/// Largest `n!` computed exactly (900! has about 7,400 bits).
const MAX_FACT: u64 = 900;

/// `n/d`, `d > 0`, reduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigQ {
    n: BigInt,
    d: BigInt,
}

impl BigQ {
    fn new(n: BigInt, d: BigInt) -> Option<BigQ> {
        if d.is_zero() || n.bits() > MAX_BITS || d.bits() > MAX_BITS {
            return None;
        }
        let g = n.gcd(&d);
        let (mut n, mut d) = if g.is_one() || g.is_zero() {
            (n, d)
        } else {
            (n / &g, d / &g)
        };
        if d.is_negative() {
            n = -n;
            d = -d;
        }
        Some(BigQ { n, d })
    }
    fn int(n: BigInt) -> Option<BigQ> {
        BigQ::new(n, BigInt::one())
    }
    fn add(&self, o: &BigQ) -> Option<BigQ> {
        BigQ::new(&self.n * &o.d + &o.n * &self.d, &self.d * &o.d)
    }
    fn mul(&self, o: &BigQ) -> Option<BigQ> {
        BigQ::new(&self.n * &o.n, &self.d * &o.d)
    }
    fn recip(&self) -> Option<BigQ> {
        BigQ::new(self.d.clone(), self.n.clone())
    }
    fn is_int(&self) -> bool {
        self.d.is_one()
    }
    /// `self^e`; `None` when the result would pass [`MAX_BITS`].
    fn powi(&self, e: &BigQ) -> Option<BigQ> {
        if !e.is_int() {
            return None;
        }
        let k = e.n.to_i64()?;
        let base = if k < 0 { self.recip()? } else { self.clone() };
        let k = k.unsigned_abs();
        let bits = base.n.bits().max(base.d.bits());
        if bits > 1 && bits.saturating_sub(1).saturating_mul(k) > MAX_BITS {
            return None;
        }
        let k = u32::try_from(k).ok()?;
        BigQ::new(
            num_traits::pow::Pow::pow(&base.n, k),
            num_traits::pow::Pow::pow(&base.d, k),
        )
    }
    /// The exact `k`-th root when numerator and denominator are perfect powers.
    fn root(&self, k: &BigQ) -> Option<BigQ> {
        let k = u32::try_from(k.n.to_i64()?)
            .ok()
            .filter(|k| (1..=64).contains(k))?;
        if self.n.is_negative() && k % 2 == 0 {
            return None;
        }
        let r = |x: &BigInt| {
            let r = x.nth_root(k);
            (num_traits::pow::Pow::pow(&r, k) == *x).then_some(r)
        };
        BigQ::new(r(&self.n)?, r(&self.d)?)
    }
}

/// The exact value of a rational-shaped expression, or `None`.
pub fn exact_big(e: &Expr) -> Option<BigQ> {
    match e {
        Expr::Num(q) => BigQ::new(BigInt::from(q.n), BigInt::from(q.d)),
        Expr::Big(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            let digits = format!("{int}{frac}");
            let n = if digits.is_empty() {
                BigInt::zero()
            } else {
                BigInt::parse_bytes(digits.as_bytes(), 10)?
            };
            BigQ::new(
                n,
                num_traits::pow::Pow::pow(BigInt::from(10), frac.len() as u32),
            )
        }
        Expr::Add(v) => v
            .iter()
            .try_fold(BigQ::int(BigInt::zero())?, |acc, x| acc.add(&exact_big(x)?)),
        Expr::Mul(v) => v
            .iter()
            .try_fold(BigQ::int(BigInt::one())?, |acc, x| acc.mul(&exact_big(x)?)),
        Expr::Neg(a) => {
            let x = exact_big(a)?;
            Some(BigQ { n: -x.n, d: x.d })
        }
        Expr::Div(a, b) => exact_big(a)?.mul(&exact_big(b)?.recip()?),
        Expr::Pow(a, b) => {
            let (x, y) = (exact_big(a)?, exact_big(b)?);
            if y.is_int() {
                x.powi(&y)
            } else {
                let den = BigQ::int(y.d.clone())?;
                x.root(&den)?.powi(&BigQ::int(y.n.clone())?)
            }
        }
        Expr::Fact(a) => {
            let n = exact_big(a)?;
            let k = n.n.to_u64().filter(|k| n.is_int() && *k <= MAX_FACT)?;
            let mut acc = BigInt::one();
            for j in 2..=k {
                acc *= j;
            }
            BigQ::int(acc)
        }
        Expr::Func(Func::Abs, a) => {
            let x = exact_big(a)?;
            Some(BigQ {
                n: x.n.abs(),
                d: x.d,
            })
        }
        _ => None,
    }
}

/// Whether `e` can only be a rational number (numbers and arithmetic): only
/// then is the arbitrary-precision path worth trying.
pub fn rational_shape(e: &Expr) -> bool {
    match e {
        Expr::Num(_) | Expr::Big(_) => true,
        Expr::Add(v) | Expr::Mul(v) => v.iter().all(rational_shape),
        Expr::Neg(a) | Expr::Fact(a) | Expr::Func(Func::Abs, a) => rational_shape(a),
        Expr::Div(a, b) | Expr::Pow(a, b) => rational_shape(a) && rational_shape(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::latex::parse_answer;
    use super::*;

    fn big(s: &str) -> Option<BigQ> {
        match parse_answer(s)?.ans {
            Ans::Expr(e) => exact_big(&e),
            _ => None,
        }
    }

    #[test]
    fn big_values() {
        assert_eq!(
            big("2^{128}"),
            big("340282366920938463463374607431768211456")
        );
        assert_ne!(big("2^{128}+1"), big("2^{128}"));
        assert_eq!(big("\\frac{2^{200}}{2^{199}}"), big("2"));
        assert_eq!(big("\\sqrt{2^{200}}"), big("2^{100}"));
        assert_eq!(big("\\sqrt{2^{201}}"), None);
        assert_eq!(big("10^{10^{10}}"), None); // over the cap: None, quickly
        assert_eq!(big("2^{-130}"), big("\\frac{1}{2^{130}}"));
        assert!(big("30!").is_some() && big("901!").is_none());
    }
}
