//! Bindings for `crate::advantages`: read the arrays ([`super::arrays`]),
//! parse the option names (the core's `FromStr`s), run the core with the GIL
//! released, return owned arrays. Users call `postcouple.advantages`.

use super::arrays::{array, dims2, non_negative, same_dims, with_float, Arr1, Arr2};
use crate::advantages::{
    self as core, AdvOpts, Estimator, GroupOpts, Groups, MaskMode, Real, WhitenOpts,
};
use crate::Error;
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray};
use pyo3::prelude::*;

type Any<'py> = Bound<'py, PyAny>;

/// The (B, T) 0/1 mask, as uint8 (the wrapper converts bool/int masks).
fn mask<'py>(x: &Any<'py>) -> PyResult<Arr2<'py, u8>> {
    array(x, "response_mask")
}

/// `(B, T)` vector into a numpy array.
fn out2<'py, T: Element>(py: Python<'py>, shape: (usize, usize), v: Vec<T>) -> Any<'py> {
    Array2::from_shape_vec(shape, v)
        .expect("the core checked the shape")
        .into_pyarray(py)
        .into_any()
}

fn whiten_opts(unbiased: bool, eps: f64, clamp: bool) -> WhitenOpts {
    WhitenOpts {
        shift_mean: true,
        unbiased,
        eps,
        clamp,
    }
}

fn mask_mode(skip_masked: bool) -> MaskMode {
    if skip_masked {
        MaskMode::Skip
    } else {
        MaskMode::Zero
    }
}

/// `group_size` or `index` (int64 ids), exactly one.
fn groups<'a>(group_size: Option<i64>, index: Option<&'a Arr1<'_, i64>>) -> PyResult<Groups<'a>> {
    match (group_size, index) {
        (Some(_), Some(_)) => {
            Err(Error::value("group_size", "give group_size or index, not both").into())
        }
        (None, None) => Err(Error::value(
            "group_size",
            "give group_size (contiguous groups) or index (ids)",
        )
        .into()),
        (Some(g), None) => Ok(Groups::Size(non_negative("group_size", g)?)),
        (None, Some(i)) => Ok(Groups::Index(i.slice())),
    }
}

/// The arrays of one `compute_advantages` call.
struct AdvArgs<'a, 'py> {
    rewards: &'a Any<'py>,
    response_mask: Option<&'a Any<'py>>,
    group_size: Option<i64>,
    index: Option<&'a Any<'py>>,
    lengths: Option<&'a Any<'py>>,
}

fn compute_typed<'py, T: Real + Element>(
    py: Python<'py>,
    est: Estimator,
    a: AdvArgs<'_, 'py>,
    o: AdvOpts,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let r = array::<T, numpy::Ix1>(a.rewards, "rewards")?;
    let idx = a.index.map(|i| array(i, "index")).transpose()?;
    let Some(response_mask) = a.response_mask else {
        // sequence level (B,): a group estimator's rule on the rewards
        let g = groups(a.group_size, idx.as_ref())?;
        let len = a
            .lengths
            .map(|l| array::<T, numpy::Ix1>(l, "lengths"))
            .transpose()?;
        let rule = est.group_rule(&o).ok_or_else(|| {
            Error::value(
                "estimator",
                "reinforce_pp is token-level: give response_mask",
            )
        })?;
        let (rs, ls) = (r.slice(), len.as_ref().map(|l| l.slice()));
        let out = super::detach(py, || {
            core::group_advantages(rule, rs, g, ls, &o.group, parallel)
        })?;
        return Ok(out.into_pyarray(py).into_any());
    };
    if a.lengths.is_some() {
        return Err(Error::value(
            "lengths",
            "only without response_mask (the token level reads them off the mask)",
        )
        .into());
    }
    let m = mask(response_mask)?;
    // reinforce_pp ignores the groups: none given is fine there
    let g = match (est, a.group_size, &idx) {
        (Estimator::ReinforcePp, None, None) => Groups::Size(1),
        _ => groups(a.group_size, idx.as_ref())?,
    };
    let shape = dims2(&m);
    let (rs, ms) = (r.slice(), m.slice());
    let out = super::detach(py, || {
        core::compute_advantages(est, rs, ms, shape.1, g, &o, parallel)
    })?;
    Ok(out2(py, shape, out))
}

