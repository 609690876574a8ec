//! Hostile inputs: every file in `fixtures/hostile` that CPython's
//! `pickle.loads` rejects is rejected with a typed error naming an offset
//! inside the input, never a panic; and truncating or corrupting valid
//! fixtures never panics either.

use pickle_ops::decode::{self, DecodeErrorKind};
use pickle_ops::{json, resolve};

use crate::{fixtures_dir, parse_json, with_big_stack};

#[test]
fn hostile_fixtures_are_rejected_with_typed_errors() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    with_big_stack(|| {
        let dir = fixtures_dir().join("hostile");
        let manifest =
            parse_json(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"));
        let rows = manifest.as_array().unwrap();
        assert!(rows.len() > 100);
        let mut accepted = Vec::new();
        for row in rows {
            let file = row["file"].as_str().unwrap();
            let data = std::fs::read(dir.join(file)).unwrap();
            let enc = row["encoding"].as_str().unwrap_or("ASCII").parse().unwrap();
            let mut opts = decode::DecodeOptions::default();
            opts.encoding = enc;
            match decode::decode(&data, &opts) {
                Err(e) => {
                    assert!(
                        e.offset <= data.len(),
                        "{file}: offset {} beyond {} bytes",
                        e.offset,
                        data.len()
                    );
                    assert!(!e.to_string().is_empty());
                }
                Ok(mut p) => {
                    // Accepted: only where the reference decoder (which does not
                    // run code either) accepted it too.
                    if !row["canon_error"].is_null() {
                        accepted.push(format!(
                            "{file}: accepted, but the reference decoder says {}",
                            row["canon_error"]
                        ));
                    }
                    let _ = resolve::resolve(&mut p, 1_000_000);
                    let _ = json::pickle_to_json(&p, &json::JsonOptions::default());
                }
            }
        }
        assert!(accepted.is_empty(), "{}", accepted.join("\n"));
    });
}

#[test]
fn truncations_and_byte_flips_of_fixtures_never_panic() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    with_big_stack(|| {
        let dir = fixtures_dir().join("pickle");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pkl"))
            .collect();
        files.sort();
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut tried = 0u64;
        for f in files
            .iter()
            .filter(|f| std::fs::metadata(f).unwrap().len() < 4096)
        {
            let data = std::fs::read(f).unwrap();
            let opts = decode::DecodeOptions::default();
            for cut in 0..data.len() {
                let r = decode::decode(&data[..cut], &opts);
                assert!(
                    r.is_err() || data[..cut].contains(&b'.'),
                    "{}: truncated at {cut} decoded",
                    f.display()
                );
                tried += 1;
            }
            for _ in 0..32 {
                let mut d = data.clone();
                let i = (rnd() as usize) % d.len();
                d[i] = rnd() as u8;
                if let Ok(mut p) = decode::decode(&d, &opts) {
                    let _ = resolve::resolve(&mut p, 1_000_000);
                    let mut jopts = json::JsonOptions::default();
                    jopts.max_nodes = 1_000_000;
                    let _ = json::pickle_to_json(&p, &jopts);
                    let _ = pickle_ops::encode::encode(&p, 4);
                }
                tried += 1;
            }
        }
        assert!(tried > 10_000, "only {tried} inputs tried");
    });
}

#[test]
fn claimed_huge_lengths_are_errors_not_allocations() {
    for op in [0x42u8, 0x58, 0x54] {
        let mut d = vec![op];
        d.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
        d.push(b'.');
        let e = decode::decode(&d, &Default::default()).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Parse(_)), "{e}");
    }
    for op in [0x8eu8, 0x8d, 0x96, 0x95] {
        let mut d = vec![op];
        d.extend_from_slice(&(1u64 << 62).to_le_bytes());
        d.push(b'.');
        assert!(decode::decode(&d, &Default::default()).is_err());
    }
}

#[test]
fn a_million_nested_lists_decode_and_a_memo_bomb_stays_linear() {
    with_big_stack(|| {
        let n = 1_000_000;
        let mut d = vec![0x80, 2];
        d.extend(std::iter::repeat_n(b']', n));
        d.extend(std::iter::repeat_n(b'a', n - 1));
        d.push(b'.');
        let p = decode::decode(&d, &Default::default()).unwrap();
        assert_eq!(p.len(), n);
        // JSON printing is iterative too.
        let s = json::pickle_to_json(&p, &Default::default()).unwrap();
        assert_eq!(s.len(), n * "{\"list\":[".len() + n * 2);
        // A list stored once and fetched a million times: one node per GET.
        let mut d = vec![0x80, 2, b']', b'q', 0, b'('];
        for _ in 0..n {
            d.extend_from_slice(b"h\x00");
        }
        d.extend_from_slice(b"e.");
        let p = decode::decode(&d, &Default::default()).unwrap();
        assert_eq!(p.len(), 1);
        // Tuples doubling at each level: decoding is linear, printing is bounded.
        let mut d = vec![0x80, 2, b')'];
        for _ in 0..200 {
            d.extend_from_slice(b"2\x86");
        }
        d.push(b'.');
        let p = decode::decode(&d, &Default::default()).unwrap();
        assert_eq!(p.len(), 201);
        assert!(json::pickle_to_json(&p, &Default::default()).is_err());
    });
}
