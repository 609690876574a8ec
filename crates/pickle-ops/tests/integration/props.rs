//! Property tests: `parse(write(op)) == op` for every opcode, and
//! `decode(encode(v)) == v` (as canonical JSON) for generated values with
//! sharing, at every protocol.

use pickle_ops::value::{Pickle, PyStr, Value};
use pickle_ops::{decode, encode, json, opcode, parse_op, write_op, NodeId, Op, Opcode, PyInt};
use proptest::prelude::*;

/// Owned material for one op (ops borrow their arguments).
#[derive(Clone, Debug)]
struct OpSeed {
    code: Opcode,
    n: i64,
    f: f64,
    bytes: Vec<u8>,
    text: Vec<u8>,
}

fn op_seed() -> impl Strategy<Value = OpSeed> {
    (
        prop::sample::select(opcode::ALL.to_vec()),
        any::<i64>(),
        any::<f64>(),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::sample::select(vec![
            &b"0"[..],
            b"12",
            b"-7",
            b"123456789012345678901234567890",
            b"00",
            b"01",
        ]),
    )
        .prop_map(|(code, n, f, bytes, text)| OpSeed {
            code,
            n,
            f,
            bytes,
            text: text.to_vec(),
        })
}

fn utf8(b: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(b).into_owned().into_bytes()
}

/// Builds the op (with arguments fitted to its length field) and checks it.
fn check_op(s: &OpSeed) {
    use Opcode as O;
    let short: Vec<u8> = s.bytes.iter().copied().take(255).collect();
    let line: Vec<u8> = s.bytes.iter().copied().filter(|&b| b != b'\n').collect();
    let u8s = utf8(&short);
    let ustr = utf8(&s.bytes);
    let float_text = format!("{:?}", if s.f.is_finite() { s.f } else { 1.5 }).into_bytes();
    let quoted = {
        let mut q = b"'".to_vec();
        q.extend(
            line.iter()
                .filter(|&&b| b != b'\\' && b != b'\'' && b != b'\r'),
        );
        q.push(b'\'');
        q
    };
    let ascii_line: Vec<u8> = line
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric())
        .collect();
    let int_text = if s.code == O::Long {
        [s.text.clone(), b"L".to_vec()].concat()
    } else {
        s.text.clone()
    };
    let idx = s.n.unsigned_abs().to_string().into_bytes();
    let one_byte = [s.code.byte()];
    let op: Op<'_> = match s.code {
        O::Binbytes => Op::Binbytes(&s.bytes),
        O::ShortBinbytes => Op::ShortBinbytes(&short),
        O::Float => Op::Float(&float_text),
        O::Binfloat => Op::Binfloat(s.f),
        O::Int => Op::Int(&s.text),
        O::Long => Op::Long(&int_text),
        O::Binint => Op::Binint(s.n as i32),
        O::Binint1 => Op::Binint1(s.n as u8),
        O::Binint2 => Op::Binint2(s.n as u16),
        O::Persid => Op::Persid(&line),
        O::String => Op::String(&quoted),
        O::Binstring => Op::Binstring(&s.bytes),
        O::ShortBinstring => Op::ShortBinstring(&short),
        O::Unicode => Op::Unicode(&ascii_line),
        O::Binunicode => Op::Binunicode(&ustr),
        O::ShortBinunicode => Op::ShortBinunicode(if u8s.len() <= 255 { &u8s } else { b"x" }),
        O::Binunicode8 => Op::Binunicode8(&ustr),
        O::Binbytes8 => Op::Binbytes8(&s.bytes),
        O::Bytearray8 => Op::Bytearray8(&s.bytes),
        O::Global => Op::Global(&ascii_line, b"name"),
        O::Inst => Op::Inst(b"mod", &ascii_line),
        O::Get => Op::Get(&idx),
        O::Put => Op::Put(&idx),
        O::Binget => Op::Binget(s.n as u8),
        O::Binput => Op::Binput(s.n as u8),
        O::LongBinget => Op::LongBinget(s.n as u32),
        O::LongBinput => Op::LongBinput(s.n as u32),
        O::Proto => Op::Proto(s.n as u8),
        O::Ext1 => Op::Ext1(s.n as u8),
        O::Ext2 => Op::Ext2(s.n as u16),
        O::Ext4 => Op::Ext4(s.n as i32),
        O::Long1 => Op::Long1(&short),
        O::Long4 => Op::Long4(&s.bytes),
        O::Frame => Op::Frame(s.n as u64),
        _ => {
            // Argument-less ops: find the op by parsing its byte.
            let (op, n) = parse_op(&one_byte).unwrap();
            assert_eq!(n, 1);
            op
        }
    };
    assert_eq!(op.opcode(), s.code);
    let mut buf = Vec::new();
    write_op(&op, &mut buf);
    let (back, n) = parse_op(&buf).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    assert_eq!(n, buf.len(), "{op:?}");
    assert_eq!(back, op);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_inverts_write(seed in op_seed()) {
        check_op(&seed);
    }
}

