//! Power cuts: every operation is recorded through mmpk's I/O seam
//! (`mmpk::record`), the files a power cut can leave are built from the
//! record (`mmpk::crash`: unsynced writes and map stores land in any
//! subset, torn at 512-byte sectors; names need a directory sync), and each
//! state is opened (after `repair`, or `create` for a creation, where the
//! docs say to run it) and compared with the dict before and after.
//!
//! `cargo test` runs a sample (at most `SAMPLE` states per cut);
//! `cargo xtask crash-states` runs the full set (`MMPK_CRASH_LIMIT`,
//! release build) and prints the table of RELIABILITY.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmpk::crash::{crash_states, Disk};
use mmpk::{record, Dict, Layout, OpenOptions, Value};
use ndarray::{Array1, Array2};

/// States per cut in `cargo test`.
const SAMPLE: usize = 48;

/// A stored value as the oracle compares it: arrays by dtype, shape and
/// bytes; masked arrays by both parts; other values by their canonical JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V {
    Array(String, Vec<usize>, Vec<u8>),
    Masked(String, Vec<usize>, Vec<u8>, Vec<u8>),
    Pickle(String),
    /// A key whose value does not read (the error).
    Unreadable(String),
}

/// A dict's content (order and commit number do not count).
pub type Model = BTreeMap<String, V>;

/// Reads every key of the dict at `path`.
pub fn model_of(d: &Dict) -> Result<Model, String> {
    let mut m = Model::new();
    for k in d.keys().map_err(|e| e.to_string())? {
        let v = match d.get(&k) {
            Err(e) => {
                m.insert(k, V::Unreadable(e.to_string()));
                continue;
            }
            Ok(v) => v,
        };
        let v = match v {
            Value::Array(a) => V::Array(a.dtype().str(), a.shape().to_vec(), a.bytes().to_vec()),
            Value::Masked(mk) => V::Masked(
                mk.data().dtype().str(),
                mk.data().shape().to_vec(),
                mk.data().bytes().to_vec(),
                match mk.mask_owned() {
                    Ok(m) => m.iter().map(|&b| u8::from(b)).collect(),
                    Err(e) => {
                        m.insert(k, V::Unreadable(e.to_string()));
                        continue;
                    }
                },
            ),
            Value::Pickle(p) => match pickle_ops::json::pickle_to_json(&p, &Default::default()) {
                Ok(j) => V::Pickle(j),
                Err(e) => V::Unreadable(format!("{e:?}")),
            },
            _ => return Err(format!("{k}: unknown kind")),
        };
        m.insert(k, v);
    }
    Ok(m)
}

/// How a crash state is brought back, as the docs say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recover {
    /// `repair` if it does not read as it is.
    Repair,
    /// `create` again (a creation cut short), then as `Repair`.
    Create,
}

/// What a crash state held, once recovered.
#[derive(Debug)]
enum Found {
    /// No file at the path.
    Absent,
    /// Not an mmpk file (the original of a conversion, if equal to it).
    Other(Vec<u8>),
    /// A dict; whether it needed `repair`; whether it scans clean; its
    /// length.
    Dict(Model, bool, bool, usize),
}

fn recover(scratch: &Path, content: Option<&[u8]>, how: Recover) -> Result<Found, String> {
    let Some(bytes) = content else {
        return Ok(Found::Absent);
    };
    std::fs::write(scratch, bytes).unwrap();
    let read = || -> Result<Model, String> {
        // SAFETY: the scratch file is private to this test.
        let d = unsafe { Dict::open_read_only(scratch) }.map_err(|e| e.to_string())?;
        model_of(&d)
    };
    let clean = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        mmpk_format::scan(&b).is_ok_and(|s| s.is_clean())
    };
    match read() {
        Ok(m) => return Ok(Found::Dict(m, false, clean(scratch), bytes.len())),
        Err(_) if how == Recover::Create => {
            // SAFETY: as above.
            if let Err(e) = unsafe { OpenOptions::new().create(true).open(scratch) } {
                if matches!(e, mmpk::Error::NotMmpk { .. }) {
                    return Ok(Found::Other(bytes.to_vec()));
                }
                return Err(e.to_string());
            }
        }
        Err(_) => {}
    }
    // SAFETY: as above.
    let d = match unsafe { Dict::open(scratch) } {
        Ok(d) => d,
        Err(mmpk::Error::NotMmpk { .. }) => return Ok(Found::Other(bytes.to_vec())),
        Err(e) => return Err(format!("does not open: {e}")),
    };
    d.repair().map_err(|e| format!("repair fails: {e}"))?;
    drop(d);
    read()
        .map(|m| Found::Dict(m, true, clean(scratch), bytes.len()))
        .map_err(|e| format!("after repair: {e}"))
}

