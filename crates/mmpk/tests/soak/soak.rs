//! The soak test's logic, shared by the `soak` program of `crates/devtools` (`cargo xtask
//! soak`, `fixtures/gen/mixed_writers.py`) and the integration tests
//! (`tests/integration/soak.rs`, which spawn the test binary itself).
//!
//! Rounds: in each, several worker processes of several threads open one
//! file and, seeded, insert, replace, remove, read views of, fill mutable
//! views of, reserve and store generic values under their own keys (and
//! read anyone's), each thread against its own model. Between rounds, with
//! no other process holding the file (docs/format.md section 10), the
//! orchestrating process runs threads of its own on the file while it
//! vacuums it again and again (refused while a thread holds a view), then
//! vacuums once more.
//! Every thread checks all its keys at the start of each round (after the
//! other processes and the vacuum), and at the end a fresh reader checks
//! every key of every model and that no other key is live.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mmpk::pickle_ops::Value as PV;
use mmpk::{Dict, Error, Layout, OpenOptions};
use ndarray::Array1;

/// What a key holds in a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// A `u64` array of this length, every element this value.
    Array(usize, u64),
    /// A generic int.
    Int(i64),
}

pub use mmpk_test_support::rng::SplitMix64 as Rng;

/// How a soak runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the file and the models.
    pub dir: PathBuf,
    /// Worker processes per round.
    pub processes: u32,
    /// Threads per worker process.
    pub threads: u32,
    /// Operations per thread per round.
    pub ops: u32,
    /// At least this many rounds.
    pub rounds: u32,
    /// And more rounds until this much time has passed.
    pub seconds: u64,
    /// The seed.
    pub seed: u64,
}

/// What a soak did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// Rounds run (each followed by a vacuum).
    pub rounds: u32,
    /// Operations done by all threads.
    pub ops: u64,
    /// Entries checked against a model (during the rounds and at the end).
    pub checked: u64,
    /// Live entries at the end.
    pub live: u64,
    /// Vacuums done (between rounds, and racing this process's threads).
    pub vacuums: u64,
}

fn path_of(dir: &Path) -> PathBuf {
    dir.join("soak.mmpk")
}

fn model_path(dir: &Path, w: u32, t: u32) -> PathBuf {
    dir.join(format!("model-w{w}t{t}.txt"))
}

fn open(path: &Path, layout: Layout) -> Result<Dict, String> {
    // SAFETY: the soak's file is private to it; nobody truncates or vacuums
    // it while a worker has it open (vacuum runs between rounds).
    unsafe { OpenOptions::new().create(true).layout(layout).open(path) }
        .map_err(|e| format!("open {}: {e}", path.display()))
}

fn int_pickle(v: i64) -> mmpk::Pickle {
    let mut p = mmpk::Pickle::new();
    let id = p.push(PV::int(v));
    p.set_root(id);
    p
}

/// Checks `key` against `m`; returns an error describing the difference.
pub fn check_key(d: &Dict, key: &str, m: Model) -> Result<(), String> {
    let bad = |what: String| format!("key {key}: {what}");
    match m {
        Model::Array(n, v) => {
            let a = d.array(key).map_err(|e| bad(e.to_string()))?;
            let owned = a.to_owned::<u64>().map_err(|e| bad(e.to_string()))?;
            if owned.len() != n || owned.iter().any(|&x| x != v) {
                return Err(bad(format!(
                    "expected {n} x {v}, found {:?}",
                    owned.iter().take(4).collect::<Vec<_>>()
                )));
            }
            match a.view::<u64>() {
                Ok(view) if view.iter().any(|&x| x != v) => return Err(bad("view differs".into())),
                Ok(_) | Err(Error::Misaligned { .. }) => {}
                Err(e) => return Err(bad(e.to_string())),
            }
        }
        Model::Int(v) => {
            let p = d.get_pickle(key).map_err(|e| bad(e.to_string()))?;
            let got = format!("{:?}", &*p.value(p.root()));
            if got != format!("{:?}", PV::int(v)) {
                return Err(bad(format!("expected int {v}, found {got}")));
            }
        }
    }
    Ok(())
}

fn load_model(path: &Path) -> BTreeMap<String, Model> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let v = match f.as_slice() {
            [_, "a", n, v] => Model::Array(n.parse().unwrap_or(0), v.parse().unwrap_or(0)),
            [_, "i", v] => Model::Int(v.parse().unwrap_or(0)),
            _ => continue,
        };
        m.insert(f[0].to_string(), v);
    }
    m
}

