//! `mmpk demo [DIR]`: the mmappickle use case in a few seconds. A
//! time-lapse of hyperspectral frames is captured into a file that grows
//! (one entry per frame, with per-frame metadata as plain values), a masked
//! array marks saturated pixels, and one large reserved array is filled in
//! parallel; then the file is reopened read-only and per-band statistics
//! over all frames are computed in parallel from the mapped frames.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::ArgMatches;
use mmpk::{par, Layout};
use ndarray::{Array2, Array3, Axis};
use pickle_ops::{Pickle, Value as PV};
use rayon::prelude::*;
use serde_json::json;

use crate::dict_cmds::{open_dict, Open};
use crate::ui::{self, fail, human, print, rate, secs};
use crate::Failure;

/// Sizes of the demo.
#[derive(Clone, Copy, Debug)]
struct Size {
    frames: usize,
    side: usize,
    bands: usize,
    fps: f64,
}

/// The synthetic scene: a spectrum per column and band (fixed), a smooth
/// spatial pattern that drifts over time, and a few saturated pixels.
struct Scene {
    spectrum: Vec<f32>,
}

impl Scene {
    fn new(s: &Size) -> Scene {
        let mut spectrum = Vec::with_capacity(s.side * s.bands);
        for x in 0..s.side {
            let fx = x as f32 / s.side as f32;
            for b in 0..s.bands {
                let wave = 400.0 + 600.0 * b as f32 / s.bands as f32;
                spectrum.push((-((wave - 550.0 - 100.0 * fx) / 180.0).powi(2)).exp());
            }
        }
        Scene { spectrum }
    }

    /// Row `y` of frame `t` (side x bands values).
    fn row(&self, t: usize, y: usize, s: &Size, out: &mut [f32]) {
        let drift = t as f32 * 0.05;
        let fy = y as f32 / s.side as f32;
        let sy = (fy * 6.0 + drift).sin();
        for (x, px) in out.chunks_exact_mut(s.bands).enumerate() {
            let fx = x as f32 / s.side as f32;
            let spatial = (sy * (fx * 4.0 - drift).cos() + 1.0) * 0.5;
            let spec = &self.spectrum[x * s.bands..(x + 1) * s.bands];
            let saturated = (y * 7 + x * 13 + t).is_multiple_of(997);
            for (v, &sp) in px.iter_mut().zip(spec) {
                *v = if saturated {
                    1.0
                } else {
                    0.1 + 0.8 * spatial * sp
                };
            }
        }
    }
}

fn meta(p: &mut Pickle, items: &[(&str, PV)]) {
    let pairs: Vec<_> = items
        .iter()
        .map(|(k, v)| {
            let k = p.push(PV::str(k));
            let v = p.push(v.clone());
            (k, v)
        })
        .collect();
    let root = p.push(PV::Dict(pairs));
    p.set_root(root);
}

/// A float as a value node.
fn float(x: f64) -> PV {
    PV::Float(x)
}

/// `mmpk demo [--frames N] [--size N] [--bands N] [--fps F] [--json] [DIR]`
pub fn demo(m: &ArgMatches) -> Result<(), Failure> {
    let s = Size {
        frames: *m.get_one::<usize>("frames").unwrap_or(&64),
        side: *m.get_one::<usize>("size").unwrap_or(&256),
        bands: *m.get_one::<usize>("bands").unwrap_or(&64),
        fps: *m.get_one::<f64>("fps").unwrap_or(&0.0),
    };
    if s.frames == 0 || s.side == 0 || s.bands == 0 {
        return Err(Failure::input(
            "--frames, --size and --bands must be at least 1",
        ));
    }
    let frame = s
        .side
        .checked_mul(s.side)
        .and_then(|n| n.checked_mul(s.bands))
        .and_then(|n| n.checked_mul(4));
    if frame.is_none_or(|b| b > 1 << 30) || s.frames > 10_000_000 {
        return Err(Failure::input(
            "the demo keeps a frame under 1 GiB (--size x --size x --bands x 4 bytes) and --frames under 10,000,000",
        ));
    }
    if !(s.fps >= 0.0 && s.fps.is_finite()) {
        return Err(Failure::input("--fps must be a non-negative number"));
    }
    let dir = m
        .get_one::<String>("dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mmpk-demo"));
    std::fs::create_dir_all(&dir).map_err(|e| fail(&dir.display().to_string(), &e))?;
    let file = dir.join("timelapse.mmpk");
    let path = file.to_string_lossy().into_owned();
    if file.exists() {
        // Only ever replace a file this demo wrote (an mmpk file).
        open_dict(&path, Open::Read)?;
        std::fs::remove_file(&file).map_err(|e| fail(&path, &e))?;
    }
    let report = run(&path, &s)?;
    if m.get_flag("json") {
        return print(&format!("{report}\n"));
    }
    print(&text(&path, &s, &report))
}

