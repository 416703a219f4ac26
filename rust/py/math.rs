//! Bindings for the math answer checker (`crate::rewards` extraction and equivalence).

use pyo3::prelude::*;

pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
