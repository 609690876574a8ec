//! The index scan (mmpk-format) over arbitrary files: never a panic; every
//! entry it returns lies inside the intact prefix, in order; array and
//! masked values of intact entries decode or fail without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmpk_format::array::read_array;
use mmpk_format::masked::{is_masked, read_masked};
use mmpk_format::scan::scan;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = scan(data) else { return };
    assert!(s.intact_end <= data.len());
    let mut at = mmpk_format::header::HEADER_LEN;
    for e in &s.entries {
        assert_eq!(e.entry.offset, at);
        at = e.entry.end();
        let span = e.entry.value_span();
        assert!(span.end <= s.intact_end);
        if is_masked(&data[span.clone()]) {
            let _ = read_masked(data, span);
        } else {
            let _ = read_array(data, span);
        }
    }
    assert_eq!(at, s.intact_end);
    let _ = s.live_index();
});
