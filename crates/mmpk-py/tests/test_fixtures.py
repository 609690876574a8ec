"""The checked-in fixtures (fixtures/, written by mmappickle 1.0.0, numpy
and by hand from the format) read through the package equal their
manifests; damaged hand-built files give exceptions, never a crash."""

from __future__ import annotations

import base64
import json
import sys

import numpy as np
import pytest
from conftest import ROOT

import mmpk
from mmpk import errors

FIX = ROOT / "fixtures"
sys.path.insert(0, str(FIX / "gen"))
import canon  # noqa: E402  (the fixtures' reference: fixtures/gen/canon.py)


def node_dtype(spec) -> np.dtype:
    if isinstance(spec, str):
        return np.dtype(spec)
    return np.dtype(
        [(f[0], node_dtype(f[1]), *([tuple(f[2])] if len(f) > 2 else [])) for f in spec]
    )


def node_array(node) -> np.ndarray:
    nd = node["ndarray"]
    raw = base64.b64decode(nd["data_b64"])
    return np.frombuffer(raw, dtype=node_dtype(nd["dtype"])).reshape(nd["shape"])


def check(key, got, want) -> None:
    """`got` (read through mmpk) equals the manifest's node `want`."""
    if isinstance(want, dict) and "ndarray" in want:
        exp = node_array(want)
        assert type(got) is np.ndarray, key
        assert got.dtype == exp.dtype and got.shape == exp.shape, key
        assert got.tobytes() == exp.tobytes(), key
    elif isinstance(want, dict) and "masked_array" in want:
        data, mask = (
            node_array(want["masked_array"]["data"]),
            node_array(want["masked_array"]["mask"]),
        )
        assert isinstance(got, np.ma.MaskedArray), key
        assert got.data.dtype == data.dtype and got.data.tobytes() == data.tobytes(), key
        assert np.array_equal(np.ma.getmaskarray(got), np.broadcast_to(mask, data.shape)), key
    else:
        assert canon.equal(canon.to_json(got), want), key


def read_all(d, expected: dict) -> None:
    for key, want in expected.items():
        if isinstance(want, dict) and set(want) == {"error"}:
            with pytest.raises((errors.Error, ValueError)):
                d[key]
            continue
        check(key, d[key], want)


MMAPPICKLE = json.loads((FIX / "mmappickle" / "manifest.json").read_text())


@pytest.mark.parametrize("row", MMAPPICKLE, ids=[r["file"] for r in MMAPPICKLE])
def test_mmappickle_files(row):
    with mmpk.open(FIX / "mmappickle" / row["file"]) as d:
        assert sorted(d) == sorted(row["expected"])
        assert d.commit_number == row["commit_number"]
        assert list(d) == [e["key"] for e in row["entries"] if e["live"]]
        read_all(d, row["expected"])


HANDBUILT = json.loads((FIX / "handbuilt" / "manifest.json").read_text())


@pytest.mark.parametrize("row", HANDBUILT, ids=[r["file"] for r in HANDBUILT])
def test_handbuilt_files(row, tmp_path):
    path = FIX / "handbuilt" / row["file"]
    if not row.get("header_ok", True):
        with pytest.raises(ValueError):
            mmpk.open(path)
        return
    with mmpk.open(path) as d:
        live = row.get("live") or {}
        assert sorted(d) == sorted(live)
        read_all(d, live)
        findings = d.verify()
        bad_values = [k for k, v in live.items() if isinstance(v, dict) and set(v) == {"error"}]
        if row["tail"] == "Clean" and not bad_values:
            assert findings == []
        else:
            assert findings and all(isinstance(f["offset"], int) for f in findings)
            assert {f["key"] for f in findings} >= set(bad_values)
    # Damaged files: reading works, repair (on a copy) makes them clean.
    copy = tmp_path / row["file"]
    copy.write_bytes(path.read_bytes())
    with mmpk.open(copy, "r+") as d:
        before = sorted(d)
        d.repair()
        assert sorted(d) == before and d.info()["clean_tail"]
        d["new"] = np.arange(3)
        assert d["new"].tolist() == [0, 1, 2]
