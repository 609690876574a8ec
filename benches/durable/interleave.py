"""Durable small inserts, contenders alternating insert by insert.

A barrier's cost on a VM's disk moves by 10x and more over a second or so,
so contenders timed one after another (as `cargo xtask bench durable`
times them, in whole runs) can land in different phases. Here every
contender inserts into its own file, one insert at a time, the order
rotated each step, so each step's inserts are milliseconds apart and meet
the same phase; the figure compared is, per contender, the median over
steps of its time over SQLite's in the same step (also split by the disk's
phase: steps where SQLite's insert took under 1 ms, and the others),
besides plain medians.

    interleave.py OUT_DIR [--n N] [--server NAME=PROGRAM ARG...]...

SQLite (Python's sqlite3, WAL, synchronous=FULL, one INSERT of the array's
bytes per transaction, as in peers.py) runs in this process; each server is
a program that, per line read on stdin, makes one insert into its own new
file and writes the seconds it took (`bench_durable serve CONTENDER OUT`,
crates/devtools). Example, mmpk at two commits against SQLite and the
floor of one `fdatasync`:

    interleave.py target/bench-data/durable --n 2000 \\
        --server "main=target/bench_durable_main serve durable" \\
        --server "this=target/release/bench_durable serve durable" \\
        --server "floor=target/release/bench_durable serve fdatasync"

No numpy: the arrays are float64[128] of the value i, as peers.py's.
"""

import argparse
import os
import shlex
import sqlite3
import statistics
import struct
import subprocess
import time


def blob(i):
    return struct.pack("<128d", *([float(i)] * 128))


class Sqlite:
    def __init__(self, path):
        for s in ("", "-wal", "-shm"):
            if os.path.exists(path + s):
                os.unlink(path + s)
        self.path = path
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")

    def insert(self, i):
        b = blob(i)
        t = time.perf_counter()
        self.con.execute("INSERT INTO kv VALUES (?, ?)", (f"k{i}", b))
        return time.perf_counter() - t

    def close(self):
        self.con.close()


class Server:
    def __init__(self, cmd, path):
        self.p = subprocess.Popen(
            shlex.split(cmd) + [path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def insert(self, i):
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"server ended early (exit {self.p.wait()})")
        return float(line)

    def close(self):
        self.p.stdin.close()
        if self.p.wait() != 0:
            raise SystemExit(f"server failed (exit {self.p.returncode})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--server", action="append", default=[])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    who = {"sqlite-full": Sqlite(os.path.join(a.out, "interleave.sqlite"))}
    for s in a.server:
        name, cmd = s.split("=", 1)
        who[name] = Server(cmd, os.path.join(a.out, f"interleave-{name}"))
    names = list(who)
    times = {k: [] for k in names}
    for i in range(a.n):
        r = i % len(names)
        for k in names[r:] + names[:r]:
            times[k].append(who[k].insert(i))
    for w in who.values():
        w.close()
    sq = times["sqlite-full"]
    print(f"{a.n} durable inserts of float64[128] per contender, alternating insert by insert")
    # The disk's phases: steps where SQLite's insert took under 1 ms (a
    # barrier costs about a journal write) and the others (a barrier costs
    # a slow cache flush).
    fast = [j for j, y in enumerate(sq) if y < 1e-3]
    slow = [j for j, y in enumerate(sq) if y >= 1e-3]
    print(f"steps where SQLite took < 1 ms: {len(fast)}; >= 1 ms: {len(slow)}")
    print(
        "| contender | median | 90th percentile | median / SQLite's "
        "| per-step ratio to SQLite (median) | the same, SQLite < 1 ms | SQLite >= 1 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")

    def ratio(t, steps):
        if not steps:
            return "-"
        return f"{statistics.median(t[j] / sq[j] for j in steps):.2f}×"

    for k in names:
        t = times[k]
        med = statistics.median(t)
        p90 = sorted(t)[int(0.9 * (len(t) - 1))]
        print(
            f"| {k} | {med * 1e6:.0f} µs | {p90 * 1e6:.0f} µs "
            f"| {med / statistics.median(sq):.2f}× | {ratio(t, range(len(t)))} "
            f"| {ratio(t, fast)} | {ratio(t, slow)} |"
        )


if __name__ == "__main__":
    main()
