"""`cargo xtask bench dask`: a full pass (sum) over one float32 array served
by nginx on 127.0.0.1, computed by a dask LocalCluster of 2 worker
processes, the same chunks for every contender (issue 14 "Speed"):

- mmpk.dask: `mmpk.dask.from_mmpk(URL, key, chunks=...)`;
- zarr refs: the mmpk file's zarr chunk references (`mmpk.zarr_refs`),
  `dask.array.from_zarr` over fsspec's reference filesystem (HTTP);
- zarr store: the same bytes as a zarr-python 3 array (uncompressed, the
  same chunks) served by the same nginx, `dask.array.from_zarr`;
- floor: the same pass (sum) with nothing decoded: a dask array built as
  `mmpk.dask` builds its own (`dask.array.from_array`, the same chunks),
  whose chunks are fetched by plain `http.client` ranged GETs (the chunks'
  byte ranges of the mmpk file, found in the zarr references) into new
  numpy arrays (`floor.RawRows`): what the pass costs without mmpk;
- GETs only: the same ranged GETs as tasks on the same cluster with the
  same concurrency, the bytes read into a reused buffer and dropped (no
  array, no sum): the transfer alone (shown, not a target);
- GETs only, new array: the same, each chunk received into a new
  `np.empty` array (the page faults of new memory on top; shown);
- mmpk, GETs only: the same tasks reading the same rows through
  `mmpk.open(URL)[key][a:b]` (mmpk's transfer beside the plain one; shown).

Then a 1 MiB slice (rows of the first axis) from Python through
`mmpk.open(URL)`, against mmpk-remote's `RemoteDict::array_slice` (its
`remote_bench` example, given with --rust-bench) on the same URL.

Prints the section's markdown to --out. The servers are the Python
tests' (crates/mmpk-py/testing/servers.py, on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dask.array as da
import fsspec
import mmpk
import numpy as np
import zarr
from dask.distributed import Client, LocalCluster
from floor import RawRows, fetch, fetch_mmpk, fetch_new
from servers import Nginx, nginx_binary

COLS = 1024  # float32 columns: a row is 4 KiB
KEY = "x"
# Remote files from Python (mmpk.open(URL), mmpk.dask): issue 14 section 1.
REMOTE = hasattr(mmpk, "RemoteArray") and importlib.util.find_spec("mmpk.dask") is not None


def log(msg: str) -> None:
    print(f"bench dask: {msg}", file=sys.stderr, flush=True)


def make_data(www: Path, nbytes: int, chunk_mib: float) -> tuple[int, int]:
    """The mmpk file (one array, filled chunk by chunk: real pages, not a
    hole), its zarr references and the zarr store of the same bytes.
    Returns (rows, chunk rows)."""
    rows = nbytes // (COLS * 4)
    path = www / "big.mmpk"
    block_rows = max(1, min(rows, (16 << 20) // (COLS * 4)))
    pattern = (np.arange(block_rows * COLS, dtype=np.float32) % 251 + 1).reshape(block_rows, COLS)
    with mmpk.open(path, "w") as d:
        v = d.reserve(KEY, (rows, COLS), "<f4")
        for r in range(0, rows, block_rows):
            n = min(block_rows, rows - r)
            v[r : r + n] = pattern[:n] * (1 + (r // block_rows) % 7)
        del v
    refs = mmpk.zarr_refs(path, url="URL", chunk_mib=chunk_mib)
    chunk_rows = json.loads(refs["refs"][f"{KEY}/.zarray"])["chunks"][0]
    store = zarr.storage.LocalStore(www / "big.zarr")
    z = zarr.create_array(
        store,
        shape=(rows, COLS),
        chunks=(chunk_rows, COLS),
        dtype="<f4",
        compressors=None,
        filters=None,
        zarr_format=3,
    )
    with mmpk.open(path) as d:
        a = d[KEY]
        for r in range(0, rows, chunk_rows):
            z[r : r + chunk_rows] = a[r : r + chunk_rows]
        del a
    return rows, chunk_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--mib", type=int, default=4096)
    ap.add_argument("--chunk-mib", type=float, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--slices", type=int, default=50)
    ap.add_argument("--rust-bench", default=None)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args()
    # nginx's configuration needs absolute paths: a relative --dir is the
    # caller's current directory's.
    o.dir = o.dir.resolve()

    www = o.dir / "www"
    if www.exists():
        shutil.rmtree(www)
    www.mkdir(parents=True)
    try:
        run(o, www)
    finally:
        if not o.keep:
            shutil.rmtree(www, ignore_errors=True)


def run(o, www: Path) -> None:
    t = time.monotonic()
    rows, chunk_rows = make_data(www, o.mib << 20, o.chunk_mib)
    nbytes = rows * COLS * 4
    secs = time.monotonic() - t
    log(f"data written in {secs:.0f} s: {rows} x {COLS} <f4, chunks of {chunk_rows} rows")
    nginx = Nginx(nginx_binary(), www, o.dir / "nginx", workers=2)
    url = f"{nginx.url}/big.mmpk"
    refs_path = o.dir / "refs.json"
    refs = mmpk.zarr_refs(www / "big.mmpk", url=url, chunk_mib=o.chunk_mib, out=refs_path)
    ranges = sorted(
        (r[1], r[2])
        for k, r in refs["refs"].items()
        if k.startswith(f"{KEY}/") and isinstance(r, list)
    )
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0", silence_logs=40
    )
    client = Client(cluster)
    try:
        results, moved, sums = passes(o, client, nginx, url, refs_path, ranges, chunk_rows, nbytes)
        slices = slice_figures(o, nginx, url, rows)
    finally:
        client.close()
        cluster.close()
        nginx.close()
    report(o, results, moved, sums, slices, rows, chunk_rows, nbytes)


def passes(o, client, nginx, url, refs_path, ranges, chunk_rows, nbytes):
    chunks = (chunk_rows, COLS)

    def mmpk_dask():
        import mmpk.dask

        return mmpk.dask.from_mmpk(url, KEY, chunks=chunks).sum()

    def zarr_refs():
        fs = fsspec.filesystem(
            "reference",
            fo=str(refs_path),
            remote_protocol="http",
            remote_options={"asynchronous": True},
            asynchronous=True,
        )
        x = da.from_zarr(zarr.storage.FsspecStore(fs, read_only=True, path=KEY))
        assert x.chunksize == chunks
        return x.sum()

    def zarr_store():
        store = zarr.storage.FsspecStore.from_url(f"{nginx.url}/big.zarr", read_only=True)
        x = da.from_zarr(zarr.open_array(store, mode="r"))
        assert x.chunksize == chunks
        return x.sum()

    def floor():
        raw = RawRows(url, ranges[0][0], (nbytes // (COLS * 4), COLS), "<f4")
        meta = np.empty((0, 0), "<f4")
        x = da.from_array(raw, chunks=chunks, asarray=False, meta=meta)
        return x.sum()

    def gets_only(get=fetch):
        futs = client.map(
            get, [url] * len(ranges), [a for a, _ in ranges], [n for _, n in ranges], pure=False
        )
        return client.submit(sum, futs)

    def mmpk_gets_only():
        starts = [(a - ranges[0][0]) // (COLS * 4) for a, _ in ranges]
        stops = [s + n // (COLS * 4) for s, (_, n) in zip(starts, ranges)]
        n = len(ranges)
        futs = client.map(fetch_mmpk, [url] * n, [KEY] * n, starts, stops, pure=False)
        return client.submit(sum, futs)

    contenders = {
        "mmpk.dask": mmpk_dask,
        "zarr refs": zarr_refs,
        "zarr store": zarr_store,
        "floor": floor,
        "GETs only": gets_only,
        "GETs only, new array": lambda: gets_only(fetch_new),
        "mmpk, GETs only": mmpk_gets_only,
    }
    if not REMOTE:
        log("mmpk.dask is not in this mmpk: left out")
        del contenders["mmpk.dask"]
        del contenders["mmpk, GETs only"]
    names = list(contenders)
    results = {n: [] for n in names}
    moved = {n: [] for n in names}
    sums = {n: set() for n in names}
    # One pass each first, untimed: the workers import and connect.
    for name in names:
        run_one(client, contenders[name], "GETs" in name)
    for rnd in range(o.rounds):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            before = len(nginx.hits())
            t = time.perf_counter()
            total = run_one(client, contenders[name], "GETs" in name)
            secs = time.perf_counter() - t
            hits = nginx.hits()[before:]
            results[name].append(secs)
            moved[name].append(sum(h.nbytes for h in hits if h.method == "GET"))
            sums[name].add(float(total))
            log(f"round {rnd + 1}: {name}: {secs:.2f} s, {nbytes / secs / 2**30:.2f} GiB/s")
    # The passes (the floor too) agree on the sum; GETs only moved every
    # byte.
    decoded = set().union(*(sums[n] for n in names if "GETs" not in n))
    assert len(decoded) == 1, sums
    every = float(sum(length for _, length in ranges))
    for name in names:
        if "GETs" in name:
            assert sums[name] == {every}, (name, sums[name])
    return results, moved, decoded.pop()


def run_one(client, contender, gets_only):
    expr = contender()
    return expr.result() if gets_only else client.compute(expr, sync=True)


def slice_figures(o, nginx, url, rows):
    """Median latency of a 1 MiB slice (256 rows) at o.slices places, from
    Python (mmpk.open(URL)) and from Rust (remote_bench on the same URL)."""
    srows = (1 << 20) // (COLS * 4)
    rng = np.random.default_rng(14)
    starts = rng.integers(0, rows - srows, o.slices)
    out = {}
    if REMOTE:
        d = mmpk.open(url)
        a = d[KEY]
        lat = []
        for s in starts:
            t = time.perf_counter()
            got = np.asarray(a[s : s + srows])
            lat.append(time.perf_counter() - t)
            assert got.shape == (srows, COLS)
        out["python"] = (statistics.median(lat), sorted(lat)[int(len(lat) * 0.9)])
    if o.rust_bench:
        r = subprocess.run(
            [o.rust_bench, "--url", url, "--key", KEY, "--iters", str(o.slices), "--no-full"],
            capture_output=True,
            text=True,
            check=True,
        )
        med = p90 = None
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 2 and cells[0].startswith("1 MiB slice, median latency"):
                med = float(cells[1].split()[0]) / 1e3
            if len(cells) == 2 and cells[0].startswith("1 MiB slice, p90 latency"):
                p90 = float(cells[1].split()[0]) / 1e3
        assert med is not None, r.stdout
        out["rust"] = (med, p90)
    return out


def report(o, results, moved, total, slices, rows, chunk_rows, nbytes):
    gib = nbytes / 2**30
    med = {n: statistics.median(v) for n, v in results.items()}
    floor = med["floor"]
    lines = [
        f"A full pass (sum) over a {gib:g} GiB `<f4` array ({rows} x {COLS}) served by nginx "
        f"(2 worker processes, sendfile) on 127.0.0.1, computed by a `dask.distributed."
        f"LocalCluster` of 2 worker processes x 2 threads, chunks of {chunk_rows} rows "
        f"({chunk_rows * COLS * 4 / 2**20:g} MiB) for every contender; rounds: {o.rounds}, "
        "contenders interleaved, the order rotated each round. *bytes moved* is nginx's "
        "`$body_bytes_sent` over the array's bytes. The floor is the same pass (the same "
        "dask array graph and sum, the same chunks and ranged GETs) with the chunks fetched "
        "by plain `http.client` into new numpy arrays, nothing decoded (`benches/dask/"
        "floor.py`); *GETs only* is the transfer alone (the GETs as `client.map` tasks, "
        "into a reused buffer or a new array, no array handed to dask, no sum) and *mmpk, GETs "
        "only* the same tasks reading the same rows through `mmpk.open(URL)[key][a:b]`: "
        "shown, not targets.",
        "",
        "| contender | median | min - max | GiB/s | x floor | bytes moved |",
        "|---|---|---|---|---|---|",
    ]
    for n, v in results.items():
        lines.append(
            f"| {n} | {med[n]:.2f} s | {min(v):.2f} - {max(v):.2f} s | {gib / med[n]:.2f} | "
            f"{floor / med[n]:.2f} | {statistics.median(moved[n]) / nbytes:.4f}x |"
        )
    lines.append("")
    lines.append(f"Every pass (the floor too) found the same sum ({total:.6g}).")
    lines.append("")
    lines += [
        f"A 1 MiB slice (256 rows, {o.slices} different places) of the same array at the same URL:",
        "",
        "| reader | median | p90 |",
        "|---|---|---|",
    ]
    who = {
        "python": "Python: `mmpk.open(URL)[key][a:b]`",
        "rust": "Rust: `RemoteDict::array_slice` (remote_bench)",
    }
    for k, (med_s, p90_s) in slices.items():
        lines.append(f"| {who[k]} | {med_s * 1e3:.2f} ms | {p90_s * 1e3:.2f} ms |")
    if "python" in slices and "rust" in slices:
        ratio = slices["python"][0] / slices["rust"][0]
        lines += ["", f"Python / Rust, medians: {ratio:.2f}x."]
    o.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