fn save_model(path: &Path, m: &BTreeMap<String, Model>) -> Result<(), String> {
    let mut s = String::new();
    for (k, v) in m {
        match v {
            Model::Array(n, x) => s.push_str(&format!("{k} a {n} {x}\n")),
            Model::Int(x) => s.push_str(&format!("{k} i {x}\n")),
        }
    }
    std::fs::write(path, s).map_err(|e| e.to_string())
}

/// One worker thread's round; returns (operations, entries checked).
fn thread_round(
    d: &Dict,
    dir: &Path,
    w: u32,
    t: u32,
    round: u32,
    ops: u32,
    seed: u64,
) -> Result<(u64, u64), String> {
    let mpath = model_path(dir, w, t);
    let mut model = load_model(&mpath);
    let mut checked = 0u64;
    for (k, m) in &model {
        check_key(d, k, *m).map_err(|e| format!("round {round} start: {e}"))?;
        checked += 1;
    }
    let mut rng = Rng(seed ^ (u64::from(w) << 40) ^ (u64::from(t) << 32) ^ u64::from(round));
    let mut next = 0u32;
    let err = |op: &str, k: &str, e: Error| format!("w{w}t{t} round {round}: {op} {k}: {e}");
    for _ in 0..ops {
        let own: Vec<String> = model.keys().cloned().collect();
        let pick = |rng: &mut Rng| {
            (!own.is_empty()).then(|| own[rng.below(own.len() as u64) as usize].clone())
        };
        let len = if rng.below(50) == 0 {
            20_000
        } else {
            1 + rng.below(300) as usize
        };
        let v = rng.next() >> 1;
        match rng.below(100) {
            0..=24 => {
                let k = format!("w{w}t{t}r{round}-{next}");
                next += 1;
                d.insert_array(&k, &Array1::from_elem(len, v))
                    .map_err(|e| err("insert", &k, e))?;
                model.insert(k, Model::Array(len, v));
            }
            25..=39 => {
                if let Some(k) = pick(&mut rng) {
                    d.insert_array(&k, &Array1::from_elem(len, v))
                        .map_err(|e| err("replace", &k, e))?;
                    model.insert(k, Model::Array(len, v));
                }
            }
            40..=49 => {
                if let Some(k) = pick(&mut rng) {
                    d.remove(&k).map_err(|e| err("remove", &k, e))?;
                    model.remove(&k);
                }
            }
            50..=64 => {
                if let Some(k) = pick(&mut rng) {
                    check_key(d, &k, model[&k])?;
                    checked += 1;
                }
            }
            65..=74 => {
                if let Some(k) = pick(&mut rng) {
                    if let Model::Array(n, _) = model[&k] {
                        let mut a = d.array_mut(&k).map_err(|e| err("array_mut", &k, e))?;
                        match a.view_mut::<u64>() {
                            Ok(mut view) => view.fill(v),
                            Err(Error::Misaligned { .. }) => {
                                for c in a.bytes_mut().chunks_exact_mut(8) {
                                    c.copy_from_slice(&v.to_ne_bytes());
                                }
                            }
                            Err(e) => return Err(err("view_mut", &k, e)),
                        }
                        model.insert(k, Model::Array(n, v));
                    }
                }
            }
            75..=82 => {
                let k = match pick(&mut rng) {
                    Some(k) if rng.below(2) == 0 => k,
                    _ => {
                        next += 1;
                        format!("w{w}t{t}r{round}-{}", next - 1)
                    }
                };
                let x = v as i64 - (1 << 62);
                d.insert_pickle(&k, &int_pickle(x))
                    .map_err(|e| err("insert_pickle", &k, e))?;
                model.insert(k, Model::Int(x));
            }
            83..=87 => {
                let k = format!("w{w}t{t}r{round}-{next}");
                next += 1;
                d.reserve::<u64>(&k, &[len])
                    .map_err(|e| err("reserve", &k, e))?;
                model.insert(k, Model::Array(len, 0));
            }
            88..=94 => {
                // Anyone's key: it may be replaced or removed meanwhile.
                let keys = d.keys().map_err(|e| err("keys", "", e))?;
                if !keys.is_empty() {
                    let k = &keys[rng.below(keys.len() as u64) as usize];
                    match d.get(k) {
                        Ok(mmpk::Value::Array(a)) => {
                            std::hint::black_box(
                                a.to_owned::<u64>()
                                    .map(|x| x.iter().fold(0u64, |s, &y| s ^ y))
                                    .ok(),
                            );
                        }
                        Ok(_) | Err(Error::KeyNotFound { .. }) => {}
                        // Another thread of this process holds its mutable view.
                        Err(Error::Busy { .. }) => {}
                        Err(e) => return Err(err("get", k, e)),
                    }
                }
            }
            _ => {
                for (k, m) in &model {
                    check_key(d, k, *m)?;
                    checked += 1;
                }
            }
        }
    }
    save_model(&mpath, &model)?;
    Ok((u64::from(ops), checked))
}

