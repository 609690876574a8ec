//! The op parser: parsing never panics, and every op it yields writes back to
//! the bytes it was parsed from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    for r in pickle_ops::Ops::fragment(data, 0) {
        let Ok((off, op)) = r else { break };
        assert_eq!(off, at);
        let mut buf = Vec::new();
        pickle_ops::write_op(&op, &mut buf);
        assert_eq!(&data[off..off + buf.len()], &buf[..], "{op:?}");
        at = off + buf.len();
    }
});
