//! Equivalence of two parsed answers ("gold decides the form", as in math-verify).
//!
//! Numbers are compared exactly (rationals over `i128`) whenever both sides
//! reduce to a rational. Otherwise both sides are evaluated in complex `f64`:
//! without variables once; with variables at [`POINTS`] pseudo-random points
//! (each variable drawn from ±[0.5, 2.5], the same points for both sides).
//! That is polynomial identity testing (Schwartz–Zippel, DeMillo–Lipton):
//! two different polynomials (or rational/elementary functions) agree at a
//! random real point with probability 0, so a false "equal" needs all
//! [`POINTS`] points to land within `rel_tol` of a root of their difference;
//! a true identity can only be missed by float error larger than `rel_tol`
//! (scaled by the largest term, so cancellation `sin(pi) ~ 1e-16` is
//! absorbed). Values that overflow or underflow `f64` (`2006!`, `9^{9^9}`,
//! 40-digit literals) are not trusted: those answers are compared
//! structurally (same normalised AST), which is how `1/2004!` ≠ `1/2006!`
//! (math-verify says equal).

use super::latex::{text_key, Ans, Expr, Func, Parsed, Rel};
use super::num::{C, Q};
use std::sync::OnceLock;

/// Evaluation points for expressions with variables.
pub const POINTS: usize = 10;
/// At least this many points must evaluate (finite, no overflow) to decide.
pub const MIN_POINTS: usize = 4;
/// Most distinct variables in one comparison.
pub const MAX_VARS: usize = 8;
/// Largest `n!` evaluated in floating point (171! overflows `f64`).
const MAX_FACT: f64 = 170.0;

#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// Relative tolerance for values that cannot be compared exactly.
    pub rel_tol: f64,
    /// Strict: no percent rescaling (`50%` vs `0.5`), no dropping a variable
    /// binding (`x = 5` vs `5`), tuples and bare lists are not interchangeable,
    /// percent signs must agree.
    pub strict: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            rel_tol: 1e-9,
            strict: false,
        }
    }
}

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

struct Ev<'a> {
    /// variable names (sorted) and their values at this point, by position
    names: &'a [String],
    values: &'a [f64; MAX_VARS],
    /// an overflow/underflow happened: the value is not trustworthy
    lost: bool,
    /// the largest magnitude added or subtracted (cancellation scale)
    scale: f64,
}

