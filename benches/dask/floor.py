"""The floor of `cargo xtask bench dask`: one ranged GET into a reused
buffer, nothing decoded (`fetch`); and the same into a new numpy array per
chunk (`fetch_new`: what a reader that hands out a fresh array per chunk
pays on top, the page faults of new memory). In a module of its own so
that dask's workers import it (they cannot unpickle the thread-local state
by value)."""

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
