//! The transport: an `object_store` store for one object, driven by the
//! process's I/O runtime (`crate::runtime`). Every GET is ranged, carries
//! `If-Match` with the ETag the index was read from, and has its
//! response's ETag, Last-Modified and size compared with it; counters of
//! requests and bytes are kept. The GETs of a known version of a plain
//! `http://` object go through the direct reader (`crate::direct`)
//! instead, when it accepts the URL ([`Transport::read_many`],
//! [`Transport::read_many_into`]).

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};

use crate::direct::{direct_target, Direct};
use crate::error::{from_store, Error, Result};
use crate::options::Options;
use crate::runtime::{self, IoRuntime};

/// What identifies one version of the object: a change of any of these
/// while reading is [`Error::Changed`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ObjectVersion {
    /// The object's size in bytes.
    pub size: u64,
    /// Its ETag, if the server sends one.
    pub etag: Option<String>,
    /// Its Last-Modified time in milliseconds since the Unix epoch (0 when
    /// the server sends none).
    pub last_modified_ms: i64,
}

impl ObjectVersion {
    /// A version from its parts (as [`crate::RemoteDict::version`] gave
    /// them, for instance after they crossed a process boundary).
    pub fn new(size: u64, etag: Option<String>, last_modified_ms: i64) -> ObjectVersion {
        ObjectVersion {
            size,
            etag,
            last_modified_ms,
        }
    }

    /// What differs from `other`, if anything.
    pub(crate) fn diff(&self, other: &ObjectVersion) -> Option<String> {
        if self.etag.is_some() && other.etag.is_some() && self.etag != other.etag {
            return Some(format!(
                "ETag {} became {}",
                self.etag.as_deref().unwrap_or(""),
                other.etag.as_deref().unwrap_or("")
            ));
        }
        if self.size != other.size {
            return Some(format!("size {} became {}", self.size, other.size));
        }
        if self.last_modified_ms != other.last_modified_ms {
            return Some("Last-Modified changed".to_string());
        }
        None
    }
}

/// Transfer counters, cumulative since the dict was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStats {
    /// GET requests sent (retries inside the transport not counted).
    pub requests: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Reads served from the cache without a request.
    pub cache_hits: u64,
    /// Of `requests`, the GETs sent by the direct HTTP/1.1 reader (the
    /// ranged GETs of a plain `http://` URL, but the first of
    /// [`crate::RemoteDict::open`]); always 0 for other URLs.
    pub direct: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TransferStats {
        TransferStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            direct: 0,
        }
    }
}

/// One object behind a store.
#[derive(Debug)]
pub(crate) struct Transport {
    /// The process's runtime (`crate::runtime`).
    pub(crate) rt: IoRuntime,
    store: Arc<dyn ObjectStore>,
    path: Path,
    pub(crate) url: String,
    pub(crate) counters: Counters,
    max_request: u64,
    concurrency: usize,
    /// The direct reader, for a plain `http://` URL it accepts.
    direct: Option<Direct>,
}

