//! Reads pinned to one entry, without the index: [`RemoteObject`] and
//! [`EntryPin`].
//!
//! A reader that was handed "rows of the array at byte N of this URL" (a
//! dask task, a worker process) needs neither the index nor a
//! [`RemoteDict`](crate::RemoteDict): an [`EntryPin`] (the object's version
//! and where the entry's frame is) and the byte ranges suffice. Each read
//! is a ranged GET carrying `If-Match` with the pinned ETag. When the
//! object changed since the pin was taken (a writer appended entries, so
//! the ETag, size and Last-Modified moved), the entry is re-validated in
//! the new version as [`RemoteDict::refresh`](crate::RemoteDict::refresh)
//! re-validates known entries: its frame head (length and key) and its
//! tail (memo max, and a validity byte that is live or deleted: a deleted
//! or replaced entry keeps its bytes until the file is vacuumed) are read
//! together with the asked ranges, all pinned to the new version. If they
//! match, the bytes are returned and the new version is remembered for the
//! entry; if not (the file was vacuumed, rewritten or replaced), the read
//! fails with [`Error::Changed`]: never bytes of two versions.
//!
//! Array data written in place (which mmpk does not count as a commit)
//! moves the version too, and is not told apart from an append: it is
//! read as it is now. So is another object put at the URL whose entry has
//! the same frame head and tail at the same place (the same writer run
//! again with other data): the check reads the entry's frame, not a digest
//! of its data. Servers without an ETag are compared by size and
//! Last-Modified, then re-validated the same way.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mmpk_format::entry::{DELETED, LIVE};

use crate::error::{Error, Result};
use crate::index::RemoteEntry;
use crate::options::Options;
use crate::source::Source;
use crate::transport::{ObjectVersion, TransferStats, Transport};

/// How many times a read re-validates when the object keeps changing
/// between the re-validation's HEAD and its GETs.
const REVALIDATE_TRIES: usize = 4;

/// Where one entry is in one version of an object: what a reader needs to
/// check that the entry's bytes are still the ones it was told about.
/// [`crate::RemoteDict::pin`] makes one; it holds no credentials and no
/// index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EntryPin {
    /// The version the entry was seen in.
    pub version: ObjectVersion,
    /// The entry's key.
    pub key: String,
    /// Offset of the entry's `FRAME` opcode.
    pub offset: u64,
    /// Total length of the entry.
    pub len: u64,
    /// The memo max the entry records.
    pub memo_max: u32,
}

impl EntryPin {
    /// A pin from its parts (as [`crate::RemoteDict::pin`] made them,
    /// for instance after they crossed a process boundary).
    pub fn new(version: ObjectVersion, key: String, offset: u64, len: u64, memo_max: u32) -> Self {
        EntryPin {
            version,
            key,
            offset,
            len,
            memo_max,
        }
    }

    /// The pin of entry `e` in version `v`.
    pub(crate) fn of(e: &RemoteEntry, v: &ObjectVersion) -> EntryPin {
        EntryPin::new(v.clone(), e.key.clone(), e.offset, e.len, e.memo_max)
    }

    /// The byte after the entry.
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }

    /// The two ranges re-validation reads: the frame head with the key,
    /// and the entry's last 8 bytes.
    fn check_ranges(&self) -> [Range<u64>; 2] {
        let head = self.offset..self.offset + 11 + self.key.len() as u64;
        [head, self.end().saturating_sub(8)..self.end()]
    }
}

/// Whether the entry of `key` with frame length `len` and `memo_max` is
/// what `head` (its frame head and key) and `tail` (its last 8 bytes)
/// hold; its validity byte if so.
pub(crate) fn entry_matches(
    key: &str,
    len: u64,
    memo_max: u32,
    head: &[u8],
    tail: &[u8],
) -> Option<u8> {
    let mut want = vec![0x95];
    want.extend_from_slice(&len.checked_sub(9)?.to_le_bytes());
    want.push(0x8c);
    want.push(u8::try_from(key.len()).ok()?);
    want.extend_from_slice(key.as_bytes());
    let memo = (memo_max as i32).to_le_bytes();
    let tail_ok = tail.len() == 8
        && tail[0] == 0x4a
        && tail[1..5] == memo
        && tail[5] == 0x30
        && tail[7] == 0x30;
    (head == &want[..] && tail_ok).then_some(tail[6])
}

