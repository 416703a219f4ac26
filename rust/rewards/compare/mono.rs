//! Exact comparison of monomials past the [`super::big::MAX_BITS`] range:
//! products, quotients and integer powers of integer literals and factorials
//! (`1980 \cdot 1979!` against `1980!`, `\frac{1001!}{1001}` against
//! `1000!`). Such a value is `±∏ p^{e_p}`; two of them are equal exactly when
//! the signs and the prime-exponent vectors are. For `n!` the exponents come
//! from Legendre's formula, `v_p(n!) = Σ_k ⌊n / p^k⌋`, so `100000!` (about
//! 1.5 million bits) costs a pass over the 9,592 primes below 100,000 instead
//! of a big-integer product.
//!
//! Cost is bounded for hostile input: `n ≤` [`MAX_N`], at most [`MAX_LEAVES`]
//! literals and factorials per side, literals up to [`MAX_LIT`] (trial
//! division by the cached primes decides those completely), powers up to
//! [`MAX_POW`]. Past any bound the value is `None` and the caller goes on as
//! before (floating point, then structural). [`monomial_eq`] compares signs
//! and `ln|x|` first (Stirling's series for `ln n!`, O(1) per factor), so two
//! unequal monomials (the common case, and what hostile input produces)
//! never build an exponent vector; the vectors only settle near-equal
//! magnitudes. Measured worst case: 32 factors of `100000!` against
//! themselves, 0.08 ms (benches/bench_rewards.py, `test_worst_case_latency`).

use super::eval::exact;
use super::*;
use std::sync::OnceLock;

/// Largest `n` in `n!`.
pub const MAX_N: u64 = 100_000;
/// Most literals and factorials on one side.
pub const MAX_LEAVES: u32 = 32;
/// Largest integer literal factored (`MAX_N² `: trial division by the primes
/// below [`MAX_N`] leaves 1 or one prime).
pub const MAX_LIT: u64 = MAX_N * MAX_N;
/// Largest `|k|` in `x^k`.
pub const MAX_POW: i128 = 1 << 20;

/// `0`, or `±∏ p^e` (primes ascending, no zero exponent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mono {
    Zero,
    Val { neg: bool, exps: Vec<(u32, i64)> },
}

fn primes() -> &'static [u32] {
    static P: OnceLock<Vec<u32>> = OnceLock::new();
    P.get_or_init(|| {
        let n = MAX_N as usize;
        let mut composite = vec![false; n + 1];
        let mut out = Vec::new();
        for i in 2..=n {
            if !composite[i] {
                out.push(i as u32);
                let mut j = i * i;
                while j <= n {
                    composite[j] = true;
                    j += i;
                }
            }
        }
        out
    })
}

fn one() -> Mono {
    Mono::Val {
        neg: false,
        exps: Vec::new(),
    }
}

/// `a + k·b` on sparse exponent vectors.
fn merge(a: &[(u32, i64)], b: &[(u32, i64)], k: i64) -> Option<Vec<(u32, i64)>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (p, e) = match (a.get(i), b.get(j)) {
            (Some(&(p, x)), Some(&(q, _))) if p < q => {
                i += 1;
                (p, x)
            }
            (Some(&(p, _)), Some(&(q, y))) if q < p => {
                j += 1;
                (q, y.checked_mul(k)?)
            }
            (Some(&(p, x)), Some(&(_, y))) => {
                i += 1;
                j += 1;
                (p, x.checked_add(y.checked_mul(k)?)?)
            }
            (Some(&(p, x)), None) => {
                i += 1;
                (p, x)
            }
            (None, Some(&(q, y))) => {
                j += 1;
                (q, y.checked_mul(k)?)
            }
            (None, None) => break,
        };
        if e != 0 {
            out.push((p, e));
        }
    }
    Some(out)
}

/// `a · b^k` (`k = -1` divides); `None` for a division by zero.
fn combine(a: Mono, b: &Mono, k: i64) -> Option<Mono> {
    match (a, b) {
        (_, Mono::Zero) if k < 0 => None,
        (Mono::Zero, _) | (_, Mono::Zero) => Some(Mono::Zero),
        (Mono::Val { neg, exps }, Mono::Val { neg: nb, exps: eb }) => Some(Mono::Val {
            neg: neg ^ (*nb && k % 2 != 0),
            exps: merge(&exps, eb, k)?,
        }),
    }
}

