//! `mmpk zarr-refs FILE_OR_URL [--url URL] [--chunk-mib N] [-o REFS.json]`:
//! kerchunk reference JSON of a file's arrays (`mmpk_format::zarr`), from
//! a local file (`mmpk::Dict::zarr_refs`) or a URL
//! (`mmpk_remote::RemoteDict::zarr_refs`: the index only, no array data).
//! Entries left out are named on stderr (and in the JSON's
//! `mmpk_skipped`).

use clap::ArgMatches;
use mmpk::zarr::{Options, Refs};

use crate::dict_cmds::{open_dict, Open};
use crate::inspect::human;
use crate::ui::fail;
use crate::Failure;

/// `mmpk zarr-refs`
pub fn zarr_refs(m: &ArgMatches) -> Result<(), Failure> {
    let path = m.get_one::<String>("file").map_or("", String::as_str);
    let mib = m.get_one::<f64>("chunk-mib").copied().unwrap_or(16.0);
    if !(mib.is_finite() && mib > 0.0 && mib <= 1024.0 * 1024.0) {
        return Err(Failure::input(format!(
            "--chunk-mib {mib}: expected a size in MiB above 0"
        )));
    }
    let chunk_bytes = ((mib * (1 << 20) as f64) as u64).max(1);
    let url = m.get_one::<String>("url").cloned();
    let refs = if crate::remote::is_url(path) {
        let mut opts = Options::new(url.unwrap_or_else(|| path.to_string()));
        opts.chunk_bytes = chunk_bytes;
        crate::remote::zarr_refs(path, &opts)?
    } else {
        let default = || {
            std::path::absolute(path)
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| Failure::input(format!("{path}: {e}")))
        };
        let mut opts = Options::new(match url {
            Some(u) => u,
            None => default()?,
        });
        opts.chunk_bytes = chunk_bytes;
        let d = open_dict(path, Open::Read)?;
        d.zarr_refs(&opts).map_err(|e| fail(path, &e))?
    };
    report(path, &refs);
    match m.get_one::<String>("out") {
        Some(out) => crate::outfile::write(out, refs.json.as_bytes())
            .map_err(|e| Failure::io(format!("{out}: {e}"))),
        None => crate::ui::print(&(refs.json + "\n")),
    }
}

/// One line per entry left out or inlined, then a summary, on stderr.
fn report(path: &str, refs: &Refs) {
    for (key, why) in &refs.skipped {
        eprintln!("mmpk: {path}: skipped {key:?}: {why}");
    }
    for (key, n) in &refs.inlined {
        eprintln!(
            "mmpk: {path}: {key:?}: last chunk inline ({} of data, zero-padded: nothing follows the data in the file)",
            human(*n)
        );
    }
    eprintln!(
        "mmpk: {path}: {} arrays, {} attributes, {} skipped",
        refs.arrays.len(),
        refs.attrs.len(),
        refs.skipped.len()
    );
}
