//! Advantage estimators (GRPO family, RLOO, OPO, GPG, Pass@k, REINFORCE++, GAE).
//!
//! Every function reads `f32` or `f64` ([`Real`]) and computes in `f64`, so a
//! float32 batch is as accurate as the peers' float32 torch code or better.
//!
//! Sequence-level estimators work group by group: a group is either a run of
//! `group_size` consecutive samples ([`Groups::Size`]) or the samples sharing an
//! id ([`Groups::Index`], verl's `uid`, any order). Ids are mapped to dense group
//! numbers with one hash pass (no sort); when every group already occupies one
//! contiguous run (the usual layout) the groups are processed in place, and only
//! otherwise are they bucketed once by a counting pass (O(B), still no sort).
//!
//! The peers' formulas, cited per function: verl `verl/trainer/ppo/core_algos.py`
//! (0.9.1), TRL `trl/trainer/grpo_trainer.py::_generate_and_score_completions`
//! and `rloo_trainer.py` (1.16), OpenRLHF
//! `openrlhf/trainer/ppo_utils/experience_maker.py` (0.11). Where they disagree
//! the choice is an option ([`GroupOpts`]); the Python layer has presets.

use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A float element type the core reads and writes (`f32` or `f64`).
pub trait Real: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}
impl Real for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}
impl Real for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// How samples form groups.
#[derive(Debug, Clone, Copy)]
pub enum Groups<'a> {
    /// Consecutive runs of this many samples (TRL's `num_generations` layout).
    Size(usize),
    /// One id per sample, any order (verl's `uid`).
    Index(&'a [i64]),
}

/// Which standard deviation divides the centred rewards in GRPO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Group,
    Batch,
    None,
}

/// What a group of exactly one sample gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Singleton {
    /// Advantage 0 (TRL; verl's `rloo_vectorized`).
    Zero,
    /// Baseline 0 and group std 1: the raw reward passes through (verl's loops).
    NoBaseline,
    /// The general formula with n = 1: 0/0 gives NaN where a std or an
    /// (n - 1) divisor is involved (OpenRLHF).
    Formula,
}

/// What a NaN reward does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanPolicy {
    /// NaN flows through the arithmetic (verl, OpenRLHF: they never expect it).
    Propagate,
    /// NaN rewards are missing: left out of every mean/std/count, and every
    /// advantage that comes out NaN becomes 0 (TRL's `nanmean`/`nanstd` +
    /// `nan_to_num`).
    Ignore,
}

/// Options shared by the group estimators.
#[derive(Debug, Clone, Copy)]
pub struct GroupOpts {
    /// Added to the std before dividing (verl 1e-6, TRL 1e-4, OpenRLHF 1e-9).
    pub eps: f64,
    /// Bessel-corrected std (divide by n - 1), as torch.std and all three peers.
    pub unbiased: bool,
    pub singleton: Singleton,
    pub nan: NanPolicy,
    /// Groups whose (valid) rewards are all equal get exactly 0. The formula
    /// gives 0 only up to rounding of the mean, which eps then magnifies.
    pub equal_zero: bool,
}

impl Default for GroupOpts {
    fn default() -> Self {
        GroupOpts {
            eps: 1e-6,
            unbiased: true,
            singleton: Singleton::Zero,
            nan: NanPolicy::Ignore,
            equal_zero: true,
        }
    }
}

/// A sequence-level group estimator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimator {
    /// (r - mean_g) / (std + eps), std per `Scale`.
    Grpo(Scale),
    /// r - mean of the other samples of the group.
    Rloo,
    /// r - mean_g (the first half of REINFORCE++-baseline; whitening follows).
    MeanBaseline,
    /// r - sum(len * r) / sum(len) over the group; needs `lengths`.
    Opo,
    /// alpha * (r - mean_g) / f_norm, alpha = B / max(#nonzero rewards, 1).
    Gpg { f_norm: f64 },
    /// Only each group's best sample: (max - second max) [/ (std + eps)].
    PassK { normalize: bool },
}

// ---------------------------------------------------------------------------
// group layout

