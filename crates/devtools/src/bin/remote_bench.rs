//! Benchmark: 1 MiB slices of a 1 GiB remote array served by a local nginx.
//!
//! ```text
//! cargo run --release -p mmpk-devtools --bin remote_bench [-- --iters N --no-full]
//! cargo run --release -p mmpk-devtools --bin remote_bench -- --url URL --key KEY [--iters N]
//! ```
//!
//! Writes a sparse 1 GiB file (`<f4`, shape 262144 x 1024) into a temp
//! directory, starts nginx on a random 127.0.0.1 port (`MMPK_TEST_NGINX`,
//! else `/usr/sbin/nginx`) with an access log of `$body_bytes_sent`, then
//! times: opening (header + index read), N slices of 256 rows (1 MiB) at
//! different places with the cache off, and one read of the whole array.
//! Bytes and requests are counted by nginx's log and by the client.
//!
//! With `--url URL --key KEY`, only the slices are timed, on the array `KEY`
//! of a file already served at `URL` (slices of the rows that make 1 MiB;
//! `cargo xtask bench dask` compares them with Python's on its file).

use std::io::{Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmpk_format::array::Encoding;
use mmpk_format::dtype::Dtype;
use mmpk_format::header::TERMINATOR;
use mmpk_format::write::write_header;
use mmpk_format::write::{array_tail, write_array_head};
use mmpk_remote::{Options, RemoteDict};

const ROWS: u64 = 262_144;
const COLS: u64 = 1024;
const SLICE: u64 = 256; // rows: 1 MiB of f32

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes the sparse file; returns the raw bytes' offset.
fn write_file(path: &Path) -> u64 {
    let d = Dtype::parse("<f4").unwrap();
    let shape = [ROWS, COLS];
    let n = ROWS * COLS * 4;
    let mut head = Vec::new();
    write_array_head(&mut head, Encoding::V2, n);
    let tail = array_tail(Encoding::V2, &d, &shape).unwrap();
    let key = "cube";
    let l = 2 + key.len() as u64 + head.len() as u64 + n + tail.len() as u64 + 8;
    let mut front = write_header(1).to_vec();
    front.push(0x95);
    front.extend_from_slice(&l.to_le_bytes());
    front.extend_from_slice(&[0x8c, key.len() as u8]);
    front.extend_from_slice(key.as_bytes());
    front.extend_from_slice(&head);
    let data = front.len() as u64;
    let mut back = tail;
    back.extend_from_slice(&[0x4a, 0, 0, 0, 0, 0x30, 0x88, 0x30]);
    back.extend_from_slice(&TERMINATOR);
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&front).unwrap();
    f.seek(SeekFrom::Start(data + n)).unwrap();
    f.write_all(&back).unwrap();
    data
}

fn start_nginx(dir: &Path) -> (Proc, u16) {
    let bin = std::env::var("MMPK_TEST_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\nhttp {{\n\
         log_format bytes '$request_method $uri $status $body_bytes_sent';\n\
         access_log {d}/access.log bytes;\nclient_body_temp_path {d}/tmp;\n\
         proxy_temp_path {d}/tmp;\nfastcgi_temp_path {d}/tmp;\nuwsgi_temp_path {d}/tmp;\n\
         scgi_temp_path {d}/tmp;\nserver {{ listen 127.0.0.1:{port}; root {d}/www; }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(&bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (apt-get install nginx)"));
    let p = Proc(child);
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (p, port)
}

/// (requests, body bytes) in nginx's access log, once it stops changing
/// (nginx writes a line after its response).
fn log_counts(dir: &Path) -> (u64, u64) {
    let mut last = read_log(dir);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = read_log(dir);
        if now == last {
            return now;
        }
        last = now;
    }
}

