//! Times the phases of decoding (parse only, full decode):
//! `cargo run --release -p mmpk-devtools --bin pickle_phases -- FILE`.
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: phases FILE");
    let data = std::fs::read(&path).expect("read");
    for _ in 0..3 {
        let t = Instant::now();
        let n = pickle_ops::ops(&data).filter(|r| r.is_ok()).count();
        let tp = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = pickle_ops::decode::decode(&data, &Default::default()).expect("decode");
        let td = t.elapsed().as_secs_f64();
        let t = Instant::now();
        drop(p);
        let tdrop = t.elapsed().as_secs_f64();
        println!("{n} ops: parse {tp:.3} s, decode {td:.3} s, drop {tdrop:.3} s");
    }
}
