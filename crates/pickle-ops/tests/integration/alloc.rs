//! Memory bounds on hostile and valid input, measured with a counting
//! allocator (per thread, so parallel tests do not disturb each other):
//! decoding never holds more than a small multiple of the input size.

use mmpk_test_support::alloc::{peak_of, Counting};
use pickle_ops::decode;

use crate::{fixtures_dir, with_big_stack};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The documented bound: a node (32 bytes) per input byte at most, plus
/// the stack, memo and a constant.
fn bound(input: usize) -> usize {
    64 * input + (1 << 20)
}

#[test]
fn decoding_stays_within_a_small_multiple_of_the_input() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    with_big_stack(|| {
        let mut checked = 0;
        for sub in ["pickle", "hostile"] {
            let dir = fixtures_dir().join(sub);
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.extension().is_none_or(|x| x != "pkl") {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let (r, peak) =
                    peak_of(|| decode::decode(&data, &Default::default()).map(|p| p.len()));
                drop(r);
                assert!(
                    peak <= bound(data.len()),
                    "{}: {} bytes of input took {} bytes",
                    path.display(),
                    data.len(),
                    peak
                );
                checked += 1;
            }
        }
        assert!(checked > 1500, "only {checked} files checked");
        // Claimed lengths: nothing like them is allocated.
        let mut d = vec![0x8e];
        d.extend_from_slice(&(1u64 << 40).to_le_bytes());
        d.extend_from_slice(&[0; 64]);
        let (r, peak) = peak_of(|| decode::decode(&d, &Default::default()).is_err());
        assert!(r);
        assert!(peak <= bound(d.len()), "{peak}");
        // A sparse memo index does not allocate up to it.
        let (r, peak) = peak_of(|| {
            decode::decode(
                b"\x80\x02Nr\xff\xff\xff\xffj\xff\xff\xff\xff.",
                &Default::default(),
            )
            .is_ok()
        });
        assert!(r);
        assert!(peak <= bound(16), "{peak}");
    });
}
