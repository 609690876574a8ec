"""Peers of `cargo xtask bench durable` (issue 16, "the cost of durability").

Each run inserts N arrays into a new file, timing every insert on its own,
and prints one line `insert<TAB>seconds<TAB>seconds...` (one value per
insert), as mmpk's `bench_durable` example does. Arrays are made outside the
timed regions, the same values as the example's.

    small CONTENDER OUT --n N            N float64[128] arrays, keys k0, k1, ...
    big CONTENDER OUT --n N --mib M      N float64 arrays of M MiB each

Contenders (numpy 2 venv, target/venv/bench):
  sqlite-full     sqlite3, WAL, synchronous=FULL: one INSERT of the array's
                  bytes (a BLOB) per transaction (autocommit)
  sqlite-normal   the same with synchronous=NORMAL (WAL's usual setting: no
                  sync at commit, only at checkpoints)
  h5py-fsync      h5py create_dataset, then File.flush() and os.fsync
  h5py            h5py create_dataset alone
  mmpk-durable    the Python package, mmpk.open(OUT, "x", durable=True)
  mmpk            the same, default mode
"""

import argparse
import os
import sqlite3
import sys
import time

import numpy as np


def array(task, i, mib):
    if task == "small":
        return np.full(128, float(i), dtype=np.float64)
    n = mib * (1 << 20) // 8
    return (i + np.arange(n, dtype=np.uint64) % 1000).astype(np.float64)


def sqlite(out, arrays, synchronous):
    con = sqlite3.connect(out, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
    times = []
    for i, a in enumerate(arrays()):
        blob = a.tobytes()
        t = time.perf_counter()
        con.execute("INSERT INTO kv VALUES (?, ?)", (f"k{i}", blob))
        times.append(time.perf_counter() - t)
    (count,) = con.execute("SELECT count(*) FROM kv").fetchone()
    con.close()
    return times, count


def h5(out, arrays, sync):
    import h5py

    f = h5py.File(out, "w")
    fd = os.open(out, os.O_RDONLY)
    f.flush()
    os.fsync(fd)
    times = []
    for i, a in enumerate(arrays()):
        t = time.perf_counter()
        f.create_dataset(f"k{i}", data=a)
        if sync:
            # h5py's flush writes its buffers to the OS; fsync puts them
            # on the disk.
            f.flush()
            os.fsync(fd)
        times.append(time.perf_counter() - t)
    count = len(f)
    f.close()
    os.close(fd)
    return times, count


def mmpk_py(out, arrays, durable):
    import mmpk

    d = mmpk.open(out, "x", durable=durable)
    times = []
    for i, a in enumerate(arrays()):
        t = time.perf_counter()
        d[f"k{i}"] = a
        times.append(time.perf_counter() - t)
    count = len(d)
    d.close()
    return times, count


def main():
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["small", "big"])
    p.add_argument("contender")
    p.add_argument("out")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--mib", type=int, default=16)
    a = p.parse_args()
    if os.path.exists(a.out):
        os.remove(a.out)

    def arrays():
        for i in range(a.n):
            yield array(a.task, i, a.mib)

    c = a.contender
    if c in ("sqlite-full", "sqlite-normal"):
        times, count = sqlite(a.out, arrays, c.split("-")[1].upper())
    elif c in ("h5py-fsync", "h5py"):
        times, count = h5(a.out, arrays, c == "h5py-fsync")
    elif c in ("mmpk-durable", "mmpk"):
        times, count = mmpk_py(a.out, arrays, c == "mmpk-durable")
    else:
        sys.exit(f"unknown contender {c!r}")
    if count != a.n:
        sys.exit(f"{c}: {count} keys after {a.n} inserts")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(a.out + suffix):
            os.remove(a.out + suffix)
    print("insert" + "".join(f"\t{t:.9f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
