"""Damaged and hostile mmpk files give exceptions, never a crash: bytes of
the fixtures flipped, overwritten and truncated (seeded), then every key
read, and the maintenance operations run on copies."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import ROOT

import mmpk
from mmpk import errors

FILES = sorted((ROOT / "fixtures" / "mmappickle").glob("*.mmpk")) + sorted(
    (ROOT / "fixtures" / "handbuilt").glob("*.mmpk")
)
# What a damaged file may raise: mmpk's errors (ValueError, TypeError,
# RuntimeError, io.UnsupportedOperation subclasses), KeyError for a key that
# vanished, and UnicodeError/OSError for what the OS says.
EXPECTED = (errors.Error, ValueError, KeyError, OSError, TypeError)


def exercise(path):
    try:
        d = mmpk.open(path, "r+")
    except EXPECTED:
        return
    with d:
        for op in (len, list, lambda d: d.info(), lambda d: d.verify()):
            try:
                op(d)
            except EXPECTED:
                pass
        try:
            keys = list(d)
        except EXPECTED:
            keys = []
        for k in keys:
            try:
                v = d[k]
                if isinstance(v, np.ndarray):
                    v.tobytes()  # touch every mapped byte
            except EXPECTED:
                pass
        for op in (
            lambda: d.__setitem__("new", np.arange(3)),
            lambda: d.__delitem__(keys[0]) if keys else None,
            d.repair,
            d.upgrade,
            d.vacuum,
        ):
            try:
                op()
            except EXPECTED:
                pass


@pytest.mark.parametrize("src", FILES, ids=[f.name for f in FILES])
def test_damaged_files_raise_exceptions(src, tmp_path):
    data = src.read_bytes()
    rng = random.Random(src.name)
    for i in range(12):
        b = bytearray(data)
        kind = i % 3
        if kind == 0:  # flip a few bytes
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # overwrite a run with junk
            at = rng.randrange(len(b))
            b[at : at + 16] = bytes(rng.randrange(256) for _ in range(16))
        else:  # truncate
            del b[rng.randrange(len(b)) :]
        p = tmp_path / f"{i}.mmpk"
        p.write_bytes(bytes(b))
        exercise(p)


def test_lengths_past_the_end_are_refused(tmp_path):
    # An array whose BINBYTES8 length claims more than the file holds.
    p = tmp_path / "a.mmpk"
    with mmpk.open(p, "x") as d:
        d["a"] = np.arange(4, dtype="<i8")
        off = d["a"].base.offset
    b = bytearray(p.read_bytes())
    b[off - 8 : off] = (1 << 40).to_bytes(8, "little")
    p.write_bytes(bytes(b))
    exercise(p)
    with pytest.raises(EXPECTED):
        mmpk.open(p)["a"]
