"""A LocalCluster (2 worker processes) reads an mmpk file served by nginx and
by moto's S3 server through the zarr chunk references (`mmpk.zarr_refs`)
with xarray and dask, without mmpk on the read path: sums and per-axis
means equal the same computation on the local arrays, every chunk is
fetched once and a full pass moves at most 1.05x the arrays' bytes
(counted by nginx's log and by the proxy in front of moto); a file that
grows while the cluster reads it gives the results of its starting state."""

from __future__ import annotations

import json
import os

import dask
import dask.array as da
import numpy as np
import xarray as xr
from conftest import BUCKET, Inserter, s3_put

import mmpk

CHUNK_MIB = 0.25


def open_refs(refs_path, protocol, remote_options):
    return xr.open_dataset(
        "reference://",
        engine="zarr",
        chunks={},
        backend_kwargs={
            "storage_options": {
                "fo": str(refs_path),
                "remote_protocol": protocol,
                "remote_options": {**remote_options, "asynchronous": True},
            },
            "consolidated": False,
        },
    )


def reductions(x: xr.DataArray) -> list:
    """The sum and the mean along each axis, as dask arrays."""
    out = [x.sum().data]
    out += [x.mean(dim=d).data for d in x.dims]
    return out


def local_results(arrays, ds, keys):
    """The same reductions over the local arrays, chunked as the store is,
    computed in this process."""
    out = []
    for k in keys:
        a = arrays[k]
        x = xr.DataArray(da.from_array(a, chunks=ds[k].data.chunks), dims=ds[k].dims)
        out += reductions(x)
    return dask.compute(*out, scheduler="synchronous")


def check_equal(got, want, arrays, keys):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        # The same chunks and the same reduction tree: the same bits.
        np.testing.assert_array_equal(g, w)
    # And numpy agrees (up to the order of the additions).
    i = 0
    for k in keys:
        a = arrays[k].astype(arrays[k].dtype.newbyteorder("="))
        np.testing.assert_allclose(got[i], a.sum(), rtol=1e-5)
        i += 1
        for axis in range(a.ndim):
            np.testing.assert_allclose(got[i], a.mean(axis=axis), rtol=1e-5, atol=1e-6)
            i += 1


def chunk_ranges(refs: dict, keys) -> list[tuple[int, int]]:
    """The byte ranges [start, end) of the arrays' chunks."""
    out = []
    for name, r in refs["refs"].items():
        if name.split("/")[0] in keys and isinstance(r, list):
            out.append((r[1], r[1] + r[2]))
    return sorted(out)


def parse_range(h: str) -> tuple[int, int]:
    assert h.startswith("bytes="), h
    a, b = h[len("bytes=") :].split("-")
    return int(a), int(b) + 1


def check_transfer(hits, path, refs, arrays, keys):
    """Every chunk fetched once (one ranged GET of exactly its range; a
    last chunk may run on into the next entry's bytes, by design), at most
    1.05x the arrays' bytes in all; returns the body bytes moved."""
    gets = [h for h in hits if h.path == path and h.method == "GET"]
    assert gets, "no request reached the server"
    assert all(h.status == 206 for h in gets), {h.status for h in gets}
    fetched = sorted(parse_range(h.range) for h in gets)
    assert fetched == chunk_ranges(refs, keys)
    moved = sum(h.nbytes for h in gets)
    assert moved == sum(b - a for a, b in fetched)
    nbytes = sum(arrays[k].nbytes for k in keys)
    assert moved <= 1.05 * nbytes, (moved, nbytes)
    return moved


KEYS = ["a", "i", "b"]


def run_pass(client, server, path, refs_path, protocol, options, arrays):
    refs = json.loads(refs_path.read_text())
    ds = open_refs(refs_path, protocol, options)
    for k in KEYS:
        assert ds[k].data.numblocks[0] > 1, k
    want = local_results(arrays, ds, KEYS)
    before = len(server.hits())
    exprs = [e for k in KEYS for e in reductions(ds[k])]
    got = client.compute(exprs, sync=True)
    check_equal(got, want, arrays, KEYS)
    hits = server.hits()[before:]
    # The workers fetched it all: the client read no array bytes.
    return check_transfer(hits, path, refs, arrays, KEYS)