/// A worker process: `spec` is `dir,worker,threads,ops,round,seed`; runs
/// its threads' round and returns "SOAK-OK OPS CHECKED".
pub fn worker(spec: &str) -> Result<String, String> {
    let f: Vec<&str> = spec.split(',').collect();
    let [dir, w, threads, ops, round, seed] = f.as_slice() else {
        return Err(format!("bad spec {spec:?}"));
    };
    let p = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
    let (w, threads, ops, round, seed) = (
        p(w)? as u32,
        p(threads)? as u32,
        p(ops)? as u32,
        p(round)? as u32,
        p(seed)?,
    );
    let dir = PathBuf::from(dir);
    let layout = if w % 2 == 1 {
        Layout::Mmappickle1
    } else {
        Layout::V2
    };
    let d = open(&path_of(&dir), layout)?;
    let results: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (d, dir) = (d.clone(), dir.clone());
                s.spawn(move || thread_round(&d, &dir, w, t, round, ops, seed))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let (mut o, mut c) = (0, 0);
    for r in results {
        let (a, b) = r?;
        o += a;
        c += b;
    }
    Ok(format!("SOAK-OK {o} {c}"))
}

/// The orchestrator's own round, when no other process has the file open:
/// `cfg.threads` threads (worker number `cfg.processes`) work on the dict
/// while this thread vacuums it again and again. Returns (operations,
/// entries checked, vacuums done).
fn local_round(d: &Dict, cfg: &Config, round: u32) -> Result<(u64, u64, u64), String> {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let (d, dir) = (d.clone(), cfg.dir.clone());
                s.spawn(move || {
                    thread_round(&d, &dir, cfg.processes, t, round, cfg.ops / 2, cfg.seed)
                })
            })
            .collect();
        let mut vacuums = 0;
        while !hs.iter().all(|h| h.is_finished()) {
            match d.vacuum() {
                Ok(_) => vacuums += 1,
                Err(Error::ViewsAlive { .. }) => {}
                Err(e) => return Err(format!("round {round}: local vacuum: {e}")),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let (mut o, mut c) = (0, 0);
        for h in hs {
            let (a, b) = h
                .join()
                .map_err(|_| "a local thread panicked".to_string())??;
            o += a;
            c += b;
        }
        Ok((o, c, vacuums))
    })
}

/// Runs the soak: rounds of worker processes (`spawn(spec)` gives the
/// command that runs [`worker`] on `spec` and prints its result), a vacuum
/// between rounds, and the final check.
pub fn orchestrate(cfg: &Config, spawn: &dyn Fn(&str) -> Command) -> Result<Report, String> {
    let start = Instant::now();
    let path = path_of(&cfg.dir);
    let _ = std::fs::remove_file(&path);
    for e in std::fs::read_dir(&cfg.dir).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("model-"))
        {
            let _ = std::fs::remove_file(p);
        }
    }
    drop(open(&path, Layout::V2)?);
    let mut rep = Report::default();
    let mut round = 0;
    while round < cfg.rounds || start.elapsed() < Duration::from_secs(cfg.seconds) {
        let children: Vec<_> = (0..cfg.processes)
            .map(|w| {
                let spec = format!(
                    "{},{w},{},{},{round},{}",
                    cfg.dir.display(),
                    cfg.threads,
                    cfg.ops,
                    cfg.seed
                );
                spawn(&spec)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("spawn: {e}"))
            })
            .collect::<Result<_, _>>()?;
        for c in children {
            let out = c.wait_with_output().map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().find_map(|l| l.find("SOAK-").map(|i| &l[i..]));
            match line.map(|l| l.split(' ').collect::<Vec<_>>()) {
                Some(f) if f[0] == "SOAK-OK" && f.len() == 3 => {
                    rep.ops += f[1].parse::<u64>().unwrap_or(0);
                    rep.checked += f[2].parse::<u64>().unwrap_or(0);
                }
                _ => {
                    return Err(format!(
                        "round {round}: a worker failed ({}): {text}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ))
                }
            }
        }
        // No other process has the file open: vacuum is allowed, also
        // while this process's threads work on it (it is refused while
        // one of them holds a view).
        let d = open(&path, Layout::V2)?;
        let (o, c, v) = local_round(&d, cfg, round)?;
        rep.ops += o;
        rep.checked += c;
        rep.vacuums += v;
        d.vacuum()
            .map_err(|e| format!("round {round}: vacuum: {e}"))?;
        rep.vacuums += 1;
        round += 1;
    }
    rep.rounds = round;
    // The final check, by a fresh reader.
    let d = open(&path, Layout::V2)?;
    let mut all = BTreeMap::new();
    for w in 0..=cfg.processes {
        for t in 0..cfg.threads {
            all.extend(load_model(&model_path(&cfg.dir, w, t)));
        }
    }
    for (k, m) in &all {
        check_key(&d, k, *m)?;
        rep.checked += 1;
    }
    let keys = d.keys().map_err(|e| e.to_string())?;
    if keys.len() != all.len() || keys.iter().any(|k| !all.contains_key(k)) {
        return Err(format!(
            "{} live keys, {} in the models",
            keys.len(),
            all.len()
        ));
    }
    let s = d.stats().map_err(|e| e.to_string())?;
    if !s.clean_tail {
        return Err("the file does not end cleanly".into());
    }
    rep.live = keys.len() as u64;
    Ok(rep)
}

