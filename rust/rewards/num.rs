//! Numbers for the math checker: exact rationals over `i128` (checked: an
//! overflow gives `None` and the caller falls back to floating point) and
//! complex `f64` values for everything that cannot be exact.

// `add`/`mul`/... return `Option` (checked), so the std operator traits do not fit.
#![allow(clippy::should_implement_trait)]

use std::cmp::Ordering;

/// An exact rational `n/d`, `d > 0`, always reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q {
    pub n: i128,
    pub d: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Q {
    pub const ZERO: Q = Q { n: 0, d: 1 };
    pub const ONE: Q = Q { n: 1, d: 1 };

    pub fn int(n: i128) -> Q {
        Q { n, d: 1 }
    }

    /// `n/d` reduced; `None` for `d == 0` or an overflow (`i128::MIN`).
    pub fn new(n: i128, d: i128) -> Option<Q> {
        if d == 0 || n == i128::MIN || d == i128::MIN {
            return None;
        }
        let g = gcd(n, d).max(1);
        let (mut n, mut d) = (n / g, d / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Q { n, d })
    }

    pub fn is_int(&self) -> bool {
        self.d == 1
    }

    pub fn neg(self) -> Option<Q> {
        Some(Q {
            n: self.n.checked_neg()?,
            d: self.d,
        })
    }

    pub fn add(self, o: Q) -> Option<Q> {
        let g = gcd(self.d, o.d).max(1);
        let l = (self.d / g).checked_mul(o.d)?;
        let a = self.n.checked_mul(l / self.d)?;
        let b = o.n.checked_mul(l / o.d)?;
        Q::new(a.checked_add(b)?, l)
    }

    pub fn sub(self, o: Q) -> Option<Q> {
        self.add(o.neg()?)
    }

    pub fn mul(self, o: Q) -> Option<Q> {
        // Cross-reduce first so that products stay small.
        let g1 = gcd(self.n, o.d).max(1);
        let g2 = gcd(o.n, self.d).max(1);
        let n = (self.n / g1).checked_mul(o.n / g2)?;
        let d = (self.d / g2).checked_mul(o.d / g1)?;
        Q::new(n, d)
    }

    pub fn recip(self) -> Option<Q> {
        Q::new(self.d, self.n)
    }

    pub fn div(self, o: Q) -> Option<Q> {
        self.mul(o.recip()?)
    }

    /// `self^e` for an integer exponent; `None` on overflow or `0^negative`.
    pub fn powi(self, e: i128) -> Option<Q> {
        if e < 0 {
            return self.recip()?.powi(e.checked_neg()?);
        }
        // |base| >= 2 overflows i128 beyond exponent 127: stop early instead of
        // looping on huge exponents.
        if e > 128 && (self.n.abs() > 1 || self.d > 1) {
            return None;
        }
        let (mut base, mut e, mut acc) = (self, e, Q::ONE);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(base)?;
            }
            e >>= 1;
            if e > 0 {
                base = base.mul(base)?;
            }
        }
        Some(acc)
    }

    /// The exact `k`-th root when both numerator and denominator are perfect
    /// `k`-th powers (`sqrt(9/4) = 3/2`); otherwise `None`.
    pub fn root(self, k: i128) -> Option<Q> {
        if k <= 0 || k > 64 {
            return None;
        }
        if self.n < 0 {
            if k % 2 == 0 {
                return None;
            }
            return self.neg()?.root(k)?.neg();
        }
        let n = iroot(self.n, k as u32)?;
        let d = iroot(self.d, k as u32)?;
        Some(Q { n, d })
    }

    pub fn to_f64(self) -> f64 {
        self.n as f64 / self.d as f64
    }

    pub fn cmp_q(self, o: Q) -> Option<Ordering> {
        let a = self.n.checked_mul(o.d)?;
        let b = o.n.checked_mul(self.d)?;
        Some(a.cmp(&b))
    }
}

