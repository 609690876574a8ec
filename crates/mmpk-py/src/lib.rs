//! The native half of the Python package `mmpk` (`mmpk._mmpk`): the Rust
//! core (`mmpk`, `mmpk-format`, `pickle-ops`) exposed through PyO3. The
//! Python half (`python/mmpk/`) holds the public names, docstrings and
//! type stubs.

use pyo3::prelude::*;

mod values;

/// The extension module `mmpk._mmpk`.
#[pymodule]
fn _mmpk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    values::register(m)?;
    Ok(())
}
