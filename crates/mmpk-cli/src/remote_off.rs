//! Built without the `remote` feature: no `mmpk-remote` (and none of its
//! object_store, tokio and reqwest stack). URL arguments give a one-line
//! error saying so (exit code 2).

use crate::Failure;

pub use crate::ui::is_url;

/// No remote errors exist in this build.
pub fn class(_: &(dyn std::error::Error + 'static)) -> Option<u8> {
    None
}

fn unsupported(url: &str) -> Failure {
    Failure::input(format!(
        "{url}: this mmpk was built without remote support (the `remote` feature of mmpk-cli); \
         rebuild with default features to read files over HTTP(S) and S3"
    ))
}

/// `mmpk ls URL`: refused.
pub fn ls(url: &str, _all: bool, _json_out: bool) -> Result<(), Failure> {
    Err(unsupported(url))
}

/// `mmpk info URL`: refused.
pub fn info(url: &str, _json_out: bool) -> Result<(), Failure> {
    Err(unsupported(url))
}

/// `mmpk get URL KEY`: refused.
pub fn get(url: &str, _key: &str, _json_out: bool) -> Result<(), Failure> {
    Err(unsupported(url))
}

/// `mmpk export URL KEY OUT`: refused.
pub fn export(url: &str, _key: &str, _out: &str, _json_out: bool) -> Result<(), Failure> {
    Err(unsupported(url))
}

/// `mmpk zarr-refs URL`: refused.
pub fn zarr_refs(url: &str, _opts: &mmpk::zarr::Options) -> Result<mmpk::zarr::Refs, Failure> {
    Err(unsupported(url))
}