mod ops;
use ops::limit;
pub use ops::{run, Op, Run};

/// What checking one run found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Distinct states checked.
    pub states: u64,
    /// States that needed `repair` (or `create`) to read.
    pub repaired: u64,
    /// States breaking the promise of the mode, with a description of the
    /// first few.
    pub violations: u64,
    pub examples: Vec<String>,
    /// Default mode: states with a touched key missing, and states with a
    /// new entry visible with bytes never written.
    pub lost_keys: u64,
    pub unwritten_data: u64,
    /// In-place vacuum: states with a key whose value is not its value
    /// (bytes of another entry, or unreadable).
    pub wrong_values: u64,
    /// Sampled cuts.
    pub sampled_cuts: u64,
}

impl Run {
    /// Checks every crash state (at most `limit` per cut) against the
    /// promise of the run's mode.
    pub fn check(&self, limit: usize, seed: u64) -> Outcome {
        let mut out = Outcome::default();
        let scratch_dir = crate::shm_tempdir();
        let scratch = scratch_dir.path().join("state.mmpk");
        let how = if self.op == Op::Create {
            Recover::Create
        } else {
            Recover::Repair
        };
        let counts = crash_states(&self.disk, &self.events, &self.path, limit, seed, |st| {
            out.states += 1;
            let found = recover(&scratch, st.content, how);
            if let Ok(Found::Dict(_, true, ..)) = &found {
                out.repaired += 1;
            }
            if let Err(why) = self.judge(found, st.mark, st.at_end, &mut out) {
                out.violations += 1;
                if out.examples.len() < 2 {
                    out.examples.push(format!(
                        "{} ({:?}, durable {}), mark {:?}, at end {}: {why}",
                        self.op.name(),
                        self.layout,
                        self.durable,
                        st.mark,
                        st.at_end
                    ));
                }
            }
        });
        out.sampled_cuts = counts.sampled_cuts;
        assert_eq!(counts.states, out.states);
        out
    }

    fn judge(
        &self,
        found: Result<Found, String>,
        mark: &str,
        at_end: bool,
        out: &mut Outcome,
    ) -> Result<(), String> {
        let found = found?;
        let after = &self.after;
        let before = self.before.as_ref();
        let m = match found {
            Found::Absent if self.op == Op::Create && !(self.durable && at_end) => return Ok(()),
            Found::Other(b) if self.op == Op::Convert && Some(&b) == self.original.as_ref() => {
                return if self.durable && at_end {
                    Err("the original after a durable convert returned".into())
                } else {
                    Ok(())
                };
            }
            Found::Absent => return Err("the file is gone".into()),
            Found::Other(_) => return Err("not an mmpk file".into()),
            Found::Dict(m, repaired, clean, len) => {
                if self.durable && at_end && repaired {
                    return Err("needs recovery after a durable call returned".into());
                }
                if self.durable && at_end && !clean {
                    return Err("not clean after a durable call returned".into());
                }
                if self.op == Op::Vacuum && self.durable && at_end && len as u64 != self.after_len {
                    return Err(format!(
                        "{len} bytes, not the vacuumed file's {}",
                        self.after_len
                    ));
                }
                m
            }
        };
        let is_before = before == Some(&m);
        let is_after = &m == after;
        if self.op == Op::VacuumInPlace {
            return self.judge_in_place(&m, at_end, out);
        }
        if matches!(self.op, Op::ReserveFillFlush | Op::RawFillDictFlush) {
            return self.judge_fill(&m, mark, at_end);
        }
        // par::insert_many shows its keys reserved (zeros) until their
        // data lands, in either mode: the default mode's promise holds
        // until it returns; durable, the dict after once it returned.
        let in_flight = self.op == Op::InsertMany && !at_end;
        if (self.durable || matches!(self.op, Op::Vacuum | Op::Convert)) && !in_flight {
            if at_end && (self.durable || self.op == Op::InsertThenDictFlush) && !is_after {
                return Err(format!("not the dict after: {}", diff(after, &m)));
            }
            if self.op.multi_entry() {
                return self.every_entry_old_or_new(&m);
            }
            if is_before || is_after {
                return Ok(());
            }
            return Err(format!("neither before nor after: {}", diff(after, &m)));
        }
        if at_end && self.op == Op::InsertThenDictFlush && !is_after {
            return Err(format!("not the dict after a flush: {}", diff(after, &m)));
        }
        // The default mode's promise: keys the operation does not touch
        // keep their values; a touched key holds its old value, its new
        // value, is missing, or (a new array or masked array) shows the
        // right dtype and shape over bytes not (all) written yet.
        let empty = Model::new();
        let before = before.unwrap_or(&empty);
        // Upgrade rewrites keys whose values stay equal.
        let rewritten: &[&str] = if self.op == Op::Upgrade {
            &["a", "m", "s"]
        } else {
            &[]
        };
        let (mut lost, mut unwritten) = (false, false);
        for k in before.keys().chain(after.keys()).chain(m.keys()) {
            let (b, a, s) = (before.get(k), after.get(k), m.get(k));
            if b == a && s != b && !rewritten.contains(&k.as_str()) {
                return Err(format!("untouched key {k:?} changed"));
            }
            if s == b || s == a {
                continue;
            }
            match (s, a) {
                (None, _) => lost = true,
                (Some(V::Unreadable(_)), Some(_)) if b.is_none() || b == a => unwritten = true,
                (Some(V::Array(dt, sh, _)), Some(V::Array(dt2, sh2, _)))
                | (Some(V::Masked(dt, sh, ..)), Some(V::Masked(dt2, sh2, ..)))
                    if dt == dt2 && sh == sh2 =>
                {
                    unwritten = true
                }
                _ => return Err(format!("key {k:?} holds something never written")),
            }
        }
        out.lost_keys += u64::from(lost);
        out.unwritten_data += u64::from(unwritten);
        Ok(())
    }