/// One object behind a URL, read by byte ranges pinned to entries
/// ([`EntryPin`]), with no index. Opening it sends no request. Clones
/// share the connection pool, the I/O runtime and the re-validated
/// versions; so does the [`crate::RemoteDict`] it opens
/// ([`RemoteObject::open_dict`]), whose index and cache are its own.
#[derive(Clone, Debug)]
pub struct RemoteObject {
    pub(crate) src: Arc<Source>,
    /// The newest version each pinned entry was re-validated in.
    moved: Arc<Mutex<HashMap<EntryPin, ObjectVersion>>>,
}

impl RemoteObject {
    /// A handle on `url` (`http://`, `https://`, `s3://bucket/key`); no
    /// request is sent.
    pub fn open(url: &str, options: Options) -> Result<RemoteObject> {
        let t = Transport::new(url, &options)?;
        Ok(RemoteObject::on(Arc::new(Source::new(t, &options))))
    }

    pub(crate) fn on(src: Arc<Source>) -> RemoteObject {
        RemoteObject {
            src,
            moved: Arc::default(),
        }
    }

    /// Reads the header and index (as [`crate::RemoteDict::open`]) through
    /// this handle's connections and runtime.
    pub fn open_dict(&self) -> Result<crate::RemoteDict> {
        crate::RemoteDict::open_on(self.src.clone())
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.src.t.url
    }

    /// The object's current version (one HEAD request).
    pub fn head(&self) -> Result<ObjectVersion> {
        self.src.t.block_on(self.src.t.head())?
    }

    /// Transfer counters of every read through this handle, its clones and
    /// the dicts it opened.
    pub fn stats(&self) -> TransferStats {
        self.src.t.stats()
    }

    /// The version reads of `pin` are pinned to now: the pin's own, or the
    /// newest one the entry was re-validated in.
    pub fn version_for(&self, pin: &EntryPin) -> ObjectVersion {
        self.moved_lock()
            .get(pin)
            .cloned()
            .unwrap_or_else(|| pin.version.clone())
    }

    fn moved_lock(&self) -> std::sync::MutexGuard<'_, HashMap<EntryPin, ObjectVersion>> {
        self.moved.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads `ranges` (absolute offsets, each inside the pinned entry) of
    /// the version the entry is pinned to, with ranged GETs that bypass
    /// the cache (large ranges split, several in flight). If the object
    /// changed, the entry is re-validated (see the module docs) and the
    /// ranges are read from the new version; [`Error::Changed`] if the
    /// entry is no longer there.
    pub fn read_pinned(&self, pin: &EntryPin, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.check_inside(pin, ranges.iter().cloned())?;
        let t = &self.src.t;
        self.pinned(pin, |v, check| {
            let mut all = check.to_vec();
            all.extend_from_slice(ranges);
            let mut got = t.read_many(&all, v)?;
            let rest = got.split_off(check.len());
            Ok((got, rest))
        })
    }