/// Multiplicative hasher for i64 ids: std's SipHash costs more than the rest
/// of GRPO together, and ids are not attacker-controlled.
#[derive(Default)]
struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, x: i64) {
        // fold the high bits down: hashbrown takes its bucket from the top 7
        // and the low bits, so both must depend on every input bit.
        let h = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// Dense group numbers (0, 1, ... in order of first appearance) for `index`,
/// and the number of groups. One hash pass.
pub fn dense_ids(index: &[i64]) -> (Vec<u32>, usize) {
    let mut map: HashMap<i64, u32, BuildHasherDefault<IdHasher>> =
        HashMap::with_capacity_and_hasher(index.len() / 4 + 1, Default::default());
    let mut ids = Vec::with_capacity(index.len());
    let mut prev: Option<(i64, u32)> = None;
    for &x in index {
        // consecutive equal ids (the usual layout) skip the hash lookup
        let id = match prev {
            Some((p, id)) if p == x => id,
            _ => {
                let next = map.len() as u32;
                let id = *map.entry(x).or_insert(next);
                prev = Some((x, id));
                id
            }
        };
        ids.push(id);
    }
    (ids, map.len())
}

/// Where each group's samples are: `offsets` (len G + 1) into either the
/// batch itself (`perm` None: every group is one contiguous run) or into
/// `perm`, which lists sample indices group by group.
/// `uniform`: all groups have this size and are consecutive (`offsets` is
/// then left empty: reading a 1M-entry offsets table cost more than the work).
struct Layout {
    offsets: Vec<usize>,
    perm: Option<Vec<u32>>,
    uniform: Option<usize>,
}

fn layout(groups: Groups<'_>, n: usize) -> Result<Layout> {
    match groups {
        Groups::Size(g) => {
            if g == 0 {
                return Err(Error::value("group_size", "must be >= 1, got 0"));
            }
            if n % g != 0 {
                return Err(Error::value(
                    "group_size",
                    format!("{g} does not divide the batch size {n}"),
                ));
            }
            Ok(Layout {
                offsets: Vec::new(),
                perm: None,
                uniform: Some(g),
            })
        }
        Groups::Index(index) => {
            if index.len() != n {
                return Err(Error::value(
                    "index",
                    format!("has {} entries but rewards has {n}", index.len()),
                ));
            }
            if n > u32::MAX as usize {
                return Err(Error::value("index", "more than 2^32 samples"));
            }
            let (ids, ng) = dense_ids(index);
            // Ids are numbered in order of first appearance, so the groups are
            // contiguous runs iff each change of id introduces a new id.
            let mut runs = Vec::with_capacity(ng + 1);
            runs.push(0usize);
            let mut contiguous = true;
            for i in 1..n {
                if ids[i] != ids[i - 1] {
                    if ids[i] as usize != runs.len() {
                        contiguous = false;
                        break;
                    }
                    runs.push(i);
                }
            }
            if contiguous {
                runs.push(n);
                if n == 0 {
                    runs.truncate(1);
                }
                return Ok(Layout {
                    offsets: runs,
                    perm: None,
                    uniform: None,
                });
            }
            // counting-sort bucketing: stable, O(B + G)
            let mut offsets = vec![0usize; ng + 1];
            for &id in &ids {
                offsets[id as usize + 1] += 1;
            }
            for g in 0..ng {
                offsets[g + 1] += offsets[g];
            }
            let mut fill = offsets[..ng].to_vec();
            let mut perm = vec![0u32; n];
            for (i, &id) in ids.iter().enumerate() {
                perm[fill[id as usize]] = i as u32;
                fill[id as usize] += 1;
            }
            Ok(Layout {
                offsets,
                perm: Some(perm),
                uniform: None,
            })
        }
    }
}

/// Below this many samples per task, rayon's fork/join costs more than it saves.
const PAR_BLOCK: usize = 1 << 15;

/// Split `out` into blocks of whole groups (about `PAR_BLOCK` samples each).
fn blocks<'o, T>(offsets: &[usize], out: &'o mut [T]) -> Vec<(usize, usize, &'o mut [T])> {
    let mut res = Vec::new();
    let mut rest = out;
    let mut g0 = 0;
    let ng = offsets.len() - 1;
    while g0 < ng {
        let mut g1 = g0 + 1;
        while g1 < ng && offsets[g1] - offsets[g0] < PAR_BLOCK {
            g1 += 1;
        }
        let len = offsets[g1] - offsets[g0];
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        res.push((g0, g1, head));
        rest = tail;
        g0 = g1;
    }
    res
}

/// Run `k(rewards_g, aux_g, out_g)` on every group, writing into `out`.
fn for_each_group<T: Real, K>(
    r: &[T],
    aux: Option<&[T]>,
    lay: &Layout,
    par: bool,
    out: &mut [T],
    k: K,
) where
    K: Fn(&[T], Option<&[T]>, &mut [T]) + Sync,
{
    if let Some(g) = lay.uniform {
        let run = |(start, dst): (usize, &mut [T])| {
            let src = &r[start..start + dst.len()];
            for (j, (x, y)) in src.chunks_exact(g).zip(dst.chunks_exact_mut(g)).enumerate() {
                let a = start + j * g;
                k(x, aux.map(|s| &s[a..a + g]), y);
            }
        };
        let block = g * PAR_BLOCK.div_ceil(g);
        if par && r.len() > PAR_BLOCK {
            out.par_chunks_mut(block)
                .enumerate()
                .for_each(|(b, dst)| run((b * block, dst)));
        } else {
            run((0, out));
        }
        return;
    }
    match &lay.perm {
        None => run_groups(r, aux, &lay.offsets, par, out, &k),
        Some(p) => {
            let src: Vec<T> = p.iter().map(|&i| r[i as usize]).collect();
            let src_aux: Option<Vec<T>> = aux.map(|a| p.iter().map(|&i| a[i as usize]).collect());
            let mut dst = vec![T::from_f64(0.0); r.len()];
            run_groups(&src, src_aux.as_deref(), &lay.offsets, par, &mut dst, &k);
            for (j, &i) in p.iter().enumerate() {
                out[i as usize] = dst[j];
            }
        }
    }
}

