"""Round trips with the Rust core through the file: Python writes, the
`mmpk` tool (built by cargo) reads (`get --json`); the tool writes (`put
--npy`, `--zeros`), Python reads."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from conftest import run_cli
from test_arrays import SCALARS, SHAPES, STRUCTURED, sample

import mmpk


def as_dtype(spec):
    """numpy's dtype for a canonical JSON dtype (a str or a descr list)."""
    if isinstance(spec, str):
        return np.dtype(spec)
    fields = []
    for f in spec:
        sub = as_dtype(f[1]) if isinstance(f[1], list) else f[1]
        fields.append((f[0], sub, tuple(f[2])) if len(f) > 2 else (f[0], sub))
    return np.dtype(fields)


def from_json(node) -> np.ndarray:
    nd = node["ndarray"]
    dt = as_dtype(nd["dtype"])
    raw = base64.b64decode(nd["data_b64"])
    return np.frombuffer(raw, dtype=dt).reshape(nd["shape"])


@pytest.mark.parametrize("layout", ["v2", "mmappickle1"])
def test_python_writes_rust_reads(path, cli, layout):
    cases = {}
    for dt in SCALARS:
        for i, shape in enumerate(SHAPES):
            cases[f"{dt}/{i}"] = sample(np.dtype(dt), shape, i)
    if layout == "v2":  # mmappickle 1.0's layout cannot hold structured dtypes
        for i, dt in enumerate(STRUCTURED[:2]):
            cases[f"struct{i}"] = sample(dt, (3, 2), i)
    with mmpk.open(path, "a", layout=layout) as d:
        for k, v in cases.items():
            d[k] = v
    for k, v in cases.items():
        node = json.loads(run_cli(cli, "get", "--json", str(path), k))
        got = from_json(node)
        assert got.shape == v.shape, k
        assert got.tobytes() == v.tobytes(), k
        if v.dtype.fields is None:
            assert node["ndarray"]["dtype"] == v.dtype.str, k


def test_masked_python_to_rust(path, cli):
    m = np.ma.MaskedArray(np.arange(4, dtype="<i4"), mask=[0, 1, 1, 0])
    with mmpk.open(path, "a") as d:
        d["m"] = m
    node = json.loads(run_cli(cli, "get", "--json", str(path), "m"))["masked_array"]
    assert from_json(node["data"]).tolist() == [0, 1, 2, 3]
    assert from_json(node["mask"]).tolist() == [False, True, True, False]


@pytest.mark.parametrize("dt", ["<f8", ">i2", "|b1", "<c8", "<M8[us]", "<U3", "|S2"])
def test_rust_writes_python_reads(tmp_path, cli, dt):
    path = tmp_path / "r.mmpk"
    a = sample(np.dtype(dt), (3, 4), 7)
    np.save(tmp_path / "a.npy", a)
    run_cli(cli, "put", str(path), "a", "--npy", str(tmp_path / "a.npy"))
    run_cli(cli, "put", str(path), "z", "--zeros", dt, "5,0,2")
    run_cli(
        cli, "put", str(path), "v1", "--npy", str(tmp_path / "a.npy"), "--layout", "mmappickle1"
    )
    with mmpk.open(path) as d:
        assert list(d) == ["a", "z", "v1"]
        for k in ("a", "v1"):
            got = d[k]
            assert got.dtype == a.dtype and got.tobytes() == a.tobytes()
        assert d["z"].shape == (5, 0, 2) and d["z"].dtype == np.dtype(dt)


def test_rust_written_files_of_every_dtype(tmp_path, root):
    """The files mmpk-format's `conformance_files` example writes (both
    layouts: every dtype and shape, masked arrays, generic values) read
    through the package equal its manifest."""
    import os
    import subprocess

    from test_fixtures import check

    exe = os.environ.get("MMPK_CONFORMANCE_FILES") or str(
        root / "target" / "debug" / "examples" / "conformance_files"
    )
    if not os.path.exists(exe):
        pytest.skip("conformance_files is not built (run cargo xtask python-test)")
    subprocess.run([exe, str(tmp_path)], check=True, capture_output=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {row["layout"] for row in manifest} == {"v2", "mmappickle1"}
    for row in manifest:
        with mmpk.open(tmp_path / row["file"]) as d:
            assert sorted(d) == sorted(row["entries"])
            for key, want in row["entries"].items():
                got = d[key]
                check(key, got, want)
                if row["kinds"][key] == "array":
                    assert type(got) is np.ndarray and got.base is not None, key
