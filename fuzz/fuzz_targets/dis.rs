//! The disassembler: never a panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (_text, _result) = pickle_ops::dis::dis_to_string(data, &Default::default());
});
