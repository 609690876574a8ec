"""Memory: a 10 GiB (sparse) file opens and one of its arrays reads within
32 MiB of the interpreter's own resident memory; `d[k]` of a 1 GiB array
maps, it does not read."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

import mmpk

PROBE = textwrap.dedent(
    """
    import sys, numpy as np, mmpk

    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

    base = rss()
    d = mmpk.open(sys.argv[1])
    small = d["small"]
    total = float(small.sum())
    big = d["big"]               # 10 GiB, mapped
    edge = int(big[-1]) + int(big[0]) + int(big[len(big) // 2])
    keys = list(d)
    print(rss() - base, total, edge, big.nbytes, keys)
    """
)


def test_a_10_gib_file_costs_no_memory(tmp_path):
    path = tmp_path / "huge.mmpk"
    with mmpk.open(path, "x") as d:
        big = d.reserve("big", 10 << 30, "u1")
        big[-1] = 7
        del big
        d["small"] = np.arange(1000, dtype="f8")
    assert path.stat().st_size > 10 << 30
    assert path.stat().st_blocks * 512 < 64 << 20  # sparse
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=4)
    grew, total, edge, nbytes = int(out[0]), float(out[1]), int(out[2]), int(out[3])
    assert total == 499500.0 and edge == 7 and nbytes == 10 << 30
    assert grew < 32 << 20, f"resident memory grew by {grew} bytes"


def test_getting_a_1_gib_array_maps_it(path):
    with mmpk.open(path, "x") as d:
        d.reserve("g", (1 << 30) // 8, "f8")
    probe = textwrap.dedent(
        """
        import sys, mmpk
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        d = mmpk.open(sys.argv[1])
        a = d["g"]
        base = rss()
        arrays = [d["g"] for _ in range(200)]   # 200 GiB of views
        print(rss() - base, a.nbytes, all(x.base.offset == a.base.offset for x in arrays))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[1]) == 1 << 30 and out[2] == "True"
    assert int(out[0]) < 8 << 20, f"resident memory grew by {out[0]} bytes"