/// Value of key number `i` in the mixed Rust/Python run (also in
/// `fixtures/gen/mixed_writers.py`): `i * 1000 + j` for `j` below
/// `1 + (i * 7) % 50`, as `u64`.
pub fn mixed_value(i: u64) -> Array1<u64> {
    Array1::from_iter((0..1 + (i * 7) % 50).map(|j| i * 1000 + j))
}

/// The mixed run's writer: keys `{prefix}{i}` for `i < count`; odd ones are
/// first written as zeros and then replaced; those with `i % 5 == 4` are
/// removed afterwards (the same as the Python writers do).
/// To be sure the writers overlap, it first waits (up to a minute) until a
/// Python writer's key (`py...`) is in the file, and pauses 10 ms per key.
pub fn mixed_writer(path: &Path, prefix: &str, count: u64, layout: Layout) -> Result<(), String> {
    let d = open(path, layout)?;
    let start = Instant::now();
    while !d
        .keys()
        .map_err(|e| e.to_string())?
        .iter()
        .any(|k| k.starts_with("py"))
    {
        if start.elapsed() > Duration::from_secs(60) {
            return Err("no Python writer started within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..count {
        std::thread::sleep(Duration::from_millis(10));
        let k = format!("{prefix}{i}");
        if i % 2 == 1 {
            d.insert_array(&k, &Array1::<u64>::zeros(3))
                .map_err(|e| format!("{k}: {e}"))?;
        }
        d.insert_array(&k, &mixed_value(i))
            .map_err(|e| format!("{k}: {e}"))?;
        if i % 5 == 4 {
            d.remove(&k).map_err(|e| format!("{k}: {e}"))?;
        }
    }
    Ok(())
}

/// Checks every key of the mixed run: `prefixes` each wrote `count` keys.
/// Returns the keys checked.
pub fn mixed_check(path: &Path, prefixes: &[String], count: u64) -> Result<u64, String> {
    // SAFETY: the writers are done; nobody changes the file now.
    let d = unsafe { Dict::open_read_only(path) }.map_err(|e| e.to_string())?;
    let mut n = 0;
    let mut expected = 0;
    for p in prefixes {
        for i in 0..count {
            let k = format!("{p}{i}");
            if i % 5 == 4 {
                if d.contains(&k).map_err(|e| e.to_string())? {
                    return Err(format!("{k} was removed but is live"));
                }
                continue;
            }
            expected += 1;
            let a = d.array(&k).map_err(|e| format!("{k}: {e}"))?;
            let got = a.to_owned::<u64>().map_err(|e| format!("{k}: {e}"))?;
            if got.as_slice() != mixed_value(i).as_slice() {
                return Err(format!("{k}: wrong value"));
            }
            n += 1;
        }
    }
    let live = d.len().map_err(|e| e.to_string())?;
    if live != expected {
        return Err(format!("{live} live keys, expected {expected}"));
    }
    Ok(n)
}
