//! Reading a published mmpk file over HTTP(S) or S3 without downloading it.
//!
//! What it teaches:
//! - `RemoteDict::open` reads the header and the index with a few ranged
//!   GETs; keys, dtypes and shapes then cost no request;
//! - `RemoteDict::array_slice` fetches only the bytes of the rows asked for,
//!   `RemoteDict::array` the whole array (in parallel ranges when large),
//!   `RemoteDict::get_pickle` a generic value;
//! - `RemoteDict::stats` counts requests and bytes, so the cost is visible.
//!
//! ```text
//! cargo run -p mmpk-remote --example remote_read -- URL [KEY]
//! cargo run -p mmpk-remote --example remote_read -- --serve FILE.mmpk [KEY]
//! cargo run -p mmpk-remote --example remote_read
//! ```
//!
//! `URL` is `http://`, `https://` or `s3://bucket/key` (endpoint, region
//! and credentials from the usual `AWS_*` variables; `AWS_ALLOW_HTTP=true`
//! for a local S3 server). Any web server that answers `Range` requests
//! serves a file: `nginx`, or `python3 -m http.server` (no ranges before
//! Python 3.13: use nginx). `--serve FILE` serves a local file from a small
//! HTTP server inside this program (the workspace's test server, for
//! trying it offline); with no argument a sample file is made and served.
//! KEY (default: the first array) is the array read.

use std::error::Error;

use mmpk_format::array::Encoding;
use mmpk_format::dtype::Dtype;
use mmpk_format::header::TERMINATOR;
use mmpk_format::write::{encode_array, write_entry, write_header};
use mmpk_remote::{Options, RemoteDict};

/// A sample file: `cube`, a 1000 x 256 `<f4` array, and `meta`, the int 7.
fn sample() -> Result<Vec<u8>, Box<dyn Error>> {
    let mut file = write_header(1).to_vec();
    let raw: Vec<u8> = (0..1000 * 256)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let mut cube = Vec::new();
    encode_array(
        &mut cube,
        Encoding::V2,
        &Dtype::parse("<f4")?,
        &[1000, 256],
        &raw,
    )?;
    write_entry(&mut file, "cube", &cube, 0, true)?;
    write_entry(&mut file, "meta", b"K\x07", 1, true)?; // BININT1 7
    file.extend_from_slice(&TERMINATOR);
    Ok(file)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Keep the server (if any) alive while the dict reads from it.
    let mut server = None;
    let (url, key) = match args.as_slice() {
        [flag, path, rest @ ..] if flag == "--serve" => {
            let s = mmpk_test_support::http::Server::start();
            s.put("file.mmpk", std::fs::read(path)?);
            let url = s.url("file.mmpk");
            server = Some(s);
            (url, rest.first().cloned())
        }
        [] => {
            let s = mmpk_test_support::http::Server::start();
            s.put("sample.mmpk", sample()?);
            let url = s.url("sample.mmpk");
            server = Some(s);
            (url, None)
        }
        [url, rest @ ..] => (url.clone(), rest.first().cloned()),
    };
    // A local server is plain http.
    let opts = Options::new().allow_http(server.is_some() || url.starts_with("http://"));
    let d = RemoteDict::open(&url, opts)?;
    println!("{url}: {} keys, commit {}", d.len(), d.commit_number());
    println!("opening cost {:?}", d.stats());

    let mut first_array = None;
    for k in d.keys() {
        match d.array_info(&k) {
            Ok(info) => {
                println!(
                    "  {k}: array {} {:?} ({} bytes)",
                    info.dtype.str(),
                    info.shape,
                    info.nbytes
                );
                first_array.get_or_insert(k);
            }
            Err(_) => println!(
                "  {k}: a value of {} bytes",
                d.value_bytes(&k).map(|b| b.len()).unwrap_or(0)
            ),
        }
    }
    let Some(key) = key.or(first_array) else {
        println!("no array to read");
        return Ok(());
    };
    let info = d.array_info(&key)?;
    let before = d.stats();
    // The last rows: past what opening read ahead, so they cost a request.
    let len = info.rows().unwrap_or(0);
    let rows = len.saturating_sub(4)..len;
    let slice = d.array_slice(&key, rows.clone())?;
    let after = d.stats();
    println!(
        "rows {rows:?} of {key:?}: shape {:?}, {} request(s), {} bytes fetched for {} bytes of rows",
        slice.shape,
        after.requests - before.requests,
        after.bytes - before.bytes,
        (rows.end - rows.start) * info.row_bytes()
    );
    if info.dtype.str() == "<f4" {
        let v = slice.to_vec::<f32>()?;
        println!("  first values {:?}", &v[..v.len().min(4)]);
    }
    if d.contains("meta") {
        let meta = d.get_pickle("meta")?;
        let json = pickle_ops::json::pickle_to_json(&meta, &Default::default())?;
        println!("meta: {json}");
    }
    println!("total {:?}", d.stats());
    drop(server);
    Ok(())
}
