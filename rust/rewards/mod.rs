//! Verifiable rewards: answer extraction, math equivalence, labels, formats.
//!
//! Model outputs are hostile input. Everything here runs in time linear in
//! the completion (extraction) plus bounded work on the extracted answer
//! (the caps in [`latex`] and [`compare`]); there is no `eval`, no timeout
//! and no global state, so it is safe on any thread. An answer that cannot be
//! found or parsed scores 0; a gold that cannot be parsed scores NaN.

pub mod compare;
pub mod extract;
pub mod format;
pub mod latex;
pub mod num;

pub use compare::Opts;
pub use extract::{Fallback, Mode};

use crate::{Error, Result};
use std::borrow::Cow;

use rayon::prelude::*;
use std::sync::{Arc, Mutex, OnceLock};

/// The answer in `text` (see [`Mode`]), owned.
pub fn extract_answer(text: &str, mode: Mode, fb: Fallback) -> Option<String> {
    extract::extract(text, mode, fb).map(Cow::into_owned)
}

/// A gold is either the answer itself or a reference solution: a `\boxed{}`
/// or a GSM8K `#### N` in it is taken as the answer.
pub fn gold_answer(gold: &str) -> Cow<'_, str> {
    extract::boxed_joined(gold)
        .or_else(|| extract::gsm8k(gold).map(Cow::Borrowed))
        .unwrap_or(Cow::Borrowed(gold))
}

/// Whether the answer `pred` equals `gold` (both answer strings, not whole
/// solutions). An unparseable `pred` or `gold` is not equal.
pub fn math_equal(pred: &str, gold: &str, o: &Opts) -> bool {
    match (latex::parse_answer(pred), latex::parse_answer(gold)) {
        (Some(p), Some(g)) => compare::equal(&p, &g, o),
        _ => false,
    }
}

/// 1.0 / 0.0 for one completion against a gold; NaN if the gold does not parse.
pub fn math_score(
    completion: &str,
    gold: &latex::Parsed,
    mode: Mode,
    fb: Fallback,
    o: &Opts,
) -> f32 {
    let Some(ans) = extract::extract(completion, mode, fb) else {
        return 0.0;
    };
    match latex::parse_answer(&ans) {
        Some(p) if compare::equal(&p, gold, o) => 1.0,
        _ => 0.0,
    }
}

/// Thread pools by size, built on first use and kept for later batches.
type Pools = Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>>;

/// Map `f` over `0..n` on `threads` threads (0: rayon's global pool, all
/// cores). Results keep their order, so batch scoring is deterministic.
pub fn par_map<T, F>(n: usize, threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    // tiny batches: not worth waking a pool
    if threads == 1 || n < 16 {
        return (0..n).map(f).collect();
    }
    if threads == 0 {
        return (0..n).into_par_iter().map(f).collect();
    }
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let pool = {
        let mut pools = POOLS
            .get_or_init(|| Mutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match pools.iter().find(|(k, _)| *k == threads) {
            Some((_, p)) => p.clone(),
            None => match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                Ok(p) => {
                    let p = Arc::new(p);
                    pools.push((threads, p.clone()));
                    p
                }
                Err(_) => return (0..n).map(f).collect(),
            },
        }
    };
    pool.install(|| (0..n).into_par_iter().map(f).collect())
}

/// `other` must have as many items as `completions`.
fn same_len(n: usize, other: usize, name: &'static str) -> Result<()> {
    if n != other {
        return Err(Error::value(
            name,
            format!("has {other} items but completions has {n}"),
        ));
    }
    Ok(())
}

/// Batch [`math_score`]: golds are parsed once each (answers or reference solutions).
pub fn math_reward<S: AsRef<str> + Sync>(
    completions: &[S],
    golds: &[S],
    mode: Mode,
    fb: Fallback,
    o: &Opts,
    threads: usize,
) -> Result<Vec<f32>> {
    same_len(completions.len(), golds.len(), "golds")?;
    Ok(par_map(
        completions.len(),
        threads,
        |i| match latex::parse_answer(&gold_answer(golds[i].as_ref())) {
            Some(g) => math_score(completions[i].as_ref(), &g, mode, fb, o),
            None => f32::NAN,
        },
    ))
}

/// Batch [`format::label_score`]: each label's key is built once.
pub fn label_reward<S: AsRef<str> + Sync>(
    completions: &[S],
    labels: &[S],
    mode: Mode,
    case_sensitive: bool,
    threads: usize,
) -> Result<Vec<f32>> {
    same_len(completions.len(), labels.len(), "labels")?;
    let keys: Vec<String> = labels
        .iter()
        .map(|x| format::label_key(x.as_ref(), case_sensitive))
        .collect();
    Ok(par_map(completions.len(), threads, |i| {
        format::label_score(completions[i].as_ref(), &keys[i], mode, case_sensitive)
    }))
}

/// Batch [`format::format_score`] against one compiled pattern.
pub fn format_reward<S: AsRef<str> + Sync>(
    completions: &[S],
    re: &regex::Regex,
    threads: usize,
) -> Vec<f32> {
    par_map(completions.len(), threads, |i| {
        format::format_score(re, completions[i].as_ref())
    })
}