    /// The in-place vacuum's promise (not crash-safe, in either mode; see
    /// the module docs of mmpk's `inplace.rs`): the file opens after
    /// `repair`; an entry before the first one that moves keeps its value;
    /// later keys may be missing or, a move torn, hold bytes never theirs
    /// (counted); once the vacuum returned (it ends with an `fsync`), the
    /// vacuumed dict.
    fn judge_in_place(&self, m: &Model, at_end: bool, out: &mut Outcome) -> Result<(), String> {
        let after = &self.after;
        if at_end {
            return if m == after {
                Ok(())
            } else {
                Err(format!("not the dict after: {}", diff(after, m)))
            };
        }
        if m.get("keep") != after.get("keep") {
            return Err("the entry that does not move changed".into());
        }
        let (mut lost, mut wrong) = (false, false);
        for (k, v) in after {
            match m.get(k) {
                None => lost = true,
                Some(x) if x != v => wrong = true,
                Some(_) => {}
            }
        }
        if m.keys().any(|k| !after.contains_key(k)) {
            wrong = true;
        }
        out.lost_keys += u64::from(lost);
        out.wrong_values += u64::from(wrong);
        Ok(())
    }

    fn every_entry_old_or_new(&self, m: &Model) -> Result<(), String> {
        let empty = Model::new();
        let before = self.before.as_ref().unwrap_or(&empty);
        for k in before.keys().chain(self.after.keys()).chain(m.keys()) {
            let s = m.get(k);
            if s != before.get(k) && s != self.after.get(k) {
                return Err(format!("key {k:?} neither old nor new"));
            }
        }
        Ok(())
    }

    fn judge_fill(&self, m: &Model, mark: &str, at_end: bool) -> Result<(), String> {
        let before = self.before.as_ref().unwrap();
        let mut rest = m.clone();
        let r = rest.remove("r");
        if &rest != before {
            return Err("another key changed".into());
        }
        let filled = self.filled.as_ref().unwrap();
        match r {
            None if mark.is_empty() && !(self.durable && at_end) => Ok(()),
            // Default mode: the reservation itself is not durable.
            None if !self.durable => Ok(()),
            None => Err("the reserved array is gone".into()),
            Some(V::Array(_, _, b)) => {
                if (mark == "flushed" || at_end) && &b != filled {
                    return Err("flushed data not on the disk".into());
                }
                // Before the flush: any mix of zeros (reserved) and the
                // new bytes.
                if b.iter().zip(filled).any(|(&x, &y)| x != 0 && x != y) {
                    return Err("bytes neither reserved nor filled".into());
                }
                Ok(())
            }
            Some(_) => Err("r is not an array".into()),
        }
    }
}

fn diff(want: &Model, got: &Model) -> String {
    let mut d = Vec::new();
    for k in want.keys().chain(got.keys()) {
        if want.get(k) != got.get(k) && !d.contains(k) {
            d.push(k.clone());
        }
    }
    format!("keys differing: {d:?}")
}

/// Every operation in both layouts and both modes, checked with at most
/// `limit` states per cut; returns (run, outcome) pairs.
pub fn check_all(limit: usize, seed: u64) -> Vec<(Op, Layout, bool, Outcome)> {
    let mut all = Vec::new();
    for durable in [true, false] {
        for layout in [Layout::V2, Layout::Mmappickle1] {
            for op in Op::ALL {
                let r = run(op, layout, durable);
                let o = r.check(limit, seed);
                all.push((op, layout, durable, o));
            }
        }
    }
    all
}

