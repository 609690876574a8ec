"""Remote reads straight into numpy arrays (``RemoteObject.read_into``) and
the recycled blocks large results are read into (``_mmpk.pooled_bytes``),
against nginx on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from conftest import ticks_during

import mmpk
import mmpk.errors
from mmpk import _mmpk


@pytest.fixture(scope="module")
def served(nginx):
    data = {
        "big": np.arange(1000 * 300, dtype="<f8").reshape(1000, 300),
        "small": np.arange(12, dtype=">i4").reshape(4, 3),
        "masked": np.ma.MaskedArray(
            np.arange(600 * 500, dtype="<f4").reshape(600, 500),
            mask=np.arange(600 * 500).reshape(600, 500) % 7 == 0,
        ),
    }
    with mmpk.open(nginx.root / "into.mmpk", "w") as d:
        for k, v in data.items():
            d[k] = v
    return f"{nginx.url}/into.mmpk", data


def test_read_into_fills_the_arrays_given(served):
    url, data = served
    a = mmpk.open(url)["big"]
    obj, raw = a._object(), data["big"].tobytes()
    out = np.full(a.nbytes, 0xEE, np.uint8)
    assert obj.read_into(a.pin, [(a.offset, out)]) is None
    assert out.tobytes() == raw
    # Several places at once, into disjoint parts of one array; empty ones.
    out = np.zeros(3000, np.uint8)
    reads = [(a.offset + 8000, out[:1000]), (a.offset, out[1000:3000]), (a.offset, out[:0])]
    obj.read_into(a.pin, reads)
    assert out.tobytes() == raw[8000:9000] + raw[:2000]
    obj.read_into(a.pin, [])


def test_read_into_refuses_bad_buffers_and_ranges(served, nginx):
    url, _ = served
    a = mmpk.open(url)["big"]
    obj = a._object()
    logged = len(nginx.hits())
    for bad in (np.zeros(8, "f8"), bytearray(8), np.zeros((2, 4), np.uint8), None):
        with pytest.raises(TypeError):
            obj.read_into(a.pin, [(a.offset, bad)])
    ro = np.frombuffer(bytes(8), np.uint8)
    with pytest.raises(ValueError, match="write"):
        obj.read_into(a.pin, [(a.offset, ro)])
    with pytest.raises(ValueError, match="write"):
        obj.read_into(a.pin, [(a.offset, np.zeros(16, np.uint8)[::2])])
    # The same array twice: the second borrow fails.
    out = np.zeros(8, np.uint8)
    with pytest.raises(ValueError, match="write"):
        obj.read_into(a.pin, [(a.offset, out), (a.offset, out)])
    # Outside the entry: before it, past its end, past 2**64.
    end = a.pin[4] + a.pin[5]
    for at, n in ((a.pin[4] - 1, 8), (end - 4, 8), (2**64 - 4, 8), (a.offset, a.nbytes * 4)):
        with pytest.raises(ValueError, match="outside the entry"):
            obj.read_into(a.pin, [(at, np.zeros(n, np.uint8))])
    with pytest.raises(OverflowError):
        obj.read_into(a.pin, [(-1, np.zeros(8, np.uint8))])
    # None of them sent a request.
    assert len(nginx.hits()) == logged


def test_read_into_follows_appends_and_refuses_rewrites(nginx):
    path = nginx.root / "moving.mmpk"
    big = np.arange(200_000, dtype="<u4").reshape(1000, 200)
    with mmpk.open(path, "w") as d:
        d["a"] = big
    a = mmpk.open(f"{nginx.url}/moving.mmpk")["a"]
    time.sleep(1.1)  # nginx's ETag and Last-Modified are in seconds
    with mmpk.open(path, "r+") as d:
        d["more"] = np.zeros(10)
    out = np.zeros(800, np.uint8)
    a._object().read_into(a.pin, [(a.offset + 800 * 999, out)])
    assert out.tobytes() == big[999].tobytes()
    assert np.array_equal(a[500:600], big[500:600])
    time.sleep(1.1)
    with mmpk.open(path, "w") as d:
        d["other"] = np.ones(10)
        d["a"] = big
    with pytest.raises(mmpk.errors.ChangedError):
        a._object().read_into(a.pin, [(a.offset, out)])
    with pytest.raises(mmpk.errors.ChangedError):
        a[0:10]


def owner(a):
    """The object at the end of an array's chain of bases."""
    while isinstance(a, np.ndarray):
        a = a.base
    return a