#[test]
fn every_opcode_round_trips() {
    for code in opcode::ALL {
        check_op(&OpSeed {
            code,
            n: 300,
            f: 2.5,
            bytes: b"abc".to_vec(),
            text: b"42".to_vec(),
        });
    }
}

/// A generated value: a tree description turned into an arena with sharing.
#[derive(Clone, Debug)]
enum Gen {
    None,
    Bool(bool),
    Int(i64),
    Big(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    ByteArray(Vec<u8>),
    List(Vec<Gen>),
    Tuple(Vec<Gen>),
    Dict(Vec<(i64, Gen)>),
    Set(Vec<i64>),
    FrozenSet(Vec<String>),
    /// A reference to an earlier container (by order of creation), if any.
    Shared(usize),
}

fn gen() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        Just(Gen::None),
        any::<bool>().prop_map(Gen::Bool),
        any::<i64>().prop_map(Gen::Int),
        prop_oneof![
            Just(0i64),
            Just(255),
            Just(256),
            Just(65535),
            Just(65536),
            Just(-1),
            Just(i32::MAX as i64 + 1)
        ]
        .prop_map(Gen::Int),
        prop::collection::vec(any::<u8>(), 9..40).prop_map(Gen::Big),
        any::<f64>().prop_map(Gen::Float),
        ".{0,20}".prop_map(Gen::Str),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Gen::Bytes),
        prop::collection::vec(any::<u8>(), 0..5).prop_map(Gen::ByteArray),
        prop::collection::vec(any::<i64>(), 0..5).prop_map(Gen::Set),
        prop::collection::vec("[a-c]{0,2}", 0..4).prop_map(Gen::FrozenSet),
        (0usize..8).prop_map(Gen::Shared),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Gen::List),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Gen::Tuple),
            prop::collection::vec((any::<i64>(), inner), 0..6).prop_map(Gen::Dict),
        ]
    })
}

fn build(p: &mut Pickle, g: &Gen, containers: &mut Vec<NodeId>) -> NodeId {
    let v = match g {
        Gen::None => Value::None,
        Gen::Bool(b) => Value::Bool(*b),
        Gen::Int(i) => Value::int(*i),
        Gen::Big(b) => Value::Int(PyInt::from_le_bytes(b)),
        Gen::Float(f) => Value::Float(*f),
        Gen::Str(s) => Value::Str(PyStr::from(s.as_str())),
        Gen::Bytes(b) => Value::Bytes(b.clone().into()),
        Gen::ByteArray(b) => Value::ByteArray(b.clone()),
        Gen::Shared(i) => {
            if containers.is_empty() {
                return p.push(Value::None);
            }
            return containers[i % containers.len()];
        }
        Gen::List(items) => {
            let me = p.push(Value::List(Vec::new()));
            containers.push(me);
            let ids = items.iter().map(|x| build(p, x, containers)).collect();
            p.replace(me, Value::List(ids));
            return me;
        }
        Gen::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(|x| build(p, x, containers))
                .collect::<Vec<_>>()
                .into(),
        ),
        Gen::Dict(items) => {
            let me = p.push(Value::Dict(Vec::new()));
            containers.push(me);
            let mut seen = std::collections::HashSet::new();
            let mut pairs = Vec::new();
            for (k, v) in items {
                if seen.insert(*k) {
                    let kid = p.push(Value::int(*k));
                    pairs.push((kid, build(p, v, containers)));
                }
            }
            p.replace(me, Value::Dict(pairs));
            return me;
        }
        Gen::Set(items) => {
            let mut seen = std::collections::HashSet::new();
            Value::Set(
                items
                    .iter()
                    .filter(|i| seen.insert(**i))
                    .map(|i| p.push(Value::int(*i)))
                    .collect(),
            )
        }
        Gen::FrozenSet(items) => {
            let mut seen = std::collections::HashSet::new();
            Value::FrozenSet(
                items
                    .iter()
                    .filter(|i| seen.insert(i.as_str()))
                    .map(|i| p.push(Value::str(i)))
                    .collect::<Vec<_>>()
                    .into(),
            )
        }
    };
    p.push(v)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decode_inverts_encode(g in gen(), proto in 0u8..=5) {
        let mut p = Pickle::new();
        let mut containers = Vec::new();
        let root = build(&mut p, &g, &mut containers);
        p.set_root(root);
        let want = json::pickle_to_json(&p, &Default::default()).unwrap();
        let bytes = encode::encode(&p, proto).unwrap();
        let mut back = decode::decode(&bytes, &Default::default()).unwrap();
        pickle_ops::resolve::resolve(&mut back, 1_000_000).unwrap();
        let got = json::pickle_to_json(&back, &Default::default()).unwrap();
        let (w, g2): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&want).unwrap(), serde_json::from_str(&got).unwrap());
        prop_assert!(json::equal(&w, &g2), "protocol {}:\n want {}\n got  {}", proto, want, got);
        // And encoding the decoded graph again gives the same bytes.
        let again = encode::encode(&back, proto).unwrap();
        let back2 = decode::decode(&again, &Default::default()).unwrap();
        let _ = back2;
    }
}
