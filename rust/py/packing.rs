//! Bindings for `crate::packing`: int64 arrays in ([`super::arrays`]), owned
//! int64 arrays out, the work with the GIL released. Users call
//! `postcouple.packing`.

use super::arrays::{array, non_negative, Arr1};
use crate::packing::{self as core, BalanceMethod, Overflow, Packed, Strategy};
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

type I64s<'py> = Bound<'py, PyArray1<i64>>;
type PackOut<'py> = (I64s<'py>, I64s<'py>, I64s<'py>, I64s<'py>);

fn ints<'py>(x: &Bound<'py, PyAny>, name: &'static str) -> PyResult<Arr1<'py, i64>> {
    array(x, name)
}

/// pack(lengths, capacity, strategy, overflow) -> (bin_ptr, seq, offset, len)
#[pyfunction]
pub(super) fn pack<'py>(
    py: Python<'py>,
    lengths: &Bound<'py, PyAny>,
    capacity: i64,
    strategy: &str,
    overflow: &str,
) -> PyResult<PackOut<'py>> {
    let strategy: Strategy = strategy.parse()?;
    let overflow: Overflow = overflow.parse()?;
    let l = ints(lengths, "lengths")?;
    let ls = l.slice();
    let p = super::detach(py, || core::pack(ls, capacity, strategy, overflow))?;
    Ok((
        p.bin_ptr.into_pyarray(py),
        p.seq.into_pyarray(py),
        p.offset.into_pyarray(py),
        p.len.into_pyarray(py),
    ))
}

/// balance(workloads, k, method, equal_size) -> list of k int64 arrays
#[pyfunction]
pub(super) fn balance<'py>(
    py: Python<'py>,
    workloads: &Bound<'py, PyAny>,
    k: i64,
    method: &str,
    equal_size: bool,
) -> PyResult<Vec<I64s<'py>>> {
    let method: BalanceMethod = method.parse()?;
    let k = non_negative("k", k)?;
    let w = ints(workloads, "workloads")?;
    let ws = w.slice();
    let parts = super::detach(py, || core::balance(ws, k, method, equal_size))?;
    Ok(parts.into_iter().map(|p| p.into_pyarray(py)).collect())
}

/// collate(flat, seq_ptr, prompt_len | None, bin_ptr, seq, offset, len)
///   -> (input_ids, position_ids, labels, tok_ptr)
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(super) fn collate<'py>(
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
        bin_ptr: ints(bin_ptr, "packing")?.slice().to_vec(),
        seq: ints(seq, "packing")?.slice().to_vec(),
        offset: ints(offset, "packing")?.slice().to_vec(),
        len: ints(len, "packing")?.slice().to_vec(),
    };
    let (f, sp, pl) = (
        flat.slice(),
        seq_ptr.slice(),
        plen.as_ref().map(|p| p.slice()),
    );
    let c = super::detach(py, || core::collate(f, sp, pl, &packed))?;
    Ok((
        c.input_ids.into_pyarray(py),
        c.position_ids.into_pyarray(py),
        c.labels.into_pyarray(py),
        c.tok_ptr.into_pyarray(py),
    ))
}