fn literal(n: i128) -> Option<Mono> {
    if n == 0 {
        return Some(Mono::Zero);
    }
    let mut m = u64::try_from(n.unsigned_abs())
        .ok()
        .filter(|m| *m <= MAX_LIT)?;
    let mut exps = Vec::new();
    for &p in primes() {
        let p = u64::from(p);
        if p * p > m {
            break;
        }
        let mut e = 0;
        while m % p == 0 {
            m /= p;
            e += 1;
        }
        if e > 0 {
            exps.push((p as u32, e));
        }
    }
    if m > 1 {
        // m ≤ MAX_N² with no prime factor below √m: m is prime (and its
        // square root is below every prime pushed so far, so it is last)
        exps.push((u32::try_from(m).ok()?, 1));
    }
    Some(Mono::Val { neg: n < 0, exps })
}

fn factorial(n: u64) -> Mono {
    let mut exps = Vec::new();
    for &p in primes() {
        let p = u64::from(p);
        if p > n {
            break;
        }
        // Legendre: v_p(n!) = Σ_k ⌊n / p^k⌋
        let (mut e, mut q) = (0i64, n);
        while q > 0 {
            q /= p;
            e += q as i64;
        }
        exps.push((p as u32, e));
    }
    Mono::Val { neg: false, exps }
}

/// An exact integer (the argument of `!`, an exponent), bounded.
fn small_int(e: &Expr) -> Option<i128> {
    exact(e).filter(|q| q.d == 1).map(|q| q.n)
}

fn walk(e: &Expr, leaves: &mut u32) -> Option<Mono> {
    match e {
        Expr::Num(q) => {
            *leaves = leaves.checked_sub(1)?;
            let n = literal(q.n)?;
            combine(n, &literal(q.d)?, -1)
        }
        Expr::Fact(a) => {
            *leaves = leaves.checked_sub(1)?;
            let n = u64::try_from(small_int(a)?).ok().filter(|n| *n <= MAX_N)?;
            Some(factorial(n))
        }
        Expr::Mul(v) => v
            .iter()
            .try_fold(one(), |acc, x| combine(acc, &walk(x, leaves)?, 1)),
        Expr::Div(a, b) => {
            let x = walk(a, leaves)?;
            combine(x, &walk(b, leaves)?, -1)
        }
        Expr::Neg(a) => match walk(a, leaves)? {
            Mono::Zero => Some(Mono::Zero),
            Mono::Val { neg, exps } => Some(Mono::Val { neg: !neg, exps }),
        },
        Expr::Func(Func::Abs, a) => match walk(a, leaves)? {
            Mono::Zero => Some(Mono::Zero),
            Mono::Val { exps, .. } => Some(Mono::Val { neg: false, exps }),
        },
        Expr::Pow(a, b) => {
            let k = small_int(b).filter(|k| k.abs() <= MAX_POW)?;
            let x = walk(a, leaves)?;
            if k == 0 {
                return (x != Mono::Zero).then(one);
            }
            combine(one(), &x, k as i64)
        }
        _ => None,
    }
}

/// The prime factorisation of a monomial in literals and factorials, or
/// `None` (a sum, a variable, a bound passed).
pub fn monomial(e: &Expr) -> Option<Mono> {
    let mut leaves = MAX_LEAVES;
    walk(e, &mut leaves)
}

/// A monomial's sign and `ln|x|`, with the sum of `|terms|` that bounds the
/// float error of `log`. `None` where [`monomial`] is `None` for the shape.
#[derive(Clone, Copy, Debug)]
struct Approx {
    zero: bool,
    neg: bool,
    log: f64,
    scale: f64,
}

/// `ln n!`: exact sum below 16, else Stirling's series to `n^-5` (error below
/// `1/(1680 n^7)`, far under the `1e-9` relative margin used).
fn ln_fact(n: u64) -> f64 {
    if n < 16 {
        return (2..=n).map(|k| (k as f64).ln()).sum();
    }
    let x = n as f64;
    let (x2, x3) = (x * x, x * x * x);
    x * x.ln() - x + 0.5 * (std::f64::consts::TAU * x).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x3)
        + 1.0 / (1260.0 * x3 * x2)
}