fn run_groups<T: Real, K>(
    src: &[T],
    src_aux: Option<&[T]>,
    offs: &[usize],
    par: bool,
    dst: &mut [T],
    k: &K,
) where
    K: Fn(&[T], Option<&[T]>, &mut [T]) + Sync,
{
    let run_block = |g0: usize, g1: usize, block: &mut [T]| {
        let base = offs[g0];
        for g in g0..g1 {
            let (a, b) = (offs[g], offs[g + 1]);
            k(
                &src[a..b],
                src_aux.map(|x| &x[a..b]),
                &mut block[a - base..b - base],
            );
        }
    };
    if par && src.len() > PAR_BLOCK {
        blocks(offs, dst)
            .into_par_iter()
            .for_each(|(g0, g1, blk)| run_block(g0, g1, blk));
    } else if offs.len() > 1 {
        run_block(0, offs.len() - 1, dst);
    }
}

// ---------------------------------------------------------------------------
// per-group statistics

#[derive(Debug, Clone, Copy)]
struct Stats {
    n: f64,
    mean: f64,
    /// sum of squared deviations from the mean
    m2: f64,
    equal: bool,
}

/// Sum of `f(x)` over the valid entries, and their count, in 4 lanes: a single
/// accumulator chains every add on the previous one (4 cycles each), which made
/// GRPO latency-bound; 4 independent lanes measured ~1.6x faster on groups of 8.
#[inline(always)]
fn lane_sum<T: Real, const IGNORE: bool>(r: &[T], f: impl Fn(f64) -> f64) -> (f64, usize) {
    let mut s = [0.0f64; 4];
    let mut c = [0usize; 4];
    let chunks = r.chunks_exact(4);
    let rem = chunks.remainder();
    let mut add = |k: usize, x: T| {
        let x = x.to_f64();
        if IGNORE {
            let ok = !x.is_nan();
            s[k] += if ok { f(x) } else { 0.0 };
            c[k] += ok as usize;
        } else {
            s[k] += f(x);
        }
    };
    for ch in chunks {
        for (k, &x) in ch.iter().enumerate() {
            add(k, x);
        }
    }
    for (k, &x) in rem.iter().enumerate() {
        add(k, x);
    }
    let n = if IGNORE { c.iter().sum() } else { r.len() };
    ((s[0] + s[1]) + (s[2] + s[3]), n)
}

#[inline(always)]
fn stats<T: Real, const IGNORE: bool>(r: &[T]) -> Stats {
    let (s, n) = lane_sum::<T, IGNORE>(r, |x| x);
    let mean = s / n as f64;
    let (m2, _) = lane_sum::<T, IGNORE>(r, |x| (x - mean) * (x - mean));
    // Exact equality is decided by comparing the values, but only for groups
    // whose spread is within rounding of the mean: a min/max in the main
    // passes cost 15% of GRPO's time (measured). NaN m2 (Propagate) is never
    // "equal".
    let tiny = 64.0 * f64::EPSILON * mean.abs();
    let equal = n > 0 && m2 <= n as f64 * tiny * tiny && all_equal::<T, IGNORE>(r);
    Stats {
        n: n as f64,
        mean,
        m2,
        equal,
    }
}

#[cold]
fn all_equal<T: Real, const IGNORE: bool>(r: &[T]) -> bool {
    let mut first: Option<f64> = None;
    for &x in r {
        let x = x.to_f64();
        if IGNORE && x.is_nan() {
            continue;
        }
        match first {
            None => first = Some(x),
            Some(f) if f != x => return false,
            _ => {}
        }
    }
    first.is_some()
}

#[inline]
fn std_of(s: &Stats, unbiased: bool) -> f64 {
    let d = if unbiased { s.n - 1.0 } else { s.n };
    // 0/0 = NaN for one sample and Bessel, as torch.std: the callers decide
    (s.m2 / d).sqrt()
}

/// Mean and std over the whole batch (for GRPO `Scale::Batch`).
fn batch_std<T: Real>(r: &[T], o: &GroupOpts) -> f64 {
    let s = if o.nan == NanPolicy::Ignore {
        stats::<T, true>(r)
    } else {
        stats::<T, false>(r)
    };
    std_of(&s, o.unbiased)
}

/// Sequence-level advantages `(B,)` for one of the group estimators.
///
/// `lengths` (response lengths) is needed by [`Estimator::Opo`] only.
pub fn group_advantages<T: Real>(
    est: Estimator,
    rewards: &[T],
    groups: Groups<'_>,
    lengths: Option<&[T]>,
    o: &GroupOpts,
    par: bool,
) -> Result<Vec<T>> {
    let n = rewards.len();
    if !(o.eps.is_finite() && o.eps >= 0.0) {
        return Err(Error::value(
            "eps",
            format!("must be finite and >= 0, got {}", o.eps),
        ));
    }
    let lay = layout(groups, n)?;
    if o.nan == NanPolicy::Ignore {
        run_estimator::<T, true>(est, rewards, groups, &lay, lengths, o, par)
    } else {
        run_estimator::<T, false>(est, rewards, groups, &lay, lengths, o, par)
    }
}