/// Installs rustls' ring provider once (reqwest is built without one).
fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider is installed: then that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Transport {
    /// A transport for `url` (`http://`, `https://` or `s3://bucket/key`).
    pub(crate) fn new(url: &str, o: &Options) -> Result<Transport> {
        let bad = |what: &str| Error::BadUrl {
            url: url.to_string(),
            what: what.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("query strings and fragments are not supported"));
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::InAsyncContext);
        }
        install_crypto();
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: o.init_backoff,
                max_backoff: o.retry_timeout,
                base: 2.0,
            },
            max_retries: o.retries,
            retry_timeout: o.retry_timeout,
        };
        let mut client = ClientOptions::new()
            .with_timeout(o.timeout)
            .with_connect_timeout(o.connect_timeout);
        let (store, path): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "http" | "https" => {
                let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
                let origin = match parsed.port() {
                    Some(p) => format!("{}://{host}:{p}/", parsed.scheme()),
                    None => format!("{}://{host}/", parsed.scheme()),
                };
                let path = Path::from_url_path(parsed.path()).map_err(|e| bad(&e.to_string()))?;
                if path.as_ref().is_empty() {
                    return Err(bad("no object path"));
                }
                client = client.with_allow_http(parsed.scheme() == "http");
                let store = object_store::http::HttpBuilder::new()
                    .with_url(origin)
                    .with_client_options(client)
                    .with_retry(retry)
                    .build()
                    .map_err(|e| bad(&e.to_string()))?;
                (Arc::new(store), path)
            }
            "s3" | "s3a" => {
                let bucket = parsed.host_str().ok_or_else(|| bad("no bucket"))?;
                let path = Path::from_url_path(parsed.path()).map_err(|e| bad(&e.to_string()))?;
                if path.as_ref().is_empty() {
                    return Err(bad("no object key"));
                }
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(e) = &o.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &o.region {
                    b = b.with_region(r);
                }
                if let (Some(k), Some(s)) = (&o.access_key_id, &o.secret_access_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                    if let Some(t) = &o.session_token {
                        b = b.with_token(t);
                    }
                }
                if let Some(v) = o.virtual_hosted_style {
                    b = b.with_virtual_hosted_style_request(v);
                }
                if o.skip_signature {
                    b = b.with_skip_signature(true);
                }
                // `with_client_options` below replaces the client options
                // `from_env` read, AWS_ALLOW_HTTP among them: read it here.
                let env_http = || {
                    std::env::var("AWS_ALLOW_HTTP")
                        .ok()
                        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
                };
                if let Some(a) = o.allow_http.or_else(env_http) {
                    client = client.with_allow_http(a);
                    b = b.with_allow_http(a);
                }
                let store = b
                    .with_client_options(client)
                    .with_retry(retry)
                    .build()
                    .map_err(|e| bad(&e.to_string()))?;
                (Arc::new(store), path)
            }
            other => return Err(bad(&format!("scheme {other:?} is not http, https or s3"))),
        };
        let rt = runtime::shared(url)?;
        let direct = direct_target(&parsed, |k| std::env::var(k).ok())
            .map(|t| Direct::new(t, o.timeout, o.connect_timeout));
        Ok(Transport {
            rt,
            store,
            path,
            url: url.to_string(),
            counters: Counters::default(),
            max_request: o.max_request,
            concurrency: o.concurrency,
            direct,
        })
    }

    /// The transfer counters now.
    pub(crate) fn stats(&self) -> TransferStats {
        let mut s = self.counters.snapshot();
        if let Some(d) = &self.direct {
            let n = d.requests.load(Ordering::Relaxed);
            s.direct = n;
            s.requests += n;
        }
        s
    }

    /// Whether reads go through the direct reader.
    pub(crate) fn has_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// [`Transport::get_many`], blocking: through the direct reader when
    /// there is one (each range read into a buffer of its size, allocated
    /// up front as `get_many` does for a split range, its parts of at most
    /// `max_request` bytes read in parallel), else on the runtime.
    pub(crate) fn read_many(&self, ranges: &[Range<u64>], v: &ObjectVersion) -> Result<Vec<Bytes>> {
        if self.direct.is_none() {
            return self.block_on(self.get_many(ranges, v))?;
        }
        let mut bufs = Vec::with_capacity(ranges.len());
        for r in ranges {
            let len = r.end.saturating_sub(r.start);
            let n = usize::try_from(len).map_err(|_| Error::TooLarge {
                key: String::new(),
                len,
            })?;
            bufs.push(vec![0u8; n]);
        }
        let part = usize::try_from(self.max_request)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut reads: Vec<(u64, &mut [u8])> = Vec::new();
        for (r, b) in ranges.iter().zip(bufs.iter_mut()) {
            let mut at = r.start;
            for p in b.chunks_mut(part) {
                let n = p.len() as u64;
                reads.push((at, p));
                at += n;
            }
        }
        self.read_many_into(&mut reads, v)?;
        Ok(bufs.into_iter().map(Bytes::from).collect())
    }

    /// Fills each `(start, dst)` of `reads` as [`Transport::get_many_into`]
    /// does, blocking: through the direct reader when there is one (on the
    /// calling thread, or on up to `concurrency` scoped threads for
    /// several reads; each read it hands back sent again through
    /// `object_store`), else on the runtime.
    pub(crate) fn read_many_into(
        &self,
        reads: &mut [(u64, &mut [u8])],
        v: &ObjectVersion,
    ) -> Result<()> {
        let Some(d) = &self.direct else {
            return self.block_on(self.get_many_into(reads, v))?;
        };
        // As block_on: no blocking inside an async runtime, and no
        // connection of the parent's used in a forked child.
        self.rt.check(&self.url)?;
        let mut work: Vec<&mut (u64, &mut [u8])> =
            reads.iter_mut().filter(|(_, d)| !d.is_empty()).collect();
        let one = |(at, dst): &mut (u64, &mut [u8])| -> Result<()> {
            match d.read_into(&self.url, *at, dst, v, &self.counters.bytes)? {
                Ok(()) => Ok(()),
                Err(crate::direct::Fallback) => self.block_on(self.get_into(*at, dst, v))?,
            }
        };
        let threads = self.concurrency.min(work.len());
        if threads <= 1 {
            return work.into_iter().try_for_each(one);
        }
        let queue = std::sync::Mutex::new(work.iter_mut());
        let failed = std::sync::atomic::AtomicBool::new(false);
        let first: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let worker = || loop {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
            let Some(r) = next else { return };
            if let Err(e) = one(r) {
                failed.store(true, Ordering::Relaxed);
                first
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                return;
            }
        };
        std::thread::scope(|sc| {
            // The calling thread is one of the workers; a helper that
            // cannot be started leaves its share to the others.
            for _ in 1..threads {
                let _ = std::thread::Builder::new()
                    .name("mmpk-remote-get".into())
                    .spawn_scoped(sc, worker);
            }
            worker();
        });
        match first.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `f` to completion on the process's runtime, the calling
    /// thread blocked.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> Result<F::Output> {
        self.rt.block_on(&self.url, f)
    }

    /// Sends one ranged GET and checks its headers: with `expect`, sends
    /// `If-Match` (when there is an ETag) and fails with [`Error::Changed`]
    /// if the response is of another version. Returns the response, the
    /// version it is of and its body's length (the server may shorten a
    /// range that runs past the end).
    async fn request(
        &self,
        range: &Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<(object_store::GetResult, ObjectVersion, u64)> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match: expect.and_then(|v| v.etag.clone()),
            ..Default::default()
        };
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let res = self
            .store
            .get_opts(&self.path, opts)
            .await
            .map_err(|e| from_store(&self.url, e))?;
        let seen = ObjectVersion {
            size: res.meta.size,
            etag: res.meta.e_tag.clone(),
            last_modified_ms: res.meta.last_modified.timestamp_millis(),
        };
        if let Some(v) = expect {
            if let Some(what) = v.diff(&seen) {
                return Err(Error::Changed {
                    url: self.url.clone(),
                    what,
                });
            }
        }
        let want = res.range.end.saturating_sub(res.range.start);
        if res.range.start != range.start {
            return Err(Error::Changed {
                url: self.url.clone(),
                what: format!(
                    "asked for bytes from {}, got bytes from {}",
                    range.start, res.range.start
                ),
            });
        }
        Ok((res, seen, want))
    }

    /// Feeds the body of `res` (`want` bytes from `offset`) to `sink` chunk
    /// by chunk, counting them; fails if it is shorter or longer.
    async fn body(
        &self,
        res: object_store::GetResult,
        offset: u64,
        want: u64,
        mut sink: impl FnMut(u64, &[u8]),
    ) -> Result<()> {
        let mut got = 0u64;
        let mut stream = res.into_stream();
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    self.counters
                        .bytes
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if got + chunk.len() as u64 > want {
                        return Err(Error::Changed {
                            url: self.url.clone(),
                            what: "the response is longer than its Content-Range".into(),
                        });
                    }
                    sink(got, &chunk);
                    got += chunk.len() as u64;
                }
                Some(Err(_)) | None if got < want => {
                    return Err(Error::Truncated {
                        url: self.url.clone(),
                        offset,
                        needed: want,
                        got,
                    })
                }
                Some(Err(e)) => return Err(from_store(&self.url, e)),
                None => return Ok(()),
            }
        }
    }

    /// One ranged GET. With `expect`, sends `If-Match` (when there is an
    /// ETag) and fails with [`Error::Changed`] if the response is of
    /// another version; without, returns the version it saw.
    pub(crate) async fn get(
        &self,
        range: Range<u64>,
        expect: Option<&ObjectVersion>,
    ) -> Result<(Bytes, ObjectVersion)> {
        let (res, seen, want) = self.request(&range, expect).await?;
        let mut buf = BytesMut::with_capacity(usize::try_from(want).unwrap_or(0).min(64 << 20));
        self.body(res, range.start, want, |_, chunk| {
            buf.extend_from_slice(chunk)
        })
        .await?;
        Ok((buf.freeze(), seen))
    }

    /// One ranged GET of `dst.len()` bytes from `start` of version `v`,
    /// written straight into `dst` (each received chunk copied once).
    async fn get_into(&self, start: u64, dst: &mut [u8], v: &ObjectVersion) -> Result<()> {
        let range = start..start + dst.len() as u64;
        let (res, _, want) = self.request(&range, Some(v)).await?;
        if want < dst.len() as u64 {
            return Err(Error::Truncated {
                url: self.url.clone(),
                offset: start,
                needed: dst.len() as u64,
                got: want,
            });
        }
        self.body(res, start, want, |at, chunk| {
            // `body` never passes more than `want` (= dst.len()) bytes.
            dst[at as usize..at as usize + chunk.len()].copy_from_slice(chunk);
        })
        .await
    }

    /// Fills each `(start, dst)` of `reads` with the bytes from `start` of
    /// version `v`: one ranged GET each (never split: the caller chose
    /// its parts), `concurrency` in flight, every part written in place.
    /// On an error the destinations hold some bytes and not others.
    pub(crate) async fn get_many_into(
        &self,
        reads: &mut [(u64, &mut [u8])],
        v: &ObjectVersion,
    ) -> Result<()> {
        let mut stream = futures_util::stream::iter(reads.iter_mut())
            .filter(|(_, dst)| futures_util::future::ready(!dst.is_empty()))
            .map(|(at, dst)| self.get_into(*at, dst, v))
            .buffer_unordered(self.concurrency);
        while let Some(res) = stream.next().await {
            res?;
        }
        Ok(())
    }

    /// Reads `ranges` (each within the object) of version `v`: each split
    /// into requests of at most `max_request` bytes, `concurrency` in
    /// flight. A range comes back whole or the call fails.
    pub(crate) async fn get_many(
        &self,
        ranges: &[Range<u64>],
        v: &ObjectVersion,
    ) -> Result<Vec<Bytes>> {
        let mut parts = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            let mut at = r.start;
            while at < r.end {
                let end = r.end.min(at.saturating_add(self.max_request));
                parts.push((i, at..end));
                at = end;
            }
        }
        let mut count = vec![0usize; ranges.len()];
        for (i, _) in &parts {
            count[*i] += 1;
        }
        let mut stream = futures_util::stream::iter(parts)
            .map(|(i, r)| async move {
                let want = r.end - r.start;
                let (b, _) = self.get(r.clone(), Some(v)).await?;
                if (b.len() as u64) < want {
                    return Err(Error::Truncated {
                        url: self.url.clone(),
                        offset: r.start,
                        needed: want,
                        got: b.len() as u64,
                    });
                }
                Ok((i, b))
            })
            .buffered(self.concurrency);
        // Parts arrive in order; those of one range are joined as they
        // come, so a large read holds its result and the parts in flight.
        let mut whole: Vec<Option<Bytes>> = vec![None; ranges.len()];
        let mut joined: Vec<BytesMut> = ranges.iter().map(|_| BytesMut::new()).collect();
        while let Some(res) = stream.next().await {
            let (i, b) = res?;
            if count[i] == 1 {
                whole[i] = Some(b);
            } else {
                if joined[i].is_empty() {
                    let len = ranges[i].end - ranges[i].start;
                    joined[i].reserve(usize::try_from(len).unwrap_or(0));
                }
                joined[i].extend_from_slice(&b);
            }
        }
        Ok(whole
            .into_iter()
            .zip(joined)
            .map(|(w, j)| w.unwrap_or_else(|| j.freeze()))
            .collect())
    }

    /// The object's current version (a HEAD request).
    pub(crate) async fn head(&self) -> Result<ObjectVersion> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let m = self
            .store
            .head(&self.path)
            .await
            .map_err(|e| from_store(&self.url, e))?;
        Ok(ObjectVersion {
            size: m.size,
            etag: m.e_tag,
            last_modified_ms: m.last_modified.timestamp_millis(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_transports_read_directly() {
        let o = Options::new();
        let http = Transport::new("http://127.0.0.1:9/a.mmpk", &o).unwrap();
        let https = Transport::new("https://example.org/b.mmpk", &o).unwrap();
        let s3 = Transport::new("s3://bucket/c.mmpk", &o.clone().s3_region("eu-west-1")).unwrap();
        // The environment's rule (proxies, MMPK_REMOTE_DIRECT) is
        // direct_target's, tested in crate::direct.
        let url = url::Url::parse("http://127.0.0.1:9/a.mmpk").unwrap();
        let allowed = direct_target(&url, |k| std::env::var(k).ok()).is_some();
        assert_eq!(http.has_direct(), allowed);
        assert!(!https.has_direct() && !s3.has_direct());
    }
}