#[cfg(test)]
mod fuzz {
    //! A million generated hostile inputs through extraction, parsing and
    //! comparison: the test is that nothing panics (a panic fails it). Token
    //! soup from LaTeX pieces plus raw bytes, seeded, so a failure reproduces.
    use super::*;

    const PIECES: &[&str] = &[
        "0",
        "1",
        "2",
        "9",
        "12",
        "3.5",
        ".",
        ",",
        "+",
        "-",
        "*",
        "/",
        "^",
        "_",
        "!",
        "=",
        "<",
        ">",
        "|",
        "%",
        "$",
        " ",
        "\n",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\\{",
        "\\}",
        "x",
        "y",
        "e",
        "i",
        "\\frac",
        "\\dfrac",
        "\\sqrt",
        "\\sqrt[3]",
        "\\pi",
        "\\infty",
        "\\pm",
        "\\mp",
        "\\cdot",
        "\\times",
        "\\div",
        "\\le",
        "\\ge",
        "\\ne",
        "\\in",
        "\\cup",
        "\\left(",
        "\\right)",
        "\\boxed{",
        "\\fbox{",
        "\\text{",
        "\\mbox{ cm}",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "\\\\",
        "&",
        "\\sin",
        "\\log_",
        "\\binom",
        "^\\circ",
        "\\%",
        "\\,",
        "\\!",
        "####",
        "<answer>",
        "</answer>",
        "answer is",
        "Answer:",
        "é",
        "→",
        "\0",
        "\\",
        "10^{",
        "!!",
        "1,000",
        "\\lfloor",
        "\\rfloor",
        "\\alpha",
        "_{5}",
        "e5",
        "E-3",
        // issue 11's forms
        "\\overline{3}",
        "\\overline",
        " or ",
        " and ",
        "\\text{ or }",
        "\\quad",
        "\\choose",
        "\\emptyset",
        "\\mathbb{R}",
        ":",
        "2^{128}",
        "Final Answer: ",
        " is ",
        "A: ",
        "\u{2212}",
        "36 320",
        "(p,q)",
        "f(x)",
        "\\ne",
        "0.0833333333333333",
    ];

    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn soup(state: &mut u64, max: usize) -> String {
        let n = (rng(state) % max as u64) as usize;
        let mut s = String::new();
        for _ in 0..n {
            let r = rng(state);
            if r % 11 == 0 {
                // a raw char, any scalar value
                s.push(char::from_u32((r >> 8) as u32 % 0x11_0000).unwrap_or('\u{FFFD}'));
            } else {
                s.push_str(PIECES[(r >> 8) as usize % PIECES.len()]);
            }
        }
        s
    }

    /// A well-formed answer from a small grammar (so the evaluator is reached).
    fn grammar(state: &mut u64, depth: u32) -> String {
        let r = rng(state);
        if depth == 0 {
            return ["1", "2", "x", "y", "\\pi", "3.5", "e", "i", "10", "0"]
                [(r >> 8) as usize % 10]
                .to_string();
        }
        let a = grammar(state, depth - 1);
        let b = grammar(state, depth - 1);
        // the forms, `@` = a and `#` = b (neither occurs in a leaf or a form)
        const FORMS: &str = "\\frac{@}{#}|@+#|@-#|(@)(#)|{@}^{#}|\\sqrt{@}|(@, #)|\\{@, #\\}|[@, #)|x = @|@ \\pm #|\\sin(@)|(@)!|\\begin{pmatrix} @ \\\\ # \\end{pmatrix}";
        debug_assert_eq!(FORMS.split('|').count(), 14);
        let form = FORMS
            .split('|')
            .nth(((r >> 8) % 14) as usize)
            .unwrap_or("@");
        form.replace('@', &a).replace('#', &b)
    }

    fn input(state: &mut u64) -> String {
        let r = rng(state);
        match r % 3 {
            0 => soup(state, 24),
            1 => grammar(state, (r >> 8) as u32 % 4),
            _ => {
                // a well-formed answer with a random piece spliced in
                let mut g = grammar(state, (r >> 8) as u32 % 4);
                let piece = soup(state, 3);
                let at = (rng(state) as usize) % (g.len() + 1);
                if g.is_char_boundary(at) {
                    g.insert_str(at, &piece);
                }
                g
            }
        }
    }

    #[test]
    fn a_million_hostile_inputs_never_panic() {
        let n: usize = std::env::var("POSTCOUPLE_FUZZ_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let o = Opts::default();
        let mut st = 0x2545_F491_4F6C_DD1D_u64;
        let mut parsed = 0usize;
        for _ in 0..n {
            let a = input(&mut st);
            let b = input(&mut st);
            let all = Fallback {
                last_math: true,
                last_number: true,
            };
            let _ = extract::extract(&a, Mode::Auto, all);
            let pa = latex::parse_answer(&a);
            let pb = latex::parse_answer(&b);
            if let Some(p) = &pa {
                parsed += 1;
                assert!(compare::equal(p, p, &o), "not reflexive: {a:?}");
                if let Some(q) = &pb {
                    let _ = compare::equal(p, q, &o);
                }
            }
        }
        // the generator must reach the parser's accepting paths, not only its errors
        assert!(parsed > n / 4, "only {parsed} of {n} parsed");
    }
}