// IGNORE as a const parameter: the NaN tests vanish from the hot loops of the
// Propagate variant (measured ~10% of GRPO's time).
fn run_estimator<T: Real, const IGNORE: bool>(
    est: Estimator,
    rewards: &[T],
    groups: Groups<'_>,
    lay: &Layout,
    lengths: Option<&[T]>,
    o: &GroupOpts,
    par: bool,
) -> Result<Vec<T>> {
    let n = rewards.len();
    let ignore = IGNORE;
    let mut out = vec![T::from_f64(0.0); n];
    // finish one value: NaN -> 0 under Ignore
    let fin = move |x: f64| -> T {
        if IGNORE && x.is_nan() {
            T::from_f64(0.0)
        } else {
            T::from_f64(x)
        }
    };
    let o = *o;
    match est {
        Estimator::Grpo(_) | Estimator::MeanBaseline => {
            let scale = match est {
                Estimator::Grpo(s) => s,
                _ => Scale::None,
            };
            let bstd = if scale == Scale::Batch {
                batch_std(rewards, &o)
            } else {
                f64::NAN
            };
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                if r.len() == 1 && o.singleton != Singleton::Formula {
                    let x = r[0].to_f64();
                    out[0] = match o.singleton {
                        Singleton::Zero => fin(0.0 * x),
                        _ => fin(match scale {
                            Scale::Group => x / (1.0 + o.eps),
                            Scale::Batch => x / (bstd + o.eps),
                            Scale::None => x,
                        }),
                    };
                    return;
                }
                let s = stats::<T, IGNORE>(r);
                if o.equal_zero && s.equal {
                    for (y, &x) in out.iter_mut().zip(r) {
                        *y = fin(0.0 * x.to_f64());
                    }
                    return;
                }
                let denom = match scale {
                    Scale::Group => std_of(&s, o.unbiased) + o.eps,
                    Scale::Batch => bstd + o.eps,
                    Scale::None => 1.0,
                };
                let inv = 1.0 / denom;
                for (y, &x) in out.iter_mut().zip(r) {
                    let a = x.to_f64() - s.mean;
                    *y = fin(if scale == Scale::None { a } else { a * inv });
                }
            });
        }
        Estimator::Rloo => {
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                if r.len() == 1 && o.singleton != Singleton::Formula {
                    let x = r[0].to_f64();
                    out[0] = fin(if o.singleton == Singleton::Zero {
                        0.0 * x
                    } else {
                        x
                    });
                    return;
                }
                let s = stats::<T, IGNORE>(r);
                if o.equal_zero && s.equal {
                    for (y, &x) in out.iter_mut().zip(r) {
                        *y = fin(0.0 * x.to_f64());
                    }
                    return;
                }
                let sum = s.mean * s.n;
                // n = 1 valid sample: (sum - r) * (1/0) = 0 * inf = NaN, as
                // TRL's and OpenRLHF's 0/0. One division per group, not per
                // sample (measured 25% of RLOO's time).
                let inv = 1.0 / (s.n - 1.0);
                for (y, &x) in out.iter_mut().zip(r) {
                    let x = x.to_f64();
                    *y = fin(x - (sum - x) * inv);
                }
            });
        }
        Estimator::Opo => {
            let len =
                lengths.ok_or_else(|| Error::value("lengths", "OPO needs response lengths"))?;
            if len.len() != n {
                return Err(Error::value(
                    "lengths",
                    format!("has {} entries but rewards has {n}", len.len()),
                ));
            }
            for_each_group(rewards, Some(len), lay, par, &mut out, |r, l, out| {
                let l = l.unwrap_or(&[]);
                if r.len() == 1 && o.singleton != Singleton::Formula {
                    let x = r[0].to_f64();
                    out[0] = fin(if o.singleton == Singleton::Zero {
                        0.0 * x
                    } else {
                        x
                    });
                    return;
                }
                let (mut lr, mut ls) = (0.0, 0.0);
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for (&x, &w) in r.iter().zip(l) {
                    let x = x.to_f64();
                    if ignore && x.is_nan() {
                        continue;
                    }
                    lr += w.to_f64() * x;
                    ls += w.to_f64();
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
                let equal = o.equal_zero && lo == hi && !lr.is_nan();
                let b = lr / ls;
                for (y, &x) in out.iter_mut().zip(r) {
                    let x = x.to_f64();
                    *y = fin(if equal { 0.0 * x } else { x - b });
                }
            });
        }
        Estimator::Gpg { f_norm } => {
            // verl: alpha = bsz / max(count_nonzero(scores), 1); torch counts NaN
            // as nonzero, Ignore leaves NaN out.
            let nz = rewards
                .iter()
                .filter(|x| {
                    let x = x.to_f64();
                    x != 0.0 && !(ignore && x.is_nan())
                })
                .count();
            let alpha = n as f64 / (nz.max(1) as f64);
            let c = alpha / f_norm;
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                if r.len() == 1 && o.singleton != Singleton::Formula {
                    let x = r[0].to_f64();
                    out[0] = fin(if o.singleton == Singleton::Zero {
                        0.0 * x
                    } else {
                        c * x
                    });
                    return;
                }
                let s = stats::<T, IGNORE>(r);
                let eq = o.equal_zero && s.equal;
                for (y, &x) in out.iter_mut().zip(r) {
                    let x = x.to_f64();
                    *y = fin(if eq { 0.0 * x } else { c * (x - s.mean) });
                }
            });
        }
        Estimator::PassK { normalize } => {
            let small = match lay.uniform {
                Some(g) if g < 2 && n > 0 => Some((0, g)),
                Some(_) => None,
                None => lay
                    .offsets
                    .windows(2)
                    .position(|w| w[1] - w[0] < 2)
                    .map(|g| (g, lay.offsets[g + 1] - lay.offsets[g])),
            };
            if let Some((g, size)) = small {
                let arg = match groups {
                    Groups::Size(_) => "group_size",
                    Groups::Index(_) => "index",
                };
                return Err(Error::value(
                    arg,
                    format!("grpo_passk needs at least 2 samples per group; group {g} has {size}"),
                ));
            }
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                let has_nan = r.iter().any(|x| x.to_f64().is_nan());
                if has_nan && !ignore {
                    for y in out.iter_mut() {
                        *y = T::from_f64(f64::NAN);
                    }
                    return;
                }
                // top-2 over valid samples; first index wins ties (only the
                // advantage's position depends on it, and a tie gives 0 anyway)
                let (mut i1, mut v1, mut v2) = (usize::MAX, f64::NEG_INFINITY, f64::NEG_INFINITY);
                let mut cnt = 0;
                for (i, &x) in r.iter().enumerate() {
                    let x = x.to_f64();
                    if x.is_nan() {
                        continue;
                    }
                    cnt += 1;
                    if x > v1 {
                        v2 = v1;
                        v1 = x;
                        i1 = i;
                    } else if x > v2 {
                        v2 = x;
                    }
                }
                for y in out.iter_mut() {
                    *y = T::from_f64(0.0);
                }
                if cnt < 2 {
                    return;
                }
                let mut a = v1 - v2;
                if normalize {
                    let s = stats::<T, true>(r);
                    a /= std_of(&s, o.unbiased) + o.eps;
                }
                out[i1] = fin(a);
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// token-level

/// How token-level recurrences treat positions with mask 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskMode {
    /// Skip them: the recurrence carries its state across unchanged (verl).
    Skip,
    /// Zero their rewards and values and run through them (OpenRLHF).
    Zero,
}

