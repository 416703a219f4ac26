//! Bindings for `crate::advantages`: dtype/shape/contiguity checks, then the
//! pure core with the GIL released. Users call `postcouple.advantages`.

use crate::advantages::{
    self as core, Estimator, GroupOpts, Groups, MaskMode, NanPolicy, Real, Scale, Singleton,
    WhitenOpts,
};
use crate::Error;
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// Which float dtype an argument has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dt {
    F32,
    F64,
}

fn dtype_name(x: &Bound<'_, PyAny>) -> String {
    x.getattr("dtype")
        .and_then(|d| d.str().map(|s| s.to_string()))
        .unwrap_or_else(|_| {
            x.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

fn float_kind(x: &Bound<'_, PyAny>, name: &'static str, ndim: usize) -> PyResult<Dt> {
    let ok32 = match ndim {
        1 => x.cast::<PyArray1<f32>>().is_ok(),
        _ => x.cast::<PyArray2<f32>>().is_ok(),
    };
    let ok64 = match ndim {
        1 => x.cast::<PyArray1<f64>>().is_ok(),
        _ => x.cast::<PyArray2<f64>>().is_ok(),
    };
    if ok32 {
        return Ok(Dt::F32);
    }
    if ok64 {
        return Ok(Dt::F64);
    }
    if let Ok(a) = x.getattr("ndim").and_then(|d| d.extract::<usize>()) {
        if a != ndim && (x.cast::<numpy::PyUntypedArray>().is_ok()) {
            return Err(Error::value(name, format!("expected a {ndim}-D array, got {a}-D")).into());
        }
    }
    Err(Error::type_(
        name,
        format!(
            "expected a {ndim}-D float32 or float64 numpy array, got {}",
            dtype_name(x)
        ),
    )
    .into())
}

fn slice1<'a, T: Element>(
    a: &'a numpy::PyReadonlyArray1<'_, T>,
    name: &'static str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| Error::value(name, "must be C-contiguous").into())
}

fn slice2<'a, T: Element>(
    a: &'a numpy::PyReadonlyArray2<'_, T>,
    name: &'static str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| Error::value(name, "must be C-contiguous").into())
}

fn arr1<'py, T: Element>(
    x: &Bound<'py, PyAny>,
    name: &'static str,
) -> PyResult<numpy::PyReadonlyArray1<'py, T>> {
    let a = x.cast::<PyArray1<T>>().map_err(|_| {
        PyErr::from(Error::type_(
            name,
            format!(
                "expected a 1-D {} array, got {}",
                std::any::type_name::<T>(),
                dtype_name(x)
            ),
        ))
    })?;
    Ok(a.readonly())
}

fn arr2<'py, T: Element>(
    x: &Bound<'py, PyAny>,
    name: &'static str,
) -> PyResult<numpy::PyReadonlyArray2<'py, T>> {
    let a = x.cast::<PyArray2<T>>().map_err(|_| {
        PyErr::from(Error::type_(
            name,
            format!(
                "expected a 2-D {} array, got {}",
                std::any::type_name::<T>(),
                dtype_name(x)
            ),
        ))
    })?;
    Ok(a.readonly())
}

/// The (B, T) 0/1 mask, as uint8 (the wrapper converts bool/int masks).
fn mask2<'py>(
    x: &Bound<'py, PyAny>,
    shape: (usize, usize),
) -> PyResult<numpy::PyReadonlyArray2<'py, u8>> {
    let m = arr2::<u8>(x, "response_mask")?;
    let s = m.shape();
    if (s[0], s[1]) != shape {
        return Err(Error::value(
            "response_mask",
            format!(
                "has shape ({}, {}), expected ({}, {})",
                s[0], s[1], shape.0, shape.1
            ),
        )
        .into());
    }
    Ok(m)
}

fn group_opts(
    eps: f64,
    unbiased: bool,
    singleton: &str,
    nan: &str,
    equal_zero: bool,
) -> PyResult<GroupOpts> {
    let singleton = match singleton {
        "zero" => Singleton::Zero,
        "no_baseline" => Singleton::NoBaseline,
        "formula" => Singleton::Formula,
        s => {
            return Err(Error::value(
                "singleton",
                format!("expected 'zero', 'no_baseline' or 'formula', got {s:?}"),
            )
            .into())
        }
    };
    let nan = match nan {
        "ignore" => NanPolicy::Ignore,
        "propagate" => NanPolicy::Propagate,
        s => {
            return Err(Error::value(
                "nan",
                format!("expected 'ignore' or 'propagate', got {s:?}"),
            )
            .into())
        }
    };
    Ok(GroupOpts {
        eps,
        unbiased,
        singleton,
        nan,
        equal_zero,
    })
}