fn run(path: &str, s: &Size) -> Result<serde_json::Value, Failure> {
    let d = open_dict(path, Open::Create(Layout::V2, 64))?;
    let err = |e: mmpk::Error| fail(path, &e);
    let frame_bytes = (s.side * s.side * s.bands * 4) as u64;
    let mut inst = Pickle::new();
    let waves: Vec<PV> = (0..s.bands)
        .map(|b| float(400.0 + 600.0 * b as f64 / s.bands as f64))
        .collect();
    let wl: Vec<_> = waves.into_iter().map(|v| inst.push(v)).collect();
    let wl = PV::List(wl);
    meta(
        &mut inst,
        &[
            ("instrument", PV::str("mmpk demo camera")),
            (
                "frame_shape",
                PV::str(&format!("{}x{}x{}", s.side, s.side, s.bands)),
            ),
            ("wavelengths_nm", wl),
        ],
    );
    d.insert_pickle("instrument", &inst).map_err(err)?;

    // 1. Capture: one entry per frame, added while the file grows.
    let pb = ui::count_bar(s.frames as u64, "capture");
    let t0 = Instant::now();
    let mut frame = Array3::<f32>::zeros((s.side, s.side, s.bands));
    let scene = Scene::new(s);
    let period = (s.fps > 0.0).then(|| Duration::from_secs_f64(1.0 / s.fps));
    for t in 0..s.frames {
        let tick = Instant::now();
        par::fill_axis0(frame.view_mut().into_dyn(), 8, |y0, mut c| {
            for (i, mut row) in c.outer_iter_mut().enumerate() {
                if let Some(out) = row.as_slice_mut() {
                    scene.row(t, y0 + i, s, out);
                }
            }
        });
        d.insert_array(&format!("frame_{t:04}"), &frame)
            .map_err(err)?;
        let mut p = Pickle::new();
        meta(
            &mut p,
            &[
                ("index", PV::int(t as i64)),
                ("time_s", float(t as f64 * 0.5)),
                ("exposure_ms", float(12.5)),
            ],
        );
        d.insert_pickle(&format!("frame_{t:04}.meta"), &p)
            .map_err(err)?;
        pb.inc(1);
        if let Some(p) = period {
            std::thread::sleep(p.saturating_sub(tick.elapsed()));
        }
    }
    pb.finish_and_clear();
    let capture = t0.elapsed();

    // 2. A masked array: frame 0's band mean, saturated pixels masked.
    let f0 = d.array("frame_0000").map_err(err)?;
    let v0 = f0.view::<f32>().map_err(err)?;
    let mean0: Array2<f32> = v0
        .mean_axis(Axis(2))
        .and_then(|a| a.into_dimensionality().ok())
        .unwrap_or_else(|| Array2::zeros((s.side, s.side)));
    let sat: Array2<bool> = v0
        .lanes(Axis(2))
        .into_iter()
        .map(|l| l.iter().any(|&x| x >= 1.0))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<ndarray::Array1<bool>>()
        .into_shape_with_order((s.side, s.side))
        .map_err(|e| Failure::input(format!("{path}: {e}")))?;
    drop(f0);
    d.insert_masked("frame_0000.mean_masked", &mean0, Some(&sat))
        .map_err(err)?;

    // 3. One large reserved array (sparse, no RAM), filled in parallel from
    //    the mapped frames: each frame's band-mean image.
    let t1 = Instant::now();
    d.reserve::<f32>("band_mean_stack", &[s.frames, s.side, s.side])
        .map_err(err)?;
    let reserve = t1.elapsed();
    let t2 = Instant::now();
    let frames: Vec<mmpk::Array> = (0..s.frames)
        .map(|t| d.array(&format!("frame_{t:04}")))
        .collect::<mmpk::Result<_>>()
        .map_err(err)?;
    {
        let mut stack = d.array_mut("band_mean_stack").map_err(err)?;
        let view = stack.view_mut::<f32>().map_err(err)?;
        let views: Vec<_> = frames
            .iter()
            .map(|f| f.view::<f32>())
            .collect::<mmpk::Result<_>>()
            .map_err(err)?;
        par::fill_axis0(view, 1, |t, mut c| {
            let f = &views[t];
            let mut img = c.index_axis_mut(Axis(0), 0);
            for (i, v) in img.indexed_iter_mut() {
                let (y, x) = (i[0], i[1]);
                let mut acc = 0.0f32;
                for b in 0..s.bands {
                    acc += f[[y, x, b]];
                }
                *v = acc / s.bands as f32;
            }
        });
    }
    drop(frames);
    let fill = t2.elapsed();
    let stack_bytes = (s.frames * s.side * s.side * 4) as u64;
    drop(d);

    // 4. Reopen read-only; per-band statistics over every frame, in parallel.
    let t3 = Instant::now();
    let r = open_dict(path, Open::Read)?;
    let keys = r.keys().map_err(err)?;
    let open = t3.elapsed();
    let t4 = Instant::now();
    let arrays: Vec<mmpk::Array> = keys
        .iter()
        .filter(|k| k.starts_with("frame_") && !k.contains('.'))
        .map(|k| r.array(k))
        .collect::<mmpk::Result<_>>()
        .map_err(err)?;
    let zero = || {
        (
            vec![f32::INFINITY; s.bands],
            vec![f32::NEG_INFINITY; s.bands],
            vec![0.0f64; s.bands],
        )
    };
    let join = |mut a: (Vec<f32>, Vec<f32>, Vec<f64>), b: (Vec<f32>, Vec<f32>, Vec<f64>)| {
        for i in 0..a.0.len() {
            a.0[i] = a.0[i].min(b.0[i]);
            a.1[i] = a.1[i].max(b.1[i]);
            a.2[i] += b.2[i];
        }
        a
    };
    let (mins, maxs, sums) = arrays
        .par_iter()
        .map(|a| {
            let v = a.view::<f32>().map_err(err)?;
            let rows = (1 << 14) / (s.side * s.bands) + 1;
            Ok(par::reduce_axis0(
                v,
                rows,
                zero,
                |c| {
                    let mut acc = zero();
                    if let Some(sl) = c.as_slice() {
                        for px in sl.chunks_exact(s.bands) {
                            for (i, &x) in px.iter().enumerate() {
                                acc.0[i] = acc.0[i].min(x);
                                acc.1[i] = acc.1[i].max(x);
                                acc.2[i] += f64::from(x);
                            }
                        }
                    }
                    acc
                },
                join,
            ))
        })
        .try_reduce(zero, |a, b| Ok(join(a, b)))?;
    let analyse = t4.elapsed();
    let n_px = (s.frames * s.side * s.side) as f64;
    let read_bytes = frame_bytes * arrays.len() as u64;
    drop(arrays);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let disk = disk_usage(Path::new(path)).unwrap_or(size);
    let bands: Vec<_> = (0..s.bands)
        .map(|b| {
            json!({"band": b, "wavelength_nm": 400.0 + 600.0 * b as f64 / s.bands as f64,
                        "min": mins[b], "max": maxs[b], "mean": sums[b] / n_px})
        })
        .collect();
    Ok(json!({
        "file": path,
        "file_size": size,
        "disk_usage": disk,
        "keys": keys.len(),
        "frames": s.frames,
        "frame_shape": [s.side, s.side, s.bands],
        "frame_bytes": frame_bytes,
        "capture_s": capture.as_secs_f64(),
        "reserve_s": reserve.as_secs_f64(),
        "fill_s": fill.as_secs_f64(),
        "stack_bytes": stack_bytes,
        "open_s": open.as_secs_f64(),
        "analyse_s": analyse.as_secs_f64(),
        "read_bytes": read_bytes,
        "threads": rayon::current_num_threads(),
        "bands": bands,
    }))
}

