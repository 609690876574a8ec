//! Zarr chunk references of a published file ([`RemoteDict::zarr_refs`]),
//! from the index: no array data is fetched.

use std::collections::HashMap;

use mmpk_format::masked::read_masked;
use mmpk_format::zarr::{generate, ArrayLoc, Item, Options, Refs, Source, MAX_VALUE_BYTES};

use crate::dict::RemoteDict;
use crate::error::{Error, Result};

/// Masked arrays are located from their whole value, fetched when it is at
/// most this long (64 MiB); larger ones are skipped.
pub const MAX_MASKED_FETCH: u64 = 64 << 20;

impl RemoteDict {
    /// The file's arrays as a zarr store whose chunks are byte ranges of
    /// the object: kerchunk reference JSON (version 1) that xarray,
    /// zarr-python 3 and dask read without mmpk (see
    /// [`mmpk_format::zarr`]). `opts.url` is what the references name
    /// (usually this dict's URL).
    ///
    /// Arrays are described from the index (dtype, shape, offset: no
    /// request for their data); values of at most
    /// [`MAX_VALUE_BYTES`] are fetched to become attributes; masked arrays
    /// are fetched whole (at most [`MAX_MASKED_FETCH`] bytes, larger ones
    /// are skipped: run the command on a local copy with the URL instead);
    /// an array whose last chunk must be inline costs one request of at
    /// most `opts.chunk_bytes`. Network errors and a changed object are
    /// errors; an entry that does not decode is skipped.
    pub fn zarr_refs(&self, opts: &Options) -> Result<Refs> {
        let mut latest = HashMap::new();
        for (i, e) in self.entries().iter().enumerate() {
            if e.is_live() {
                latest.insert(e.key.as_str(), i);
            }
        }
        let mut items = Vec::new();
        for (i, e) in self.entries().iter().enumerate() {
            if latest.get(e.key.as_str()) != Some(&i) {
                continue;
            }
            let skip = |err: Error| match err {
                Error::Format { .. } | Error::WrongKind { .. } | Error::TooLarge { .. } => {
                    Ok(Source::Skip(err.to_string()))
                }
                other => Err(other),
            };
            let source = match self.info_of(e) {
                Ok((a, _)) => Source::Array(ArrayLoc {
                    dtype: a.dtype,
                    shape: a.shape,
                    data_offset: a.data_offset,
                }),
                Err(Error::WrongKind { expected, .. }) if expected.contains("masked") => {
                    if e.value_len > MAX_MASKED_FETCH {
                        Source::Skip(format!(
                            "a masked array of {} bytes: over the network, masked arrays are \
                             located from their whole value, at most {MAX_MASKED_FETCH} bytes",
                            e.value_len
                        ))
                    } else {
                        let v = self.value_of(e)?;
                        match read_masked(&v, 0..v.len()) {
                            Ok(m) => {
                                let at = |a: mmpk_format::array::Array| ArrayLoc {
                                    dtype: a.dtype,
                                    shape: a.shape,
                                    data_offset: e.value_offset + a.data.start as u64,
                                };
                                Source::Masked {
                                    data: at(m.data),
                                    mask: at(m.mask),
                                }
                            }
                            Err(err) => {
                                Source::Skip(format!("a masked array that does not decode: {err}"))
                            }
                        }
                    }
                }
                Err(Error::WrongKind { .. }) if e.value_len > MAX_VALUE_BYTES => {
                    Source::Skip(format!(
                        "a value of {} bytes (attributes are read from values of at most \
                         {MAX_VALUE_BYTES})",
                        e.value_len
                    ))
                }
                Err(Error::WrongKind { .. }) => match self.get_pickle(&e.key) {
                    Ok(p) => Source::Value(p),
                    Err(err) => skip(err)?,
                },
                Err(err) => skip(err)?,
            };
            items.push(Item {
                key: e.key.clone(),
                source,
            });
        }
        generate(&items, self.version.size, opts, |r| {
            self.src.read_one(r, &self.version).map(Vec::from)
        })
    }
}
