//! Argument extraction shared by every binding: numpy arrays of one dtype and
//! rank, a float32/float64 dispatch macro, ints that must not be negative, and
//! text lists.
//!
//! These only answer "can the core read this argument?" (dtype, rank,
//! C-contiguity, str-ness), raising `TypeError`/`ValueError` that name it.
//! Converting what users pass (lists, torch tensors, other dtypes) is the
//! Python wrappers' job; checking *values* (shapes that must agree, ranges,
//! option names) is the core's. So each argument is checked in one layer.

use crate::Error;
use numpy::ndarray::Dimension;
use numpy::{Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray};
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The float dtype of an array argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dt {
    F32,
    F64,
}

/// `x`'s dtype (`float16`, `<U1`, ...) or, for a non-array, its type name.
pub(crate) fn type_name(x: &Bound<'_, PyAny>) -> String {
    if let Ok(a) = x.cast::<PyUntypedArray>() {
        if let Ok(s) = a.dtype().str() {
            return s.to_string();
        }
    }
    x.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

fn rank_error(x: &Bound<'_, PyAny>, name: &'static str, ndim: usize) -> Option<PyErr> {
    let a = x.cast::<PyUntypedArray>().ok()?;
    (a.ndim() != ndim).then(|| {
        Error::value(
            name,
            format!("expected a {ndim}-D array, got {}-D", a.ndim()),
        )
        .into()
    })
}

/// Whether `x` is an `ndim`-D float32 or float64 array (the dispatch of
/// [`with_float!`]).
pub(crate) fn float_dtype(x: &Bound<'_, PyAny>, name: &'static str, ndim: usize) -> PyResult<Dt> {
    if let Some(e) = rank_error(x, name, ndim) {
        return Err(e);
    }
    if let Ok(a) = x.cast::<PyUntypedArray>() {
        let py = x.py();
        let d = a.dtype();
        if d.is_equiv_to(&numpy::dtype::<f32>(py)) {
            return Ok(Dt::F32);
        }
        if d.is_equiv_to(&numpy::dtype::<f64>(py)) {
            return Ok(Dt::F64);
        }
    }
    Err(Error::type_(
        name,
        format!(
            "expected a {ndim}-D float32 or float64 numpy array, got {}",
            type_name(x)
        ),
    )
    .into())
}

/// Run `$body` with the type alias `$T` set to `f32` or `f64`, by the dtype of
/// the array `$x` (`$ndim`-D; anything else is a `TypeError` naming `$name`).
///
/// ```ignore
/// with_float!(rewards, "rewards", 1, T => typed::<T>(py, rewards))
/// ```
macro_rules! with_float {
    ($x:expr, $name:expr, $ndim:expr, $T:ident => $body:expr) => {
        match $crate::py::arrays::float_dtype($x, $name, $ndim)? {
            $crate::py::arrays::Dt::F32 => {
                type $T = f32;
                $body
            }
            $crate::py::arrays::Dt::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use with_float;

/// A read-only, C-contiguous `D`-dimensional array of `T` (borrowed: no copy).
pub(crate) struct Arr<'py, T: Element, D: Dimension> {
    inner: PyReadonlyArray<'py, T, D>,
}

impl<'py, T: Element, D: Dimension> Arr<'py, T, D> {
    pub(crate) fn slice(&self) -> &[T] {
        self.inner
            .as_slice()
            .expect("C-contiguity was checked in array()")
    }
    pub(crate) fn shape(&self) -> &[usize] {
        self.inner.shape()
    }
}

/// `x` as a read-only C-contiguous array of exactly dtype `T` and rank `D`.
pub(crate) fn array<'py, T: Element, D: Dimension>(
    x: &Bound<'py, PyAny>,
    name: &'static str,
) -> PyResult<Arr<'py, T, D>> {
    let ndim = D::NDIM.unwrap_or(0);
    if let Some(e) = rank_error(x, name, ndim) {
        return Err(e);
    }
    let a = x.cast::<PyArray<T, D>>().map_err(|_| {
        let want = numpy::dtype::<T>(x.py())
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        PyErr::from(Error::type_(
            name,
            format!(
                "expected a {ndim}-D {want} numpy array, got {}",
                type_name(x)
            ),
        ))
    })?;
    let inner = a.readonly();
    if !inner.is_c_contiguous() {
        return Err(Error::value(name, "must be C-contiguous").into());
    }
    Ok(Arr { inner })
}

/// Shorthands for the two ranks the core reads.
pub(crate) type Arr1<'py, T> = Arr<'py, T, numpy::Ix1>;
pub(crate) type Arr2<'py, T> = Arr<'py, T, numpy::Ix2>;

/// A 2-D array's `(rows, cols)`.
pub(crate) fn dims2<T: Element>(a: &Arr2<'_, T>) -> (usize, usize) {
    let s = a.shape();
    (s[0], s[1])
}

/// `name` must have the shape `want` (the core sees flat slices, so only the
/// binding can tell a (3, 4) mask from a (2, 6) one).
pub(crate) fn same_dims(
    name: &'static str,
    got: (usize, usize),
    want: (usize, usize),
    of: &str,
) -> PyResult<()> {
    if got != want {
        return Err(Error::value(
            name,
            format!("has shape {got:?}, expected {want:?} (the shape of {of})"),
        )
        .into());
    }
    Ok(())
}

/// An int argument the core reads as a count or size: negative is a
/// `ValueError` naming it (the core checks the lower bound that matters).
pub(crate) fn non_negative(name: &'static str, v: i64) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| Error::value(name, format!("must be >= 0, got {v}")).into())
}

/// One `str` (lossy: a lone surrogate becomes U+FFFD, so hostile text is
/// still scored); `i` names the item of a list in the error.
pub(crate) fn text(x: &Bound<'_, PyAny>, name: &'static str, i: Option<usize>) -> PyResult<String> {
    let s = x.cast::<PyString>().map_err(|_| {
        let at = i.map(|i| format!("[{i}]")).unwrap_or_default();
        Error::type_(
            name,
            format!("{name}{at} must be str, got {}", type_name(x)),
        )
    })?;
    Ok(s.to_string_lossy().into_owned())
}

/// A sequence of `str` (a single `str` is a `TypeError`, not a list of chars).
pub(crate) fn texts(x: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Vec<String>> {
    if x.is_instance_of::<PyString>() {
        return Err(Error::type_(name, "expected a sequence of str, got a single str").into());
    }
    let it = x
        .try_iter()
        .map_err(|_| Error::type_(name, "expected a sequence of str"))?;
    it.enumerate()
        .map(|(i, item)| text(&item?, name, Some(i)))
        .collect()
}
