//! The binding layer: the only Rust code that knows Python.
//!
//! One submodule per capability; [`_core`] lists their functions once.
//! Conventions for every binding:
//! - read arguments with [`arrays`] (dtype, rank, contiguity, str-ness; errors
//!   are `TypeError`/`ValueError` naming the argument, through
//!   [`crate::Error`]); option names are parsed by the core's `FromStr`s and
//!   values are checked by the core, so each argument is checked once;
//! - borrow read-only slices (or copy into owned Rust data), then run the work
//!   inside [`detach`], which releases the GIL and turns a panic (a bug) into a
//!   Python `RuntimeError` instead of letting it reach Python; loops over the
//!   batch live in the core, not here;
//! - return owned arrays (`into_pyarray`, no copy).

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

mod advantages;
pub(crate) mod arrays;
mod packing;
mod rewards;

impl From<crate::Error> for PyErr {
    fn from(e: crate::Error) -> PyErr {
        match e {
            crate::Error::Value { .. } => PyValueError::new_err(e.to_string()),
            crate::Error::Type { .. } => PyTypeError::new_err(e.to_string()),
        }
    }
}

/// Run `f` with the GIL released; a panic inside becomes `RuntimeError`.
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    let out = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match out {
        Ok(r) => r.map_err(PyErr::from),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in postcouple._core (please report): {msg}"
            )))
        }
    }
}

/// `postcouple._core`: every binding, listed once (PyO3's declarative module).
#[pymodule(gil_used = false)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::advantages::{
        compute_advantages, discounted_returns, gae, masked_whiten, to_token_level,
    };
    #[pymodule_export]
    use super::packing::{balance, collate, pack};
    #[pymodule_export]
    use super::rewards::{
        extract_answer, format_reward, label_reward, math_equal, math_reward, overlong_penalty,
        parse_ok, reward_caps,
    };

    /// The constants: the version and the option names the Python API exports.
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        super::advantages::constants(m)?;
        super::rewards::constants(m)
    }
}