/// Advantages for any estimator name, in one call: token-level (B, T) when
/// `response_mask` is given, else a group estimator's sequence-level (B,).
#[pyfunction]
#[pyo3(signature = (estimator, rewards, response_mask=None, *, group_size=None, index=None,
    lengths=None, eps=1e-6, unbiased=true, singleton="zero", nan="ignore", equal_zero=true,
    scale="group", f_norm=1.0, normalize=true, gamma=1.0, skip_masked=true, whiten=true,
    whiten_unbiased=true, whiten_clamp=false, parallel=false))]
#[allow(clippy::too_many_arguments)]
pub(super) fn compute_advantages<'py>(
    py: Python<'py>,
    estimator: &str,
    rewards: &Any<'py>,
    response_mask: Option<&Any<'py>>,
    group_size: Option<i64>,
    index: Option<&Any<'py>>,
    lengths: Option<&Any<'py>>,
    eps: f64,
    unbiased: bool,
    singleton: &str,
    nan: &str,
    equal_zero: bool,
    scale: &str,
    f_norm: f64,
    normalize: bool,
    gamma: f64,
    skip_masked: bool,
    whiten: bool,
    whiten_unbiased: bool,
    whiten_clamp: bool,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let est: Estimator = estimator.parse()?;
    let o = AdvOpts {
        group: GroupOpts {
            eps,
            unbiased,
            singleton: singleton.parse()?,
            nan: nan.parse()?,
            equal_zero,
        },
        scale: scale.parse()?,
        f_norm,
        normalize,
        gamma,
        mask_mode: mask_mode(skip_masked),
        whiten: whiten.then(|| whiten_opts(whiten_unbiased, 1e-8, whiten_clamp)),
    };
    let a = AdvArgs {
        rewards,
        response_mask,
        group_size,
        index,
        lengths,
    };
    with_float!(rewards, "rewards", 1, T => compute_typed::<T>(py, est, a, o, parallel))
}

fn whiten_typed<'py, T: Real + Element>(
    py: Python<'py>,
    values: &Any<'py>,
    response_mask: &Any<'py>,
    o: WhitenOpts,
    zero_masked: bool,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let v = array::<T, numpy::Ix2>(values, "values")?;
    let m = mask(response_mask)?;
    same_dims("response_mask", dims2(&m), dims2(&v), "values")?;
    let (vs, ms) = (v.slice(), m.slice());
    let out = super::detach(py, || {
        let mut out = vs.to_vec();
        core::masked_whiten_inplace(&mut out, ms, &o, zero_masked, parallel)?;
        Ok(out)
    })?;
    Ok(out2(py, dims2(&v), out))
}

/// Whiten `values` (B, T) over `response_mask != 0`.
#[pyfunction]
#[pyo3(signature = (values, response_mask, *, shift_mean=true, unbiased=true, eps=1e-8,
    clamp=false, zero_masked=false, parallel=false))]
#[allow(clippy::too_many_arguments)]
pub(super) fn masked_whiten<'py>(
    py: Python<'py>,
    values: &Any<'py>,
    response_mask: &Any<'py>,
    shift_mean: bool,
    unbiased: bool,
    eps: f64,
    clamp: bool,
    zero_masked: bool,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let o = WhitenOpts {
        shift_mean,
        ..whiten_opts(unbiased, eps, clamp)
    };
    with_float!(values, "values", 2, T => whiten_typed::<T>(
        py, values, response_mask, o, zero_masked, parallel
    ))
}

fn token_typed<'py, T: Real + Element>(
    py: Python<'py>,
    advantages: &Any<'py>,
    response_mask: &Any<'py>,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let a = array::<T, numpy::Ix1>(advantages, "advantages")?;
    let m = mask(response_mask)?;
    let shape = dims2(&m);
    let (asl, ms) = (a.slice(), m.slice());
    let out = super::detach(py, || core::to_token_level(asl, ms, shape.1, parallel))?;
    Ok(out2(py, shape, out))
}

/// `advantages[:, None] * (response_mask != 0)`, (B, T).
#[pyfunction]
#[pyo3(signature = (advantages, response_mask, *, parallel=false))]
pub(super) fn to_token_level<'py>(
    py: Python<'py>,
    advantages: &Any<'py>,
    response_mask: &Any<'py>,
    parallel: bool,
) -> PyResult<Any<'py>> {
    with_float!(advantages, "advantages", 1, T => token_typed::<T>(
        py, advantages, response_mask, parallel
    ))
}