    /// Reads, as [`RemoteObject::read_pinned`] does, the bytes from each
    /// `start` of `reads` into its destination (as many bytes as it
    /// holds), with no buffer of its own: every chunk received is copied
    /// once, straight into place, and nothing is allocated for the data
    /// (the destinations bound the read). Each destination is one ranged
    /// GET, never split (a dask chunk's rows: one request, as a plain HTTP
    /// client would send): to have a large read fetched in parallel parts,
    /// pass its parts as several destinations (`chunks_mut` of one
    /// buffer); up to `concurrency` ([`Options::concurrency`]) are in
    /// flight. Reads are pinned and re-validated as for `read_pinned`. On
    /// an error the destinations hold some of the bytes and not others:
    /// never trust them after an error.
    ///
    /// ```no_run
    /// # fn main() -> mmpk_remote::Result<()> {
    /// use mmpk_remote::{Options, RemoteDict};
    /// let d = RemoteDict::open("https://example.org/f.mmpk", Options::new())?;
    /// let (info, pin) = (d.array_info("cube")?, d.pin("cube")?);
    /// // A buffer the caller owns (a numpy array's, a reused one...).
    /// let mut rows = vec![0u8; 1 << 20];
    /// d.object().read_pinned_into(&pin, &mut [(info.data_offset, &mut rows[..])])?;
    /// # Ok(()) }
    /// ```
    pub fn read_pinned_into(&self, pin: &EntryPin, reads: &mut [(u64, &mut [u8])]) -> Result<()> {
        self.check_inside(
            pin,
            reads
                .iter()
                .map(|(s, d)| *s..s.saturating_add(d.len() as u64)),
        )?;
        let t = &self.src.t;
        self.pinned(pin, |v, check| {
            if check.is_empty() || t.has_direct() {
                let head = if check.is_empty() {
                    Vec::new()
                } else {
                    t.read_many(check, v)?
                };
                t.read_many_into(reads, v)?;
                return Ok((head, ()));
            }
            let both = async {
                let head = async {
                    if check.is_empty() {
                        Ok(Vec::new())
                    } else {
                        t.get_many(check, v).await
                    }
                };
                futures_util::future::join(head, t.get_many_into(reads, v)).await
            };
            let (head, data) = t.block_on(both)?;
            data?;
            Ok((head?, ()))
        })
    }

    /// [`Error::BadUrl`] unless every range is inside the entry of `pin`.
    fn check_inside(&self, pin: &EntryPin, ranges: impl Iterator<Item = Range<u64>>) -> Result<()> {
        for r in ranges {
            if r.start > r.end || r.start < pin.offset || r.end > pin.end() {
                return Err(Error::BadUrl {
                    url: self.url().to_string(),
                    what: format!(
                        "bytes {}..{} are outside the entry {:?} at {}..{}",
                        r.start,
                        r.end,
                        pin.key,
                        pin.offset,
                        pin.end()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Runs `read(version, check)` pinned to the entry of `pin`: first with
    /// the version the entry is pinned to and no check ranges; if the
    /// object changed, with its new version and the entry's check ranges
    /// (whose bytes `read` returns first), which re-validate the entry.
    fn pinned<T>(
        &self,
        pin: &EntryPin,
        mut read: impl FnMut(&ObjectVersion, &[Range<u64>]) -> Result<(Vec<Bytes>, T)>,
    ) -> Result<T> {
        let v = self.version_for(pin);
        match read(&v, &[]) {
            Ok((_, got)) => return Ok(got),
            Err(Error::Changed { .. }) => {}
            // A change can show as another error: without an ETag, a range
            // past the end of a shrunk object is a 416. Look before failing.
            Err(e) => match self.head() {
                Ok(now) if now != v => {}
                _ => return Err(e),
            },
        }
        let mut why = String::new();
        for _ in 0..REVALIDATE_TRIES {
            let now = self.head()?;
            if now.size < pin.end() {
                return Err(self.moved_away(pin, &format!("the object is now {} bytes", now.size)));
            }
            match read(&now, &pin.check_ranges()) {
                Ok((check, got)) => {
                    let (head, tail) = match &check[..] {
                        [h, t] => (&h[..], &t[..]),
                        _ => (&[][..], &[][..]),
                    };
                    return match entry_matches(&pin.key, pin.len, pin.memo_max, head, tail) {
                        Some(LIVE | DELETED) => {
                            self.moved_lock().insert(pin.clone(), now);
                            Ok(got)
                        }
                        _ => Err(self.moved_away(pin, "its frame head or tail differs")),
                    };
                }
                Err(Error::Changed { what, .. }) => why = what,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Changed {
            url: self.url().to_string(),
            what: format!(
                "the object kept changing while entry {:?} was re-validated ({why})",
                pin.key
            ),
        })
    }

    fn moved_away(&self, pin: &EntryPin, what: &str) -> Error {
        Error::Changed {
            url: self.url().to_string(),
            what: format!(
                "entry {:?} is no longer at byte {} ({what}): the object was rewritten \
                 (vacuumed or replaced); open it again",
                pin.key, pin.offset
            ),
        }
    }
}
