//! `mmpk.zarr_refs`: kerchunk reference JSON of an open dict's arrays
//! (`mmpk::Dict::zarr_refs`, or `mmpk_remote::RemoteDict::zarr_refs` for a
//! URL), for the thin Python wrapper in `python/mmpk/_zarr.py`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::dict::{retry, Core};
use crate::remote::RemoteCore;

/// What the wrapper gets: the JSON, the keys left out (with why), the
/// arrays whose last chunk is inline (with its bytes).
type RefsTuple = (String, Vec<(String, String)>, Vec<(String, u64)>);

/// The reference JSON of `core`'s file, naming `url` in every reference,
/// with chunks of about `chunk_bytes`; also the keys left out (with why)
/// and the arrays whose last chunk is inline (with their bytes).
#[pyfunction]
pub(crate) fn zarr_refs(
    py: Python<'_>,
    core: &Bound<'_, Core>,
    url: String,
    chunk_bytes: u64,
) -> PyResult<RefsTuple> {
    let opts = options(url, chunk_bytes)?;
    let d = core.get().dict(py)?;
    let refs = retry(py, || d.zarr_refs(&opts))?;
    Ok((refs.json, refs.skipped, refs.inlined))
}

/// The same for a remote file, from its index (`RemoteDict::zarr_refs`: no
/// array data is fetched; small values and masked arrays are). An object
/// changed by appends is followed; a rewritten one is a `ChangedError`.
#[pyfunction]
pub(crate) fn zarr_refs_remote(
    py: Python<'_>,
    core: &Bound<'_, RemoteCore>,
    url: String,
    chunk_bytes: u64,
) -> PyResult<RefsTuple> {
    let opts = options(url, chunk_bytes)?;
    let refs = core.get().follow(py, |d| d.zarr_refs(&opts))?;
    Ok((refs.json, refs.skipped, refs.inlined))
}

/// The options naming `url`, with chunks of about `chunk_bytes` (above 0).
fn options(url: String, chunk_bytes: u64) -> PyResult<mmpk::zarr::Options> {
    if chunk_bytes == 0 {
        return Err(PyValueError::new_err("chunk_mib must be above 0"));
    }
    let mut opts = mmpk::zarr::Options::new(url);
    opts.chunk_bytes = chunk_bytes;
    Ok(opts)
}