fn estimator(name: &str, scale: &str, f_norm: f64, normalize: bool) -> PyResult<Estimator> {
    let scale = match scale {
        "group" => Scale::Group,
        "batch" => Scale::Batch,
        "none" => Scale::None,
        s => {
            return Err(Error::value(
                "scale",
                format!("expected 'group', 'batch' or 'none', got {s:?}"),
            )
            .into())
        }
    };
    Ok(match name {
        "grpo" => Estimator::Grpo(scale),
        "rloo" => Estimator::Rloo,
        "mean_baseline" => Estimator::MeanBaseline,
        "opo" => Estimator::Opo,
        "gpg" => {
            if !(f_norm.is_finite() && f_norm != 0.0) {
                return Err(Error::value(
                    "f_norm",
                    format!("must be finite and nonzero, got {f_norm}"),
                )
                .into());
            }
            Estimator::Gpg { f_norm }
        }
        "grpo_passk" => Estimator::PassK { normalize },
        s => {
            return Err(Error::value(
                "estimator",
                format!(
                    "expected one of grpo, rloo, mean_baseline, opo, gpg, grpo_passk; got {s:?}"
                ),
            )
            .into())
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn group_typed<'py, T: Real + Element>(
    py: Python<'py>,
    est: Estimator,
    rewards: &Bound<'py, PyAny>,
    group_size: Option<i64>,
    index: Option<&Bound<'py, PyAny>>,
    lengths: Option<&Bound<'py, PyAny>>,
    o: GroupOpts,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let r = arr1::<T>(rewards, "rewards")?;
    let rs = slice1(&r, "rewards")?;
    let idx = match index {
        Some(i) => Some(arr1::<i64>(i, "index")?),
        None => None,
    };
    let idx_s = match &idx {
        Some(i) => Some(slice1(i, "index")?),
        None => None,
    };
    let groups = match (group_size, idx_s) {
        (Some(_), Some(_)) => {
            return Err(Error::value("group_size", "give group_size or index, not both").into())
        }
        (None, None) => {
            return Err(Error::value("group_size", "give group_size or index").into());
        }
        (Some(g), None) => {
            if g < 1 {
                return Err(Error::value("group_size", format!("must be >= 1, got {g}")).into());
            }
            Groups::Size(g as usize)
        }
        (None, Some(i)) => Groups::Index(i),
    };
    let len = match lengths {
        Some(l) => Some(arr1::<T>(l, "lengths")?),
        None => None,
    };
    let len_s = match &len {
        Some(l) => Some(slice1(l, "lengths")?),
        None => None,
    };
    let out = crate::py::detach(py, || {
        core::group_advantages(est, rs, groups, len_s, &o, parallel)
    })?;
    Ok(out.into_pyarray(py).into_any())
}

/// Sequence-level group advantages (B,) for `estimator`.
#[pyfunction]
#[pyo3(signature = (estimator, rewards, *, group_size=None, index=None, lengths=None, eps=1e-6,
    unbiased=true, singleton="zero", nan="ignore", equal_zero=true, scale="group", f_norm=1.0,
    normalize=true, parallel=false))]
#[allow(clippy::too_many_arguments)]
fn group_advantages<'py>(
    py: Python<'py>,
    estimator: &str,
    rewards: &Bound<'py, PyAny>,
    group_size: Option<i64>,
    index: Option<&Bound<'py, PyAny>>,
    lengths: Option<&Bound<'py, PyAny>>,
    eps: f64,
    unbiased: bool,
    singleton: &str,
    nan: &str,
    equal_zero: bool,
    scale: &str,
    f_norm: f64,
    normalize: bool,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let est = self::estimator(estimator, scale, f_norm, normalize)?;
    let o = group_opts(eps, unbiased, singleton, nan, equal_zero)?;
    match float_kind(rewards, "rewards", 1)? {
        Dt::F32 => group_typed::<f32>(py, est, rewards, group_size, index, lengths, o, parallel),
        Dt::F64 => group_typed::<f64>(py, est, rewards, group_size, index, lengths, o, parallel),
    }
}

