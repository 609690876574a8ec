//! Generic (non-array) values: any value of `pickle_ops`' data-only model,
//! stored as docs/format.md section 7 says (`mmpk_format::generic`).

use mmpk_format::array::{decode_array, read_array};
use mmpk_format::generic::{
    decode_value, encode_value, rebase_value, rewrite_pickle, GenericValue,
};
use mmpk_format::masked::read_masked;
use pickle_ops::Pickle;

use crate::array::{array_info, Array};
use crate::dict::{check_key, Dict, Shared, State};
use crate::error::{Error, Result};
use crate::masked::Masked;
use crate::write::{insert_locked, NewEntry};

/// Inserts `key` (under the lock) as a value without raw data: the ops
/// and memo max that `encode` makes from the file's memo max. An encoding
/// error is an [`Error::Format`] for `key`.
pub(crate) fn insert_generic_locked(
    s: &Shared,
    st: &mut State,
    key: &str,
    encode: impl FnOnce(u32) -> mmpk_format::Result<GenericValue>,
) -> Result<()> {
    let v = encode(st.index.memo_max).map_err(|source| Error::Format {
        key: Some(key.into()),
        source,
    })?;
    insert_locked(
        s,
        st,
        NewEntry {
            key,
            prefix: v.ops,
            data_len: 0,
            data: None,
            suffix: Vec::new(),
            memo_max: v.memo_max,
            align_data: false,
        },
    )?;
    Ok(())
}

/// A value read by [`Dict::get`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Value {
    /// An array entry (v1 or v2), mapped.
    Array(Array),
    /// A masked array, both parts mapped.
    Masked(Masked),
    /// Any other value, decoded into the data-only
    /// model: nothing runs, `GLOBAL`/`REDUCE` stay inert nodes.
    Pickle(Pickle),
}

impl Dict {
    /// Inserts (or replaces) `key` with the root value of `value`, encoded
    /// as CPython's `pickle.dumps(value, 4)` would and rewritten for the
    /// file's memo (what mmappickle 1.0 writes for the same value).
    pub fn insert_pickle(&self, key: &str, value: &Pickle) -> Result<()> {
        self.shared.check_writable("insert")?;
        check_key(key)?;
        self.with_lock(|s, st| insert_generic_locked(s, st, key, |memo| encode_value(value, memo)))
    }

    /// Inserts (or replaces) `key` with a whole pickle of protocol 4 or
    /// less, such as CPython's `pickle.dumps(value, 4)` of any object
    /// (custom classes included: nothing is run), stored as a generic
    /// entry exactly as [`Dict::insert_pickle`] stores a value: framing
    /// dropped, memo renumbered for the file (`mmpk_format::generic::
    /// rewrite_pickle`). Bytes after `STOP` are ignored.
    ///
    /// The ops are checked for their structure as they are rewritten
    /// (nothing runs, no value is built: `rewrite_pickle`'s check), so that
    /// bytes which are not exactly one valid value (a leftover MARK or a
    /// second value would break the file's own pickle; APPEND to a tuple or
    /// an unhashable key would make `pickle.load` of the file fail) are
    /// refused with [`Error::Format`] and nothing is written.
    pub fn insert_pickle_bytes(&self, key: &str, pickle: &[u8]) -> Result<()> {
        self.shared.check_writable("insert")?;
        check_key(key)?;
        let format = |source| Error::Format {
            key: Some(key.into()),
            source,
        };
        // Rewritten (and checked) once outside the lock, at memo base 1.
        let at1 = rewrite_pickle(pickle, 1).map_err(format)?;
        self.with_lock(|s, st| {
            insert_generic_locked(s, st, key, |memo| match memo {
                1 => Ok(at1),
                // Nothing kept in the memo: the ops are the same at any base.
                _ if at1.memo_max == 1 => Ok(GenericValue {
                    ops: at1.ops,
                    memo_max: memo,
                }),
                _ => rebase_value(&at1.ops, 0, memo),
            })
        })
    }

    /// Decodes `key`'s value (array or not) into the data-only model.
    pub fn get_pickle(&self, key: &str) -> Result<Pickle> {
        // Decoded straight from the map: the value is not copied first.
        self.with_value_bytes(key, |bytes, offset| {
            decode_value(bytes, offset as usize, &Default::default())
        })?
        .map_err(|source| Error::Format {
            key: Some(key.into()),
            source,
        })
    }

    /// `key`'s value: a mapped [`Array`] for array entries, a [`Masked`]
    /// for masked arrays, a decoded [`Pickle`] for anything else.
    ///
    /// The entry is located once: what kind it is and the handle returned
    /// come from the same entry, even when another thread or process
    /// replaces the key meanwhile (with a value of another kind), and an
    /// array's bytes are not copied to tell its kind.
    pub fn get(&self, key: &str) -> Result<Value> {
        let (index, map, loc) = self.locate(key)?;
        let span = loc.value_span();
        if decode_array(index.all(), span.clone()).is_ok() {
            let a = read_array(index.all(), span).map_err(|source| Error::NotAnArray {
                key: key.into(),
                source,
            })?;
            let info = array_info(key, &loc, &a)?;
            return self.array_handle(map, info).map(Value::Array);
        }
        if read_masked(index.all(), span.clone()).is_ok() {
            return self.masked_at(key, &index, map, &loc).map(Value::Masked);
        }
        // As `value_bytes_at`: not while a mutable view of the entry lives.
        let _token = self
            .shared
            .borrows
            .read(loc.offset)
            .ok_or_else(|| Error::Busy { key: key.into() })?;
        decode_value(
            index.bytes(span),
            loc.value_offset as usize,
            &Default::default(),
        )
        .map(Value::Pickle)
        .map_err(|source| Error::Format {
            key: Some(key.into()),
            source,
        })
    }