/// Exact integer `k`-th root of `x >= 0`, or `None` if `x` is not a perfect power.
fn iroot(x: i128, k: u32) -> Option<i128> {
    if x < 2 || k == 1 {
        return Some(x);
    }
    let guess = (x as f64).powf(1.0 / k as f64).round() as i128;
    for r in [guess - 1, guess, guess + 1] {
        if r < 0 {
            continue;
        }
        let mut p: i128 = 1;
        let mut ok = true;
        for _ in 0..k {
            match p.checked_mul(r) {
                Some(v) => p = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && p == x {
            return Some(r);
        }
    }
    None
}

/// A complex number in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct C {
    pub re: f64,
    pub im: f64,
}

impl C {
    pub const fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    pub const fn real(re: f64) -> C {
        C { re, im: 0.0 }
    }
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    pub fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    pub fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
    pub fn sub(self, o: C) -> C {
        C::new(self.re - o.re, self.im - o.im)
    }
    pub fn neg(self) -> C {
        C::new(-self.re, -self.im)
    }
    pub fn mul(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re * o.re);
        }
        C::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    pub fn div(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re / o.re);
        }
        let den = o.re * o.re + o.im * o.im;
        C::new(
            (self.re * o.re + self.im * o.im) / den,
            (self.im * o.re - self.re * o.im) / den,
        )
    }
    pub fn exp(self) -> C {
        let m = self.re.exp();
        if self.im == 0.0 {
            return C::real(m);
        }
        C::new(m * self.im.cos(), m * self.im.sin())
    }
    /// Principal logarithm.
    pub fn ln(self) -> C {
        if self.im == 0.0 && self.re > 0.0 {
            return C::real(self.re.ln());
        }
        // a signed zero (`-(1)` is `-1 - 0i`) must not pick the other branch:
        // `\\sqrt{-1}` is `i`, not `-i`
        let im = if self.im == 0.0 { 0.0 } else { self.im };
        C::new(self.abs().ln(), im.atan2(self.re))
    }
    /// Principal square root.
    pub fn sqrt(self) -> C {
        if self.im == 0.0 {
            return if self.re >= 0.0 {
                C::real(self.re.sqrt())
            } else {
                C::new(0.0, (-self.re).sqrt())
            };
        }
        let r = self.abs();
        let re = ((r + self.re) / 2.0).sqrt();
        let im = ((r - self.re) / 2.0).sqrt().copysign(self.im);
        C::new(re, im)
    }
    /// `self^o`: exact repeated squaring for small integer exponents (so that
    /// `(-8)^3` stays real), the principal branch otherwise; a real odd root
    /// of a negative real (`(-8)^(1/3) = -2`) is taken as real, as in school
    /// algebra.
    pub fn pow(self, o: C) -> C {
        if o.im == 0.0 && o.re.fract() == 0.0 && o.re.abs() <= 64.0 {
            let mut e = o.re.abs() as u32;
            let (mut b, mut acc) = (self, C::real(1.0));
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc.mul(b);
                }
                b = b.mul(b);
                e >>= 1;
            }
            return if o.re < 0.0 {
                C::real(1.0).div(acc)
            } else {
                acc
            };
        }
        if self.im == 0.0 && o.im == 0.0 {
            if self.re >= 0.0 {
                return C::real(self.re.powf(o.re));
            }
            // Negative base, real exponent 1/k with k odd: the real root.
            let k = 1.0 / o.re;
            if k.fract() == 0.0 && (k as i64) % 2 != 0 {
                return C::real(-(-self.re).powf(o.re));
            }
        }
        if self.re == 0.0 && self.im == 0.0 {
            return if o.re > 0.0 {
                C::real(0.0)
            } else {
                C::real(f64::NAN)
            };
        }
        self.ln().mul(o).exp()
    }
    pub fn sin(self) -> C {
        C::new(
            self.re.sin() * self.im.cosh(),
            self.re.cos() * self.im.sinh(),
        )
    }
    pub fn cos(self) -> C {
        C::new(
            self.re.cos() * self.im.cosh(),
            -self.re.sin() * self.im.sinh(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_arithmetic_is_exact_and_reduced() {
        let a = Q::new(6, -4).unwrap();
        assert_eq!(a, Q { n: -3, d: 2 });
        assert_eq!(a.add(Q::new(3, 2).unwrap()).unwrap(), Q::ZERO);
        assert_eq!(
            Q::new(2, 3).unwrap().mul(Q::new(9, 4).unwrap()).unwrap(),
            Q::new(3, 2).unwrap()
        );
        assert_eq!(Q::int(2).powi(-3).unwrap(), Q::new(1, 8).unwrap());
        assert_eq!(Q::int(2).powi(200), None); // overflow is None, not a panic
        assert_eq!(Q::int(1).powi(1 << 100).unwrap(), Q::ONE);
        assert_eq!(Q::ZERO.powi(-1), None);
        assert_eq!(Q::new(9, 4).unwrap().root(2), Q::new(3, 2));
        assert_eq!(Q::int(-27).root(3), Some(Q::int(-3)));
        assert_eq!(Q::int(2).root(2), None);
        assert_eq!(Q::new(1, 0), None);
        assert_eq!(Q::int(i128::MAX).add(Q::ONE), None);
    }

    #[test]
    fn complex_basics() {
        let i = C::new(0.0, 1.0);
        assert_eq!(i.mul(i), C::real(-1.0));
        assert_eq!(C::real(-4.0).sqrt(), C::new(0.0, 2.0));
        assert_eq!(C::real(-8.0).pow(C::real(3.0)), C::real(-512.0));
        assert!((C::real(-8.0).pow(C::real(1.0 / 3.0)).re + 2.0).abs() < 1e-12);
        assert!(C::real(0.0).pow(C::real(-0.5)).re.is_infinite());
    }
}
