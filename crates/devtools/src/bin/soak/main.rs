//! The soak test as a program (`cargo xtask soak`, and the Rust writers of
//! `fixtures/gen/mixed_writers.py`):
//!
//! ```text
//! soak run DIR SECONDS [PROCESSES THREADS OPS SEED]   rounds of worker processes, vacuums, final check
//! soak worker SPEC                                    one worker process (spawned by `run`)
//! soak writer PATH PREFIX COUNT v2|mmappickle1         the mixed run's Rust writer
//! soak check PATH COUNT PREFIX...                     checks every key of the mixed run
//! ```

#[path = "../../../../mmpk/tests/soak/soak.rs"]
mod soak;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("worker") if args.len() == 2 => match soak::worker(&args[1]) {
            Ok(line) => {
                println!("{line}");
                Ok(())
            }
            Err(e) => {
                println!("SOAK-ERROR {e}");
                Err(e)
            }
        },
        Some("run") if args.len() >= 3 => run(&args[1..]),
        Some("writer") if args.len() == 5 => {
            let layout = if args[4] == "mmappickle1" { mmpk::Layout::Mmappickle1 } else { mmpk::Layout::V2 };
            args[3]
                .parse()
                .map_err(|e| format!("{e}"))
                .and_then(|n| soak::mixed_writer(args[1].as_ref(), &args[2], n, layout))
        }
        Some("check") if args.len() >= 4 => args[2]
            .parse()
            .map_err(|e| format!("{e}"))
            .and_then(|n| soak::mixed_check(args[1].as_ref(), &args[3..], n))
            .map(|n| println!("checked {n} keys")),
        _ => Err("usage: soak run DIR SECONDS [P T OPS SEED] | worker SPEC | writer PATH PREFIX COUNT LAYOUT | check PATH COUNT PREFIX...".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let num = |i: usize, d: u64| {
        args.get(i)
            .map_or(Ok(d), |s| s.parse::<u64>().map_err(|e| format!("{s}: {e}")))
    };
    let dir = std::path::PathBuf::from(&args[0]);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cfg = soak::Config {
        dir,
        seconds: num(1, 60)?,
        processes: num(2, 4)? as u32,
        threads: num(3, 3)? as u32,
        ops: num(4, 400)? as u32,
        seed: num(5, 1)?,
        rounds: 1,
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let t = std::time::Instant::now();
    let rep = soak::orchestrate(&cfg, &|spec| {
        let mut c = Command::new(&exe);
        c.args(["worker", spec]);
        c
    })?;
    println!(
        "soak: {} rounds of {} processes x {} threads in {:.1} s: {} operations, {} entries checked, {} vacuums, {} live at the end",
        rep.rounds,
        cfg.processes,
        cfg.threads,
        t.elapsed().as_secs_f64(),
        rep.ops,
        rep.checked,
        rep.vacuums,
        rep.live
    );
    Ok(())
}
