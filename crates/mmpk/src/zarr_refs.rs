//! Zarr chunk references of a local file ([`Dict::zarr_refs`]).

use mmpk_format::zarr::{generate, items_from_file, Options, Refs};

use crate::dict::Dict;
use crate::error::{Error, Result};

impl Dict {
    /// The file's arrays as a zarr store whose chunks are byte ranges of
    /// the file itself: kerchunk reference JSON (version 1) that xarray,
    /// zarr-python 3 and dask read without mmpk (see
    /// [`mmpk_format::zarr`] for what goes in and what is skipped).
    /// `opts.url` is what the references name: the file's path, or the URL
    /// it is published at. Read under the lock, so the references describe
    /// one state of the file; later inserts leave them valid (existing
    /// bytes do not move), a vacuum or a rewrite does not.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("f.mmpk");
    /// // SAFETY: no one truncates the file meanwhile.
    /// let d = unsafe { mmpk::Dict::create(&path)? };
    /// d.insert_array("x", &ndarray::Array2::<f32>::zeros((1000, 3)))?;
    /// let refs = d.zarr_refs(&mmpk::zarr::Options::new(path.to_string_lossy()))?;
    /// assert_eq!(refs.arrays, ["x"]);
    /// assert!(refs.json.contains(r#""x/0.0":["#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn zarr_refs(&self, opts: &Options) -> Result<Refs> {
        self.with_file_bytes(|file| {
            let items =
                items_from_file(file).map_err(|source| Error::Format { key: None, source })?;
            let refs = generate(&items, file.len() as u64, opts, |r| {
                let r = r.start as usize..r.end as usize;
                Ok::<_, std::convert::Infallible>(file[r].to_vec())
            });
            Ok(match refs {
                Ok(r) => r,
                Err(never) => match never {},
            })
        })?
    }
}
