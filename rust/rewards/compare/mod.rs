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
//! absorbed). Values that overflow `i128` are computed exactly with big
//! integers up to [`big::MAX_BITS`]; past that, products and quotients of
//! literals and factorials are compared as prime-exponent vectors
//! ([`mono`]: `1980 \cdot 1979!` = `1980!`, `1/2004!` ≠ `1/2006!`, where
//! math-verify says equal). Other values that overflow or underflow `f64`
//! (`9^{9^9}`, `2006!+1`) are not trusted: those answers are compared
//! structurally (same normalised AST).

use super::latex::{is_label, text_key, Ans, Expr, Func, Parsed, Rel};
use super::num::{C, Q};

pub mod big;
mod eval;
mod interval;
pub mod mono;

use eval::equation_eq;
pub use eval::{exact, expr_eq, real_value};
use interval::{intervals_eq, match_all, to_intervals};

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

impl Opts {
    /// Options with `rel_tol` checked: it must lie in `[0, 1)`.
    pub fn new(rel_tol: f64, strict: bool) -> crate::Result<Opts> {
        if !(0.0..1.0).contains(&rel_tol) {
            return Err(crate::Error::value(
                "rel_tol",
                format!("must be in [0, 1), got {rel_tol}"),
            ));
        }
        Ok(Opts { rel_tol, strict })
    }
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

/// `x = <rhs>` with a label on the left (`x`, `a_3`, `AB`, `f(x)`, `V_1:V_2`): the value.
fn binding(a: &Ans) -> Option<&Expr> {
    match a {
        Ans::Rel { sides, ops } if ops == &[Rel::Eq] && is_label(&sides[0]) => Some(&sides[1]),
        _ => None,
    }
}

/// A multiple-choice letter written as a bare capital (`B`).
fn choice_var(a: &Ans) -> Option<String> {
    match a {
        Ans::Expr(Expr::Var(v)) if v.len() == 1 && v.as_bytes()[0].is_ascii_uppercase() => {
            Some(v.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// Every item is a labelled value (`x = 2`): the labels carry the order.
fn all_bindings(items: &[Ans]) -> bool {
    !items.is_empty() && items.iter().all(|a| binding(a).is_some())
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
    // intervals, unions and inequalities, in any of their forms, either way round
    let rel_list = |a: &Ans| matches!(a, Ans::Set { items, braces: false } if items.iter().all(|x| matches!(x, Ans::Rel { .. })));
    let set_like = |a: &Ans| matches!(a, Ans::Rel { .. } | Ans::Union(_)) || rel_list(a);
    let interval_like = |a: &Ans| set_like(a) || matches!(a, Ans::Seq { .. });
    if interval_like(g) && interval_like(p) && (set_like(g) || set_like(p)) {
        if let (Some(pi), Some(gi)) = (to_intervals(p), to_intervals(g)) {
            return intervals_eq(&pi, &gi, o);
        }
    }
    match (g, p) {
        (Ans::Text(gt), _) => ans_text(p).is_some_and(|t| &t == gt),
        (Ans::Expr(_), Ans::Text(pt)) => choice_var(g).is_some_and(|c| &c == pt),
        (Ans::Expr(ge), Ans::Expr(pe)) => expr_eq(pe, ge, o),
        (Ans::Expr(_), Ans::Set { items, .. }) if items.len() == 1 => ans_eq(&items[0], g, o),
        // one value written twice (`\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}`)
        (
            Ans::Expr(_),
            Ans::Set {
                items,
                braces: false,
            },
        ) if items.len() <= 4 => items.iter().all(|x| ans_eq(x, g, o)),
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
            // `x = 2, y = 3` against `(2, 3)`: in the order of the labels
            if all_bindings(gi) {
                ordered_eq(pi, gi, o)
            } else {
                unordered_eq(pi, gi, o)
            }
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

/// When a decimal answer counts as a rounding of an exact rational: it has at
/// least this many significant digits, or at least 6 decimal places and 3
/// significant digits, and the rational rounds to it at its last place
/// (`|v - d| <= 10^-places / 2`). So `0.0833333333333333` and `0.083333` equal
/// `\frac{1}{12}`; `0.08333`, `0.0834` and `0.33` (for `\frac13`) do not.
/// Where both sides are exact and neither is such a decimal, the comparison
/// stays exact (`0.5` = `\frac12`, `0.33` ≠ `\frac13`). The same rule holds
/// for an irrational value without variables, in `f64` (`1.41421356` and
/// `3.14159` are roundings of `\sqrt2` and `\pi`; `1.4142` is too short and
/// `3.14158` is wrong). math-verify rounds both sides to 6 decimal places
/// instead, which also makes `0.000003` equal `\frac{1}{300000}`.
pub const DECIMAL_SIG_DIGITS: usize = 6;

/// A plain decimal literal `-12.345`: its exact value, its number of decimal
/// places, and whether it is long enough to be a printed float.
fn decimal_literal(canon: &str) -> Option<(Q, u32, bool)> {
    let t = canon.strip_prefix('-').unwrap_or(canon);
    let (int, frac) = t.split_once('.')?;
    if frac.is_empty()
        || frac.len() > 30
        || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    let sig = digits.trim_start_matches('0');
    // six significant digits, or six decimal places with at least three
    // significant ones (math-verify's 6-place rounding, without its `0.000003`
    // = `\frac{1}{300000}`)
    let enough = sig.len() >= DECIMAL_SIG_DIGITS || (frac.len() >= 6 && sig.len() >= 3);
    if !enough || sig.len() > 36 {
        return None;
    }
    let n: i128 = sig.parse().ok()?;
    let n = if canon.starts_with('-') { -n } else { n };
    let d = Q::new(n, 10i128.checked_pow(frac.len() as u32)?)?;
    Some((d, frac.len() as u32, sig.len() >= FLOAT_PRINT_DIGITS))
}

/// Significant digits from which a decimal may be off by one in its last
/// place: a printed `f64` (`1.538461538461539` for `\frac{20}{13}`).
pub const FLOAT_PRINT_DIGITS: usize = 12;

/// Whether the exact `v` rounds to the decimal `d` with `places` places:
/// `|v - d| <= 10^-places / 2` (`10^-places` when `ulp`).
fn rounds_to(v: Q, d: Q, places: u32, ulp: bool) -> bool {
    let half = match 10i128
        .checked_pow(places)
        .and_then(|p| p.checked_mul(if ulp { 1 } else { 2 }))
    {
        Some(h) => Q::new(1, h),
        None => None,
    };
    let (Some(half), Some(diff)) = (half, v.sub(d)) else {
        return false;
    };
    let diff = Q {
        n: diff.n.saturating_abs(),
        d: diff.d,
    };
    matches!(
        diff.cmp_q(half),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// `pred`/`gold` as a decimal rounding an exact value, either way round.
fn decimal_rounds(p: &Parsed, g: &Parsed) -> bool {
    let (Ans::Expr(pe), Ans::Expr(ge)) = (&p.ans, &g.ans) else {
        return false;
    };
    let one_way = |lit: &Parsed, other: &Expr| match decimal_literal(&lit.canon) {
        Some((d, places, ulp)) => match exact(other) {
            Some(v) => rounds_to(v, d, places, ulp),
            // an irrational value (`1.41421356` for `\\sqrt2`): the same rule in f64
            None => real_value(other).is_some_and(|v| {
                let unit = 10f64.powi(-(places as i32)) * if ulp { 1.0 } else { 0.5 };
                (v - d.to_f64()).abs() <= unit + 4.0 * f64::EPSILON * v.abs()
            }),
        },
        None => false,
    };
    one_way(p, ge) || one_way(g, pe)
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
    if !o.strict && decimal_rounds(p, g) {
        return true;
    }
    // a choice with its value (`\\text{(B) } 12`) against the letter
    if let (Some(c), false) = (p.choice, o.strict) {
        let letter = c.to_ascii_lowercase().to_string();
        if choice_var(&g.ans).is_some_and(|l| l == letter)
            || matches!(&g.ans, Ans::Text(t) if *t == letter)
        {
            return true;
        }
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

    /// The rows of `equal_pairs.tsv` (pred, gold, verdict), math_equal's truth
    /// table: numbers, structures and issue 11's answer styles, each with near
    /// misses. The verdict is `"1"`, `"0"` or `"-"` (pred does not parse).
    /// tests/test_rewards.py runs the same file through the binding.
    fn equal_pairs() -> Vec<(&'static str, &'static str, &'static str)> {
        include_str!("equal_pairs.tsv")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
                [p, g, v @ ("1" | "0" | "-")] => (p, g, v),
                _ => panic!("bad row {l:?}"),
            })
            .collect()
    }

    #[test]
    fn pairs_table() {
        let rows = equal_pairs();
        assert!(rows.len() > 130);
        // the function the binding calls; a near miss ("0") must parse on both
        // sides, so that it is refused by the comparison and not by the parser
        let o = Opts::default();
        let wrong: Vec<_> = rows
            .iter()
            .filter(|&&(p, g, v)| {
                let parses = (parse_answer(p).is_some(), parse_answer(g).is_some());
                let eq = crate::rewards::math_equal(p, g, &o);
                match v {
                    "1" => !eq,
                    "0" => eq || parses != (true, true),
                    _ => eq || parses != (false, true),
                }
            })
            .collect();
        assert!(wrong.is_empty(), "wrong on {wrong:?}");
        assert!(parse_answer("2 3").is_none());
    }
}