/// Whitening over the valid tokens: `(x - mean) * rstd`.
#[derive(Debug, Clone, Copy)]
pub struct WhitenOpts {
    pub shift_mean: bool,
    /// Bessel-corrected variance (verl) or plain (OpenRLHF).
    pub unbiased: bool,
    pub eps: f64,
    /// `rsqrt(max(var, eps))` (OpenRLHF) instead of `rsqrt(var + eps)` (verl).
    pub clamp: bool,
}

impl Default for WhitenOpts {
    fn default() -> Self {
        WhitenOpts {
            shift_mean: true,
            unbiased: true,
            eps: 1e-8,
            clamp: false,
        }
    }
}

fn check_2d(name: &'static str, len: usize, b: usize, t: usize) -> Result<()> {
    if len != b * t {
        return Err(Error::value(
            name,
            format!("has {len} elements, expected {b} x {t}"),
        ));
    }
    Ok(())
}

/// Rows per rayon task for (B, T) work, ~PAR_BLOCK elements.
fn rows_per_task(t: usize) -> usize {
    (PAR_BLOCK / t.max(1)).max(1)
}

/// Masked mean and variance of `x` over `mask != 0` (fixed-size chunks summed
/// in order, so the result does not depend on `par`).
fn masked_moments<T: Real>(x: &[T], mask: &[u8], o: &WhitenOpts, par: bool) -> Result<(f64, f64)> {
    const C: usize = 1 << 16;
    let part = |(xs, ms): (&[T], &[u8])| {
        let (mut n, mut s) = (0u64, 0.0f64);
        for (&v, &m) in xs.iter().zip(ms) {
            if m != 0 {
                n += 1;
                s += v.to_f64();
            }
        }
        (n, s)
    };
    let parts: Vec<(u64, f64)> = if par {
        x.par_chunks(C).zip(mask.par_chunks(C)).map(part).collect()
    } else {
        x.chunks(C).zip(mask.chunks(C)).map(part).collect()
    };
    let n: u64 = parts.iter().map(|p| p.0).sum();
    let s: f64 = parts.iter().map(|p| p.1).sum();
    if n == 0 {
        return Err(Error::value(
            "response_mask",
            "whitening needs at least one valid token, got none",
        ));
    }
    if n == 1 && o.unbiased {
        return Err(Error::value(
            "response_mask",
            "whitening with the unbiased variance needs at least 2 valid tokens, got 1",
        ));
    }
    let mean = s / n as f64;
    let dev = |(xs, ms): (&[T], &[u8])| {
        let mut m2 = 0.0f64;
        for (&v, &m) in xs.iter().zip(ms) {
            if m != 0 {
                let d = v.to_f64() - mean;
                m2 += d * d;
            }
        }
        m2
    };
    let parts: Vec<f64> = if par {
        x.par_chunks(C).zip(mask.par_chunks(C)).map(dev).collect()
    } else {
        x.chunks(C).zip(mask.chunks(C)).map(dev).collect()
    };
    let m2: f64 = parts.iter().sum();
    let nf = n as f64;
    let var = if o.unbiased { m2 / (nf - 1.0) } else { m2 / nf };
    Ok((mean, var))
}

