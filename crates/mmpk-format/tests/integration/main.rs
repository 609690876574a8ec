//! Integration tests of mmpk-format: whole files built with the public API,
//! scanned back, and damaged in every way a crash or a bit flip can.

mod array_props;
mod arrays;
mod docs_format;
mod dtypes;
mod generic;
mod handbuilt;
mod hostile;
mod numpy;
mod roundtrip;
mod zarr;
