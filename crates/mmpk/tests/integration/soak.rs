//! A bounded, seeded soak: rounds of worker processes (this test binary,
//! `soak_child` with `MMPK_SOAK` set) of several threads each inserting,
//! replacing, removing, reading views, filling mutable views, reserving and
//! storing generic values, each thread against its own model; a vacuum
//! between rounds (when no process holds the file, as docs/format.md section 10
//! requires); every key checked at each round's start and by a fresh reader
//! at the end. The logic is `tests/soak/soak.rs` (also the `soak` program of
//! `crates/devtools`, run by `cargo xtask soak`).

#[path = "../soak/soak.rs"]
mod soak_logic;

use std::process::Command;

/// The worker: runs one round of `MMPK_SOAK`'s spec. Does nothing when the
/// variable is not set.
#[test]
fn soak_child() {
    let Ok(spec) = std::env::var("MMPK_SOAK") else {
        return;
    };
    match soak_logic::worker(&spec) {
        Ok(line) => println!("{line}"),
        Err(e) => println!("SOAK-ERROR {e}"),
    }
}

#[test]
fn processes_and_threads_against_a_model() {
    let dir = crate::shm_tempdir();
    let cfg = soak_logic::Config {
        dir: dir.path().to_path_buf(),
        processes: 4,
        threads: 2,
        ops: 300,
        rounds: 4,
        seconds: 0,
        seed: 7,
    };
    let exe = std::env::current_exe().unwrap();
    let rep = soak_logic::orchestrate(&cfg, &|spec| {
        let mut c = Command::new(&exe);
        c.env("MMPK_SOAK", spec).args([
            "--exact",
            "soak::soak_child",
            "--nocapture",
            "--test-threads=1",
        ]);
        c
    })
    .unwrap();
    eprintln!("soak: {rep:?}");
    assert_eq!(rep.rounds, 4);
    assert!(rep.checked > 2000, "{rep:?}");
}

/// `Dict::get` while another thread keeps replacing the key with values of
/// other kinds (array, masked array, int): always a value of one of them,
/// never "not an array" (once found by the soak: `get` located the entry
/// twice, and a replace between the two looks made the second fail).
#[test]
fn get_while_the_kind_changes_under_it() {
    let (_d, p) = crate::tmp();
    let d = crate::create(&p);
    d.insert_array("x", &ndarray::arr1(&[1u32])).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let w = d.clone();
        let stop = &stop;
        s.spawn(move || {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match i % 3 {
                    0 => w.insert_array("x", &ndarray::arr1(&[i])).unwrap(),
                    1 => w
                        .insert_pickle("x", &crate::arrays::int_pickle(i.into()))
                        .unwrap(),
                    _ => w
                        .insert_masked("x", &ndarray::arr1(&[i]), Some(&ndarray::arr1(&[true])))
                        .unwrap(),
                }
                i += 1;
            }
        });
        for _ in 0..3000 {
            match d.get("x") {
                Ok(_) | Err(mmpk::Error::Busy { .. }) => {}
                Err(e) => {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    panic!("{e}");
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
