//! Evaluation: exact rationals, then complex floating point at shared points.

use super::big::{exact_big, rational_shape};
use super::mono::monomial_eq;
use super::*;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// exact evaluation

pub fn exact(e: &Expr) -> Option<Q> {
    match e {
        Expr::Num(q) => Some(*q),
        Expr::Add(v) => v.iter().try_fold(Q::ZERO, |acc, x| acc.add(exact(x)?)),
        Expr::Mul(v) => v.iter().try_fold(Q::ONE, |acc, x| acc.mul(exact(x)?)),
        Expr::Neg(a) => exact(a)?.neg(),
        Expr::Div(a, b) => exact(a)?.div(exact(b)?),
        Expr::Pow(a, b) => {
            let b = exact(b)?;
            let a = exact(a)?;
            if b.d == 1 {
                a.powi(b.n)
            } else {
                a.root(b.d)?.powi(b.n)
            }
        }
        Expr::Fact(a) => {
            let n = exact(a)?;
            if !n.is_int() || n.n < 0 || n.n > 33 {
                return None;
            }
            (1..=n.n).try_fold(Q::ONE, |acc, k| acc.mul(Q::int(k)))
        }
        Expr::Binom(a, b) => {
            let (n, k) = (exact(a)?, exact(b)?);
            if !n.is_int() || !k.is_int() || n.n < 0 || k.n < 0 || n.n > 1000 {
                return None;
            }
            if k.n > n.n {
                return Some(Q::ZERO);
            }
            let k = k.n.min(n.n - k.n);
            let mut acc = Q::ONE;
            for j in 0..k {
                acc = acc.mul(Q::int(n.n - j))?.div(Q::int(j + 1))?;
            }
            Some(acc)
        }
        Expr::Func(Func::Abs, a) => {
            let q = exact(a)?;
            Some(Q {
                n: q.n.checked_abs()?,
                d: q.d,
            })
        }
        Expr::Func(Func::Floor, a) => {
            let q = exact(a)?;
            Some(Q::int(q.n.div_euclid(q.d)))
        }
        Expr::Func(Func::Ceil, a) => {
            let q = exact(a)?;
            Some(Q::int(-((-q.n).div_euclid(q.d))))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// floating-point evaluation

pub(super) struct Ev<'a> {
    /// variable names (sorted) and their values at this point, by position
    names: &'a [String],
    values: &'a [f64; MAX_VARS],
    /// an overflow/underflow happened: the value is not trustworthy
    lost: bool,
    /// the largest magnitude added or subtracted (cancellation scale)
    scale: f64,
}

pub(super) fn tiny_from_nonzero(r: C, ins: &[C]) -> bool {
    let zero = |c: C| c.re == 0.0 && c.im == 0.0;
    (zero(r) || r.abs() < f64::MIN_POSITIVE) && ins.iter().all(|c| !zero(*c))
}

impl Ev<'_> {
    fn check(&mut self, r: C, ins: &[C]) -> C {
        if (r.re.is_infinite() || r.im.is_infinite()) && ins.iter().all(|c| c.is_finite()) {
            self.lost = true;
        }
        if tiny_from_nonzero(r, ins) && ins.iter().all(|c| c.is_finite()) {
            self.lost = true;
        }
        r
    }

    fn eval(&mut self, e: &Expr) -> C {
        let nan = C::real(f64::NAN);
        match e {
            Expr::Num(q) => C::real(q.to_f64()),
            Expr::Big(s) => {
                self.lost = true;
                C::real(s.parse().unwrap_or(f64::NAN))
            }
            Expr::Var(v) => self
                .names
                .iter()
                .position(|n| n == v)
                .map(|j| C::real(self.values[j]))
                .unwrap_or(nan),
            Expr::Pi => C::real(std::f64::consts::PI),
            Expr::E => C::real(std::f64::consts::E),
            Expr::I => C::new(0.0, 1.0),
            Expr::Inf | Expr::Base(_) | Expr::Pm(..) => {
                self.lost = true;
                nan
            }
            Expr::Add(v) => {
                let mut acc = C::real(0.0);
                for x in v {
                    let t = self.eval(x);
                    self.scale = self.scale.max(t.abs());
                    acc = acc.add(t);
                }
                acc
            }
            Expr::Mul(v) => {
                let mut acc = C::real(1.0);
                for x in v {
                    let t = self.eval(x);
                    let r = acc.mul(t);
                    acc = self.check(r, &[acc, t]);
                }
                acc
            }
            Expr::Neg(a) => self.eval(a).neg(),
            Expr::Div(a, b) => {
                let (x, y) = (self.eval(a), self.eval(b));
                if y.re == 0.0 && y.im == 0.0 {
                    return nan;
                }
                self.check(x.div(y), &[x, y])
            }
            Expr::Pow(a, b) => {
                let (x, y) = (self.eval(a), self.eval(b));
                let r = x.pow(y);
                if x.abs() != 1.0 {
                    self.check(r, &[x, C::real(1.0)])
                } else {
                    r
                }
            }
            Expr::Fact(a) => {
                let x = self.eval(a);
                if x.im != 0.0 || x.re < 0.0 || x.re.fract() != 0.0 {
                    return nan;
                }
                if x.re > MAX_FACT {
                    self.lost = true;
                    return C::real(f64::INFINITY);
                }
                C::real((1..=x.re as u64).fold(1.0, |acc, k| acc * k as f64))
            }
            Expr::Binom(a, b) => {
                let (n, k) = (self.eval(a), self.eval(b));
                if n.im != 0.0 || k.im != 0.0 || n.re.fract() != 0.0 || k.re.fract() != 0.0 {
                    return nan;
                }
                if k.re < 0.0 || n.re < 0.0 || k.re > n.re {
                    return C::real(0.0);
                }
                let k = k.re.min(n.re - k.re);
                if k > 10_000.0 {
                    self.lost = true;
                    return nan;
                }
                let mut acc = 1.0;
                for j in 0..k as u64 {
                    acc = acc * (n.re - j as f64) / (j as f64 + 1.0);
                }
                self.check(C::real(acc), &[C::real(1.0)])
            }
            Expr::Log(b, a) => {
                let (base, x) = (self.eval(b), self.eval(a));
                x.ln().div(base.ln())
            }
            Expr::Func(f, a) => {
                let x = self.eval(a);
                let real = |g: fn(f64) -> f64| {
                    if x.im == 0.0 {
                        C::real(g(x.re))
                    } else {
                        nan
                    }
                };
                match f {
                    Func::Sin => x.sin(),
                    Func::Cos => x.cos(),
                    Func::Tan => x.sin().div(x.cos()),
                    Func::Cot => x.cos().div(x.sin()),
                    Func::Sec => C::real(1.0).div(x.cos()),
                    Func::Csc => C::real(1.0).div(x.sin()),
                    Func::Asin => real(f64::asin),
                    Func::Acos => real(f64::acos),
                    Func::Atan => real(f64::atan),
                    Func::Sinh => real(f64::sinh),
                    Func::Cosh => real(f64::cosh),
                    Func::Tanh => real(f64::tanh),
                    Func::Ln => x.ln(),
                    Func::Exp => {
                        let r = x.exp();
                        self.check(r, &[C::real(1.0)])
                    }
                    Func::Abs => C::real(x.abs()),
                    Func::Floor => real(f64::floor),
                    Func::Ceil => real(f64::ceil),
                }
            }
        }
    }
}

pub(super) fn collect_vars(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Var(v) if !out.contains(v) => out.push(v.clone()),
        Expr::Add(v) | Expr::Mul(v) => v.iter().for_each(|x| collect_vars(x, out)),
        Expr::Neg(a) | Expr::Fact(a) | Expr::Func(_, a) => collect_vars(a, out),
        Expr::Div(a, b)
        | Expr::Pow(a, b)
        | Expr::Log(a, b)
        | Expr::Binom(a, b)
        | Expr::Pm(a, b) => {
            collect_vars(a, out);
            collect_vars(b, out);
        }
        _ => {}
    }
}