/// The sample that `cargo test` runs (see the module docs); the full
/// enumeration with `MMPK_CRASH_LIMIT=N` (`cargo xtask crash-states`).
#[test]
fn power_cuts_keep_each_mode_s_promise() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let all = check_all(limit(), 0x5eed);
    let mut total = 0;
    let mut bad = Vec::new();
    println!("| operation | layout | mode | states | repaired | violations | key lost | unwritten data (default) / wrong value (in place) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (op, layout, durable, o) in &all {
        total += o.states;
        println!(
            "| {} | {:?} | {} | {} | {} | {} | {} | {} |",
            op.name(),
            layout,
            if *durable { "durable" } else { "default" },
            o.states,
            o.repaired,
            o.violations,
            o.lost_keys,
            o.unwritten_data + o.wrong_values
        );
        bad.extend(o.examples.iter().cloned());
    }
    println!("total distinct states: {total}");
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The checker sees what it must: in the default mode (no syncs) it finds
/// the two failures measured on the tool before this checker existed (a
/// replace whose key is lost: the old entry's delete reached the disk, the
/// new entry's frame head did not; an array insert visible with data never
/// written), both inside the default mode's documented promise.
#[test]
fn the_default_mode_s_known_failures_are_found() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    for layout in [Layout::V2, Layout::Mmappickle1] {
        let o = run(Op::Replace, layout, false).check(SAMPLE, 7);
        assert!(o.lost_keys > 0, "{layout:?}: {o:?}");
        assert_eq!(o.violations, 0, "{:?}", o.examples);
        let o = run(Op::InsertArray, layout, false).check(SAMPLE, 7);
        assert!(o.unwritten_data > 0, "{layout:?}: {o:?}");
        assert_eq!(o.violations, 0, "{:?}", o.examples);
        // The same operations in durable mode never show them.
        for op in [Op::Replace, Op::InsertArray] {
            let o = run(op, layout, true).check(SAMPLE, 7);
            assert_eq!((o.lost_keys, o.unwritten_data, o.violations), (0, 0, 0));
        }
    }
}

/// One mutant per sync call site of the crate (that site's syncs do
/// nothing, as if the line were deleted): the durable runs of every
/// operation must then break their promise somewhere. A site no operation
/// needs would be a sync the checker cannot justify.
#[test]
fn removing_any_one_sync_is_caught() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let limit = 24;
    // The sites, as the runs call them (both modes: `Dict::flush` and
    // `ArrayMut::flush` sync in the default mode too).
    for durable in [true, false] {
        for op in Op::ALL {
            run(op, Layout::V2, durable);
        }
    }
    let sites = record::sync_sites();
    assert!(sites.len() >= 8, "{sites:?}");
    let mut survivors = Vec::new();
    for site in &sites {
        record::skip_syncs_from(Some(site));
        let mut caught = 0;
        'ops: for durable in [true, false] {
            for op in Op::ALL {
                caught += run(op, Layout::V2, durable).check(limit, 11).violations;
                if caught > 0 {
                    break 'ops;
                }
            }
        }
        record::skip_syncs_from(None);
        println!("mutant without the sync at {site}: {caught} violation(s)");
        if caught == 0 {
            survivors.push(site.clone());
        }
    }
    assert!(survivors.is_empty(), "mutants not caught: {survivors:?}");
}

/// An insert into a room makes the same two barriers as an append, and
/// each is needed there too: without the first, the room's publishing
/// write can land before the entry's bytes (a key visible over zeros);
/// without the second, the call returns before it is on the disk.
#[test]
fn a_room_insert_needs_both_its_barriers() {
    let _ = mmpk_test_support::fixtures_or_skip!("");
    let ops = [Op::RoomInsertArray, Op::RoomReplace];
    for op in ops {
        let o = run(op, Layout::V2, true).check(SAMPLE, 5);
        assert_eq!(o.violations, 0, "{:?}", o.examples);
    }
    let sites: Vec<String> = record::sync_sites()
        .into_iter()
        .filter(|s| s.contains("src/write.rs"))
        .collect();
    assert_eq!(sites.len(), 2, "{sites:?}");
    for site in &sites {
        record::skip_syncs_from(Some(site));
        let caught: u64 = ops
            .iter()
            .map(|&op| run(op, Layout::V2, true).check(SAMPLE, 5).violations)
            .sum();
        record::skip_syncs_from(None);
        assert!(caught > 0, "the room insert without the sync at {site}");
    }
}