fn tiny_from_nonzero(r: C, ins: &[C]) -> bool {
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

fn collect_vars(e: &Expr, out: &mut Vec<String>) {
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
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The evaluation points: row k gives variable j (in sorted-name order) the
/// value ±[0.5, 2.5], drawn once from the splitmix stream.
fn points() -> &'static [[f64; MAX_VARS]; POINTS] {
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

fn close(x: C, y: C, scale: f64, tol: f64) -> bool {
    if x == y {
        return true;
    }
    let d = x.sub(y).abs();
    d <= tol * x.abs().max(y.abs()).max(scale)
}

/// The values of `es` at one point: `None` if any overflowed or is not finite.
fn eval_at(es: &[&Expr], names: &[String], values: &[f64; MAX_VARS]) -> Option<(Vec<C>, f64)> {
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

fn structural(a: &Expr, b: &Expr) -> bool {
    a == b
}

/// Whether two expressions are equal (exactly, or numerically at shared points).
pub fn expr_eq(a: &Expr, b: &Expr, o: &Opts) -> bool {
    if let (Some(x), Some(y)) = (exact(a), exact(b)) {
        return x == y;
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
fn equation_eq(p: (&Expr, &Expr), g: (&Expr, &Expr), o: &Opts) -> bool {
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

// ---------------------------------------------------------------------------
// intervals

#[derive(Debug)]
struct Bound<'a> {
    inf: i8, // -1, 0 (finite), +1
    e: Option<&'a Expr>,
    closed: bool,
}

#[derive(Debug)]
struct Interval<'a> {
    lo: Bound<'a>,
    hi: Bound<'a>,
}

fn inf_sign(e: &Expr) -> i8 {
    match e {
        Expr::Inf => 1,
        Expr::Neg(a) if matches!(**a, Expr::Inf) => -1,
        _ => 0,
    }
}

fn bound(e: &Expr, closed: bool) -> Bound<'_> {
    let s = inf_sign(e);
    Bound {
        inf: s,
        e: if s == 0 { Some(e) } else { None },
        closed: closed && s == 0,
    }
}

fn to_intervals(a: &Ans) -> Option<Vec<Interval<'_>>> {
    match a {
        Ans::Seq { open, close, items } if items.len() == 2 => {
            let (Ans::Expr(lo), Ans::Expr(hi)) = (&items[0], &items[1]) else {
                return None;
            };
            Some(vec![Interval {
                lo: bound(lo, *open == '['),
                hi: bound(hi, *close == ']'),
            }])
        }
        Ans::Union(items) => {
            let mut out = Vec::new();
            for it in items {
                out.extend(to_intervals(it)?);
            }
            Some(out)
        }
        Ans::Rel { sides, ops } => {
            let is_var = |e: &Expr| matches!(e, Expr::Var(_));
            match (sides.as_slice(), ops.as_slice()) {
                ([x, c], [op]) if is_var(x) => Some(vec![half_line(c, *op)?]),
                ([c, x], [op]) if is_var(x) => Some(vec![half_line(c, op.flip())?]),
                ([lo, x, hi], [a, b]) if is_var(x) && a.lower() && b.lower() => {
                    Some(vec![Interval {
                        lo: bound(lo, *a == Rel::Le),
                        hi: bound(hi, *b == Rel::Le),
                    }])
                }
                ([hi, x, lo], [a, b]) if is_var(x) && a.flip().lower() && b.flip().lower() => {
                    Some(vec![Interval {
                        lo: bound(lo, *b == Rel::Ge),
                        hi: bound(hi, *a == Rel::Ge),
                    }])
                }
                _ => None,
            }
        }
        _ => None,
    }
}

const NEG_INF: Bound<'static> = Bound {
    inf: -1,
    e: None,
    closed: false,
};
const POS_INF: Bound<'static> = Bound {
    inf: 1,
    e: None,
    closed: false,
};

/// `x op c` as an interval (`x < c` is `(-inf, c)`); `=`/`≠` are not intervals.
fn half_line(c: &Expr, op: Rel) -> Option<Interval<'_>> {
    let closed = matches!(op, Rel::Le | Rel::Ge);
    match op {
        Rel::Lt | Rel::Le => Some(Interval {
            lo: NEG_INF,
            hi: bound(c, closed),
        }),
        Rel::Gt | Rel::Ge => Some(Interval {
            lo: bound(c, closed),
            hi: POS_INF,
        }),
        Rel::Eq | Rel::Ne => None,
    }
}

fn bound_eq(a: &Bound, b: &Bound, o: &Opts) -> bool {
    if a.inf != 0 || b.inf != 0 {
        return a.inf == b.inf;
    }
    a.closed == b.closed
        && match (a.e, b.e) {
            (Some(x), Some(y)) => expr_eq(x, y, o),
            _ => false,
        }
}

/// Whether every gold item is matched by a distinct pred item (greedy: `eq` is
/// an equivalence, so greedy matching finds a perfect matching when one exists).
fn match_all<T>(p: &[T], g: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    if p.len() != g.len() {
        return false;
    }
    let mut used = vec![false; p.len()];
    g.iter().all(
        |gi| match (0..p.len()).find(|&j| !used[j] && eq(&p[j], gi)) {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        },
    )
}

fn intervals_eq(p: &[Interval], g: &[Interval], o: &Opts) -> bool {
    match_all(p, g, |a, b| {
        bound_eq(&a.lo, &b.lo, o) && bound_eq(&a.hi, &b.hi, o)
    })
}

// ---------------------------------------------------------------------------
// answers

fn unordered_eq(p: &[Ans], g: &[Ans], o: &Opts) -> bool {
    match_all(p, g, |a, b| ans_eq(a, b, o))
}

fn ordered_eq(p: &[Ans], g: &[Ans], o: &Opts) -> bool {
    p.len() == g.len() && p.iter().zip(g).all(|(a, b)| ans_eq(a, b, o))
}

