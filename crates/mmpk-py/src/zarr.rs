//! `mmpk.zarr_refs`: kerchunk reference JSON of an open dict's arrays
//! (`mmpk::Dict::zarr_refs`), for the thin Python wrapper in
//! `python/mmpk/_zarr.py`.

use pyo3::prelude::*;

use crate::dict::{retry, Core};

/// The reference JSON of `core`'s file, naming `url` in every reference,
/// with chunks of about `chunk_bytes`; also the keys left out (with why)
/// and the arrays whose last chunk is inline (with their bytes).
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn zarr_refs(
    py: Python<'_>,
    core: &Bound<'_, Core>,
    url: String,
    chunk_bytes: u64,
) -> PyResult<(String, Vec<(String, String)>, Vec<(String, u64)>)> {
    if chunk_bytes == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "chunk_mib must be above 0",
        ));
    }
    let d = core.get().dict(py)?;
    let mut opts = mmpk::zarr::Options::new(url);
    opts.chunk_bytes = chunk_bytes;
    let refs = retry(py, || d.zarr_refs(&opts))?;
    Ok((refs.json, refs.skipped, refs.inlined))
}