    /// A copy of `key`'s value ops and their offset. Refused
    /// ([`Error::Busy`]) while a mutable view of the entry lives in this
    /// process (its array data would be read while being written).
    pub(crate) fn value_bytes_at(&self, key: &str) -> Result<(Vec<u8>, u64)> {
        self.with_value_bytes(key, |b, at| (b.to_vec(), at))
    }

    /// Runs `f` over `key`'s value ops (borrowed from the map, not copied)
    /// and their offset, under the same read token as
    /// [`Dict::value_bytes_at`].
    pub(crate) fn with_value_bytes<R>(
        &self,
        key: &str,
        f: impl FnOnce(&[u8], u64) -> R,
    ) -> Result<R> {
        let (index, _, loc) = self.locate(key)?;
        let _token = self
            .shared
            .borrows
            .read(loc.offset)
            .ok_or_else(|| Error::Busy { key: key.into() })?;
        Ok(f(index.bytes(loc.value_span()), loc.value_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_tells_the_kinds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("v.mmpk"), crate::Layout::V2);
        let mut p = Pickle::new();
        let root = p.push(pickle_ops::Value::str("hello"));
        p.set_root(root);
        d.insert_pickle("s", &p).unwrap();
        d.insert_array("a", &ndarray::arr1(&[1u8])).unwrap();
        assert!(matches!(d.get("s").unwrap(), Value::Pickle(_)));
        assert!(matches!(d.get("a").unwrap(), Value::Array(_)));
        assert!(matches!(d.get("zz"), Err(Error::KeyNotFound { .. })));
        // An array's value decodes as data too (inert REDUCE nodes).
        assert!(d.get_pickle("a").is_ok());
        // A Pickle without a root is a typed error, and nothing is written.
        assert!(matches!(
            d.insert_pickle("x", &Pickle::new()),
            Err(Error::Format { .. })
        ));
        assert!(!d.contains("x").unwrap());
    }

    #[test]
    fn pickle_bytes_are_stored_as_generic_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::dict::test_dict(&dir.path().join("b.mmpk"), crate::Layout::V2);
        // pickle.dumps(['ab', 'ab'], 4) with one shared str, stored twice:
        // the second entry's memo starts after the first's.
        let shared = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x02ab\x94h\x01e.";
        d.insert_pickle_bytes("a", shared).unwrap();
        d.insert_pickle_bytes("b", shared).unwrap();
        let a = d.value_bytes("a").unwrap();
        let b = d.value_bytes("b").unwrap();
        assert_eq!(&a[..], b"](\x8c\x02abq\x01h\x01e");
        assert_eq!(&b[..], b"](\x8c\x02abq\x02h\x02e");
        // Either decodes back to CPython's bytes.
        for k in ["a", "b"] {
            let Value::Pickle(p) = d.get(k).unwrap() else {
                panic!("{k}")
            };
            assert_eq!(pickle_ops::encode::encode(&p, 4).unwrap(), shared);
        }
        // A custom class is stored without running anything.
        let custom = b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01C\x94\x93\x94)\x81\x94.";
        d.insert_pickle_bytes("c", custom).unwrap();
        assert!(matches!(d.get("c").unwrap(), Value::Pickle(_)));
        // It keeps no memo store: its ops are the same at the file's memo
        // base (3 here) as at 1, and its memo_max is that base.
        assert_eq!(
            d.value_bytes("c").unwrap(),
            rewrite_pickle(custom, 3).unwrap().ops
        );
        let file = std::fs::read(d.path()).unwrap();
        let s = mmpk_format::scan(&file).unwrap();
        let c = s.entries.iter().find(|e| e.entry.key == "c").unwrap();
        assert_eq!(c.entry.memo_max, 3);
        // A shared value after it still starts at 3.
        d.insert_pickle_bytes("d", shared).unwrap();
        assert_eq!(&d.value_bytes("d").unwrap()[..], b"](\x8c\x02abq\x03h\x03e");
        d.remove("d").unwrap();
        // Not exactly one valid pickle of protocol <= 4: refused, nothing written.
        for bad in [
            &b"NN"[..],
            b"",
            b"\x80\x04(N.",
            b"\x80\x05N.",
            b"\x80\x04h\x00.",
            b"0.",
            b"\xff",
        ] {
            assert!(
                matches!(d.insert_pickle_bytes("x", bad), Err(Error::Format { .. })),
                "{bad:?}"
            );
            assert!(!d.contains("x").unwrap());
        }
        assert!(matches!(
            d.insert_pickle_bytes(&"k".repeat(256), shared),
            Err(Error::KeyTooLong { .. })
        ));
        assert_eq!(d.len().unwrap(), 3);
    }
}
