//! The operations the power-cut checker runs, each recorded once
//! ([`run`]): what they do, on which dict, and how their crash states are
//! brought back.

use super::*;

/// The operations checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    InsertArray,
    InsertMasked,
    InsertValue,
    Replace,
    RoomInsertArray,
    RoomInsertValue,
    RoomReplace,
    Remove,
    RemoveMany,
    ReserveFillFlush,
    RawFillDictFlush,
    InsertThenDictFlush,
    InsertMany,
    Vacuum,
    VacuumInPlace,
    Repair,
    Upgrade,
    Convert,
    Create,
}

impl Op {
    pub const ALL: [Op; 19] = [
        Op::InsertArray,
        Op::InsertMasked,
        Op::InsertValue,
        Op::Replace,
        Op::RoomInsertArray,
        Op::RoomInsertValue,
        Op::RoomReplace,
        Op::Remove,
        Op::RemoveMany,
        Op::ReserveFillFlush,
        Op::RawFillDictFlush,
        Op::InsertThenDictFlush,
        Op::InsertMany,
        Op::Vacuum,
        Op::VacuumInPlace,
        Op::Repair,
        Op::Upgrade,
        Op::Convert,
        Op::Create,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Op::InsertArray => "insert array",
            Op::InsertMasked => "insert masked array",
            Op::InsertValue => "insert value",
            Op::Replace => "replace",
            Op::RoomInsertArray => "insert array into a room",
            Op::RoomInsertValue => "insert value into a room",
            Op::RoomReplace => "replace into a room",
            Op::Remove => "remove",
            Op::RemoveMany => "remove 3 keys",
            Op::ReserveFillFlush => "reserve, fill, flush",
            Op::RawFillDictFlush => "reserve, fill a raw handle, Dict::flush",
            Op::InsertThenDictFlush => "insert, Dict::flush",
            Op::InsertMany => "par::insert_many (2 arrays)",
            Op::Vacuum => "vacuum",
            Op::VacuumInPlace => "vacuum in place (opened from a file)",
            Op::Repair => "repair",
            Op::Upgrade => "upgrade",
            Op::Convert => "convert",
            Op::Create => "create",
        }
    }

    /// Whether the base file ends with a room (made by a durable insert).
    fn into_room(self) -> bool {
        matches!(
            self,
            Op::RoomInsertArray | Op::RoomInsertValue | Op::RoomReplace
        )
    }

    /// Keys the operation may change (every other key must stay as it was).
    pub(super) fn multi_entry(self) -> bool {
        matches!(
            self,
            Op::RemoveMany | Op::Upgrade | Op::InsertThenDictFlush | Op::InsertMany
        )
    }
}

pub(super) fn pickle(json: &str) -> mmpk::Pickle {
    pickle_ops::json::from_json_str(json).unwrap()
}

/// The full run (`MMPK_CRASH_LIMIT` above the sample's) writes bigger
/// entries, whose cuts have more states than the limit (sampled).
pub(super) fn full() -> bool {
    limit() > SAMPLE
}