fn matrix_items(m: &[Vec<Expr>]) -> Option<Vec<Ans>> {
    // a row or column vector, as a list of items
    if m.len() == 1 || m.iter().all(|r| r.len() == 1) {
        Some(m.iter().flatten().cloned().map(Ans::Expr).collect())
    } else {
        None
    }
}

fn ans_text(a: &Ans) -> Option<String> {
    match a {
        Ans::Text(t) => Some(t.clone()),
        Ans::Expr(Expr::Var(v)) => Some(text_key(v)),
        Ans::Expr(Expr::Mul(fs)) => {
            let mut s = String::new();
            for f in fs {
                match f {
                    Expr::Var(v) => s.push_str(v),
                    Expr::E => s.push('e'),
                    Expr::I => s.push('i'),
                    _ => return None,
                }
            }
            Some(text_key(&s))
        }
        _ => None,
    }
}

/// `x = <rhs>` with a lone variable on the left: the value.
fn binding(a: &Ans) -> Option<&Expr> {
    match a {
        Ans::Rel { sides, ops } if ops == &[Rel::Eq] && matches!(sides[0], Expr::Var(_)) => {
            Some(&sides[1])
        }
        _ => None,
    }
}

pub fn ans_eq(p: &Ans, g: &Ans, o: &Opts) -> bool {
    if !o.strict {
        // a variable binding `x = 5` against a bare value, either way round
        match (g, binding(p), binding(g)) {
            (Ans::Expr(ge), Some(pe), _) => return expr_eq(pe, ge, o),
            (_, None, Some(ge)) if !matches!(p, Ans::Rel { .. }) => {
                return ans_eq(p, &Ans::Expr(ge.clone()), o)
            }
            _ => {}
        }
    }
    // intervals, unions and inequalities, in any of their forms
    if matches!(g, Ans::Rel { .. } | Ans::Seq { .. } | Ans::Union(_))
        && matches!(p, Ans::Rel { .. } | Ans::Union(_))
    {
        if let (Some(pi), Some(gi)) = (to_intervals(p), to_intervals(g)) {
            return intervals_eq(&pi, &gi, o);
        }
    }
    match (g, p) {
        (Ans::Text(gt), _) => ans_text(p).is_some_and(|t| &t == gt),
        (Ans::Expr(ge), Ans::Expr(pe)) => expr_eq(pe, ge, o),
        (Ans::Expr(_), Ans::Set { items, .. }) if items.len() == 1 => ans_eq(&items[0], g, o),
        (
            Ans::Rel {
                sides: gs,
                ops: gops,
            },
            Ans::Rel {
                sides: ps,
                ops: pops,
            },
        ) => {
            if gops == &[Rel::Eq] && pops == &[Rel::Eq] {
                return equation_eq((&ps[0], &ps[1]), (&gs[0], &gs[1]), o);
            }
            gops == pops && gs.len() == ps.len() && gs.iter().zip(ps).all(|(a, b)| expr_eq(b, a, o))
        }
        (
            Ans::Seq {
                open,
                close,
                items: gi,
            },
            Ans::Seq {
                open: po,
                close: pc,
                items: pi,
            },
        ) => open == po && close == pc && ordered_eq(pi, gi, o),
        (
            Ans::Seq {
                open: '(',
                close: ')',
                items: gi,
            },
            Ans::Set {
                items: pi,
                braces: false,
            },
        ) if !o.strict => ordered_eq(pi, gi, o),
        (Ans::Seq { items: gi, .. }, Ans::Matrix(m)) if !o.strict => {
            matrix_items(m).is_some_and(|pi| ordered_eq(&pi, gi, o))
        }
        (Ans::Set { items: gi, .. }, Ans::Set { items: pi, .. }) => unordered_eq(pi, gi, o),
        (Ans::Set { items: gi, .. }, Ans::Seq { items: pi, .. }) if !o.strict => {
            unordered_eq(pi, gi, o)
        }
        (Ans::Set { items: gi, .. }, _) if gi.len() == 1 => ans_eq(p, &gi[0], o),
        (Ans::Union(gi), Ans::Union(pi)) => unordered_eq(pi, gi, o),
        (Ans::Matrix(gm), Ans::Matrix(pm)) => {
            gm.len() == pm.len()
                && gm.iter().zip(pm).all(|(gr, pr)| {
                    gr.len() == pr.len() && gr.iter().zip(pr).all(|(a, b)| expr_eq(b, a, o))
                })
        }
        (Ans::Matrix(gm), Ans::Seq { items: pi, .. }) if !o.strict => {
            matrix_items(gm).is_some_and(|gi| ordered_eq(pi, &gi, o))
        }
        _ => false,
    }
}

