"""A LocalCluster (2 worker processes) reads an mmpk file served by nginx and
by moto's S3 server through `mmpk.dask.from_mmpk`: sums and per-axis means
equal the same computation on the local arrays, each chunk is fetched once
(one ranged GET of exactly its rows), a full pass, index included, moves at
most 1.05x the arrays' bytes; a file that grows while the cluster reads it
gives the results of its starting state; a file rewritten underneath it
(vacuumed, or replaced by another object) gives mmpk.errors.ChangedError in
the client, never a result."""

from __future__ import annotations

import json
import os
import time

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import BUCKET, Inserter, s3_put, write_file

import mmpk
import mmpk.dask
from mmpk.errors import ChangedError

KEYS = ["a", "i", "b"]
CHUNK_ROWS = {"a": 128, "i": 100, "b": 300}


def reductions(x) -> list:
    """The sum and the mean along each axis."""
    return [x.sum(), *(x.mean(axis=k) for k in range(x.ndim))]


def local_results(arrays, xs):
    """The same reductions over the local arrays, chunked alike, computed in
    this process."""
    out = []
    for k, x in zip(KEYS, xs):
        out += reductions(da.from_array(arrays[k], chunks=x.chunks))
    return dask.compute(*out, scheduler="synchronous")


def check_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        # The same chunks and the same reduction tree: the same bits.
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def data_offsets(path) -> dict[str, int]:
    """Where each array's bytes start (from the file's zarr references)."""
    refs = mmpk.zarr_refs(path, chunk_mib=1024)["refs"]
    out = {}
    for k in KEYS:
        zeros = ".".join("0" * len(json.loads(refs[f"{k}/.zarray"])["shape"]))
        out[k] = refs[f"{k}/{zeros}"][1]
    return out


def expected_ranges(path, arrays) -> list[tuple[int, int]]:
    """[start, end) of every chunk's rows."""
    offs = data_offsets(path)
    out = []
    for k in KEYS:
        a = arrays[k]
        row = a.nbytes // a.shape[0]
        for r0 in range(0, a.shape[0], CHUNK_ROWS[k]):
            r1 = min(a.shape[0], r0 + CHUNK_ROWS[k])
            out.append((offs[k] + r0 * row, offs[k] + r1 * row))
    return sorted(out)


def parse_range(h: str) -> tuple[int, int]:
    assert h.startswith("bytes="), h
    a, b = h[len("bytes=") :].split("-")
    return int(a), int(b) + 1


def arrays_of(target, arrays, storage_options=None):
    """The dask arrays of KEYS at `target`, in chunks of CHUNK_ROWS rows."""
    out = []
    for k in KEYS:
        chunks = (CHUNK_ROWS[k], *arrays[k].shape[1:])
        out.append(mmpk.dask.from_mmpk(target, k, chunks=chunks, storage_options=storage_options))
    return out


def run_pass(client, server, path, target, local, arrays, storage_options=None):
    before = len(server.hits())
    xs = arrays_of(target, arrays, storage_options)
    for x in xs:
        assert x.numblocks[0] > 1
    opened = len(server.hits())
    want = local_results(arrays, xs)
    got = client.compute([e for x in xs for e in reductions(x)], sync=True)
    check_equal(got, want)
    hits = server.hits()
    gets = [h for h in hits[opened:] if h.path == path and h.method == "GET"]
    # The workers fetched each chunk's rows once, in one request, and
    # nothing else (no index: the graph holds the pinned entries).
    assert all(h.status == 206 for h in gets), {h.status for h in gets}
    assert sorted(parse_range(h.range) for h in gets) == expected_ranges(local, arrays)
    moved = sum(h.nbytes for h in hits[before:] if h.path == path)
    nbytes = sum(arrays[k].nbytes for k in KEYS)
    assert moved <= 1.05 * nbytes, (moved, nbytes)


def test_http_sums_and_means(client, nginx, www, arrays):
    run_pass(client, nginx, "/f.mmpk", f"{nginx.url}/f.mmpk", www / "f.mmpk", arrays)


def test_s3_sums_and_means(client, moto, www, arrays, s3_options):
    s3_put(moto, www / "f.mmpk", "dask/f.mmpk")
    opts = {
        "key": s3_options["key"],
        "secret": s3_options["secret"],
        "endpoint_url": moto.url,
        "client_kwargs": {"region_name": "us-east-1"},
    }
    target = f"s3://{BUCKET}/dask/f.mmpk"
    run_pass(client, moto, f"/{BUCKET}/dask/f.mmpk", target, www / "f.mmpk", arrays, opts)


def test_local_file(client, www, arrays):
    """A local path: each worker maps the file."""
    xs = arrays_of(str(www / "f.mmpk"), arrays)
    check_equal(
        client.compute([e for x in xs for e in reductions(x)], sync=True), local_results(arrays, xs)
    )


def test_growing_file_gives_the_starting_state(client, nginx, served, arrays, tmp_path):
    path, name = served
    # /slow/: nginx sends at 1 MiB/s per connection, the pass lasts.
    xs = arrays_of(f"{nginx.url}/slow/{name}", arrays)
    want = local_results(arrays, xs)
    size0 = path.stat().st_size
    writer = Inserter(path, tmp_path / "stop")
    try:
        size1 = path.stat().st_size
        got = client.compute([e for x in xs for e in reductions(x)], sync=True)
        size2 = path.stat().st_size
    finally:
        writer.stop()
    assert writer.proc.returncode == 0
    assert size0 < size1 < size2, (size0, size1, size2)
    check_equal(got, want)


def wait_for_gets(server, path, before, n, timeout=30):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        gets = [h for h in server.hits_now()[before:] if h.path == path and h.method == "GET"]
        if len(gets) >= n:
            return
        time.sleep(0.02)
    raise AssertionError("the cluster did not start reading")


def rewrite_vacuum(path, arrays):
    """Bytes move: a key removed from the front, then vacuum in place."""
    with mmpk.open(path, "r+") as d:
        del d["a"]
        d["a"] = arrays["a"]
        d.vacuum()


def rewrite_replace(path, arrays):
    """Another object at the URL: the same keys, in another order."""
    tmp = path.with_suffix(".new")
    write_file(tmp, {k: arrays[k] for k in reversed(list(arrays))})
    os.replace(tmp, path)


@pytest.mark.parametrize("rewrite", [rewrite_vacuum, rewrite_replace])
@pytest.mark.parametrize("when", ["before", "during"])
def test_rewritten_file_gives_changed_error(client, nginx, served, arrays, rewrite, when):
    path, name = served
    # /slow/: nginx sends at 1 MiB/s per connection, the pass lasts.
    xs = arrays_of(f"{nginx.url}/slow/{name}", arrays)
    before = len(nginx.hits())
    if when == "before":
        rewrite(path, arrays)
    fut = client.compute([e for x in xs for e in reductions(x)])
    if when == "during":
        wait_for_gets(nginx, f"/slow/{name}", before, 2)
        rewrite(path, arrays)
    # The error crosses dask with its type; no result of either version.
    with pytest.raises(ChangedError, match="rewritten"):
        client.gather(fut)
    client.cancel(fut)