/// Bytes the file takes on disk (reserved, unwritten bytes take none).
fn disk_usage(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.blocks() * 512)
}

fn text(path: &str, s: &Size, r: &serde_json::Value) -> String {
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    let dur = |k: &str| Duration::from_secs_f64(f(k));
    let written = u("frame_bytes") * s.frames as u64;
    let mut out = format!(
        "mmpk demo: a time-lapse of {} hyperspectral frames of {}x{}x{} float32 ({} each)\n\n",
        s.frames,
        s.side,
        s.side,
        s.bands,
        human(u("frame_bytes"))
    );
    out.push_str(&ui::pairs(&[
        ("file", path.to_string()),
        (
            "size",
            format!("{} ({} keys)", human(u("file_size")), u("keys")),
        ),
        (
            "capture",
            format!(
                "{} frames + metadata in {} ({}), each a new entry while the file grows",
                s.frames,
                secs(dur("capture_s")),
                rate(written, dur("capture_s"))
            ),
        ),
        (
            "reserve",
            format!(
                "band_mean_stack, {} in {} (sparse: no RAM, no disk until written)",
                human(u("stack_bytes")),
                secs(dur("reserve_s"))
            ),
        ),
        (
            "fill",
            format!(
                "band_mean_stack from the mapped frames in parallel in {}",
                secs(dur("fill_s"))
            ),
        ),
        ("reopen", format!("read-only in {}", secs(dur("open_s")))),
        (
            "statistics",
            format!(
                "per band over all frames: {} in {} ({}, {} threads, zero-copy views)",
                human(u("read_bytes")),
                secs(dur("analyse_s")),
                rate(u("read_bytes"), dur("analyse_s")),
                u("threads")
            ),
        ),
    ]));
    out.push('\n');
    let mut rows = vec![vec![
        "band".to_string(),
        "nm".to_string(),
        "min".to_string(),
        "max".to_string(),
        "mean".to_string(),
    ]];
    let bands = r["bands"].as_array().cloned().unwrap_or_default();
    let n = bands.len();
    for (i, b) in bands.iter().enumerate() {
        if n > 8 && (4..n - 4).contains(&i) {
            if i == 4 {
                rows.push(vec!["...".into()]);
            }
            continue;
        }
        rows.push(vec![
            b["band"].to_string(),
            format!("{:.0}", b["wavelength_nm"].as_f64().unwrap_or(0.0)),
            format!("{:.4}", b["min"].as_f64().unwrap_or(0.0)),
            format!("{:.4}", b["max"].as_f64().unwrap_or(0.0)),
            format!("{:.4}", b["mean"].as_f64().unwrap_or(0.0)),
        ]);
    }
    out.push_str(&ui::table(&rows));
    out.push_str(&format!(
        "\nThe same file in Python (numpy 1.23 to 2.x, nothing else needed):\n  \
         python3 -c \"import pickle; d = pickle.load(open('{path}', 'rb')); \
         print(len(d), d['frame_0000'].shape, d['frame_0000.meta'])\"\n\
         Next: mmpk ls {path}   |   mmpk get {path} frame_0000   |   \
         mmpk watch {path} (while `mmpk demo --fps 5` runs)\n"
    ));
    out
}
