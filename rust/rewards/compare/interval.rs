//! Intervals, unions and inequalities as sets of bounds.

use super::*;
use std::borrow::Cow;

// ---------------------------------------------------------------------------
// intervals

#[derive(Debug)]
pub(super) struct Bound<'a> {
    inf: i8, // -1, 0 (finite), +1
    e: Option<Cow<'a, Expr>>,
    closed: bool,
}

#[derive(Debug)]
pub(super) struct Interval<'a> {
    lo: Bound<'a>,
    hi: Bound<'a>,
}

pub(super) fn inf_sign(e: &Expr) -> i8 {
    match e {
        Expr::Inf => 1,
        Expr::Neg(a) if matches!(**a, Expr::Inf) => -1,
        _ => 0,
    }
}

pub(super) fn bound(e: &Expr, closed: bool) -> Bound<'_> {
    let s = inf_sign(e);
    Bound {
        inf: s,
        e: if s == 0 { Some(Cow::Borrowed(e)) } else { None },
        closed: closed && s == 0,
    }
}

pub(super) fn to_intervals(a: &Ans) -> Option<Vec<Interval<'_>>> {
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
        // `x < -1 or x > 11` (a list of inequalities): their union, when the
        // pieces are disjoint (read as "and" the list would be empty)
        Ans::Set {
            items,
            braces: false,
        } if items.len() > 1 && items.iter().all(|a| matches!(a, Ans::Rel { .. })) => {
            let mut out = Vec::new();
            for it in items {
                out.extend(to_intervals(it)?);
            }
            disjoint(&out).then_some(out)
        }
        Ans::Rel { sides, ops } => {
            let is_var = |e: &Expr| is_label(e);
            if let Some(v) = abs_intervals(sides, ops) {
                return Some(v);
            }
            // `x \ne c`: everything but one point
            match (sides.as_slice(), ops.as_slice()) {
                ([x, c], [Rel::Ne]) | ([c, x], [Rel::Ne]) if is_var(x) && inf_sign(c) == 0 => {
                    return Some(vec![
                        Interval {
                            lo: NEG_INF,
                            hi: bound(c, false),
                        },
                        Interval {
                            lo: bound(c, false),
                            hi: POS_INF,
                        },
                    ]);
                }
                _ => {}
            }
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

/// A bound's position on the line (exact bounds only): -inf/+inf or the value.
fn bound_value(b: &Bound) -> Option<f64> {
    match b.inf {
        0 => b.e.as_ref().and_then(|e| exact(e)).map(|q| q.to_f64()),
        s => Some(f64::from(s) * f64::INFINITY),
    }
}

/// Whether the intervals are pairwise disjoint (exact bounds; touching open
/// ends are disjoint).
fn disjoint(v: &[Interval]) -> bool {
    let mut spans = Vec::new();
    for it in v {
        match (bound_value(&it.lo), bound_value(&it.hi)) {
            (Some(a), Some(b)) => spans.push((a, b, it.lo.closed, it.hi.closed)),
            _ => return false,
        }
    }
    spans.iter().enumerate().all(|(i, x)| {
        spans[i + 1..].iter().all(|y| {
            let (first, second) = if x.0 <= y.0 { (x, y) } else { (y, x) };
            first.1 < second.0 || (first.1 == second.0 && !(first.3 && second.2))
        })
    })
}

fn neg_bound(e: &Expr, closed: bool) -> Bound<'static> {
    Bound {
        inf: 0,
        e: Some(Cow::Owned(Expr::Neg(Box::new(e.clone())))),
        closed,
    }
}

/// `lo < |x| < hi` with a rational `lo > 0` is `(-hi, -lo) ∪ (lo, hi)` (and
/// `[-hi, hi]` for `0 <= |x|`); `|x| < c` is `(-c, c)`; `|x| > c` is
/// `(-inf, -c) ∪ (c, inf)`. Finite rational bounds only.
fn abs_intervals<'a>(sides: &'a [Expr], ops: &[Rel]) -> Option<Vec<Interval<'a>>> {
    let is_abs = |e: &Expr| matches!(e, Expr::Func(Func::Abs, a) if is_label(a));
    let pos = |e: &Expr| exact(e).filter(|q| q.n >= 0);
    match (sides, ops) {
        ([lo, x, hi], [a, b]) if is_abs(x) && a.lower() && b.lower() => {
            let l = pos(lo)?;
            pos(hi)?;
            let (ca, cb) = (*a == Rel::Le, *b == Rel::Le);
            if l.n == 0 {
                return ca.then(|| {
                    vec![Interval {
                        lo: neg_bound(hi, cb),
                        hi: bound(hi, cb),
                    }]
                });
            }
            Some(vec![
                Interval {
                    lo: neg_bound(hi, cb),
                    hi: neg_bound(lo, ca),
                },
                Interval {
                    lo: bound(lo, ca),
                    hi: bound(hi, cb),
                },
            ])
        }
        ([x, c], [op]) if is_abs(x) => {
            pos(c)?;
            let closed = matches!(op, Rel::Le | Rel::Ge);
            match op {
                Rel::Lt | Rel::Le => Some(vec![Interval {
                    lo: neg_bound(c, closed),
                    hi: bound(c, closed),
                }]),
                Rel::Gt | Rel::Ge => Some(vec![
                    Interval {
                        lo: NEG_INF,
                        hi: neg_bound(c, closed),
                    },
                    Interval {
                        lo: bound(c, closed),
                        hi: POS_INF,
                    },
                ]),
                _ => None,
            }
        }
        _ => None,
    }
}

pub(super) const NEG_INF: Bound<'static> = Bound {
    inf: -1,
    e: None,
    closed: false,
};
pub(super) const POS_INF: Bound<'static> = Bound {
    inf: 1,
    e: None,
    closed: false,
};

/// `x op c` as an interval (`x < c` is `(-inf, c)`); `=`/`≠` are not intervals.
pub(super) fn half_line(c: &Expr, op: Rel) -> Option<Interval<'_>> {
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

pub(super) fn bound_eq(a: &Bound, b: &Bound, o: &Opts) -> bool {
    if a.inf != 0 || b.inf != 0 {
        return a.inf == b.inf;
    }
    a.closed == b.closed
        && match (&a.e, &b.e) {
            (Some(x), Some(y)) => expr_eq(x, y, o),
            _ => false,
        }
}

/// Whether every gold item is matched by a distinct pred item (greedy: `eq` is
/// an equivalence, so greedy matching finds a perfect matching when one exists).
pub(super) fn match_all<T>(p: &[T], g: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
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

pub(super) fn intervals_eq(p: &[Interval], g: &[Interval], o: &Opts) -> bool {
    match_all(p, g, |a, b| {
        bound_eq(&a.lo, &b.lo, o) && bound_eq(&a.hi, &b.hi, o)
    })
}
