"""mmpk.zarr_refs: the same JSON as `mmpk zarr-refs`, and every chunk
reference reassembles to the array's bytes (read back with plain file
reads, no zarr needed)."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
from conftest import run_cli

import mmpk


def make(path):
    with mmpk.open(path, "w") as d:
        d["a"] = np.arange(1000 * 7, dtype="<f8").reshape(1000, 7)
        d["meta"] = {"unit": "nm", "n": 3}
        d["raw"] = b"\x00\x01"
        d["s"] = np.array(2.5, dtype="<f4")  # 0-d: an array, not a scalar
        d["m"] = np.ma.masked_array(np.arange(6, dtype="<i2"), mask=[1, 0, 0, 1, 0, 0])
        # The last entry: a prime first axis, nothing after it but the end.
        d["last"] = np.arange(1009 * 3, dtype=">i4").reshape(1009, 3)


def chunk_bytes(refs, path, name, count):
    with open(path, "rb") as f:
        file = f.read()
    out = b""
    for i in range(count):
        r = refs["refs"][name.format(i=i)]
        if isinstance(r, str):
            out += base64.b64decode(r[len("base64:") :])
        else:
            assert r[1] + r[2] <= len(file)
            out += file[r[1] : r[1] + r[2]]
    return out


def test_same_as_the_command_and_chunks_hold_the_arrays(path, cli):
    make(path)
    with pytest.warns(UserWarning, match="skipped 'raw'"):
        refs = mmpk.zarr_refs(path, url="https://example.org/f.mmpk", chunk_mib=0.01)
    text = run_cli(
        cli, "zarr-refs", str(path), "--url", "https://example.org/f.mmpk", "--chunk-mib", "0.01"
    )
    assert refs == json.loads(text)
    assert "raw" in refs["mmpk_skipped"]
    assert json.loads(refs["refs"][".zattrs"]) == {"meta": {"unit": "nm", "n": 3}}
    with mmpk.open(path) as d:
        for key, name in [("a", "a/{i}.0"), ("last", "last/{i}.0"), ("s", "s/0")]:
            want = np.asarray(d[key])
            meta = json.loads(refs["refs"][f"{key}/.zarray"])
            assert meta["shape"] == list(want.shape) and meta["dtype"] == want.dtype.str
            count = -(-want.shape[0] // meta["chunks"][0]) if want.ndim else 1
            got = chunk_bytes(refs, path, name, count)
            assert got[: want.nbytes] == want.tobytes(), key
        m = d["m"]
        assert chunk_bytes(refs, path, "m/data/{i}", 1) == np.asarray(m.data).tobytes()
        assert chunk_bytes(refs, path, "m/mask/{i}", 1) == np.asarray(m.mask).tobytes()


def test_default_url_output_file_and_errors(path, tmp_path):
    make(path)
    out = tmp_path / "refs.json"
    with pytest.warns(UserWarning):
        refs = mmpk.zarr_refs(path, out=out)
    assert json.loads(out.read_text()) == refs
    assert refs["refs"]["a/0.0"][0] == os.path.abspath(path)
    with pytest.raises(ValueError):
        mmpk.zarr_refs(path, chunk_mib=0)
    with pytest.raises(TypeError):
        mmpk.zarr_refs(path, storage_options={"anon": True})
    with pytest.raises(FileNotFoundError):
        mmpk.zarr_refs(tmp_path / "missing.mmpk")