def test_large_results_recycle_their_blocks(served):
    url, data = served
    a = mmpk.open(url)["big"]
    x = a[...]
    assert x.nbytes >= 1 << 20 and isinstance(owner(x), _mmpk.PooledBuffer)
    assert x.flags.writeable and x.flags.c_contiguous and x.flags.aligned
    assert np.array_equal(x, data["big"])
    # While x (or any view of it) lives, its block is its own.
    y = a[...]
    assert not np.shares_memory(x, y) and np.array_equal(y, data["big"])
    view = x[10:20]
    del x
    y2 = a[...]
    assert not np.shares_memory(view, y2) and np.array_equal(y2, data["big"])
    count = _mmpk.pool_stats()[0]
    del view, y2
    assert _mmpk.pool_stats()[0] == min(count + 2, 4)
    z = a[...]
    assert _mmpk.pool_stats()[0] == min(count + 2, 4) - 1, "a free block was reused"
    assert np.array_equal(z, data["big"])
    z[0, 0] = -1.0  # writable, and a copy: the next read is unchanged
    assert a[0, 0] == 0.0
    # Masked: data and mask both recycled, both right.
    m = mmpk.open(url)["masked"]
    for _ in range(3):
        got = m[...]
        assert isinstance(owner(got.data), _mmpk.PooledBuffer)
        assert np.array_equal(got.data, data["masked"].data)
        assert np.array_equal(got.mask, data["masked"].mask)
    # Small results are plain numpy arrays.
    s = mmpk.open(url)["small"][...]
    assert owner(s) is None and np.array_equal(s, data["small"])


def test_the_pool_is_bounded():
    blocks = [_mmpk.pooled_bytes((1 << 20) + i) for i in range(8)]
    blocks.append(_mmpk.pooled_bytes(300 << 20))
    for b in blocks:
        assert b.dtype == np.uint8 and b.flags.writeable
        b[-1] = 1
    del blocks, b
    count, nbytes = _mmpk.pool_stats()
    assert count <= 4 and nbytes <= 256 << 20, (count, nbytes)
    assert _mmpk.pooled_bytes(0).shape == (0,)
    with pytest.raises(ValueError):
        _mmpk.pooled_bytes(2**63)
    with pytest.raises(MemoryError):
        _mmpk.pooled_bytes(2**62)
    with pytest.raises(OverflowError):
        _mmpk.pooled_bytes(-1)


def test_the_gil_is_released_while_reading(nginx):
    big = np.ones((4096, 4096), "<f4")  # 64 MiB
    with mmpk.open(nginx.root / "gil.mmpk", "w") as d:
        d["big"] = big
    a = mmpk.open(f"{nginx.url}/gil.mmpk")["big"]
    got, secs, during = ticks_during(lambda: a[...])
    # The counting thread kept running while the rows were fetched and
    # copied into place (only a read long enough to see it is checked).
    if secs > 0.05:
        assert during >= 3, (secs, during)
    assert got.sum() == 4096 * 4096


def test_a_run_of_rows_is_one_get_up_to_the_part_size(nginx, monkeypatch):
    # 20 MiB of rows of 16 KiB: a run of 17 MiB (more than the 16 MiB
    # requests mmpk-remote splits its own buffered reads into) is one GET,
    # as a plain HTTP client (the floor of `cargo xtask bench dask`) sends.
    big = np.arange(1280 * 4096, dtype="<f4").reshape(1280, 4096)
    with mmpk.open(nginx.root / "runs.mmpk", "w") as d:
        d["x"] = big
    a = mmpk.open(f"{nginx.url}/runs.mmpk")["x"]
    row = 4096 * 4
    logged = len(nginx.hits())
    got = a[100:1200]
    hits = nginx.hits()[logged:]
    assert [(h.method, h.status, h.nbytes) for h in hits] == [("GET", 206, 1100 * row)], hits
    start = a.offset + 100 * row
    assert hits[0].range == f"bytes={start}-{start + 1100 * row - 1}"
    assert np.array_equal(got, big[100:1200])
    # A run longer than the part size: parts of at most that size, one GET
    # each, together exactly the run's bytes.
    monkeypatch.setattr(mmpk._remote, "_PART", 1 << 20)
    logged = len(nginx.hits())
    got = a[0:1000]
    hits = nginx.hits()[logged:]
    assert np.array_equal(got, big[0:1000])
    assert sorted(h.nbytes for h in hits) == sorted([1 << 20] * 15 + [1000 * row - (15 << 20)])
    firsts = sorted(int(h.range.split("=")[1].split("-")[0]) for h in hits)
    assert firsts == [a.offset + i * (1 << 20) for i in range(16)]


def test_threads_read_at_once(served):
    # Several threads of one process (a dask worker's) read through the one
    # handle and the process's one I/O runtime at the same time: each gets
    # its own rows.
    url, data = served
    a = mmpk.open(url)["big"]
    errors: list[BaseException] = []

    def reader(k: int) -> None:
        try:
            for i in range(20):
                lo = (k * 97 + i * 31) % 900
                got = a[lo : lo + 100]
                assert np.array_equal(got, data["big"][lo : lo + 100]), (k, i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_reads_on_its_own_runtime(served):
    # The parent's I/O runtime threads are not in a forked child: the child
    # makes its own at its first read (the parent's handles are set aside),
    # and the parent's keep working after.
    url, data = served
    a = mmpk.open(url)["big"]
    assert np.array_equal(a[0:10], data["big"][0:10])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            ok = np.array_equal(a[500:520], data["big"][500:520])
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's read hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    assert np.array_equal(a[20:30], data["big"][20:30])
