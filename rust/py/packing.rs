//! Bindings for `crate::packing`: int64 arrays in, owned int64 arrays out, the
//! work with the GIL released. Users call `postcouple.packing`.

use crate::packing::{self as core, BalanceMethod, Overflow, Packed, Strategy};
use crate::Error;
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;

type I64s<'py> = Bound<'py, PyArray1<i64>>;

fn ints<'py>(x: &Bound<'py, PyAny>, name: &'static str) -> PyResult<PyReadonlyArray1<'py, i64>> {
    let a = x.cast::<PyArray1<i64>>().map_err(|_| {
        Error::type_(
            name,
            "expected a 1-D int64 numpy array (postcouple.packing converts lists for you)",
        )
    })?;
    let ro = a.readonly();
    if !ro.is_c_contiguous() {
        return Err(Error::value(name, "expected a C-contiguous array").into());
    }
    Ok(ro)
}

type PackOut<'py> = (I64s<'py>, I64s<'py>, I64s<'py>, I64s<'py>);

fn packed_out<'py>(py: Python<'py>, p: Packed) -> PackOut<'py> {
    (
        p.bin_ptr.into_pyarray(py),
        p.seq.into_pyarray(py),
        p.offset.into_pyarray(py),
        p.len.into_pyarray(py),
    )
}

/// pack(lengths, capacity, strategy, overflow) -> (bin_ptr, seq, offset, len)
#[pyfunction]
fn pack<'py>(
    py: Python<'py>,
    lengths: &Bound<'py, PyAny>,
    capacity: i64,
    strategy: &str,
    overflow: &str,
) -> PyResult<PackOut<'py>> {
    let strategy: Strategy = strategy.parse()?;
    let overflow: Overflow = overflow.parse()?;
    let l = ints(lengths, "lengths")?;
    let l = l.as_slice()?;
    let p = super::detach(py, || core::pack(l, capacity, strategy, overflow))?;
    Ok(packed_out(py, p))
}

/// balance(workloads, k, method, equal_size) -> list of k int64 arrays
#[pyfunction]
fn balance<'py>(
    py: Python<'py>,
    workloads: &Bound<'py, PyAny>,
    k: i64,
    method: &str,
    equal_size: bool,
) -> PyResult<Vec<I64s<'py>>> {
    let method: BalanceMethod = method.parse()?;
    if k <= 0 {
        return Err(Error::value("k", format!("must be >= 1, got {k}")).into());
    }
    let w = ints(workloads, "workloads")?;
    let w = w.as_slice()?;
    let parts = super::detach(py, || core::balance(w, k as usize, method, equal_size))?;
    Ok(parts
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|i| i as i64)
                .collect::<Vec<_>>()
                .into_pyarray(py)
        })
        .collect())
}

/// collate(flat, seq_ptr, prompt_len | None, bin_ptr, seq, offset, len)
///   -> (input_ids, position_ids, labels, tok_ptr)
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn collate<'py>(
    py: Python<'py>,
    flat: &Bound<'py, PyAny>,
    seq_ptr: &Bound<'py, PyAny>,
    prompt_len: Option<&Bound<'py, PyAny>>,
    bin_ptr: &Bound<'py, PyAny>,
    seq: &Bound<'py, PyAny>,
    offset: &Bound<'py, PyAny>,
    len: &Bound<'py, PyAny>,
) -> PyResult<PackOut<'py>> {
    let flat = ints(flat, "sequences")?;
    let seq_ptr = ints(seq_ptr, "sequences")?;
    let plen = prompt_len.map(|p| ints(p, "prompt_lengths")).transpose()?;
    let packed = Packed {
        bin_ptr: ints(bin_ptr, "packing")?.as_slice()?.to_vec(),
        seq: ints(seq, "packing")?.as_slice()?.to_vec(),
        offset: ints(offset, "packing")?.as_slice()?.to_vec(),
        len: ints(len, "packing")?.as_slice()?.to_vec(),
    };
    let (f, sp) = (flat.as_slice()?, seq_ptr.as_slice()?);
    let pl = match &plen {
        Some(p) => Some(p.as_slice()?),
        None => None,
    };
    let c = super::detach(py, || core::collate(f, sp, pl, &packed))?;
    Ok((
        c.input_ids.into_pyarray(py),
        c.position_ids.into_pyarray(py),
        c.labels.into_pyarray(py),
        c.tok_ptr.into_pyarray(py),
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pack, m)?)?;
    m.add_function(wrap_pyfunction!(balance, m)?)?;
    m.add_function(wrap_pyfunction!(collate, m)?)?;
    Ok(())
}
