//! Advantage estimators (GRPO family, RLOO, OPO, GPG, Pass@k, REINFORCE++, GAE).
//!
//! Every function reads `f32` or `f64` ([`Real`]) and computes in `f64`, so a
//! float32 batch is as accurate as the peers' float32 torch code or better.
//!
//! - `groups.rs`: how samples form groups, and per-group statistics;
//! - `outcome.rs`: the sequence-level group estimators ([`GroupRule`], (B,));
//! - `token.rs`: (B, T) work: spreading, whitening, returns, GAE;
//! - here: the option types and the registry of estimator names
//!   ([`Estimator`], verl's `AdvantageEstimator` style) with
//!   [`compute_advantages`], which maps a name to token-level advantages in
//!   one call.
//!
//! The peers' formulas, cited per function: verl `verl/trainer/ppo/core_algos.py`
//! (0.9.1), TRL `trl/trainer/grpo_trainer.py::_generate_and_score_completions`
//! and `rloo_trainer.py` (1.16), OpenRLHF
//! `openrlhf/trainer/ppo_utils/experience_maker.py` (0.11). Where they disagree
//! the choice is an option ([`GroupOpts`]); the Python layer has presets.

use crate::error::named_enum;
use crate::Result;

mod groups;
mod outcome;
mod token;

pub use groups::dense_ids;
pub use outcome::group_advantages;
pub use token::{
    discounted_returns, gae, masked_whiten_inplace, to_token_level, MaskMode, WhitenOpts,
};

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

named_enum! {
    /// Which standard deviation divides the centred rewards in GRPO.
    pub enum Scale for "scale" {
        Group = "group",
        Batch = "batch",
        None = "none",
    }
}

named_enum! {
    /// What a group of exactly one sample gets.
    pub enum Singleton for "singleton" {
        /// Advantage 0 (TRL; verl's `rloo_vectorized`).
        Zero = "zero",
        /// Baseline 0 and group std 1: the raw reward passes through (verl's loops).
        NoBaseline = "no_baseline",
        /// The general formula with n = 1: 0/0 gives NaN where a std or an
        /// (n - 1) divisor is involved (OpenRLHF).
        Formula = "formula",
    }
}

