//! Token-level work on (B, T) arrays: spreading sequence advantages over the
//! valid tokens, masked whitening, discounted returns (REINFORCE++, ReMax) and
//! GAE. Masks are 0/1 `u8` of the same shape; masked positions come out 0
//! (except `masked_whiten` without `zero_masked`, which maps every position).

use super::groups::PAR_BLOCK;
use super::Real;
use crate::{Error, Result};
use rayon::prelude::*;

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

pub(super) fn check_2d(name: &'static str, len: usize, b: usize, t: usize) -> Result<()> {
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
    if !(o.eps.is_finite() && o.eps >= 0.0) {
        return Err(Error::value(
            "eps",
            format!("must be finite and >= 0, got {}", o.eps),
        ));
    }
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

    use crate::advantages::assert_close as close;

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
        let n: usize = 200_000;
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
