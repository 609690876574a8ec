//! Random insert / replace / remove / reserve sequences against a BTreeMap
//! model, reopening the file between steps.

use std::collections::BTreeMap;

use mmpk::{Layout, OpenOptions};
use proptest::prelude::*;

use crate::tmp;

#[derive(Clone, Debug)]
enum Step {
    Insert(u8, Vec<i32>),
    Remove(u8),
    Reserve(u8, usize),
    Write(u8, i32),
    Reopen,
    Vacuum,
    Value(u8, i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..8, prop::collection::vec(any::<i32>(), 0..20)).prop_map(|(k, v)| Step::Insert(k, v)),
        2 => (0u8..8).prop_map(Step::Remove),
        1 => (0u8..8, 0usize..30).prop_map(|(k, n)| Step::Reserve(k, n)),
        1 => (0u8..8, any::<i32>()).prop_map(|(k, x)| Step::Write(k, x)),
        1 => Just(Step::Reopen),
        1 => Just(Step::Vacuum),
        1 => (0u8..8, any::<i64>()).prop_map(|(k, v)| Step::Value(k, v)),
    ]
}

fn key(k: u8) -> String {
    format!("key-{k}")
}

/// What a key holds in the model: an i32 array, or an int value.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Array(Vec<i32>),
    Int(i64),
}

fn check(d: &mmpk::Dict, model: &BTreeMap<String, V>) {
    assert_eq!(d.len().unwrap(), model.len());
    let mut keys = d.keys().unwrap();
    keys.sort();
    assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
    for (k, v) in model {
        match v {
            V::Array(v) => {
                let a = d.array(k).unwrap();
                assert_eq!(
                    a.to_owned::<i32>().unwrap().as_slice().unwrap(),
                    &v[..],
                    "{k}"
                );
            }
            V::Int(i) => {
                let p = d.get_pickle(k).unwrap();
                let got = match &*p.value(p.root()) {
                    mmpk::pickle_ops::Value::Int(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(got, i.to_string(), "{k}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_match_a_btreemap(
        steps in prop::collection::vec(step(), 1..40),
        v1 in any::<bool>(),
        align in prop::sample::select(vec![8u64, 64, 256]),
    ) {
        let (_d, p) = tmp();
        let mut opts = OpenOptions::new();
        opts.create(true).align(align).layout(if v1 { Layout::Mmappickle1 } else { Layout::V2 });
        // SAFETY: private test file.
        let mut d = unsafe { opts.open(&p) }.unwrap();
        let mut model: BTreeMap<String, V> = BTreeMap::new();
        for s in steps {
            match s {
                Step::Insert(k, v) => {
                    d.insert_array(&key(k), &ndarray::Array1::from(v.clone())).unwrap();
                    model.insert(key(k), V::Array(v));
                }
                Step::Remove(k) => {
                    let r = d.remove(&key(k));
                    prop_assert_eq!(r.is_ok(), model.remove(&key(k)).is_some());
                }
                Step::Reserve(k, n) => {
                    d.reserve::<i32>(&key(k), &[n]).unwrap();
                    model.insert(key(k), V::Array(vec![0; n]));
                }
                Step::Write(k, x) => {
                    if let Some(V::Array(v)) = model.get_mut(&key(k)) {
                        let mut m = d.array_mut(&key(k)).unwrap();
                        // v1 data may be misaligned for i32: write bytes.
                        for (i, c) in m.bytes_mut().chunks_exact_mut(4).enumerate() {
                            c.copy_from_slice(&x.wrapping_add(i as i32).to_ne_bytes());
                        }
                        for (i, e) in v.iter_mut().enumerate() {
                            *e = x.wrapping_add(i as i32);
                        }
                    }
                }
                Step::Vacuum => {
                    d.vacuum().unwrap();
                }
                Step::Value(k, v) => {
                    d.insert_pickle(&key(k), &crate::arrays::int_pickle(v)).unwrap();
                    model.insert(key(k), V::Int(v));
                }
                Step::Reopen => {
                    drop(d);
                    // SAFETY: private test file.
                    d = unsafe { opts.clone().create(false).open(&p) }.unwrap();
                }
            }
            check(&d, &model);
        }
        drop(d);
        let bytes = crate::scan_clean(&p);
        let s = mmpk_format::scan(&bytes).unwrap();
        prop_assert_eq!(s.live_index().len(), model.len());
        if !v1 {
            for e in &s.entries {
                let value = &bytes[e.entry.value_span()];
                if e.kind == mmpk_format::scan::EntryKind::Live
                    && mmpk_format::array::decode_array(value, 0..value.len()).is_ok()
                {
                    let a = mmpk_format::array::decode_array(&bytes, e.entry.value_span()).unwrap();
                    prop_assert_eq!(a.data.start as u64 % align, 0);
                }
            }
        }
        // A fresh reader agrees.
        let r = crate::open_ro(&p);
        check(&r, &model);
    }
}