/// Whiten `x` in place over its valid tokens; masked tokens become 0 when
/// `zero_masked`, else get the same affine map (verl's `masked_whiten`).
pub fn masked_whiten_inplace<T: Real>(
    x: &mut [T],
    mask: &[u8],
    o: &WhitenOpts,
    zero_masked: bool,
    par: bool,
) -> Result<()> {
    if x.len() != mask.len() {
        return Err(Error::value(
            "response_mask",
            format!("has {} elements but values has {}", mask.len(), x.len()),
        ));
    }
    if x.is_empty() {
        return Ok(());
    }
    let (mean, var) = masked_moments(x, mask, o, par)?;
    let rstd = if o.clamp {
        1.0 / var.max(o.eps).sqrt()
    } else {
        1.0 / (var + o.eps).sqrt()
    };
    let add = if o.shift_mean { 0.0 } else { mean };
    let f = |(xs, ms): (&mut [T], &[u8])| {
        for (v, &m) in xs.iter_mut().zip(ms) {
            *v = if zero_masked && m == 0 {
                T::from_f64(0.0)
            } else {
                T::from_f64((v.to_f64() - mean) * rstd + add)
            };
        }
    };
    if par && x.len() > PAR_BLOCK {
        x.par_chunks_mut(PAR_BLOCK)
            .zip(mask.par_chunks(PAR_BLOCK))
            .for_each(f);
    } else {
        f((x, mask));
    }
    Ok(())
}

/// `adv[:, None] * mask`: sequence advantages spread over the valid tokens.
pub fn to_token_level<T: Real>(adv: &[T], mask: &[u8], t: usize, par: bool) -> Result<Vec<T>> {
    let b = adv.len();
    check_2d("response_mask", mask.len(), b, t)?;
    let mut out = vec![T::from_f64(0.0); b * t];
    if t == 0 {
        return Ok(out);
    }
    let f = |(i, (row, ms)): (usize, (&mut [T], &[u8]))| {
        let a = adv[i];
        for (y, &m) in row.iter_mut().zip(ms) {
            if m != 0 {
                *y = a;
            }
        }
    };
    if par && b * t > PAR_BLOCK {
        out.par_chunks_mut(t)
            .zip(mask.par_chunks(t))
            .enumerate()
            .for_each(f);
    } else {
        out.chunks_mut(t)
            .zip(mask.chunks(t))
            .enumerate()
            .for_each(f);
    }
    Ok(out)
}

/// Discounted reward-to-go per token (REINFORCE++ returns, ReMax with gamma 1).
/// Masked positions get 0.
pub fn discounted_returns<T: Real>(
    rewards: &[T],
    mask: &[u8],
    t: usize,
    gamma: f64,
    mode: MaskMode,
    par: bool,
) -> Result<Vec<T>> {
    if t == 0 {
        return Ok(Vec::new());
    }
    let b = rewards.len() / t;
    check_2d("rewards", rewards.len(), b, t)?;
    check_2d("response_mask", mask.len(), b, t)?;
    let mut out = vec![T::from_f64(0.0); b * t];
    let row = |((y, r), m): ((&mut [T], &[T]), &[u8])| {
        let mut run = 0.0f64;
        for k in (0..t).rev() {
            let valid = m[k] != 0;
            match mode {
                MaskMode::Skip => {
                    if valid {
                        run = r[k].to_f64() + gamma * run;
                        y[k] = T::from_f64(run);
                    }
                }
                MaskMode::Zero => {
                    run = if valid { r[k].to_f64() } else { 0.0 } + gamma * run;
                    if valid {
                        y[k] = T::from_f64(run);
                    }
                }
            }
        }
    };
    let rows = rows_per_task(t);
    if par && b * t > PAR_BLOCK {
        out.par_chunks_mut(t * rows)
            .zip(rewards.par_chunks(t * rows))
            .zip(mask.par_chunks(t * rows))
            .for_each(|((y, r), m)| {
                y.chunks_mut(t)
                    .zip(r.chunks(t))
                    .zip(m.chunks(t))
                    .for_each(row)
            });
    } else {
        out.chunks_mut(t)
            .zip(rewards.chunks(t))
            .zip(mask.chunks(t))
            .for_each(row);
    }
    Ok(out)
}