fn returns_typed<'py, T: Real + Element>(
    py: Python<'py>,
    rewards: &Any<'py>,
    response_mask: &Any<'py>,
    gamma: f64,
    mode: MaskMode,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let r = array::<T, numpy::Ix2>(rewards, "token_level_rewards")?;
    let m = mask(response_mask)?;
    let shape = dims2(&r);
    same_dims("response_mask", dims2(&m), shape, "token_level_rewards")?;
    let (rs, ms) = (r.slice(), m.slice());
    let out = super::detach(py, || {
        core::discounted_returns(rs, ms, shape.1, gamma, mode, parallel)
    })?;
    Ok(out2(py, shape, out))
}

/// Discounted reward-to-go (B, T); 0 at masked positions.
#[pyfunction]
#[pyo3(signature = (token_level_rewards, response_mask, gamma, *, skip_masked=true, parallel=false))]
pub(super) fn discounted_returns<'py>(
    py: Python<'py>,
    token_level_rewards: &Any<'py>,
    response_mask: &Any<'py>,
    gamma: f64,
    skip_masked: bool,
    parallel: bool,
) -> PyResult<Any<'py>> {
    let mode = mask_mode(skip_masked);
    with_float!(token_level_rewards, "token_level_rewards", 2, T => returns_typed::<T>(
        py, token_level_rewards, response_mask, gamma, mode, parallel
    ))
}

type Pair<'py> = (Any<'py>, Any<'py>);

#[allow(clippy::too_many_arguments)]
fn gae_typed<'py, T: Real + Element>(
    py: Python<'py>,
    rewards: &Any<'py>,
    values: &Any<'py>,
    response_mask: &Any<'py>,
    gamma: f64,
    lam: f64,
    mode: MaskMode,
    whiten: Option<WhitenOpts>,
    parallel: bool,
) -> PyResult<Pair<'py>> {
    let r = array::<T, numpy::Ix2>(rewards, "token_level_rewards")?;
    let v = array::<T, numpy::Ix2>(values, "values")?;
    let m = mask(response_mask)?;
    let shape = dims2(&r);
    same_dims("values", dims2(&v), shape, "token_level_rewards")?;
    same_dims("response_mask", dims2(&m), shape, "token_level_rewards")?;
    let (rs, vs, ms) = (r.slice(), v.slice(), m.slice());
    let (a, ret) = super::detach(py, || {
        core::gae(
            rs,
            vs,
            ms,
            shape.1,
            gamma,
            lam,
            mode,
            whiten.as_ref(),
            parallel,
        )
    })?;
    Ok((out2(py, shape, a), out2(py, shape, ret)))
}

/// GAE `(advantages, returns)`, both (B, T).
#[pyfunction]
#[pyo3(signature = (token_level_rewards, values, response_mask, gamma, lam, *, skip_masked=true,
    whiten=true, unbiased=true, eps=1e-8, clamp=false, parallel=false))]
#[allow(clippy::too_many_arguments)]
pub(super) fn gae<'py>(
    py: Python<'py>,
    token_level_rewards: &Any<'py>,
    values: &Any<'py>,
    response_mask: &Any<'py>,
    gamma: f64,
    lam: f64,
    skip_masked: bool,
    whiten: bool,
    unbiased: bool,
    eps: f64,
    clamp: bool,
    parallel: bool,
) -> PyResult<Pair<'py>> {
    let w = whiten.then(|| whiten_opts(unbiased, eps, clamp));
    let mode = mask_mode(skip_masked);
    // `values` must have the rewards' dtype: `array::<T>` below says so
    with_float!(token_level_rewards, "token_level_rewards", 2, T => gae_typed::<T>(
        py, token_level_rewards, values, response_mask, gamma, lam, mode, w, parallel
    ))
}

/// The estimator names (the core's one list), exported as `ESTIMATORS`.
pub(super) fn constants(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let names: Vec<&str> = Estimator::ALL.iter().map(|e| e.name()).collect();
    m.add("ESTIMATORS", pyo3::types::PyTuple::new(m.py(), names)?)
}