def test_http_sums_and_means(client, nginx, www, arrays, tmp_path):
    url = f"{nginx.url}/f.mmpk"
    refs_path = tmp_path / "refs.json"
    mmpk.zarr_refs(www / "f.mmpk", url=url, chunk_mib=CHUNK_MIB, out=refs_path)
    run_pass(client, nginx, "/f.mmpk", refs_path, "http", {}, arrays)


def test_s3_sums_and_means(client, moto, www, arrays, s3_options, tmp_path):
    s3_put(moto, www / "f.mmpk", "dir/f.mmpk")
    refs_path = tmp_path / "refs.json"
    url = f"s3://{BUCKET}/dir/f.mmpk"
    mmpk.zarr_refs(www / "f.mmpk", url=url, chunk_mib=CHUNK_MIB, out=refs_path)
    run_pass(client, moto, f"/{BUCKET}/dir/f.mmpk", refs_path, "s3", s3_options, arrays)


def test_growing_file_gives_the_starting_state(client, nginx, served, arrays, tmp_path):
    path, name = served
    # /slow/: nginx sends at 1 MiB/s per connection, the pass lasts.
    url = f"{nginx.url}/slow/{name}"
    refs_path = tmp_path / "refs.json"
    mmpk.zarr_refs(path, url=url, chunk_mib=CHUNK_MIB, out=refs_path)
    refs = json.loads(refs_path.read_text())
    ds = open_refs(refs_path, "http", {})
    want = local_results(arrays, ds, KEYS)
    size0 = path.stat().st_size
    # Started after its first insert: read while the writer goes on.
    writer = Inserter(path, tmp_path / "stop")
    try:
        size1 = path.stat().st_size
        before = len(nginx.hits())
        exprs = [e for k in KEYS for e in reductions(ds[k])]
        got = client.compute(exprs, sync=True)
        size2 = path.stat().st_size
    finally:
        n = writer.stop()
    assert writer.proc.returncode == 0
    # The file grew before and while the cluster read it.
    assert size0 < size1 < size2, (size0, size1, size2)
    check_equal(got, want, arrays, KEYS)
    check_transfer(nginx.hits()[before:], f"/slow/{name}", refs, arrays, KEYS)
    # The keys inserted meanwhile are all there.
    with mmpk.open(path) as d:
        assert sorted(d) == sorted([*arrays, "meta", *(f"late{i}" for i in range(n))])


def test_workers_are_separate_processes(client):
    """The passes run in 2 worker processes, not in this one."""
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_refs_of_a_url_are_those_of_the_local_file(nginx, moto, www, s3_options):
    """mmpk.zarr_refs(URL) reads the index over HTTP or S3 (no array data)
    and gives the references the local file gives for that URL."""
    url = f"{nginx.url}/f.mmpk"
    before = len(nginx.hits())
    got = mmpk.zarr_refs(url, chunk_mib=CHUNK_MIB)
    moved = sum(h.nbytes for h in nginx.hits()[before:])
    assert got == mmpk.zarr_refs(www / "f.mmpk", url=url, chunk_mib=CHUNK_MIB)
    assert moved < 256 << 10, moved
    # Naming another URL, as the local file can.
    other = mmpk.zarr_refs(url, url="https://example.org/f.mmpk", chunk_mib=CHUNK_MIB)
    assert other["refs"]["a/0.0"][0] == "https://example.org/f.mmpk"
    s3_put(moto, www / "f.mmpk", "refs/f.mmpk")
    s3_url = f"s3://{BUCKET}/refs/f.mmpk"
    opts = {
        "key": s3_options["key"],
        "secret": s3_options["secret"],
        "endpoint_url": moto.url,
        "client_kwargs": {"region_name": "us-east-1"},
    }
    got = mmpk.zarr_refs(s3_url, chunk_mib=CHUNK_MIB, storage_options=opts)
    assert got == mmpk.zarr_refs(www / "f.mmpk", url=s3_url, chunk_mib=CHUNK_MIB)
