//! Times decoding and encoding of a pickle file: `cargo run --release
//! -p mmpk-devtools --bin pickle_timing -- FILE [PROTOCOL]`.
use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: timing FILE [PROTOCOL]");
    let proto: u8 = std::env::args()
        .nth(2)
        .map_or(4, |p| p.parse().expect("protocol"));
    let data = std::fs::read(&path).expect("read");
    let opts = pickle_ops::decode::DecodeOptions::default();
    for _ in 0..3 {
        let t = Instant::now();
        let p = pickle_ops::decode::decode(&data, &opts).expect("decode");
        let td = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let out = pickle_ops::encode::encode(&p, proto).expect("encode");
        let te = t.elapsed().as_secs_f64();
        println!(
            "{} bytes: decode {:.3} s ({:.1} MB/s), encode {:.3} s ({:.1} MB/s), same bytes: {}",
            data.len(),
            td,
            data.len() as f64 / td / 1e6,
            te,
            out.len() as f64 / te / 1e6,
            out == data
        );
    }
}
