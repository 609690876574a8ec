//! The resolved view of docs/canonical-json.md, rules 1 and 2: what CPython's
//! unpickler would resolve without running code. Python 2 names are mapped
//! as `_compat_pickle` maps them, and a few REDUCE nodes that only rebuild
//! plain values (set, frozenset, bytes, bytearray, `copyreg._reconstructor`)
//! are folded into those values, keeping their identity. Rule 3 (numpy)
//! belongs to `mmpk-format`.

use crate::decode::DecodeErrorKind;
use crate::keys;
use crate::table::{IMPORT_MAPPING, NAME_MAPPING};
use crate::value::{Global, NodeId, ObjectKind, Pickle, PyStr, Value};

/// Maps Python 2 names in place (rule 1).
pub fn map_names(p: &mut Pickle) {
    for id in p.ids().collect::<Vec<_>>() {
        if let Value::Global(g) = p.value_mut(id) {
            map_global(g);
        }
    }
}

pub(crate) fn map_global(g: &mut Global) {
    if g.proto >= 3 {
        return;
    }
    let (Some(m), Some(n)) = (g.module.as_str(), g.name.as_str()) else {
        return;
    };
    if let Some((_, (m2, n2))) = NAME_MAPPING.iter().find(|((a, b), _)| *a == m && *b == n) {
        g.module = PyStr::from(*m2);
        g.name = PyStr::from(*n2);
        g.name_nodes = None;
    } else if let Some((_, m2)) = IMPORT_MAPPING.iter().find(|(a, _)| *a == m) {
        g.module = PyStr::from(*m2);
        g.name_nodes = None;
    }
    g.proto = 3;
}

fn global_is(p: &Pickle, id: NodeId, module: &str, name: &str) -> bool {
    matches!(p.node(id), Some(Value::Global(g)) if g.module.as_bytes() == module.as_bytes() && g.name.as_bytes() == name.as_bytes())
}

fn tuple_items(p: &Pickle, id: NodeId) -> Option<&[NodeId]> {
    match p.node(id) {
        Some(Value::Tuple(t)) => Some(t),
        _ => None,
    }
}

fn str_is(p: &Pickle, id: NodeId, s: &str) -> bool {
    matches!(p.node(id), Some(Value::Str(x)) if x.as_bytes() == s.as_bytes())
}

/// What a bare REDUCE node folds into, if anything.
fn fold(p: &mut Pickle, id: NodeId) -> Option<Value> {
    let Some(Value::Object(o)) = p.node(id) else {
        return None;
    };
    let ObjectKind::Reduce { callable, args } = o.kind else {
        return None;
    };
    let bare = o.is_bare();
    let state = o.state;
    let only_state = o.listitems.is_empty() && o.dictitems.is_empty() && o.additems.is_empty();
    let a = tuple_items(p, args)?.to_vec();
    if global_is(p, callable, "copyreg", "_reconstructor") && only_state {
        if let [cls, base, none] = a[..] {
            if global_is(p, base, "builtins", "object") && matches!(*p.value(none), Value::None) {
                let empty = p.push(Value::Tuple(Box::new([])));
                let mut obj = crate::value::Object::new(ObjectKind::NewObj { cls, args: empty });
                obj.state = state;
                return Some(Value::Object(Box::new(obj)));
            }
        }
        return None;
    }
    if !bare {
        return None;
    }
    if global_is(p, callable, "builtins", "set") || global_is(p, callable, "builtins", "frozenset")
    {
        let frozen = global_is(p, callable, "builtins", "frozenset");
        let [l] = a[..] else { return None };
        let Some(Value::List(items)) = p.node(l) else {
            return None;
        };
        // What the list held when REDUCE ran (decoded pickles), or all of it.
        let n = p
            .reduce_list_len
            .get(&id)
            .copied()
            .unwrap_or(items.len())
            .min(items.len());
        let items = items[..n].to_vec();
        // Unhashable members: CPython's call would fail; leave it unfolded.
        let mut keys = keys::Keys::new(p, u64::MAX);
        if items.iter().any(|&i| keys.hash(i).is_err()) {
            return None;
        }
        return Some(if frozen {
            Value::FrozenSet(items.into())
        } else {
            Value::Set(items)
        });
    }
    if global_is(p, callable, "builtins", "bytes") && a.is_empty() {
        return Some(Value::Bytes(Box::new([])));
    }
    if global_is(p, callable, "_codecs", "encode") {
        let [s, enc] = a[..] else { return None };
        if !str_is(p, enc, "latin1") && !str_is(p, enc, "latin-1") {
            return None;
        }
        let Some(Value::Str(s)) = p.node(s) else {
            return None;
        };
        return s.to_latin1().map(|b| Value::Bytes(b.into()));
    }
    if global_is(p, callable, "builtins", "bytearray") {
        return match a[..] {
            [] => Some(Value::ByteArray(Vec::new())),
            [b] => match p.node(b) {
                Some(Value::Bytes(b)) => Some(Value::ByteArray(b.to_vec())),
                _ => None,
            },
            [s, enc] if str_is(p, enc, "latin-1") || str_is(p, enc, "latin1") => match p.node(s) {
                Some(Value::Str(s)) => s.to_latin1().map(Value::ByteArray),
                _ => None,
            },
            _ => None,
        };
    }
    None
}