/// One row of GAE work: ((advantages, returns), (rewards, values)), mask.
type GaeRow<'a, T> = (((&'a mut [T], &'a mut [T]), (&'a [T], &'a [T])), &'a [u8]);

/// Generalised advantage estimation: `(advantages, returns)`, both (B, T),
/// 0 at masked positions. `returns = advantages + values` before whitening;
/// `whiten` (verl and OpenRLHF both whiten GAE advantages) then whitens the
/// advantages over the valid tokens.
#[allow(clippy::too_many_arguments)]
pub fn gae<T: Real>(
    rewards: &[T],
    values: &[T],
    mask: &[u8],
    t: usize,
    gamma: f64,
    lam: f64,
    mode: MaskMode,
    whiten: Option<&WhitenOpts>,
    par: bool,
) -> Result<(Vec<T>, Vec<T>)> {
    if t == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let b = rewards.len() / t;
    check_2d("rewards", rewards.len(), b, t)?;
    check_2d("values", values.len(), b, t)?;
    check_2d("response_mask", mask.len(), b, t)?;
    let mut adv = vec![T::from_f64(0.0); b * t];
    let mut ret = vec![T::from_f64(0.0); b * t];
    let gl = gamma * lam;
    let row = |(((a, rt), (r, v)), m): GaeRow<'_, T>| {
        let (mut nextv, mut last) = (0.0f64, 0.0f64);
        for k in (0..t).rev() {
            let valid = m[k] != 0;
            match mode {
                MaskMode::Skip => {
                    // verl: TD error and value skip observation (mask 0) tokens
                    if valid {
                        let vk = v[k].to_f64();
                        let delta = r[k].to_f64() + gamma * nextv - vk;
                        last = delta + gl * last;
                        nextv = vk;
                        a[k] = T::from_f64(last);
                        rt[k] = T::from_f64(last + vk);
                    }
                }
                MaskMode::Zero => {
                    // OpenRLHF: values and rewards zeroed, no skipping
                    let (vk, rk) = if valid {
                        (v[k].to_f64(), r[k].to_f64())
                    } else {
                        (0.0, 0.0)
                    };
                    let delta = rk + gamma * nextv - vk;
                    last = delta + gl * last;
                    nextv = vk;
                    if valid {
                        a[k] = T::from_f64(last);
                        rt[k] = T::from_f64(last + vk);
                    }
                }
            }
        }
    };
    let rows = rows_per_task(t);
    if par && b * t > PAR_BLOCK {
        let n = t * rows;
        adv.par_chunks_mut(n)
            .zip(ret.par_chunks_mut(n))
            .zip(rewards.par_chunks(n).zip(values.par_chunks(n)))
            .zip(mask.par_chunks(n))
            .for_each(|(((a, rt), (r, v)), m)| {
                a.chunks_mut(t)
                    .zip(rt.chunks_mut(t))
                    .zip(r.chunks(t).zip(v.chunks(t)))
                    .zip(m.chunks(t))
                    .for_each(row)
            });
    } else {
        adv.chunks_mut(t)
            .zip(ret.chunks_mut(t))
            .zip(rewards.chunks(t).zip(values.chunks(t)))
            .zip(mask.chunks(t))
            .for_each(row);
    }
    if let Some(w) = whiten {
        masked_whiten_inplace(&mut adv, mask, w, true, par)?;
    }
    Ok((adv, ret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 + 1e-9 * y.abs(),
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn grpo_by_hand() {
        let r = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let o = GroupOpts {
            eps: 0.0,
            ..Default::default()
        };
        let a = group_advantages(
            Estimator::Grpo(Scale::Group),
            &r,
            Groups::Size(2),
            None,
            &o,
            false,
        )
        .unwrap();
        let s = (0.5f64).sqrt(); // Bessel std of {0, 1}
        close(&a, &[0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s, 0.0, 0.0]);
    }

    #[test]
    fn index_groups_equal_contiguous_groups_in_any_order() {
        let r: Vec<f64> = (0..24).map(|i| ((i * 7919) % 13) as f64 * 0.25).collect();
        let o = GroupOpts::default();
        for est in [
            Estimator::Grpo(Scale::Group),
            Estimator::Rloo,
            Estimator::Gpg { f_norm: 1.0 },
            Estimator::PassK { normalize: true },
        ] {
            let want = group_advantages(est, &r, Groups::Size(4), None, &o, false).unwrap();
            // same groups, shuffled: sample i goes to position perm[i]
            let perm: Vec<usize> = (0..24).map(|i| (i * 5) % 24).collect();
            let mut rs = vec![0.0; 24];
            let mut ids = vec![0i64; 24];
            for i in 0..24 {
                rs[perm[i]] = r[i];
                ids[perm[i]] = 1000 - (i / 4) as i64;
            }
            for par in [false, true] {
                let got = group_advantages(est, &rs, Groups::Index(&ids), None, &o, par).unwrap();
                let back: Vec<f64> = (0..24).map(|i| got[perm[i]]).collect();
                close(&back, &want);
            }
        }
    }

    #[test]
    fn rloo_leaves_one_out() {
        let r = [1.0f32, 2.0, 6.0];
        let a = group_advantages(
            Estimator::Rloo,
            &r,
            Groups::Size(3),
            None,
            &GroupOpts::default(),
            false,
        )
        .unwrap();
        let a: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        close(&a, &[1.0 - 4.0, 2.0 - 3.5, 6.0 - 1.5]);
    }

    #[test]
    fn singletons_and_nans() {
        let r = [3.0, f64::NAN, 1.0, 2.0];
        let mut o = GroupOpts {
            singleton: Singleton::NoBaseline,
            ..Default::default()
        };
        let a = group_advantages(
            Estimator::Grpo(Scale::None),
            &r[..1],
            Groups::Size(1),
            None,
            &o,
            false,
        )
        .unwrap();
        close(&a, &[3.0]);
        o.singleton = Singleton::Zero;
        // group {NaN, 1, 2}-style: NaN left out of the mean, its advantage 0
        let a = group_advantages(
            Estimator::Grpo(Scale::None),
            &r[1..],
            Groups::Size(3),
            None,
            &o,
            false,
        )
        .unwrap();
        close(&a, &[0.0, -0.5, 0.5]);
        o.nan = NanPolicy::Propagate;
        let a = group_advantages(
            Estimator::Grpo(Scale::None),
            &r[1..],
            Groups::Size(3),
            None,
            &o,
            false,
        )
        .unwrap();
        assert!(a.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn bad_groups_name_the_argument() {
        let r = [1.0f64; 5];
        let o = GroupOpts::default();
        let e =
            group_advantages(Estimator::Rloo, &r, Groups::Size(2), None, &o, false).unwrap_err();
        assert!(e.to_string().starts_with("group_size:"));
        let e =
            group_advantages(Estimator::Rloo, &r, Groups::Size(0), None, &o, false).unwrap_err();
        assert!(e.to_string().starts_with("group_size:"));
        let e = group_advantages(Estimator::Rloo, &r, Groups::Index(&[1, 2]), None, &o, false)
            .unwrap_err();
        assert!(e.to_string().starts_with("index:"));
        let e = group_advantages(
            Estimator::PassK { normalize: false },
            &r,
            Groups::Index(&[1, 1, 2, 2, 3]),
            None,
            &o,
            false,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("index:"));
    }

    #[test]
    fn gae_matches_the_recurrence_and_skips_masked() {
        // lam = 1, gamma = 1, no masking: advantage = sum of future rewards - v_t
        let r = [0.0, 0.0, 1.0];
        let v = [0.5, 0.25, 0.125];
        let m = [1u8, 1, 1];
        let (a, ret) = gae(&r, &v, &m, 3, 1.0, 1.0, MaskMode::Skip, None, false).unwrap();
        close(&a, &[0.5, 0.75, 0.875]);
        close(&ret, &[1.0, 1.0, 1.0]);
        // a masked middle token is skipped entirely under Skip
        let r2 = [0.0, 9.0, 0.0, 1.0];
        let v2 = [0.5, 7.0, 0.25, 0.125];
        let m2 = [1u8, 0, 1, 1];
        let (a2, _) = gae(&r2, &v2, &m2, 4, 1.0, 1.0, MaskMode::Skip, None, false).unwrap();
        close(&a2, &[0.5, 0.0, 0.75, 0.875]);
    }

    #[test]
    fn whitening_is_zero_mean_unit_var_and_par_invariant() {
        let n = 200_000;
        let x: Vec<f64> = (0..n).map(|i| ((i * 31337) % 1009) as f64).collect();
        let m: Vec<u8> = (0..n).map(|i| (i % 3 != 0) as u8).collect();
        let o = WhitenOpts {
            eps: 0.0,
            ..Default::default()
        };
        let mut a = x.clone();
        masked_whiten_inplace(&mut a, &m, &o, true, false).unwrap();
        let mut b = x.clone();
        masked_whiten_inplace(&mut b, &m, &o, true, true).unwrap();
        assert_eq!(a, b);
        let valid: Vec<f64> = a
            .iter()
            .zip(&m)
            .filter(|(_, &m)| m != 0)
            .map(|(&v, _)| v)
            .collect();
        let k = valid.len() as f64;
        let mean = valid.iter().sum::<f64>() / k;
        let var = valid.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0);
        assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9);
        assert!(a.iter().zip(&m).all(|(&v, &m)| m != 0 || v == 0.0));
    }

    #[test]
    fn discounted_returns_modes() {
        let r = [1.0, 5.0, 2.0];
        let m = [1u8, 0, 1];
        let s = discounted_returns(&r, &m, 3, 0.5, MaskMode::Skip, false).unwrap();
        close(&s, &[2.0, 0.0, 2.0]);
        let z = discounted_returns(&r, &m, 3, 0.5, MaskMode::Zero, false).unwrap();
        close(&z, &[1.5, 0.0, 2.0]);
    }
}