pub(super) fn limit() -> usize {
    std::env::var("MMPK_CRASH_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SAMPLE)
}

pub(super) fn big(seed: u32) -> Array1<f64> {
    // 3,000 bytes of data (the full run: 32 KiB): several sectors, none of
    // them zero.
    let n = if full() { 4096 } else { 375 };
    Array1::from_shape_fn(n, |i| f64::from(seed) * 1000.0 + i as f64 + 0.5)
}

/// A dict with a few entries of every kind (and a removed one).
pub(super) fn fill_base(d: &Dict) {
    d.insert_array("a", &big(1)).unwrap();
    d.insert_pickle("v", &pickle(r#"{"dict":[[{"str":"x"},{"int":"1"}],[{"str":"y"},{"list":[{"bool":true},{"none":null}]}]]}"#))
        .unwrap();
    let m = ndarray::arr1(&[1i32, 2, 3, 4]);
    d.insert_masked("m", &m, Some(&ndarray::arr1(&[false, true, false, false])))
        .unwrap();
    d.insert_array("s", &ndarray::arr1(&[7u8, 8, 9])).unwrap();
    d.insert_array("gone", &ndarray::arr1(&[1u16])).unwrap();
    d.remove("gone").unwrap();
}

pub(super) fn opts(layout: Layout, durable: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.layout(layout).durable(durable);
    o
}

/// A plain pickled dict (`pickle.dumps({'arr': <2x3 f8>, 'n': 5}, 4)`
/// assembled from numpy's own pickle in the fixtures).
pub(super) fn plain_pickle() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/numpy/np2/shape_2x3.p4.pkl");
    let b = std::fs::read(p).unwrap();
    let start = if b[2] == 0x95 { 11 } else { 2 };
    let mut out = vec![0x80, 4, b'}', b'(', 0x8c, 3];
    out.extend_from_slice(b"arr");
    out.extend_from_slice(&b[start..b.len() - 1]);
    out.extend_from_slice(b"\x8c\x01nK\x05u.");
    out
}

/// One recorded run of `op`: the disk before, the events, the dicts before
/// and after, and how states are recovered.
pub struct Run {
    pub op: Op,
    pub layout: Layout,
    pub durable: bool,
    pub(super) _dir: tempfile::TempDir,
    pub(super) path: PathBuf,
    pub(super) disk: Disk,
    pub(super) events: Vec<record::Event>,
    pub(super) before: Option<Model>,
    pub(super) after: Model,
    /// The file's length after.
    pub(super) after_len: u64,
    /// For a conversion: the original file.
    pub(super) original: Option<Vec<u8>>,
    /// For reserve/fill: the array's final bytes.
    pub(super) filled: Option<Vec<u8>>,
}

/// Runs `op` once, recording it.
pub fn run(op: Op, layout: Layout, durable: bool) -> Run {
    let dir = crate::shm_tempdir();
    let path = std::fs::canonicalize(dir.path()).unwrap().join("d.mmpk");
    let base_layout = if op == Op::Upgrade {
        Layout::Mmappickle1
    } else {
        layout
    };
    let mut original = None;
    match op {
        Op::Create => {}
        Op::Convert => {
            let b = plain_pickle();
            std::fs::write(&path, &b).unwrap();
            original = Some(b);
        }
        _ => {
            let d = crate::create_with(&path, &mut opts(base_layout, false));
            if op == Op::VacuumInPlace {
                // An entry before every dead one: it does not move.
                d.insert_array("keep", &big(4)).unwrap();
            }
            fill_base(&d);
            if op.into_room() {
                // A durable insert leaves a room at the end (v2 layout),
                // which the operation writes into.
                drop(d);
                // SAFETY: private test file.
                let d = unsafe { opts(base_layout, true).open(&path) }.unwrap();
                d.insert_array("pre", &ndarray::arr1(&[3.5f64, 4.5]))
                    .unwrap();
            } else if matches!(op, Op::Vacuum | Op::VacuumInPlace) {
                d.insert_array("a", &big(9)).unwrap();
                d.remove("s").unwrap();
            }
        }
    }
    if op == Op::Repair {
        // A torn tail: an insert cut after its body (no frame head).
        let mut b = std::fs::read(&path).unwrap();
        b.extend_from_slice(&[0x8c, 1, b'z', b'K', 5, 0x4a, 0, 0, 0, 0, 0x30]);
        std::fs::write(&path, b).unwrap();
    }
    // SAFETY: private test file.
    let ro = |p: &Path| unsafe { Dict::open_read_only(p) }.ok();
    let before = ro(&path).map(|d| model_of(&d).unwrap());
    let disk = Disk::read_dir(dir.path()).unwrap();
    let o = opts(layout, durable);
    let mut filled = None;
    let open = || -> Dict {
        if op == Op::VacuumInPlace {
            // No path to rename over: the vacuum moves entries in place.
            let f = std::fs::File::options()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            // SAFETY: private test file.
            return unsafe { o.open_file(f, "d.mmpk") }.unwrap();
        }
        // SAFETY: private test file.
        unsafe { o.open(&path) }.unwrap()
    };
    let dict = (!matches!(op, Op::Create | Op::Convert)).then(open);
    record::start();
    match op {
        Op::InsertArray => dict.as_ref().unwrap().insert_array("n", &big(2)).unwrap(),
        Op::InsertMasked => {
            let n = if full() { 90 } else { 30 };
            let m = Array2::from_shape_fn((n, 20), |(i, j)| (i * 20 + j) as f32);
            let mask = Array2::from_shape_fn((n, 20), |(i, j)| (i + j) % 3 == 0);
            dict.as_ref()
                .unwrap()
                .insert_masked("n", &m, Some(&mask))
                .unwrap()
        }
        Op::InsertValue => dict
            .as_ref()
            .unwrap()
            .insert_pickle(
                "n",
                &pickle(r#"{"list":[{"str":"hello"},{"bytes_b64":"AAEC"},{"int":"35"}]}"#),
            )
            .unwrap(),
        Op::Replace | Op::RoomReplace => dict.as_ref().unwrap().insert_array("a", &big(3)).unwrap(),
        Op::RoomInsertArray => dict.as_ref().unwrap().insert_array("n", &big(2)).unwrap(),
        Op::RoomInsertValue => dict
            .as_ref()
            .unwrap()
            .insert_pickle("n", &pickle(r#"{"list":[{"str":"room"},{"int":"7"}]}"#))
            .unwrap(),
        Op::Remove => dict.as_ref().unwrap().remove("a").unwrap(),
        Op::RemoveMany => {
            let d = dict.as_ref().unwrap();
            for k in ["a", "v", "m"] {
                d.remove(k).unwrap();
            }
        }
        Op::ReserveFillFlush => {
            let d = dict.as_ref().unwrap();
            d.reserve::<u32>("r", &[if full() { 200 } else { 40 }, 30])
                .unwrap();
            record::mark("reserved");
            let mut a = d.array_mut("r").unwrap();
            // Bytes, not a typed view: the mmappickle-1.0 layout does not
            // align data.
            fill_pattern(a.bytes_mut());
            a.flush().unwrap();
            record::mark("flushed");
            filled = Some(a.info().nbytes);
            drop(a);
        }
        Op::RawFillDictFlush => {
            let d = dict.as_ref().unwrap();
            d.reserve::<u32>("r", &[if full() { 200 } else { 40 }, 30])
                .unwrap();
            record::mark("reserved");
            // Stores through a raw handle, as the Python package's numpy
            // arrays make them, made durable by the dict's flush.
            let raw = d.raw_array("r").unwrap();
            let p = raw.as_mut_ptr().unwrap();
            // SAFETY: `raw` keeps its `len()` bytes mapped (writable) while
            // it lives, and nothing else reads or writes them meanwhile.
            let bytes = unsafe { std::slice::from_raw_parts_mut(p, raw.len()) };
            fill_pattern(bytes);
            d.flush().unwrap();
            record::mark("flushed");
            filled = Some(raw.info().nbytes);
            drop(raw);
        }
        Op::InsertThenDictFlush => {
            let d = dict.as_ref().unwrap();
            d.insert_array("n", &big(2)).unwrap();
            d.insert_pickle("n2", &pickle(r#"{"int":"5"}"#)).unwrap();
            d.flush().unwrap();
        }
        Op::InsertMany => {
            let (x, y) = (big(5), big(6));
            mmpk::par::insert_many(dict.as_ref().unwrap(), &[("n", x.view()), ("a", y.view())])
                .unwrap();
        }
        Op::Vacuum | Op::VacuumInPlace => {
            dict.as_ref().unwrap().vacuum().unwrap();
        }
        Op::Repair => {
            assert!(dict.as_ref().unwrap().repair().unwrap().changed);
        }
        Op::Upgrade => {
            let keys = dict.as_ref().unwrap().upgrade().unwrap();
            assert_eq!(keys.len(), 3, "{keys:?}");
        }
        Op::Convert => {
            // SAFETY: private test file.
            unsafe { o.convert(&path) }.unwrap();
        }
        Op::Create => {
            let mut c = o.clone();
            c.create_new(true);
            // SAFETY: private test file.
            unsafe { c.open(&path) }.unwrap();
        }
    }
    let events = record::take();
    drop(dict);
    let after = model_of(&ro(&path).unwrap()).unwrap();
    let filled = filled.map(|_| match after.get("r") {
        Some(V::Array(_, _, b)) => b.clone(),
        _ => panic!("no r"),
    });
    let after_len = std::fs::metadata(&path).unwrap().len();
    Run {
        op,
        layout,
        durable,
        _dir: dir,
        path,
        disk,
        events,
        before,
        after,
        after_len,
        original,
        filled,
    }
}

/// The bytes a reserve/fill operation stores: never zero, so a page that
/// did not reach the disk shows.
fn fill_pattern(bytes: &mut [u8]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i % 251 + 1) as u8;
    }
}