fn whiten_opts(shift_mean: bool, unbiased: bool, eps: f64, clamp: bool) -> PyResult<WhitenOpts> {
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::value("eps", format!("must be finite and >= 0, got {eps}")).into());
    }
    Ok(WhitenOpts {
        shift_mean,
        unbiased,
        eps,
        clamp,
    })
}

fn shape2(x: &Bound<'_, PyAny>) -> (usize, usize) {
    let a = x.cast::<numpy::PyUntypedArray>().expect("checked array");
    let s = a.shape();
    (s[0], s[1])
}

fn whiten_typed<'py, T: Real + Element>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    o: WhitenOpts,
    zero_masked: bool,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let v = arr2::<T>(values, "values")?;
    let shape = shape2(values);
    let vs = slice2(&v, "values")?;
    let m = mask2(mask, shape)?;
    let ms = slice2(&m, "response_mask")?;
    let out = crate::py::detach(py, || {
        let mut out = vs.to_vec();
        core::masked_whiten_inplace(&mut out, ms, &o, zero_masked, parallel)?;
        Ok(out)
    })?;
    let a = Array2::from_shape_vec(shape, out).expect("length checked");
    Ok(a.into_pyarray(py).into_any())
}

/// Whiten `values` (B, T) over `response_mask != 0`.
#[pyfunction]
#[pyo3(signature = (values, response_mask, *, shift_mean=true, unbiased=true, eps=1e-8,
    clamp=false, zero_masked=false, parallel=false))]
#[allow(clippy::too_many_arguments)]
fn masked_whiten<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    response_mask: &Bound<'py, PyAny>,
    shift_mean: bool,
    unbiased: bool,
    eps: f64,
    clamp: bool,
    zero_masked: bool,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let o = whiten_opts(shift_mean, unbiased, eps, clamp)?;
    match float_kind(values, "values", 2)? {
        Dt::F32 => whiten_typed::<f32>(py, values, response_mask, o, zero_masked, parallel),
        Dt::F64 => whiten_typed::<f64>(py, values, response_mask, o, zero_masked, parallel),
    }
}

fn token_typed<'py, T: Real + Element>(
    py: Python<'py>,
    adv: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let a = arr1::<T>(adv, "advantages")?;
    let asl = slice1(&a, "advantages")?;
    let mshape = {
        let m = arr2::<u8>(mask, "response_mask")?;
        let s = m.shape();
        (s[0], s[1])
    };
    if mshape.0 != asl.len() {
        return Err(Error::value(
            "response_mask",
            format!("has {} rows but advantages has {}", mshape.0, asl.len()),
        )
        .into());
    }
    let m = mask2(mask, mshape)?;
    let ms = slice2(&m, "response_mask")?;
    let t = mshape.1;
    let out = crate::py::detach(py, || core::to_token_level(asl, ms, t, parallel))?;
    let a = Array2::from_shape_vec(mshape, out).expect("length checked");
    Ok(a.into_pyarray(py).into_any())
}

/// `advantages[:, None] * (response_mask != 0)`, (B, T).
#[pyfunction]
#[pyo3(signature = (advantages, response_mask, *, parallel=false))]
fn to_token_level<'py>(
    py: Python<'py>,
    advantages: &Bound<'py, PyAny>,
    response_mask: &Bound<'py, PyAny>,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    match float_kind(advantages, "advantages", 1)? {
        Dt::F32 => token_typed::<f32>(py, advantages, response_mask, parallel),
        Dt::F64 => token_typed::<f64>(py, advantages, response_mask, parallel),
    }
}

fn mask_mode(skip_masked: bool) -> MaskMode {
    if skip_masked {
        MaskMode::Skip
    } else {
        MaskMode::Zero
    }
}

fn returns_typed<'py, T: Real + Element>(
    py: Python<'py>,
    rewards: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    gamma: f64,
    skip_masked: bool,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let r = arr2::<T>(rewards, "token_level_rewards")?;
    let shape = shape2(rewards);
    let rs = slice2(&r, "token_level_rewards")?;
    let m = mask2(mask, shape)?;
    let ms = slice2(&m, "response_mask")?;
    let out = crate::py::detach(py, || {
        core::discounted_returns(rs, ms, shape.1, gamma, mask_mode(skip_masked), parallel)
    })?;
    let a = Array2::from_shape_vec(shape, out).expect("length checked");
    Ok(a.into_pyarray(py).into_any())
}