fn scaled(e: &Expr, by: i128) -> Expr {
    Expr::Div(Box::new(e.clone()), Box::new(Expr::Num(Q::int(by))))
}

/// Whether `pred` is equivalent to `gold` (both already parsed).
pub fn equal(p: &Parsed, g: &Parsed, o: &Opts) -> bool {
    if o.strict && p.percent != g.percent {
        return false;
    }
    if p.canon == g.canon {
        return true;
    }
    if ans_eq(&p.ans, &g.ans, o) {
        return true;
    }
    if let (Ans::Text(gt), false) = (&g.ans, o.strict) {
        if &text_key(&p.canon) == gt {
            return true;
        }
    }
    if !o.strict && (p.percent || g.percent) {
        if let (Ans::Expr(pe), Ans::Expr(ge)) = (&p.ans, &g.ans) {
            if g.percent && expr_eq(pe, &scaled(ge, 100), o) {
                return true;
            }
            if p.percent && expr_eq(&scaled(pe, 100), ge, o) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::latex::parse_answer;
    use super::*;

    fn eq(p: &str, g: &str) -> bool {
        let (p, g) = (parse_answer(p).unwrap(), parse_answer(g).unwrap());
        equal(&p, &g, &Opts::default())
    }

    #[test]
    fn numbers() {
        assert!(eq("0.5", "\\frac{1}{2}"));
        assert!(eq("\\frac12", "\\dfrac{1}{2}"));
        assert!(eq("1,000", "1000"));
        assert!(!eq("1,2", "12"));
        assert!(eq("2\\frac{1}{2}", "\\frac52"));
        assert!(eq("1.5e3", "1500"));
        assert!(eq("1.5 \\times 10^{3}", "1500"));
        assert!(eq(".0000672", "6.72\\times10^{-5}"));
        assert!(eq("\\sqrt{8}", "2\\sqrt2"));
        assert!(eq("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt3}"));
        assert!(!eq("1.4142", "\\sqrt2"));
        assert!(eq("50", "50\\%"));
        assert!(eq("0.5", "50\\%"));
        assert!(eq("-2+7i", "7i - 2"));
        assert!(eq("x = 5", "5"));
        assert!(!eq("\\pm 2021", "2021"));
        assert!(!eq("\\frac{1}{2004!}", "\\frac{1}{2006!}"));
        assert!(eq("\\frac{1}{2004!}", "\\frac{1}{2004!}"));
    }

    #[test]
    fn structures() {
        assert!(eq("(1, 2)", "(1,2)"));
        assert!(!eq("(2, 1)", "(1,2)"));
        assert!(eq("\\{2, 1\\}", "\\{1,2\\}"));
        assert!(eq("7, 3, 5", "3, 5, 7"));
        assert!(!eq("(3, 4)", "(3,4]"));
        assert!(eq("x > 2", "(2, \\infty)"));
        assert!(eq("2 < x \\le 5", "(2, 5]"));
        assert!(eq("1+\\sqrt{19}, 1-\\sqrt{19}", "1 \\pm \\sqrt{19}"));
        assert!(eq("(x+1)^2", "x^2+2x+1"));
        assert!(!eq("(x+1)^2", "x^2+x+1"));
        assert!(eq("2x - y + 3 = 0", "y = 2x + 3"));
        assert!(!eq("3x-y+13=0", "3x+4y+14=0"));
        assert!(eq("[-2, 7]", "x \\in [-2,7]"));
        assert!(eq(
            "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
            "\\begin{pmatrix}1\\\\2\\end{pmatrix}"
        ));
        assert!(eq("Evelyn", "\\text{Evelyn}"));
        assert!(eq("B", "\\text{(B)}"));
        assert!(!eq("C", "\\text{(B)}"));
    }
}