/// Applies rules 1 and 2 in place. Node ids are kept (folded nodes keep
/// their identity); new nodes may be added.
pub fn resolve(p: &mut Pickle, compare_budget: u64) -> Result<(), DecodeErrorKind> {
    map_names(p);
    let n = p.len();
    let mut folded_sets = Vec::new();
    let mut new_keys = false;
    // Arguments always precede the REDUCE that consumes them, so one pass in
    // creation order folds inner values first.
    for i in 0..n {
        let id = NodeId::node(i as u32);
        if let Some(v) = fold(p, id) {
            if matches!(v, Value::Set(_) | Value::FrozenSet(_)) {
                folded_sets.push(id);
            }
            // Bytes and frozensets may now equal other keys; a set or a
            // bytearray now used as a key or member makes the whole load
            // fail, as it does in CPython (unhashable type).
            new_keys |= matches!(
                v,
                Value::Bytes(_) | Value::FrozenSet(_) | Value::Set(_) | Value::ByteArray(_)
            );
            p.replace(id, v);
        }
    }
    if new_keys {
        // Dicts and sets may now hold equal members (e.g. two equal bytes
        // that were two REDUCE objects), or unhashable ones: merge (and
        // check) everything again.
        keys::dedupe_all(p, compare_budget)
    } else {
        keys::dedupe(p, &folded_sets, compare_budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, DecodeOptions};

    fn resolved(data: &[u8]) -> Pickle {
        let mut p = decode(data, &DecodeOptions::default()).unwrap();
        resolve(&mut p, 1_000_000).unwrap();
        p
    }

    #[test]
    fn protocol_2_bytes_and_sets_fold() {
        // pickle.dumps([b'ab', b'', {1}], 2)
        let data = b"\x80\x02]q\x00(c_codecs\nencode\nq\x01X\x02\x00\x00\x00abq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05c__builtin__\nbytes\nq\x06)Rq\x07c__builtin__\nset\nq\x08]q\tK\x01a\x85q\nRq\x0be.";
        let p = resolved(data);
        let Some(Value::List(items)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(*p.value(items[0]), Value::Bytes(b"ab"[..].into()));
        assert_eq!(*p.value(items[1]), Value::Bytes(Box::new([])));
        let Some(Value::Set(s)) = p.node(items[2]) else {
            panic!("{:?}", p.value(items[2]))
        };
        assert_eq!(*p.value(s[0]), Value::int(1));
    }

    /// A bytearray or set built by REDUCE and used as a dict key or set
    /// member: CPython's load fails (unhashable type), and so does resolving.
    #[test]
    fn unhashable_folds_used_as_keys_fail_as_in_cpython() {
        for (data, kind) in [
            // {bytearray(b'xyz'): <the same>} (a fuzz finding)
            (
                &b"\x80\x03]q\x00(cbuiltins\nbytearray\nq\x01C\x03xyzq\x02\x85q\x03Rq\x04h\x04d."[..],
                "bytearray",
            ),
            // {set([]): 1}
            (&b"\x80\x03(cbuiltins\nset\n]\x85RK\x01d."[..], "set"),
        ] {
            let mut p = decode(data, &DecodeOptions::default()).unwrap();
            assert_eq!(
                resolve(&mut p, 1_000_000),
                Err(DecodeErrorKind::Unhashable(kind)),
                "{kind}"
            );
        }
    }

    #[test]
    fn python2_names_map() {
        // protocol 0: c__builtin__\nset\n  and ccopy_reg\n_reconstructor\n
        let p = resolved(b"c__builtin__\nset\np0\n.");
        let Some(Value::Global(g)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(
            (g.module.as_str(), g.name.as_str()),
            (Some("builtins"), Some("set"))
        );
        let p = resolved(b"\x80\x03c__builtin__\nset\n.");
        let Some(Value::Global(g)) = p.node(p.root()) else {
            panic!()
        };
        assert_eq!(g.module.as_str(), Some("__builtin__"));
    }
}