/// Discounted reward-to-go (B, T); 0 at masked positions.
#[pyfunction]
#[pyo3(signature = (token_level_rewards, response_mask, gamma, *, skip_masked=true, parallel=false))]
fn discounted_returns<'py>(
    py: Python<'py>,
    token_level_rewards: &Bound<'py, PyAny>,
    response_mask: &Bound<'py, PyAny>,
    gamma: f64,
    skip_masked: bool,
    parallel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    match float_kind(token_level_rewards, "token_level_rewards", 2)? {
        Dt::F32 => returns_typed::<f32>(
            py,
            token_level_rewards,
            response_mask,
            gamma,
            skip_masked,
            parallel,
        ),
        Dt::F64 => returns_typed::<f64>(
            py,
            token_level_rewards,
            response_mask,
            gamma,
            skip_masked,
            parallel,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn gae_typed<'py, T: Real + Element>(
    py: Python<'py>,
    rewards: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    gamma: f64,
    lam: f64,
    skip_masked: bool,
    whiten: Option<WhitenOpts>,
    parallel: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let r = arr2::<T>(rewards, "token_level_rewards")?;
    let shape = shape2(rewards);
    let rs = slice2(&r, "token_level_rewards")?;
    let v = arr2::<T>(values, "values")?;
    if shape2(values) != shape {
        let s = shape2(values);
        return Err(Error::value(
            "values",
            format!(
                "has shape ({}, {}), expected ({}, {})",
                s.0, s.1, shape.0, shape.1
            ),
        )
        .into());
    }
    let vs = slice2(&v, "values")?;
    let m = mask2(mask, shape)?;
    let ms = slice2(&m, "response_mask")?;
    let (a, ret) = crate::py::detach(py, || {
        core::gae(
            rs,
            vs,
            ms,
            shape.1,
            gamma,
            lam,
            mask_mode(skip_masked),
            whiten.as_ref(),
            parallel,
        )
    })?;
    let a = Array2::from_shape_vec(shape, a).expect("length checked");
    let ret = Array2::from_shape_vec(shape, ret).expect("length checked");
    Ok((
        a.into_pyarray(py).into_any(),
        ret.into_pyarray(py).into_any(),
    ))
}

/// GAE `(advantages, returns)`, both (B, T).
#[pyfunction]
#[pyo3(signature = (token_level_rewards, values, response_mask, gamma, lam, *, skip_masked=true,
    whiten=true, unbiased=true, eps=1e-8, clamp=false, parallel=false))]
#[allow(clippy::too_many_arguments)]
fn gae<'py>(
    py: Python<'py>,
    token_level_rewards: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    response_mask: &Bound<'py, PyAny>,
    gamma: f64,
    lam: f64,
    skip_masked: bool,
    whiten: bool,
    unbiased: bool,
    eps: f64,
    clamp: bool,
    parallel: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let w = if whiten {
        Some(whiten_opts(true, unbiased, eps, clamp)?)
    } else {
        None
    };
    let dt = float_kind(token_level_rewards, "token_level_rewards", 2)?;
    if float_kind(values, "values", 2)? != dt {
        return Err(Error::type_(
            "values",
            format!(
                "dtype {} differs from token_level_rewards' {}",
                dtype_name(values),
                dtype_name(token_level_rewards)
            ),
        )
        .into());
    }
    match dt {
        Dt::F32 => gae_typed::<f32>(
            py,
            token_level_rewards,
            values,
            response_mask,
            gamma,
            lam,
            skip_masked,
            w,
            parallel,
        ),
        Dt::F64 => gae_typed::<f64>(
            py,
            token_level_rewards,
            values,
            response_mask,
            gamma,
            lam,
            skip_masked,
            w,
            parallel,
        ),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_advantages, m)?)?;
    m.add_function(wrap_pyfunction!(masked_whiten, m)?)?;
    m.add_function(wrap_pyfunction!(to_token_level, m)?)?;
    m.add_function(wrap_pyfunction!(discounted_returns, m)?)?;
    m.add_function(wrap_pyfunction!(gae, m)?)?;
    Ok(())
}