/// splitmix64: a fixed, documented stream, so results are deterministic.
pub(super) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The evaluation points: row k gives variable j (in sorted-name order) the
/// value ±[0.5, 2.5], drawn once from the splitmix stream.
pub(super) fn points() -> &'static [[f64; MAX_VARS]; POINTS] {
    static TABLE: OnceLock<[[f64; MAX_VARS]; POINTS]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut st = 0x5EED_u64;
        let mut t = [[0.0; MAX_VARS]; POINTS];
        for row in t.iter_mut() {
            for x in row.iter_mut() {
                let u = (splitmix(&mut st) >> 11) as f64 / (1u64 << 53) as f64;
                let sign = if splitmix(&mut st) & 1 == 0 {
                    1.0
                } else {
                    -1.0
                };
                *x = sign * (0.5 + 2.0 * u);
            }
        }
        t
    })
}

pub(super) fn close(x: C, y: C, scale: f64, tol: f64) -> bool {
    if x == y {
        return true;
    }
    let d = x.sub(y).abs();
    d <= tol * x.abs().max(y.abs()).max(scale)
}

/// The values of `es` at one point: `None` if any overflowed or is not finite.
pub(super) fn eval_at(
    es: &[&Expr],
    names: &[String],
    values: &[f64; MAX_VARS],
) -> Option<(Vec<C>, f64)> {
    let mut ev = Ev {
        names,
        values,
        lost: false,
        scale: 0.0,
    };
    let vals: Vec<C> = es.iter().map(|e| ev.eval(e)).collect();
    if ev.lost || vals.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some((vals, ev.scale))
}

