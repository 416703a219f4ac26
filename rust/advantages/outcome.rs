//! Sequence-level (outcome) group estimators: one advantage per sample, (B,).
//!
//! The formulas per [`GroupRule`]; where the peers disagree on an edge case
//! the choice is a [`GroupOpts`] field. Each group is handled by one kernel
//! closure; groups of exactly one sample go through [`one_sample`] first.

use super::groups::{batch_std, for_each_group, layout, stats, std_of, Layout};
use super::{GroupOpts, GroupRule, Groups, NanPolicy, Real, Scale, Singleton};
use crate::{Error, Result};

/// Finish one value: NaN becomes 0 when NaN rewards are ignored (TRL's
/// `nan_to_num`), else it is kept.
#[inline(always)]
fn fin<T: Real, const IGNORE: bool>(x: f64) -> T {
    if IGNORE && x.is_nan() {
        T::from_f64(0.0)
    } else {
        T::from_f64(x)
    }
}

/// A group of exactly one sample, unless `singleton` is `Formula` (then the
/// general formula runs with n = 1). `Zero` gives 0 (0 * x, so a NaN reward
/// stays NaN before [`fin`]); `NoBaseline` gives `no_baseline(x)`: the raw
/// reward through the estimator's own scaling (baseline 0, group std 1).
/// Returns whether the group was handled.
#[inline(always)]
fn one_sample<T: Real, const IGNORE: bool>(
    r: &[T],
    out: &mut [T],
    singleton: Singleton,
    no_baseline: impl Fn(f64) -> f64,
) -> bool {
    if r.len() != 1 || singleton == Singleton::Formula {
        return false;
    }
    let x = r[0].to_f64();
    out[0] = fin::<T, IGNORE>(match singleton {
        Singleton::Zero => 0.0 * x,
        _ => no_baseline(x),
    });
    true
}

/// Sequence-level advantages `(B,)` for one of the group estimators.
///
/// `lengths` (response lengths) is needed by [`GroupRule::Opo`] only.
pub fn group_advantages<T: Real>(
    rule: GroupRule,
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
    if let GroupRule::Gpg { f_norm } = rule {
        if !(f_norm.is_finite() && f_norm != 0.0) {
            return Err(Error::value(
                "f_norm",
                format!("must be finite and nonzero, got {f_norm}"),
            ));
        }
    }
    let lay = layout(groups, n)?;
    if o.nan == NanPolicy::Ignore {
        run_rule::<T, true>(rule, rewards, groups, &lay, lengths, o, par)
    } else {
        run_rule::<T, false>(rule, rewards, groups, &lay, lengths, o, par)
    }
}

// IGNORE as a const parameter: the NaN tests vanish from the hot loops of the
// Propagate variant (measured ~10% of GRPO's time).
fn run_rule<T: Real, const IGNORE: bool>(
    rule: GroupRule,
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
    let fin = fin::<T, IGNORE>;
    let o = *o;
    match rule {
        GroupRule::Grpo(_) | GroupRule::MeanBaseline => {
            let scale = match rule {
                GroupRule::Grpo(s) => s,
                _ => Scale::None,
            };
            let bstd = if scale == Scale::Batch {
                batch_std(rewards, &o)
            } else {
                f64::NAN
            };
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                let no_baseline = |x: f64| match scale {
                    Scale::Group => x / (1.0 + o.eps),
                    Scale::Batch => x / (bstd + o.eps),
                    Scale::None => x,
                };
                if one_sample::<T, IGNORE>(r, out, o.singleton, no_baseline) {
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
        GroupRule::Rloo => {
            for_each_group(rewards, None, lay, par, &mut out, |r, _, out| {
                if one_sample::<T, IGNORE>(r, out, o.singleton, |x| x) {
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
        GroupRule::Opo => {
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
                if one_sample::<T, IGNORE>(r, out, o.singleton, |x| x) {
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
        GroupRule::Gpg { f_norm } => {
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
                if one_sample::<T, IGNORE>(r, out, o.singleton, |x| c * x) {
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
        GroupRule::PassK { normalize } => {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::advantages::assert_close as close;

    #[test]
    fn grpo_by_hand() {
        let r = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let o = GroupOpts {
            eps: 0.0,
            ..Default::default()
        };
        let a = group_advantages(
            GroupRule::Grpo(Scale::Group),
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
            GroupRule::Grpo(Scale::Group),
            GroupRule::Rloo,
            GroupRule::Gpg { f_norm: 1.0 },
            GroupRule::PassK { normalize: true },
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
            GroupRule::Rloo,
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
        let dr_grpo = |r: &[f64], g: usize, o: &GroupOpts| {
            let rule = GroupRule::Grpo(Scale::None);
            group_advantages(rule, r, Groups::Size(g), None, o, false).unwrap()
        };
        let mut o = GroupOpts {
            singleton: Singleton::NoBaseline,
            ..Default::default()
        };
        close(&dr_grpo(&r[..1], 1, &o), &[3.0]);
        o.singleton = Singleton::Zero;
        // group {NaN, 1, 2}-style: NaN left out of the mean, its advantage 0
        close(&dr_grpo(&r[1..], 3, &o), &[0.0, -0.5, 0.5]);
        o.nan = NanPolicy::Propagate;
        assert!(dr_grpo(&r[1..], 3, &o).iter().all(|x| x.is_nan()));
        // one shared branch for groups of one: every rule, both singletons
        for rule in [
            GroupRule::Grpo(Scale::Group),
            GroupRule::Rloo,
            GroupRule::MeanBaseline,
            GroupRule::Gpg { f_norm: 2.0 },
        ] {
            let lens = [1.0, 1.0];
            let mut o = GroupOpts::default();
            let a = group_advantages(rule, &[3.0, 1.0], Groups::Size(1), Some(&lens), &o, false);
            assert_eq!(a.unwrap(), [0.0, 0.0], "{rule:?}");
            o.singleton = Singleton::NoBaseline;
            let a = group_advantages(rule, &[3.0, 1.0], Groups::Size(1), Some(&lens), &o, false);
            let a = a.unwrap();
            assert!(a[0] > 0.0 && a[1] > 0.0 && a[0] > a[1], "{rule:?}: {a:?}");
        }
    }

    #[test]
    fn bad_groups_name_the_argument() {
        let r = [1.0f64; 5];
        let o = GroupOpts::default();
        let e =
            group_advantages(GroupRule::Rloo, &r, Groups::Size(2), None, &o, false).unwrap_err();
        assert!(e.to_string().starts_with("group_size:"));
        let e =
            group_advantages(GroupRule::Rloo, &r, Groups::Size(0), None, &o, false).unwrap_err();
        assert!(e.to_string().starts_with("group_size:"));
        let e = group_advantages(GroupRule::Rloo, &r, Groups::Index(&[1, 2]), None, &o, false)
            .unwrap_err();
        assert!(e.to_string().starts_with("index:"));
        let e = group_advantages(
            GroupRule::PassK { normalize: false },
            &r,
            Groups::Index(&[1, 1, 2, 2, 3]),
            None,
            &o,
            false,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("index:"));
    }
}
