//! `cargo xtask examples`: builds every library crate's examples and runs
//! each with small arguments, checking that it succeeds (the examples
//! check their own results). The camera pair runs as two processes: the
//! writer in the background, the viewer reading its frames as they land.
//! The remote example reads a sample served by its own local HTTP server;
//! `--url URL` also runs it against a URL (CI's nginx, for instance).

use std::env;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{run, show, Ctx};

/// The single-process examples: crate, example, arguments (`{dir}` is a
/// scratch directory).
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    ("pickle-ops", "inspect_pickle", &[]),
    ("mmpk-format", "layout", &["{dir}/layout.mmpk"]),
    ("mmpk", "values", &["{dir}/values.mmpk"]),
    ("mmpk", "masked", &["{dir}/masked.mmpk"]),
    (
        "mmpk",
        "par_reduce",
        &["{dir}/reduce.mmpk", "--rows", "20000"],
    ),
    ("mmpk-remote", "remote_read", &[]),
    (
        "mmpk-remote",
        "remote_read",
        &["--serve", "{dir}/layout.mmpk"],
    ),
];

pub fn examples(ctx: &Ctx, args: &[String]) -> Result<(), String> {
    let mut url = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => url = Some(it.next().ok_or("--url needs a value")?.clone()),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let crates = ["pickle-ops", "mmpk-format", "mmpk", "mmpk-remote"];
    let mut build = Command::new(&cargo);
    build
        .current_dir(&ctx.root)
        .args(["build", "--quiet", "--examples"]);
    for c in crates {
        build.args(["-p", c]);
    }
    run(&mut build)?;
    let bin = |name: &str| ctx.target.join("debug").join("examples").join(name);
    let dir = ctx.target.join("examples-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir_s = dir.to_string_lossy().into_owned();

    for (krate, name, argv) in EXAMPLES {
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{dir}", &dir_s)).collect();
        eprintln!("xtask examples: {krate} {name}");
        run(Command::new(bin(name)).args(&argv).stdout(Stdio::null()))?;
    }
    if let Some(url) = url {
        eprintln!("xtask examples: mmpk-remote remote_read {url}");
        run(Command::new(bin("remote_read"))
            .arg(&url)
            .stdout(Stdio::null()))?;
    }

    // Two processes on one file: the camera writes, the viewer watches.
    let cam = dir.join("camera.mmpk");
    eprintln!("xtask examples: mmpk camera_writer + live_viewer");
    let mut writer = Command::new(bin("camera_writer"));
    writer
        .arg(&cam)
        .args(["--frames", "40", "--fps", "40", "--size", "64x48"])
        .stdout(Stdio::null());
    eprintln!("xtask: starting {}", show(&writer));
    let mut child = writer.spawn().map_err(|e| format!("camera_writer: {e}"))?;
    let viewer = Command::new(bin("live_viewer"))
        .arg(&cam)
        .args(["--timeout", "60"])
        .output()
        .map_err(|e| format!("live_viewer: {e}"));
    // Reap the writer whatever the viewer did (never leave it running).
    let start = Instant::now();
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| format!("camera_writer: {e}"))?
        {
            Some(s) => break s,
            None if start.elapsed() > Duration::from_secs(60) => {
                let _ = child.kill();
                return Err("camera_writer did not finish in 60 s".into());
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    if !status.success() {
        return Err(format!("camera_writer failed: {status}"));
    }
    let viewer = viewer?;
    let out = String::from_utf8_lossy(&viewer.stdout);
    if !viewer.status.success() {
        return Err(format!(
            "live_viewer failed: {}\n{out}{}",
            viewer.status,
            String::from_utf8_lossy(&viewer.stderr)
        ));
    }
    let frames = out.lines().filter(|l| l.starts_with("frame_")).count();
    if frames != 40 || !out.contains("read 40 frames") {
        return Err(format!("live_viewer read {frames} frames of 40:\n{out}"));
    }
    eprintln!("xtask examples: all passed");
    Ok(())
}
