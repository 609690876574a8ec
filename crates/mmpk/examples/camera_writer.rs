//! A camera writer: one process appends frames to an mmpk file while other
//! processes (see `live_viewer`) watch it and read the frames as they land.
//!
//! What it teaches:
//! - creating a dict and inserting arrays (`Dict::insert_array`): each
//!   insert is crash-safe (a killed writer leaves every earlier frame) and
//!   visible to other processes as soon as it returns;
//! - storing small generic values next to the arrays (`Dict::insert_pickle`):
//!   here the frame count and a final `done` marker that readers wait for;
//! - that the file stays a plain pickle: `pickle.load` in Python reads it.
//!
//! Run it with a viewer in a second terminal (or `cargo xtask examples`,
//! which runs the pair):
//!
//! ```text
//! cargo run -p mmpk --example camera_writer -- /tmp/cam.mmpk --frames 50 --fps 20
//! cargo run -p mmpk --example live_viewer -- /tmp/cam.mmpk --timeout 30
//! ```
//!
//! Options: `--frames N` (default 50), `--fps F` (default 20),
//! `--size WxH` (default 320x240). The file is created (replaced if it
//! exists).

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mmpk::ndarray::Array2;
use mmpk::pickle_ops::{Pickle, Value};
use mmpk::OpenOptions;

struct Args {
    path: PathBuf,
    frames: usize,
    fps: f64,
    width: usize,
    height: usize,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        path: it
            .next()
            .ok_or("usage: camera_writer FILE [--frames N] [--fps F] [--size WxH]")?
            .into(),
        frames: 50,
        fps: 20.0,
        width: 320,
        height: 240,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--frames" => a.frames = value.parse()?,
            "--fps" => a.fps = value.parse()?,
            "--size" => {
                let (w, h) = value.split_once('x').ok_or("--size is WxH")?;
                (a.width, a.height) = (w.parse()?, h.parse()?);
            }
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok(a)
}

/// A synthetic 16-bit frame: a bright spot that moves with `t`.
fn frame(t: usize, width: usize, height: usize) -> Array2<u16> {
    let (cx, cy) = ((t * 7) % width, (t * 3) % height);
    Array2::from_shape_fn((height, width), |(y, x)| {
        let d2 = (x.abs_diff(cx).pow(2) + y.abs_diff(cy).pow(2)) as f64;
        (60_000.0 * (-d2 / 200.0).exp()) as u16 + 100
    })
}

/// An int as a generic value (`pickle.dumps(n)`).
fn int_value(n: usize) -> Pickle {
    let mut p = Pickle::new();
    let root = p.push(Value::int(n as i64));
    p.set_root(root);
    p
}

fn main() -> Result<(), Box<dyn Error>> {
    let a = args()?;
    // A new file each run; readers open it as soon as it exists.
    let _ = std::fs::remove_file(&a.path);
    // SAFETY: the file is this program's own: other processes only read it
    // through mmpk (no truncation, no rewrite outside the protocol).
    let dict = unsafe { OpenOptions::new().create_new(true).open(&a.path)? };
    let period = Duration::from_secs_f64(1.0 / a.fps.max(0.1));
    let start = Instant::now();
    for t in 0..a.frames {
        let img = frame(t, a.width, a.height);
        dict.insert_array(&format!("frame_{t:06}"), &img)?;
        dict.insert_pickle("count", &int_value(t + 1))?;
        // Keep the frame rate: sleep until the next frame is due.
        let due = period * (t as u32 + 1);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    dict.insert_pickle("done", &int_value(a.frames))?;
    println!(
        "wrote {} frames of {}x{} to {} in {:.2} s",
        a.frames,
        a.width,
        a.height,
        a.path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
