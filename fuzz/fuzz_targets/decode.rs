//! The decoder (raw and resolved), canonical JSON and re-encoding: never a
//! panic; the raw graph encodes at every protocol to bytes that decode; and
//! the resolved value, encoded at protocol 4 or 5, decodes and resolves to
//! itself (module `decode_property`, which the regression tests run too).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod decode_property;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = decode_property::check(data) {
        panic!("{e}");
    }
});
