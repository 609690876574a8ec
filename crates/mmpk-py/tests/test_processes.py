"""Writers that share one file: Python processes killed at random moments
lose nothing that was complete; Python, the Rust `mmpk` tool and mmappickle
1.0 write one file at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import run_cli

import mmpk

WRITER = textwrap.dedent(
    """
    import sys, numpy as np, mmpk
    path, log, w = sys.argv[1], sys.argv[2], int(sys.argv[3])
    d = mmpk.open(path, "r+")
    with open(log, "a") as f:
        def note(line):
            f.write(line + "\\n")
            f.flush()
        i = 0
        while True:
            k = f"w{w}-{i}"
            d[k] = np.full(100 + 37 * (i % 50), i, dtype="<i4")
            note("+" + k)                      # the insert completed
            if i % 5 == 4:
                gone = f"w{w}-{i - 2}"
                note("?" + gone)               # a removal starts
                del d[gone]
                note("-" + gone)               # it completed
            d[f"last{w}"] = np.full(3, i, dtype="<i8")  # a replaced key
            i += 1
    """
)


def expected_from_logs(logs):
    """(keys that must be present, keys that must be absent): an insert or
    removal counts once it returned (its line written after it); a removal
    that started but was not seen to finish may have happened or not."""
    present, absent, maybe = set(), set(), set()
    for log in logs:
        if not os.path.exists(log):
            continue
        for line in open(log).read().splitlines():
            key = line[1:]
            if line.startswith("+"):
                present.add(key)
            elif line.startswith("?"):
                present.discard(key)
                maybe.add(key)
            elif line.startswith("-"):
                maybe.discard(key)
                absent.add(key)
    return present, absent


def test_killed_python_writers_lose_nothing_complete(tmp_path):
    path = tmp_path / "k.mmpk"
    mmpk.open(path, "x").close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(1234)
    logs = []
    for rnd in range(3):
        procs = []
        for w in range(3):
            log = tmp_path / f"log{rnd}-{w}"
            logs.append(str(log))
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(script), str(path), str(log), str(w + 3 * rnd)]
                )
            )
        for p in procs:
            time.sleep(rng.uniform(0.3, 1.2))
            p.send_signal(signal.SIGKILL)
            p.wait()
        with mmpk.open(path, "r+") as d:
            want, gone = expected_from_logs(logs)
            assert want and gone, "the writers wrote nothing"
            assert not gone & set(d)
            for k in want:
                w, i = k[1:].split("-")
                got = d[k]
                assert got.dtype == np.dtype("<i4") and got.shape == (100 + 37 * (int(i) % 50),)
                assert (got == int(i)).all()
            for k in d:
                assert k.startswith(("w", "last"))
            # A writer killed mid-insert may leave a torn tail: the next
            # insert overwrites it; repair cuts it.
            d.repair()
            assert d.verify() == []


def _npy(tmp_path, i, a):
    p = tmp_path / f"a{i}.npy"
    np.save(p, a)
    return str(p)


def test_python_rust_and_mmappickle_writers_at_once(tmp_path, cli):
    mmappickle = pytest.importorskip("mmappickle")
    path = tmp_path / "mixed.mmpk"
    mmpk.open(path, "x").close()
    n = 15
    mmp_script = tmp_path / "mmp.py"
    mmp_script.write_text(
        textwrap.dedent(
            f"""
            import numpy as np
            from mmappickle import mmapdict
            d = mmapdict({str(path)!r})
            for i in range({n}):
                d[f"mmp-{{i}}"] = np.full(8, i, dtype="<f8")
            """
        )
    )
    py_script = tmp_path / "py.py"
    py_script.write_text(
        textwrap.dedent(
            f"""
            import numpy as np, mmpk
            d = mmpk.open({str(path)!r}, "r+")
            for i in range({n}):
                d[f"py-{{i}}"] = np.full(8, i, dtype="<i8")
            """
        )
    )
    npys = [_npy(tmp_path, i, np.full(4, i, dtype="<u2")) for i in range(n)]
    rust = " && ".join(f"{cli} put {path} rs-{i} --npy {npys[i]} >/dev/null" for i in range(n))
    procs = [
        subprocess.Popen([sys.executable, str(mmp_script)]),
        subprocess.Popen([sys.executable, str(py_script)]),
        subprocess.Popen(["sh", "-c", rust]),
    ]
    for p in procs:
        assert p.wait(120) == 0
    with mmpk.open(path) as d:
        assert len(d) == 3 * n
        for i in range(n):
            assert d[f"mmp-{i}"].tolist() == [float(i)] * 8
            assert d[f"py-{i}"].tolist() == [i] * 8
            assert d[f"rs-{i}"].tolist() == [i] * 4
        assert d.verify() == []
    ro = mmappickle.mmapdict(str(path), readonly=True)
    assert sorted(ro.keys()) == sorted(mmpk.open(path))
    assert ro["py-3"].tolist() == [3] * 8
    assert "rs-2" in run_cli(cli, "ls", str(path))
