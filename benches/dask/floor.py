"""The floor of `cargo xtask bench dask` and its transfer-only rows.

- `RawRows`: the floor. A C-ordered array at a known offset of a URL whose
  chunks (`__getitem__` of a range of rows) are fetched by one plain
  `http.client` ranged GET each into a new numpy array, nothing decoded:
  `dask.array.from_array(RawRows(...))` is the same pass as `mmpk.dask`'s
  (the same graph, tasks, GETs and sum) with the chunks read by hand.
- `fetch`: one ranged GET into a reused buffer, the bytes dropped (no
  array, no sum): the transfer alone;
- `fetch_new`: the same into a new numpy array per chunk (the page faults
  of fresh memory on top);
- `fetch_mmpk`: the same rows read through `mmpk.open(URL)[key][a:b]`
  (mmpk's transfer alone, to set beside `fetch_new`).

In a module of its own so that dask's workers import it (they cannot
unpickle the thread-local state by value)."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import numpy as np

_local = threading.local()


def fetch(url: str, start: int, length: int) -> int:
    """GETs bytes [start, start + length) of `url` on this thread's
    connection into this thread's buffer; returns the count."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < length:
        buf = _local.buf = bytearray(length)
    return _get(url, start, length, memoryview(buf)[:length])


def fetch_new(url: str, start: int, length: int) -> int:
    """As `fetch`, into a new `np.empty` array (dropped after)."""
    return _get(url, start, length, memoryview(np.empty(length, np.uint8)))


class RawRows:
    """A C-ordered array of `dtype` and `shape` whose bytes start at
    `offset` of `url`; indexing fetches the rows it selects (one GET) into
    a new array, then cuts the other axes."""

    def __init__(self, url: str, offset: int, shape: tuple, dtype: str):
        self.url, self.offset = url, offset
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.row = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        first = index[0] if index else slice(None)
        start, stop, step = first.indices(self.shape[0])
        if step != 1:
            raise IndexError("RawRows: the first axis is read as a run of rows")
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        if out.nbytes:
            _get(self.url, self.offset + start * self.row, out.nbytes, memoryview(out).cast("B"))
        return out[(slice(None), *index[1:])]

    def __dask_tokenize__(self):
        return ("RawRows", self.url, self.offset, self.shape, self.dtype.str)


def fetch_mmpk(url: str, key: str, start: int, stop: int) -> int:
    """Rows [start, stop) of `key` at `url` through mmpk (one ranged GET
    into the array it returns, dropped after); returns the byte count."""
    import mmpk

    return int(mmpk.open(url)[key][start:stop].nbytes)


def _get(url: str, start: int, length: int, view: memoryview) -> int:
    u = urlsplit(url)
    headers = {"Range": f"bytes={start}-{start + length - 1}"}
    conn = getattr(_local, "conn", None)
    try:
        if conn is None:
            raise ConnectionError("no connection yet")
        conn.request("GET", u.path, headers=headers)
        r = conn.getresponse()
    except ConnectionError:
        # First use, or the server closed the idle keep-alive connection
        # between passes (nginx's keepalive_timeout): connect again, once.
        if conn is not None:
            conn.close()
        conn = _local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        conn.request("GET", u.path, headers=headers)
        r = conn.getresponse()
    if r.status != 206:
        raise RuntimeError(f"GET {url} {start}+{length}: HTTP {r.status}")
    got = 0
    while got < length:
        n = r.readinto(view[got:])
        if not n:
            break
        got += n
    r.read()
    if got != length:
        raise RuntimeError(f"GET {url} {start}+{length}: {got} bytes")
    return got