fn approx(e: &Expr, leaves: &mut u32) -> Option<Approx> {
    let val = |neg: bool, log: f64| Approx {
        zero: false,
        neg,
        log,
        scale: log.abs(),
    };
    let zero = Approx {
        zero: true,
        neg: false,
        log: 0.0,
        scale: 0.0,
    };
    // a · b^k
    let comb = |a: Approx, b: Approx, k: f64| -> Option<Approx> {
        if b.zero && k < 0.0 {
            return None;
        }
        if a.zero || b.zero {
            return Some(zero);
        }
        let odd = k.rem_euclid(2.0) == 1.0;
        Some(Approx {
            zero: false,
            neg: a.neg ^ (b.neg && odd),
            log: a.log + k * b.log,
            scale: a.scale + k.abs() * b.scale,
        })
    };
    let lit = |n: i128| -> Option<Approx> {
        if n == 0 {
            return Some(zero);
        }
        // the same bound as [`literal`], so both paths accept the same shapes
        let m = u64::try_from(n.unsigned_abs())
            .ok()
            .filter(|m| *m <= MAX_LIT)?;
        Some(val(n < 0, (m as f64).ln()))
    };
    match e {
        Expr::Num(q) => {
            *leaves = leaves.checked_sub(1)?;
            comb(lit(q.n)?, lit(q.d)?, -1.0)
        }
        Expr::Fact(a) => {
            *leaves = leaves.checked_sub(1)?;
            let n = u64::try_from(small_int(a)?).ok().filter(|n| *n <= MAX_N)?;
            Some(val(false, ln_fact(n)))
        }
        Expr::Mul(v) => v
            .iter()
            .try_fold(val(false, 0.0), |acc, x| comb(acc, approx(x, leaves)?, 1.0)),
        Expr::Div(a, b) => {
            let x = approx(a, leaves)?;
            comb(x, approx(b, leaves)?, -1.0)
        }
        Expr::Neg(a) => approx(a, leaves).map(|x| Approx {
            neg: !x.neg && !x.zero,
            ..x
        }),
        Expr::Func(Func::Abs, a) => approx(a, leaves).map(|x| Approx { neg: false, ..x }),
        Expr::Pow(a, b) => {
            let k = small_int(b).filter(|k| k.abs() <= MAX_POW)?;
            let x = approx(a, leaves)?;
            if k == 0 {
                return (!x.zero).then(|| val(false, 0.0));
            }
            comb(val(false, 0.0), x, k as f64)
        }
        _ => None,
    }
}

/// Whether two monomials are equal, or `None` when either is not one. Signs
/// and logarithms first (O(1) per factorial, so unequal values, the common
/// case and the hostile one, never build a prime table entry); the exact
/// prime-exponent vectors only when those agree.
pub fn monomial_eq(a: &Expr, b: &Expr) -> Option<bool> {
    let (mut la, mut lb) = (MAX_LEAVES, MAX_LEAVES);
    let (x, y) = (approx(a, &mut la)?, approx(b, &mut lb)?);
    if x.zero || y.zero {
        return Some(x.zero && y.zero);
    }
    // float error of each log is far below 1e-12 of its terms' sum
    if x.neg != y.neg || (x.log - y.log).abs() > 1e-9 * (1.0 + x.scale + y.scale) {
        return Some(false);
    }
    Some(monomial(a)? == monomial(b)?)
}

#[cfg(test)]
mod tests {
    use super::super::super::latex::parse_answer;
    use super::super::big::exact_big;
    use super::*;

    fn expr(s: &str) -> Expr {
        match parse_answer(s).unwrap().ans {
            Ans::Expr(e) => e,
            a => panic!("{s}: {a:?}"),
        }
    }
    fn mono(s: &str) -> Option<Mono> {
        monomial(&expr(s))
    }
    fn eq(a: &str, b: &str) -> bool {
        let (x, y) = (expr(a), expr(b));
        // the log filter never contradicts the exact vectors
        if let (Some(m), Some(n)) = (monomial(&x), monomial(&y)) {
            assert_eq!(monomial_eq(&x, &y), Some(m == n), "{a} vs {b}");
        }
        expr_eq(&x, &y, &Opts::default())
    }

