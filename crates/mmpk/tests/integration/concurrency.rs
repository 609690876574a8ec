//! Threads sharing one Dict, and several dicts (open file descriptions)
//! sharing one file under flock.

use std::sync::Arc;

use mmpk::Dict;
use ndarray::Array1;

use crate::{create, open, scan_clean, tmp};

#[test]
fn dict_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Dict>();
    fn send<T: Send + Sync>() {}
    send::<mmpk::Array>();
    send::<mmpk::ArrayMut>();
}

#[test]
fn eight_threads_insert_read_remove_nothing_lost() {
    let (_d, p) = tmp();
    let d = Arc::new(create(&p));
    const PER: usize = 60;
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    let key = format!("t{t}-{i}");
                    let a = Array1::from_elem(i % 7 + 1, (t * 1000 + i) as u64);
                    d.insert_array(&key, &a).unwrap();
                    let got = d.array(&key).unwrap();
                    assert_eq!(got.view::<u64>().unwrap()[0], (t * 1000 + i) as u64);
                    drop(got);
                    // Remove every third key again; replace every fifth.
                    if i % 3 == 0 {
                        d.remove(&key).unwrap();
                    } else if i % 5 == 0 {
                        d.insert_array(&key, &Array1::from_elem(2, 7u64)).unwrap();
                    }
                    // Read another thread's keys while they change.
                    let _ = d.keys().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let check = |d: &Dict| {
        let expected: usize = (0..PER).filter(|i| i % 3 != 0).count() * 8;
        assert_eq!(d.len().unwrap(), expected);
        for t in 0..8 {
            for i in 0..PER {
                let key = format!("t{t}-{i}");
                if i % 3 == 0 {
                    assert!(!d.contains(&key).unwrap());
                    continue;
                }
                let v = d.array(&key).unwrap().to_owned::<u64>().unwrap();
                if i % 5 == 0 {
                    assert_eq!(v.as_slice().unwrap(), [7, 7]);
                } else {
                    assert_eq!(v.len(), i % 7 + 1);
                    assert!(v.iter().all(|&x| x == (t * 1000 + i) as u64));
                }
            }
        }
    };
    check(&d);
    check(&open(&p));
    scan_clean(&p);
}

#[test]
fn several_handles_on_one_file_from_threads() {
    // Each thread opens its own Dict: separate open file descriptions, so
    // the flock (not the mutex) is what serialises them, as between processes.
    let (_d, p) = tmp();
    drop(create(&p));
    let p = Arc::new(p);
    let hs: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let d = open(&p);
                for i in 0..40 {
                    d.insert_array(&format!("{t}/{i}"), &Array1::from_elem(3, i))
                        .unwrap();
                    if i % 4 == 0 {
                        d.remove(&format!("{t}/{i}")).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let d = open(&p);
    assert_eq!(d.len().unwrap(), 4 * 30);
    for t in 0..4 {
        for i in (0..40).filter(|i| i % 4 != 0) {
            let a = d.array(&format!("{t}/{i}")).unwrap();
            assert_eq!(
                a.view::<i32>().unwrap().iter().copied().collect::<Vec<_>>(),
                [i, i, i]
            );
        }
    }
    scan_clean(&p);
}

#[test]
fn incremental_rescans_follow_growth_and_deletes() {
    let (_d, p) = tmp();
    let w = create(&p);
    let r = open(&p);
    for round in 0..10 {
        for i in 0..10 {
            w.insert_array(&format!("{round}-{i}"), &Array1::from_elem(1, i as u8))
                .unwrap();
        }
        w.remove(&format!("{round}-0")).unwrap();
        if round > 0 {
            w.insert_array(&format!("{}-1", round - 1), &Array1::from_elem(2, 9u8))
                .unwrap();
        }
        assert_eq!(r.len().unwrap(), (round + 1) * 9);
        assert_eq!(r.keys().unwrap(), w.keys().unwrap());
    }
    assert_eq!(
        r.array("3-1")
            .unwrap()
            .view::<u8>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [9, 9]
    );
}
