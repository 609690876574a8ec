//! Against real servers the tests start and stop themselves on 127.0.0.1:
//! nginx (`MMPK_TEST_NGINX`, the nginx binary) serving a temp directory,
//! with an access log of `$body_bytes_sent`; and moto's S3 server
//! (`MMPK_TEST_MOTO`, its `moto_server` script). `cargo xtask remote-test`
//! sets both and runs these with `--include-ignored`; without the variable
//! a test fails loudly rather than pass without its server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmpk_remote::{Error, Options, RemoteDict};

use crate::files::{write_sparse, Builder};
use crate::quick;

/// A child process, killed (by its own handle) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, p: &mut Proc, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = p.0.try_wait() {
            panic!("{what} exited: {st}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn env_bin(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(var)
            .unwrap_or_else(|| panic!("{var} is not set: run `cargo xtask remote-test`")),
    )
}

/// nginx serving `dir/www` on a random port, logging to `dir/access.log`.
struct Nginx {
    _p: Proc,
    port: u16,
    log: PathBuf,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let bin = env_bin("MMPK_TEST_NGINX");
        let port = free_port();
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        let d = dir.display();
        let log = dir.join("access.log");
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n  log_format bytes '$request_method $uri $status $body_bytes_sent \"$http_range\"';\n\
             access_log {d}/access.log bytes;\n  client_body_temp_path {d}/tmp;\n\
             proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n\
             scgi_temp_path {d}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n\
             root {www};\n  }}\n}}\n",
            www = www.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut p = Proc(child);
        wait_for(port, &mut p, "nginx");
        Nginx { _p: p, port, log }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// (requests, body bytes sent) so far, from the access log, once it
    /// stops changing (nginx writes a line after its response).
    fn counters(&self) -> (u64, u64) {
        let mut last = self.read_log();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.read_log();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    fn read_log(&self) -> (u64, u64) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut n = 0;
        let mut bytes = 0;
        for line in text.lines() {
            n += 1;
            bytes += line
                .split(' ')
                .nth(3)
                .and_then(|b| b.parse::<u64>().ok())
                .unwrap_or(0);
        }
        (n, bytes)
    }
}

