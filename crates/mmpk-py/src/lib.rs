//! The native half of the Python package `mmpk` (`mmpk._mmpk`): the Rust
//! core (`mmpk`, `mmpk-format`, `pickle-ops`) exposed through PyO3. The
//! Python half (`python/mmpk/`) holds the public names, docstrings and
//! type stubs.

use pyo3::prelude::*;

mod arrays;
mod dict;
mod errors;
mod maint;
mod pool;
mod remote;
mod values;
mod zarr;

/// The extension module `mmpk._mmpk`.
#[pymodule]
fn _mmpk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<dict::Core>()?;
    m.add_class::<arrays::MapRegion>()?;
    m.add_function(wrap_pyfunction!(dict::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(dict::convert_in_place, m)?)?;
    m.add_function(wrap_pyfunction!(dict::convert_to, m)?)?;
    m.add_class::<pool::PooledBuffer>()?;
    m.add_function(wrap_pyfunction!(pool::pooled_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(pool::pool_stats, m)?)?;
    m.add_class::<remote::PyRemoteObject>()?;
    m.add_class::<remote::RemoteCore>()?;
    values::register(m)?;
    m.add_function(wrap_pyfunction!(zarr::zarr_refs, m)?)?;
    m.add_function(wrap_pyfunction!(zarr::zarr_refs_remote, m)?)?;
    Ok(())
}