named_enum! {
    /// What a NaN reward does.
    pub enum NanPolicy for "nan" {
        /// NaN rewards are missing: left out of every mean/std/count, and every
        /// advantage that comes out NaN becomes 0 (TRL's `nanmean`/`nanstd` +
        /// `nan_to_num`).
        Ignore = "ignore",
        /// NaN flows through the arithmetic (verl, OpenRLHF: they never expect it).
        Propagate = "propagate",
    }
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

/// A sequence-level group rule (what [`group_advantages`] computes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GroupRule {
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

// -- the registry of estimator names --------------------------------------------

named_enum! {
    /// Every estimator [`compute_advantages`] knows, by the name the Python
    /// layer, the binding and the training config use (verl's
    /// `AdvantageEstimator` names where verl has one). The one list of names:
    /// `Estimator::ALL`.
    pub enum Estimator for "estimator" {
        /// GRPO, std per [`AdvOpts::scale`].
        Grpo = "grpo",
        /// Dr. GRPO: GRPO without the std division (arXiv 2503.20783).
        DrGrpo = "dr_grpo",
        Rloo = "rloo",
        /// `r - mean_g` on every valid token, then whitened over the batch.
        ReinforcePpBaseline = "reinforce_pp_baseline",
        /// Each reward on its sequence's last valid token, discounted returns,
        /// whitened over the batch; ignores the groups.
        ReinforcePp = "reinforce_pp",
        Opo = "opo",
        Gpg = "gpg",
        GrpoPassk = "grpo_passk",
    }
}

impl Estimator {
    /// The sequence-level rule behind this estimator; `None` for the
    /// token-level `reinforce_pp`.
    pub fn group_rule(self, o: &AdvOpts) -> Option<GroupRule> {
        Some(match self {
            Estimator::Grpo => GroupRule::Grpo(o.scale),
            Estimator::DrGrpo => GroupRule::Grpo(Scale::None),
            Estimator::Rloo => GroupRule::Rloo,
            Estimator::ReinforcePpBaseline => GroupRule::MeanBaseline,
            Estimator::ReinforcePp => return None,
            Estimator::Opo => GroupRule::Opo,
            Estimator::Gpg => GroupRule::Gpg { f_norm: o.f_norm },
            Estimator::GrpoPassk => GroupRule::PassK {
                normalize: o.normalize,
            },
        })
    }
}

/// Everything [`compute_advantages`] may read; each estimator reads its part.
#[derive(Debug, Clone, Copy)]
pub struct AdvOpts {
    pub group: GroupOpts,
    /// `grpo`: which std divides.
    pub scale: Scale,
    /// `gpg`: the normaliser.
    pub f_norm: f64,
    /// `grpo_passk`: divide by the group std.
    pub normalize: bool,
    /// `reinforce_pp`: the discount.
    pub gamma: f64,
    /// `reinforce_pp`: how the returns treat masked tokens.
    pub mask_mode: MaskMode,
    /// `reinforce_pp`, `reinforce_pp_baseline`: the batch whitening (None: off).
    pub whiten: Option<WhitenOpts>,
}

impl Default for AdvOpts {
    fn default() -> Self {
        AdvOpts {
            group: GroupOpts::default(),
            scale: Scale::Group,
            f_norm: 1.0,
            normalize: true,
            gamma: 1.0,
            mask_mode: MaskMode::Skip,
            whiten: Some(WhitenOpts::default()),
        }
    }
}

/// Token-level advantages (B, T) for `est`, 0 at masked positions: the whole
/// estimator in one call (the Python `compute_advantages`).
///
/// `rewards` (B,) sequence-level; `mask` (B, T) 0/1, row-major; `groups` is
/// ignored by `reinforce_pp`. `opo` takes each response's length from the mask.
pub fn compute_advantages<T: Real>(
    est: Estimator,
    rewards: &[T],
    mask: &[u8],
    t: usize,
    groups: Groups<'_>,
    o: &AdvOpts,
    par: bool,
) -> Result<Vec<T>> {
    let b = rewards.len();
    token::check_2d("response_mask", mask.len(), b, t)?;
    let Some(rule) = est.group_rule(o) else {
        // the outcome reward sits on the last valid token (verl, OpenRLHF)
        let mut tok = vec![T::from_f64(0.0); b * t];
        if t > 0 {
            for (i, row) in mask.chunks(t).enumerate() {
                if let Some(k) = row.iter().rposition(|&m| m != 0) {
                    tok[i * t + k] = rewards[i];
                }
            }
        }
        let mut ret = discounted_returns(&tok, mask, t, o.gamma, o.mask_mode, par)?;
        if let Some(w) = &o.whiten {
            masked_whiten_inplace(&mut ret, mask, w, true, par)?;
        }
        return Ok(ret);
    };
    let lengths: Option<Vec<T>> = (rule == GroupRule::Opo).then(|| {
        if t == 0 {
            return vec![T::from_f64(0.0); b];
        }
        mask.chunks(t)
            .map(|row| T::from_f64(row.iter().filter(|&&m| m != 0).count() as f64))
            .collect()
    });
    let seq = group_advantages(rule, rewards, groups, lengths.as_deref(), &o.group, par)?;
    let mut tok = to_token_level(&seq, mask, t, par)?;
    if est == Estimator::ReinforcePpBaseline {
        if let Some(w) = &o.whiten {
            // Under NanPolicy::Ignore a NaN reward is missing: its tokens are
            // left out of the whitening (and come out 0).
            let nan_rows =
                o.group.nan == NanPolicy::Ignore && rewards.iter().any(|x| x.to_f64().is_nan());
            if nan_rows {
                let mut wm = mask.to_vec();
                for (row, x) in wm.chunks_mut(t.max(1)).zip(rewards) {
                    if x.to_f64().is_nan() {
                        row.fill(0);
                    }
                }
                masked_whiten_inplace(&mut tok, &wm, w, true, par)?;
            } else {
                masked_whiten_inplace(&mut tok, mask, w, true, par)?;
            }
        }
    }
    Ok(tok)
}

/// `a == b` up to rounding, NaN equal to NaN (the unit tests' comparison).
#[cfg(test)]
pub(crate) fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 + 1e-9 * y.abs(),
            "{a:?} vs {b:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_unknown_names_list_them() {
        for &e in Estimator::ALL {
            assert_eq!(e.name().parse::<Estimator>().unwrap(), e);
        }
        let err = "ppo".parse::<Estimator>().unwrap_err().to_string();
        assert!(
            err.starts_with("estimator:") && err.contains("grpo_passk"),
            "{err}"
        );
        assert!("kk".parse::<Scale>().is_err());
        assert_eq!(
            "no_baseline".parse::<Singleton>(),
            Ok(Singleton::NoBaseline)
        );
        assert_eq!("propagate".parse::<NanPolicy>(), Ok(NanPolicy::Propagate));
    }

    #[test]
    fn compute_advantages_composes_the_parts() {
        let r = [1.0, 0.0, 0.5, 0.5, 2.0, f64::NAN];
        let (b, t) = (6, 3);
        let mask: Vec<u8> = (0..b * t).map(|i| (i % t <= i / t % t) as u8).collect();
        let o = AdvOpts::default();
        let g = Groups::Size(2);
        for est in [Estimator::Grpo, Estimator::Rloo, Estimator::Gpg] {
            let seq = group_advantages(est.group_rule(&o).unwrap(), &r, g, None, &o.group, false)
                .unwrap();
            let want = to_token_level(&seq, &mask, t, false).unwrap();
            assert_eq!(
                compute_advantages(est, &r, &mask, t, g, &o, false).unwrap(),
                want
            );
        }
        // opo: lengths are the rows' valid-token counts
        let lens: Vec<f64> = mask
            .chunks(t)
            .map(|m| m.iter().map(|&x| x as f64).sum())
            .collect();
        let seq = group_advantages(GroupRule::Opo, &r, g, Some(&lens), &o.group, false).unwrap();
        let want = to_token_level(&seq, &mask, t, false).unwrap();
        assert_eq!(
            compute_advantages(Estimator::Opo, &r, &mask, t, g, &o, false).unwrap(),
            want
        );
        // reinforce_pp: reward on the last valid token, returns, whitening
        let r_ok: Vec<f64> = r
            .iter()
            .map(|x| if x.is_nan() { 0.0 } else { *x })
            .collect();
        let mut tok = vec![0.0; b * t];
        for i in 0..b {
            let last = (0..t).rev().find(|&k| mask[i * t + k] != 0).unwrap();
            tok[i * t + last] = r_ok[i];
        }
        let mut want = discounted_returns(&tok, &mask, t, 1.0, MaskMode::Skip, false).unwrap();
        masked_whiten_inplace(&mut want, &mask, &WhitenOpts::default(), true, false).unwrap();
        let got =
            compute_advantages(Estimator::ReinforcePp, &r_ok, &mask, t, g, &o, false).unwrap();
        assert_eq!(got, want);
        // reinforce_pp_baseline: the NaN row leaves the whitening and gets 0
        let got =
            compute_advantages(Estimator::ReinforcePpBaseline, &r, &mask, t, g, &o, false).unwrap();
        assert!(got[5 * t..].iter().all(|&x| x == 0.0));
        assert!(got.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn compute_advantages_checks_the_mask_shape() {
        let e = compute_advantages(
            Estimator::Grpo,
            &[1.0, 0.0],
            &[1, 1, 1],
            2,
            Groups::Size(2),
            &AdvOpts::default(),
            false,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("response_mask:"), "{e}");
    }
}
