//! Array and masked-array decoding (mmpk-format): never a panic; a value
//! that decodes re-encodes (same encoding, dtype, shape and raw bytes) to a
//! value that decodes to the same; a dtype text that parses prints a
//! `str(dtype)` that parses back to the same dtype.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmpk_format::array::{decode_array, read_array};
use mmpk_format::dtype::Dtype;
use mmpk_format::masked::{read_masked, MaskKind};
use mmpk_format::write::encode_array;
use mmpk_format::write::encode_masked;

fuzz_target!(|data: &[u8]| {
    let _ = decode_array(data, 0..data.len());
    if let Ok(a) = read_array(data, 0..data.len()) {
        let raw = &data[a.data.clone()];
        let mut v = Vec::new();
        // (v1 refuses structured dtypes: numpy cannot parse their name.)
        if encode_array(&mut v, a.encoding, &a.dtype, &a.shape, raw).is_ok() {
            let b = read_array(&v, 0..v.len()).expect("our encoding decodes");
            assert_eq!(b.dtype.descr(), a.dtype.descr());
            assert_eq!(b.shape, a.shape);
            assert_eq!(&v[b.data], raw);
        }
    }
    if let Ok(m) = read_masked(data, 0..data.len()) {
        let raw = &data[m.data.data.clone()];
        let mask = (m.mask_kind == MaskKind::Elementwise).then(|| &data[m.mask.data.clone()]);
        let mut v = Vec::new();
        if encode_masked(&mut v, m.encoding, &m.data.dtype, &m.data.shape, raw, mask).is_ok() {
            let n = read_masked(&v, 0..v.len()).expect("our encoding decodes");
            assert_eq!(n.data.shape, m.data.shape);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = Dtype::parse(text) {
            let name = d.name();
            let again = Dtype::parse(&name).expect("str(dtype) parses");
            assert_eq!(again.name(), name);
            assert_eq!(again.descr(), d.descr());
        }
    }
});