/// The real value of an expression without variables (`\\sqrt2`, `\\pi`), when
/// it evaluates to a finite real without overflow.
pub fn real_value(e: &Expr) -> Option<f64> {
    let mut names = Vec::new();
    collect_vars(e, &mut names);
    if !names.is_empty() {
        return None;
    }
    let (v, _) = eval_at(&[e], &names, &points()[0])?;
    let c = v[0];
    (c.im.abs() <= 1e-12 * c.re.abs().max(1.0)).then_some(c.re)
}

pub(super) fn structural(a: &Expr, b: &Expr) -> bool {
    a == b
}

/// Whether two expressions are equal (exactly, or numerically at shared points).
pub fn expr_eq(a: &Expr, b: &Expr, o: &Opts) -> bool {
    if let (Some(x), Some(y)) = (exact(a), exact(b)) {
        return x == y;
    }
    // past i128: arbitrary precision, when both sides can only be rational
    if rational_shape(a) && rational_shape(b) {
        if let (Some(x), Some(y)) = (exact_big(a), exact_big(b)) {
            return x == y;
        }
        // past the bit cap: factorial identities as prime-exponent vectors
        if let Some(eq) = monomial_eq(a, b) {
            return eq;
        }
    }
    let mut names = Vec::new();
    collect_vars(a, &mut names);
    collect_vars(b, &mut names);
    if names.len() > MAX_VARS {
        return structural(a, b);
    }
    names.sort();
    // without variables one evaluation decides
    let (rows, need) = if names.is_empty() {
        (&points()[..1], 1)
    } else {
        (&points()[..], MIN_POINTS)
    };
    let mut valid = 0;
    for row in rows {
        let Some((v, scale)) = eval_at(&[a, b], &names, row) else {
            continue;
        };
        if !close(v[0], v[1], scale, o.rel_tol) {
            return false;
        }
        valid += 1;
    }
    if valid >= need {
        true
    } else {
        structural(a, b)
    }
}

/// `l1 = r1` and `l2 = r2` describe the same set: `l1 - r1 = k (l2 - r2)`, k ≠ 0.
pub(super) fn equation_eq(p: (&Expr, &Expr), g: (&Expr, &Expr), o: &Opts) -> bool {
    let dp = Expr::Add(vec![p.0.clone(), Expr::Neg(Box::new(p.1.clone()))]);
    let dg = Expr::Add(vec![g.0.clone(), Expr::Neg(Box::new(g.1.clone()))]);
    let mut names = Vec::new();
    collect_vars(&dp, &mut names);
    collect_vars(&dg, &mut names);
    if names.is_empty() || names.len() > MAX_VARS {
        return expr_eq(p.0, g.0, o) && expr_eq(p.1, g.1, o);
    }
    names.sort();
    let mut k: Option<C> = None;
    let mut valid = 0;
    for row in points() {
        let Some((v, scale)) = eval_at(&[&dp, &dg], &names, row) else {
            continue;
        };
        let (x, y) = (v[0], v[1]);
        match k {
            None => {
                if y.abs() <= o.rel_tol * scale.max(1e-300) {
                    if x.abs() > o.rel_tol * scale.max(1e-300) {
                        return false;
                    }
                    continue; // both vanish here: no information
                }
                let r = x.div(y);
                if r.abs() == 0.0 || !r.is_finite() {
                    return false;
                }
                k = Some(r);
            }
            Some(r) => {
                if !close(x, r.mul(y), scale * r.abs().max(1.0), o.rel_tol) {
                    return false;
                }
            }
        }
        valid += 1;
    }
    valid >= MIN_POINTS
}