    #[test]
    fn ln_factorial() {
        let mut exact = 0.0f64;
        for n in 1..=3000u64 {
            exact += (n as f64).ln();
            assert!((ln_fact(n) - exact).abs() <= 1e-12 * exact.max(1.0), "{n}");
        }
    }

    #[test]
    fn primes_and_literals() {
        assert_eq!(primes().len(), 9592);
        assert_eq!(mono("12"), mono("2^2 \\cdot 3"));
        assert_eq!(mono("9999999967"), literal(9_999_999_967)); // a prime near MAX_LIT
        assert_eq!(mono("-\\frac{6}{4}"), mono("-\\frac{3}{2}"));
        assert_eq!(mono("0"), Some(Mono::Zero));
        assert_eq!(mono("\\frac{1}{0}"), None);
        assert_eq!(mono("0^{-1}"), None);
        assert_eq!(mono("0^0"), None);
        assert_eq!(mono("100001!"), None);
        assert_eq!(mono("x!"), None);
        assert_eq!(mono("2+3"), None);
        assert_eq!(mono("(-2)^3"), mono("-8"));
        assert_eq!(mono("(-2)^{-2}"), mono("\\frac{1}{4}"));
    }

    #[test]
    fn factorial_identities() {
        assert!(eq("1980 \\cdot 1979!", "1980!"));
        assert!(eq("\\frac{1001!}{1001}", "1000!"));
        assert!(eq("\\frac{2691}{2691!}", "\\frac{1}{2690!}"));
        assert!(eq("\\frac{100000!}{99999!}", "100000"));
        assert!(eq("(2000!)^2", "2000! \\cdot 2000!"));
        assert!(eq("-2006 \\cdot 2005!", "-2006!"));
        // near misses
        assert!(!eq("1980!", "1979!"));
        assert!(!eq("1980 \\cdot 1979!", "1981!"));
        assert!(!eq("1980!+1", "1980!"));
        assert!(!eq("\\frac{1}{2004!}", "\\frac{1}{2006!}"));
        assert!(!eq("-1980!", "1980!"));
        assert!(!eq("\\frac{1001!}{1000}", "1000!"));
        assert!(!eq("(2000!)^2", "2000! \\cdot 1999!"));
    }

    /// Against the big-integer oracle where it reaches (`n ≤ 900`).
    #[test]
    fn agrees_with_exact_big() {
        let mut s = 7u64;
        let mut rnd = |k: u64| super::super::eval::splitmix(&mut s) % k;
        let mut checked = 0;
        for _ in 0..400 {
            let mut side = || {
                let terms: Vec<String> = (0..1 + rnd(4))
                    .map(|_| {
                        let t = match rnd(3) {
                            0 => format!("{}!", 150 + rnd(60)),
                            1 => format!("{}", 1 + rnd(400)),
                            _ => format!("({}!)^{{{}}}", rnd(40), 1 + rnd(3)),
                        };
                        if rnd(3) == 0 {
                            format!("\\frac{{1}}{{{t}}}")
                        } else {
                            t
                        }
                    })
                    .collect();
                terms.join(" \\cdot ")
            };
            let (a, b) = (side(), side());
            let (ea, eb) = (expr(&a), expr(&b));
            let (Some(x), Some(y)) = (exact_big(&ea), exact_big(&eb)) else {
                continue;
            };
            let (ma, mb) = (monomial(&ea).unwrap(), monomial(&eb).unwrap());
            assert_eq!(x == y, ma == mb, "{a} vs {b}");
            assert_eq!(monomial_eq(&ea, &eb), Some(x == y), "{a} vs {b}");
            assert_eq!(ma, monomial(&expr(&a)).unwrap());
            checked += 1;
        }
        assert!(checked > 300, "{checked}");
        // equal pairs too: n! against n·(n-1)!
        for n in 2..300u64 {
            let (a, b) = (format!("{n}!"), format!("{n} \\cdot {}!", n - 1));
            assert_eq!(mono(&a), mono(&b), "{a}");
            assert_eq!(monomial_eq(&expr(&a), &expr(&b)), Some(true), "{a}");
            assert_eq!(exact_big(&expr(&a)), exact_big(&expr(&b)));
        }
    }
}
