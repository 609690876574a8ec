//! [`Options`]: how a remote file is opened (read-ahead, cache, coalescing,
//! retries, timeouts, S3 endpoint and credentials).

use std::time::Duration;

/// How [`crate::RemoteDict::open`] reads. Every setting has a default;
/// builder methods take and return the options:
///
/// ```
/// use mmpk_remote::Options;
/// let o = Options::new()
///     .readahead(256 << 10)
///     .cache_bytes(128 << 20)
///     .s3_endpoint("http://127.0.0.1:9000")
///     .allow_http(true);
/// # let _ = o;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) readahead: u64,
    pub(crate) cache_bytes: u64,
    pub(crate) coalesce_gap: u64,
    pub(crate) max_request: u64,
    pub(crate) concurrency: usize,
    pub(crate) retries: usize,
    pub(crate) retry_timeout: Duration,
    pub(crate) init_backoff: Duration,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) allow_http: Option<bool>,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) skip_signature: bool,
    pub(crate) virtual_hosted_style: Option<bool>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            readahead: 64 << 10,
            cache_bytes: 64 << 20,
            coalesce_gap: 64 << 10,
            max_request: 16 << 20,
            concurrency: 4,
            retries: 3,
            retry_timeout: Duration::from_secs(30),
            init_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            allow_http: None,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            skip_signature: false,
            virtual_hosted_style: None,
        }
    }
}

impl Options {
    /// The defaults: 64 KiB read-ahead, a 64 MiB cache, ranges closer than
    /// 64 KiB coalesced, requests of at most 16 MiB (4 at a time), 3
    /// retries within 30 s starting at 100 ms, 60 s per request, 5 s to
    /// connect.
    pub fn new() -> Options {
        Options::default()
    }

    /// Bytes read at once while reading the header and the index (at least
    /// 64); after a large entry the next read is at most 4 KiB, so large
    /// arrays' bytes are not read by the index scan.
    pub fn readahead(mut self, bytes: u64) -> Options {
        self.readahead = bytes.max(64);
        self
    }

    /// Bound of the cache of recently read byte ranges (least recently used
    /// ranges go first); 0 disables it. A range larger than a quarter of
    /// it is not cached.
    pub fn cache_bytes(mut self, bytes: u64) -> Options {
        self.cache_bytes = bytes;
        self
    }

    /// Ranges needed together whose gap is at most this many bytes are read
    /// with one request (the gap is read and dropped).
    pub fn coalesce_gap(mut self, bytes: u64) -> Options {
        self.coalesce_gap = bytes;
        self
    }

    /// Larger ranges are split into requests of at most this many bytes
    /// (at least 64 KiB), `concurrency` of them in flight at once.
    pub fn max_request(mut self, bytes: u64) -> Options {
        self.max_request = bytes.max(64 << 10);
        self
    }

    /// How many requests are in flight at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Options {
        self.concurrency = n.max(1);
        self
    }

    /// Retries of a failed GET (connection errors, 5xx, 429, a body cut
    /// short), with exponential backoff from `init_backoff`, given up after
    /// `timeout` in all. GETs are idempotent, and every retry carries the
    /// same `If-Match`, so a retry never mixes two versions of the object.
    pub fn retries(mut self, n: usize, init_backoff: Duration, timeout: Duration) -> Options {
        self.retries = n;
        self.init_backoff = init_backoff;
        self.retry_timeout = timeout;
        self
    }

    /// Timeout of one request, and of establishing a connection.
    pub fn timeouts(mut self, request: Duration, connect: Duration) -> Options {
        self.timeout = request;
        self.connect_timeout = connect;
        self
    }

    /// Allow plain `http://` S3 endpoints (default: `AWS_ALLOW_HTTP`, else
    /// no). `http://` URLs given to `open` are always allowed.
    pub fn allow_http(mut self, yes: bool) -> Options {
        self.allow_http = Some(yes);
        self
    }

    /// The S3 endpoint (default: `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`, else
    /// AWS). Path-style requests are used with a custom endpoint.
    pub fn s3_endpoint(mut self, url: impl Into<String>) -> Options {
        self.endpoint = Some(url.into());
        self
    }

    /// The S3 region (default: `AWS_REGION` / `AWS_DEFAULT_REGION`, else
    /// `us-east-1`).
    pub fn s3_region(mut self, region: impl Into<String>) -> Options {
        self.region = Some(region.into());
        self
    }

    /// S3 credentials (default: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, then the other
    /// sources of the AWS credential chain).
    pub fn s3_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Options {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self.session_token = session_token;
        self
    }

    /// Send unsigned S3 requests (a public bucket); no credentials are
    /// looked up.
    pub fn s3_anonymous(mut self, yes: bool) -> Options {
        self.skip_signature = yes;
        self
    }

    /// Virtual-hosted-style S3 requests (`bucket.endpoint/key`) instead of
    /// path-style (`endpoint/bucket/key`).
    pub fn s3_virtual_hosted_style(mut self, yes: bool) -> Options {
        self.virtual_hosted_style = Some(yes);
        self
    }
}
