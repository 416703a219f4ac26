//! Bindings for `crate::rewards`. Strings are copied out of Python first
//! (lossily: a lone surrogate becomes U+FFFD, so hostile text is still scored),
//! then scored with the GIL released. Users call `postcouple.rewards`.

use super::arrays::{array, text, texts};
use crate::rewards::{self as core, format, latex, Fallback, Mode, Opts};
use crate::Error;
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

type F32s<'py> = Bound<'py, PyArray1<f32>>;

fn threads(n: Option<i64>) -> PyResult<usize> {
    match n {
        None => Ok(0),
        Some(k) if k >= 1 => Ok(k as usize),
        Some(k) => {
            Err(Error::value("num_threads", format!("must be >= 1 or None, got {k}")).into())
        }
    }
}

/// extract_answer(text, mode, last_number_fallback, last_math_fallback) -> str | None
#[pyfunction]
pub(super) fn extract_answer(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    mode: &str,
    last_number_fallback: bool,
    last_math_fallback: bool,
) -> PyResult<Option<String>> {
    let mode: Mode = mode.parse()?;
    let fb = Fallback {
        last_math: last_math_fallback,
        last_number: last_number_fallback,
    };
    let t = self::text(text, "text", None)?;
    super::detach(py, || Ok(core::extract_answer(&t, mode, fb)))
}

/// math_equal(pred, gold, rel_tol, strict) -> bool
#[pyfunction]
pub(super) fn math_equal(
    py: Python<'_>,
    pred: &Bound<'_, PyAny>,
    gold: &Bound<'_, PyAny>,
    rel_tol: f64,
    strict: bool,
) -> PyResult<bool> {
    let o = Opts::new(rel_tol, strict)?;
    let (p, g) = (text(pred, "pred", None)?, text(gold, "gold", None)?);
    super::detach(py, || Ok(core::math_equal(&p, &g, &o)))
}

/// parse_ok(answer) -> bool: whether an answer string parses (diagnostics).
#[pyfunction]
pub(super) fn parse_ok(py: Python<'_>, answer: &Bound<'_, PyAny>) -> PyResult<bool> {
    let a = text(answer, "answer", None)?;
    super::detach(py, || Ok(latex::parse_answer(&a).is_some()))
}

/// math_reward(completions, golds, mode, last_number_fallback, last_math_fallback, rel_tol, strict,
/// num_threads)
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(super) fn math_reward<'py>(
    py: Python<'py>,
    completions: &Bound<'py, PyAny>,
    golds: &Bound<'py, PyAny>,
    mode: &str,
    last_number_fallback: bool,
    last_math_fallback: bool,
    rel_tol: f64,
    strict: bool,
    num_threads: Option<i64>,
) -> PyResult<F32s<'py>> {
    let mode: Mode = mode.parse()?;
    let fb = Fallback {
        last_math: last_math_fallback,
        last_number: last_number_fallback,
    };
    let o = Opts::new(rel_tol, strict)?;
    let th = threads(num_threads)?;
    let c = texts(completions, "completions")?;
    let g = texts(golds, "golds")?;
    let out = super::detach(py, || core::math_reward(&c, &g, mode, fb, &o, th))?;
    Ok(out.into_pyarray(py))
}

/// label_reward(completions, labels, mode, case_sensitive, num_threads)
#[pyfunction]
pub(super) fn label_reward<'py>(
    py: Python<'py>,
    completions: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    mode: &str,
    case_sensitive: bool,
    num_threads: Option<i64>,
) -> PyResult<F32s<'py>> {
    let mode: Mode = mode.parse()?;
    let th = threads(num_threads)?;
    let c = texts(completions, "completions")?;
    let l = texts(labels, "labels")?;
    let out = super::detach(py, || core::label_reward(&c, &l, mode, case_sensitive, th))?;
    Ok(out.into_pyarray(py))
}

/// format_reward(completions, pattern, num_threads)
#[pyfunction]
pub(super) fn format_reward<'py>(
    py: Python<'py>,
    completions: &Bound<'py, PyAny>,
    pattern: Option<&str>,
    num_threads: Option<i64>,
) -> PyResult<F32s<'py>> {
    let th = threads(num_threads)?;
    let re = format::compile(pattern.unwrap_or(format::THINK_ANSWER))?;
    let c = texts(completions, "completions")?;
    let out = super::detach(py, || Ok(core::format_reward(&c, &re, th)))?;
    Ok(out.into_pyarray(py))
}

/// overlong_penalty(lengths int64, max_len, buffer, factor)
#[pyfunction]
pub(super) fn overlong_penalty<'py>(
    py: Python<'py>,
    lengths: &Bound<'py, PyAny>,
    max_len: i64,
    buffer: i64,
    factor: f64,
) -> PyResult<F32s<'py>> {
    let a = array::<i64, numpy::Ix1>(lengths, "lengths")?;
    let l = a.slice();
    let out = super::detach(py, || format::overlong_penalty(l, max_len, buffer, factor))?;
    Ok(out.into_pyarray(py))
}

/// The documented caps, for users and the docs.
#[pyfunction]
pub(super) fn reward_caps(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("max_answer_bytes", latex::MAX_ANSWER_BYTES)?;
    d.set_item("max_depth", latex::MAX_DEPTH)?;
    d.set_item("max_nodes", latex::MAX_NODES)?;
    d.set_item("max_digits", latex::MAX_DIGITS)?;
    d.set_item("max_items", latex::MAX_ITEMS)?;
    d.set_item("max_pm", latex::MAX_PM)?;
    d.set_item("max_vars", core::compare::MAX_VARS)?;
    d.set_item("points", core::compare::POINTS)?;
    d.set_item("min_points", core::compare::MIN_POINTS)?;
    Ok(d)
}

/// The extraction modes and the default think/answer pattern, defined once
/// here and used by the Python API (`MODES`, `THINK_ANSWER_PATTERN`).
pub(super) fn constants(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let modes: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
    m.add("MODES", pyo3::types::PyTuple::new(m.py(), modes)?)?;
    m.add("THINK_ANSWER_PATTERN", format::THINK_ANSWER)
}
