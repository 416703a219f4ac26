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
pub use extract::Mode;

use rayon::prelude::*;
use std::sync::{Arc, Mutex, OnceLock};

/// The answer in `text` (see [`Mode`]), owned.
pub fn extract_answer(text: &str, mode: Mode, last_number_fallback: bool) -> Option<String> {
    extract::extract(text, mode, last_number_fallback).map(str::to_string)
}

/// A gold is either the answer itself or a reference solution: a `\boxed{}`
/// or a GSM8K `#### N` in it is taken as the answer.
pub fn gold_answer(gold: &str) -> &str {
    extract::boxed(gold)
        .or_else(|| extract::gsm8k(gold))
        .unwrap_or(gold)
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
    last_number_fallback: bool,
    o: &Opts,
) -> f32 {
    let Some(ans) = extract::extract(completion, mode, last_number_fallback) else {
        return 0.0;
    };
    match latex::parse_answer(ans) {
        Some(p) if compare::equal(&p, gold, o) => 1.0,
        _ => 0.0,
    }
}

/// Thread pools by size, built on first use and kept (building one costs ~100 µs).
type Pools = Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>>;

/// Map `f` over `0..n` on `threads` threads (0: rayon's global pool, all
/// cores). Results keep their order, so batch scoring is deterministic.
pub fn par_map<T, F>(n: usize, threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    // below this the pool's wake-up costs more than the work (measured: ~20 µs)
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

/// Batch [`math_score`]: golds are parsed once each (answers or reference solutions).
pub fn math_reward<S: AsRef<str> + Sync>(
    completions: &[S],
    golds: &[S],
    mode: Mode,
    last_number_fallback: bool,
    o: &Opts,
    threads: usize,
) -> Vec<f32> {
    par_map(completions.len(), threads, |i| {
        match latex::parse_answer(gold_answer(golds[i].as_ref())) {
            Some(g) => math_score(completions[i].as_ref(), &g, mode, last_number_fallback, o),
            None => f32::NAN,
        }
    })
}