#[test]
#[ignore = "needs nginx: MMPK_TEST_NGINX (cargo xtask remote-test)"]
fn nginx_slice_of_a_1_gib_array() {
    let dir = tempfile::tempdir().unwrap();
    let ng = Nginx::start(dir.path());
    let path = dir.path().join("www/big.mmpk");
    let shape: &[u64] = &[262_144, 1024];
    let offs = write_sparse(&path, &[("meta", "<i8", &[2]), ("cube", "<f4", shape)]);
    // Mark the rows we read.
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(offs[1] + 5000 * 4096)).unwrap();
        f.write_all(&7.5f32.to_le_bytes()).unwrap();
    }
    let d = RemoteDict::open(&ng.url("big.mmpk"), Options::new()).unwrap();
    let (req0, bytes0) = ng.counters();
    assert!(
        req0 <= 3 && bytes0 < 80 << 10,
        "index read: {req0} requests, {bytes0} bytes"
    );
    let s = d.array_slice("cube", 5000..5256).unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap()[0], 7.5);
    let (req1, bytes1) = ng.counters();
    assert_eq!(req1 - req0, 1);
    // Plain http: the GET of the rows was sent by the direct reader
    // (unless a proxy variable sends everything through object_store).
    let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
        || std::env::var("MMPK_REMOTE_DIRECT").is_ok_and(|v| v.trim() == "0");
    assert_eq!(d.stats().direct >= 1, !proxied, "{:?}", d.stats());
    assert!(
        bytes1 - bytes0 <= (1 << 20) + (1 << 20) / 10,
        "{}",
        bytes1 - bytes0
    );

    // nginx's ETag is mtime-size: a rewrite is noticed.
    std::thread::sleep(Duration::from_millis(1100));
    let mut b = Builder::new(9);
    b.ops("k", b"K\x01", true);
    std::fs::write(dir.path().join("www/big.mmpk"), b.finish()).unwrap();
    let e = d.array_slice("cube", 200_000..200_001).err();
    assert!(matches!(e, Some(Error::Changed { .. })), "{e:?}");
    let e = RemoteDict::open(&ng.url("missing.mmpk"), quick()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

#[test]
#[ignore = "needs nginx: MMPK_TEST_NGINX (cargo xtask remote-test)"]
fn nginx_follows_a_growing_file() {
    let dir = tempfile::tempdir().unwrap();
    let ng = Nginx::start(dir.path());
    let path = dir.path().join("www/g.mmpk");
    let mut b = Builder::new(1);
    b.ops("a", b"K\x01", true);
    std::fs::write(&path, b.finish()).unwrap();
    let mut d = RemoteDict::open(&ng.url("g.mmpk"), quick()).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let mut b = Builder::reopen(std::fs::read(&path).unwrap(), 2);
    b.array("x", mmpk_format::array::Encoding::V2, "<u1", &[2], &[5, 6]);
    std::fs::write(&path, b.finish()).unwrap();
    assert_eq!(
        d.refresh().unwrap(),
        mmpk_remote::Refresh::Grew { new_entries: 1 }
    );
    assert_eq!(d.array("x").unwrap().data, [5, 6]);
}

/// moto's S3 server on a random port.
struct Moto {
    _p: Proc,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let bin = env_bin("MMPK_TEST_MOTO");
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut p = Proc(child);
        wait_for(port, &mut p, "moto_server");
        Moto { _p: p, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn options(&self) -> Options {
        quick()
            .s3_endpoint(self.endpoint())
            .s3_region("us-east-1")
            .s3_credentials("testing", "testing", None)
            .allow_http(true)
    }

    /// Creates `bucket` (moto accepts an unsigned CreateBucket; object_store
    /// has no bucket API).
    fn create_bucket(&self, bucket: &str) {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            c,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }

    /// Uploads through object_store itself.
    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) {
        use object_store::ObjectStoreExt;
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_allow_http(true)
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(s3.put(&object_store::path::Path::from(key), data.into()))
            .unwrap();
    }
}

#[test]
#[ignore = "needs moto: MMPK_TEST_MOTO (cargo xtask remote-test)"]
fn moto_s3_reads_arrays_and_values() {
    let m = Moto::start();
    m.create_bucket("data");
    let (f, _) = crate::files::sparse_file(&[("cube", "<u2", &[4096, 512])]);
    let mut b = Builder::reopen(f, 3);
    b.ops("n", b"K\x2a", true);
    let f = b.finish();
    m.put("data", "dir/f.mmpk", f.clone());
    let d = RemoteDict::open("s3://data/dir/f.mmpk", m.options()).unwrap();
    assert_eq!(d.keys(), ["cube", "n"]);
    assert_eq!(d.commit_number(), 3);
    let s = d.array_slice("cube", 10..20).unwrap();
    assert_eq!(s.shape, [10, 512]);
    assert_eq!(s.data.len(), 10 * 1024);
    let st = d.stats();
    assert!(st.bytes < 100 << 10, "{st:?}");
    assert_eq!(st.direct, 0, "s3: never the direct reader");
    let p = d.get_pickle("n").unwrap();
    assert_eq!(
        *p.value(p.root()),
        pickle_ops::Value::Int(pickle_ops::PyInt::Small(42))
    );
    // Missing key, and a new upload under the reader.
    let e = RemoteDict::open("s3://data/nothing", m.options()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let mut g = f;
    g[30] ^= 1;
    m.put("data", "dir/f.mmpk", g);
    let e = d.array_slice("cube", 1000..1100).err();
    assert!(matches!(e, Some(Error::Changed { .. })), "{e:?}");
}
