//! A live viewer: watches an mmpk file that another process is writing
//! (see `camera_writer`) and reads each new frame as it lands, zero-copy.
//!
//! What it teaches:
//! - opening a file read-only while another process writes it
//!   (`OpenOptions::read_only`): mmpk's `flock` protocol makes every read
//!   see whole entries only;
//! - noticing other processes' writes cheaply (`Dict::changed_by_others`
//!   compares the commit number and the file length; only new frames are
//!   indexed);
//! - reading arrays as zero-copy `ndarray` views of the mapped file
//!   (`Dict::array` + `Array::view`), and generic values (`Dict::get_pickle`).
//!
//! ```text
//! cargo run -p mmpk --example live_viewer -- /tmp/cam.mmpk [--timeout SECS]
//! ```
//!
//! It waits for the file to appear, prints one line per frame (index,
//! brightest pixel, mean), and exits when the writer's `done` marker has
//! been seen and every frame read, or with an error after `--timeout`
//! seconds (default 60).

use std::collections::BTreeSet;
use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mmpk::pickle_ops::Value;
use mmpk::{Dict, OpenOptions};

fn args() -> Result<(PathBuf, Duration), Box<dyn Error>> {
    let mut it = std::env::args().skip(1);
    let path = it
        .next()
        .ok_or("usage: live_viewer FILE [--timeout SECS]")?;
    let mut timeout = Duration::from_secs(60);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next()) {
            ("--timeout", Some(s)) => timeout = Duration::from_secs_f64(s.parse()?),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok((path.into(), timeout))
}

/// The int stored under `key`, if the writer has stored it yet.
fn int_at(dict: &Dict, key: &str) -> Result<Option<i64>, Box<dyn Error>> {
    if !dict.contains(key)? {
        return Ok(None);
    }
    let p = dict.get_pickle(key)?;
    match &*p.value(p.root()) {
        Value::Int(i) => Ok(i.as_i64()),
        other => Err(format!("{key} holds a {}, not an int", other.kind_name()).into()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let (path, timeout) = args()?;
    let start = Instant::now();
    let poll = Duration::from_millis(10);
    let late = || -> Result<(), Box<dyn Error>> {
        if start.elapsed() > timeout {
            return Err(format!("no complete recording after {timeout:?}").into());
        }
        std::thread::sleep(poll);
        Ok(())
    };
    // The writer creates the file: wait for it.
    let dict = loop {
        if path.exists() {
            // SAFETY: the writer changes the file only through mmpk's
            // protocol; nothing truncates it while this view is open.
            match unsafe { OpenOptions::new().read_only(true).open(&path) } {
                Ok(d) => break d,
                // Created, but the writer has not written the header yet.
                Err(mmpk::Error::NotMmpk { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        late()?;
    };
    let mut seen = BTreeSet::new();
    loop {
        // Read `done` first: frames written before it are all in the file.
        let done = int_at(&dict, "done")?;
        for key in dict.keys()? {
            if !key.starts_with("frame_") || seen.contains(&key) {
                continue;
            }
            let frame = dict.array(&key)?;
            let view = frame.view::<u16>()?; // zero-copy, in the mapped file
            let max = view.iter().copied().max().unwrap_or(0);
            let mean = view.iter().map(|&v| f64::from(v)).sum::<f64>() / view.len().max(1) as f64;
            println!("{key}: shape {:?} max {max} mean {mean:.1}", frame.shape());
            seen.insert(key);
        }
        if let Some(n) = done {
            if seen.len() as i64 != n {
                return Err(format!("the writer wrote {n} frames, read {}", seen.len()).into());
            }
            println!("read {n} frames; count = {:?}", int_at(&dict, "count")?);
            return Ok(());
        }
        // Wait for the writer: a cheap check of the commit number and length.
        while !dict.changed_by_others()? {
            late()?;
        }
    }
}
