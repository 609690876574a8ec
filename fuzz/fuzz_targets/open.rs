//! A whole file from bytes through the `mmpk` API: opened read-only, every
//! key read (typed views and owned copies of the matching element type,
//! masked arrays, generic values) without a panic; then opened read-write,
//! an array and a generic value inserted and a key removed: each works or
//! gives an error, and a fresh reader still opens the file, finds the new
//! entries as written and every entry readable before unchanged.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mmpk::pickle_ops::Value as PV;
use mmpk::{Dict, Element, Value};

fn path() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("mmpk-fuzz-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("f.mmpk")
    })
}

/// A typed view and an owned copy of the matching element type.
struct Both<'a>(&'a mmpk::Array);

impl mmpk::ElementVisitor for Both<'_> {
    type Output = ();
    fn visit<T: Element>(self) {
        let a = self.0;
        let n: usize = a.shape().iter().product();
        if let Ok(v) = a.view::<T>() {
            assert_eq!(v.len(), n);
        }
        if let Ok(o) = a.to_owned::<T>() {
            assert_eq!(o.len(), n);
        }
    }
}

fn read_array(a: &mmpk::Array) {
    std::hint::black_box(a.bytes().iter().fold(0u8, |x, &b| x ^ b));
    let _ = a.to_owned::<f64>();
    mmpk::visit_element(a.dtype(), Both(a));
}

fn read_all(d: &Dict) -> BTreeMap<String, Vec<u8>> {
    let mut readable = BTreeMap::new();
    let Ok(keys) = d.keys() else { return readable };
    let _ = d.stats();
    for k in &keys {
        match d.get(k) {
            Ok(Value::Array(a)) => read_array(&a),
            Ok(Value::Masked(m)) => {
                read_array(m.data());
                read_array(m.mask());
                let _ = m.mask_owned();
            }
            _ => {}
        }
        let _ = d.get_pickle(k);
        if let Ok(v) = d.value_bytes(k) {
            readable.insert(k.clone(), v);
        }
    }
    readable
}

fn shared_list() -> mmpk::Pickle {
    let mut p = mmpk::Pickle::new();
    let s = p.push(PV::str("x"));
    let l = p.push(PV::List(vec![s, s]));
    p.set_root(l);
    p
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).unwrap();
    // SAFETY: the file is private to this process.
    let Ok(ro) = (unsafe { Dict::open_read_only(path) }) else {
        return;
    };
    let before = read_all(&ro);
    drop(ro);
    let removed = before.keys().next().cloned();
    let (a_ok, p_ok, r_ok) = {
        // SAFETY: as above.
        let Ok(d) = (unsafe { Dict::open(path) }) else {
            return;
        };
        let a = d.insert_array("__new_array", &ndarray::arr1(&[7u16, 8, 9]));
        let p = d.insert_pickle("__new_value", &shared_list());
        let r = removed.as_ref().map(|k| d.remove(k));
        read_all(&d);
        (a.is_ok(), p.is_ok(), r.is_some_and(|r| r.is_ok()))
    };
    // SAFETY: as above.
    let d = unsafe { Dict::open_read_only(path) }.expect("opened before the writes");
    let after = read_all(&d);
    // Our two keys may already be in the file: when our insert worked they
    // hold the new values (checked below), else the old ones.
    let ours = |k: &str| (k == "__new_array" && a_ok) || (k == "__new_value" && p_ok);
    for (k, v) in &before {
        if Some(k) != removed.as_ref() && !ours(k) {
            assert_eq!(after.get(k), Some(v), "key {k:?} lost or changed");
        }
    }
    if let (Some(k), true) = (&removed, r_ok) {
        assert!(!d.contains(k).unwrap_or(false));
    }
    // The remove (of the first key) comes after the inserts: it takes our
    // key away too if it is one of them.
    let gone = |k: &str| r_ok && removed.as_deref() == Some(k);
    if a_ok && !gone("__new_array") {
        let a = d.array("__new_array").unwrap().to_owned::<u16>().unwrap();
        assert_eq!(a.as_slice(), Some(&[7, 8, 9][..]));
    }
    if p_ok && !gone("__new_value") {
        let p = d.get_pickle("__new_value").unwrap();
        assert!(matches!(&*p.value(p.root()), PV::List(items) if items.len() == 2));
    }
});