fn read_log(dir: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(dir.join("access.log")).unwrap_or_default();
    let bytes = text
        .lines()
        .filter_map(|l| l.split(' ').nth(3)?.parse::<u64>().ok())
        .sum();
    (text.lines().count() as u64, bytes)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median and p90 latency of `iters` slices of about 1 MiB (whole rows) of
/// `key` at `url`, each at a new place, cache off.
fn external(url: &str, key: &str, iters: usize) {
    let d = RemoteDict::open(url, Options::new().cache_bytes(0)).unwrap();
    let info = d.array_info(key).unwrap();
    let rows = info.rows().expect("a 0-d array has no rows");
    let slice = ((1u64 << 20) / info.row_bytes().max(1)).clamp(1, rows);
    let mut lat = Vec::new();
    let mut x = 12345u64;
    for _ in 0..iters {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let start = (x >> 33) % (rows - slice + 1);
        let t = Instant::now();
        let s = d.array_slice(key, start..start + slice).unwrap();
        lat.push(t.elapsed().as_secs_f64());
        assert_eq!(s.data.len() as u64, slice * info.row_bytes());
    }
    let med = median(&mut lat);
    let p90 = lat[(lat.len() * 9 / 10).min(lat.len() - 1)];
    println!("| step | figure |");
    println!("|---|---|");
    println!(
        "| 1 MiB slice, median latency ({iters} slices of {slice} rows) | {:.3} ms |",
        med * 1e3
    );
    println!("| 1 MiB slice, p90 latency | {:.3} ms |", p90 * 1e3);
}

fn main() {
    let mut iters = 30usize;
    let mut full = true;
    let mut url = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iters" => iters = args.next().and_then(|n| n.parse().ok()).expect("--iters N"),
            "--no-full" => full = false,
            "--url" => url = Some(args.next().expect("--url URL")),
            "--key" => key = Some(args.next().expect("--key KEY")),
            other => panic!("unknown argument {other}"),
        }
    }
    if let Some(url) = url {
        return external(
            &url,
            key.as_deref().expect("--key KEY with --url"),
            iters.max(1),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    write_file(&dir.path().join("www/cube.mmpk"));
    let (_nginx, port) = start_nginx(dir.path());
    let url = format!("http://127.0.0.1:{port}/cube.mmpk");

    // Open: header + index.
    let mut opens = Vec::new();
    let mut d = None;
    let mut open_counts = (0, 0);
    for _ in 0..5 {
        let (r0, b0) = log_counts(dir.path());
        let t = Instant::now();
        let dict = RemoteDict::open(&url, Options::new().cache_bytes(0)).unwrap();
        opens.push(t.elapsed().as_secs_f64());
        let (r1, b1) = log_counts(dir.path());
        open_counts = (r1 - r0, b1 - b0);
        d = Some(dict);
    }
    let d = d.unwrap();
    let open_ms = median(&mut opens) * 1e3;

    // Slices, each at a new place (an LCG over the rows), cache off.
    let (r0, b0) = log_counts(dir.path());
    let s0 = d.stats();
    let mut lat = Vec::new();
    let mut x = 12345u64;
    for _ in 0..iters {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let start = (x >> 33) % (ROWS - SLICE);
        let t = Instant::now();
        let s = d.array_slice("cube", start..start + SLICE).unwrap();
        lat.push(t.elapsed().as_secs_f64());
        assert_eq!(s.data.len() as u64, SLICE * COLS * 4);
    }
    let (r1, b1) = log_counts(dir.path());
    let s1 = d.stats();
    let per_req = (r1 - r0) as f64 / iters as f64;
    let per_bytes = (b1 - b0) as f64 / iters as f64;
    let mut sorted = lat.clone();
    let med = median(&mut sorted);
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let mib = (SLICE * COLS * 4) as f64 / (1 << 20) as f64;
    println!("| step | figure |");
    println!("|---|---|");
    println!("| open (header + index), median of 5 | {open_ms:.2} ms |");
    println!(
        "| open: requests, bytes (nginx log) | {}, {} |",
        open_counts.0, open_counts.1
    );
    println!(
        "| 1 MiB slice, median latency ({iters} slices) | {:.2} ms |",
        med * 1e3
    );
    println!("| 1 MiB slice, p90 latency | {:.2} ms |", p90 * 1e3);
    println!(
        "| 1 MiB slice, throughput at the median | {:.0} MiB/s |",
        mib / med
    );
    println!(
        "| bytes per slice (nginx `$body_bytes_sent`) | {per_bytes:.0} ({:.4} MiB) |",
        per_bytes / (1 << 20) as f64
    );
    println!("| requests per slice (nginx log) | {per_req:.2} |");
    println!(
        "| client counters for the slices | {} requests, {} bytes |",
        s1.requests - s0.requests,
        s1.bytes - s0.bytes
    );
    if full {
        let (r0, b0) = log_counts(dir.path());
        let t = Instant::now();
        let a = d.array("cube").unwrap();
        let secs = t.elapsed().as_secs_f64();
        let (r1, b1) = log_counts(dir.path());
        assert_eq!(a.data.len() as u64, ROWS * COLS * 4);
        println!(
            "| whole 1 GiB array (16 MiB requests, 4 in flight) | {secs:.2} s, {:.0} MiB/s, {} requests, {} bytes |",
            1024.0 / secs,
            r1 - r0,
            b1 - b0
        );
    }
}
