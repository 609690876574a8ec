"""The checked-in files mmappickle 1.0.0 wrote (fixtures/mmappickle, numpy
1.23.5) read through ``mmpk.mmappickle`` equal their manifest, on every
numpy (numpy 2 included, where mmappickle 1.0 itself cannot run): arrays
as :class:`numpy.memmap` over the file, masked arrays with
:class:`numpy.memmap` parts. The manifest's ``expected`` values are what
was stored (mmappickle 1.0 itself fails to read 0-d arrays back)."""

import base64
import json
import os
from pathlib import Path

import numpy
import pytest

from mmpk.mmappickle import mmapdict

ROOT = Path(os.environ.get("MMPK_ROOT", Path(__file__).resolve().parents[4]))
FIX = ROOT / "fixtures" / "mmappickle"
ROWS = json.loads((FIX / "manifest.json").read_text())


def _decode(v):
    """A value of the manifest's canonical JSON form."""
    ((kind, x),) = v.items()
    if kind == "ndarray":
        raw = base64.b64decode(x["data_b64"])
        return numpy.frombuffer(raw, dtype=numpy.dtype(x["dtype"])).reshape(x["shape"])
    if kind == "masked_array":
        return numpy.ma.MaskedArray(_decode(x["data"]), _decode(x["mask"]))
    if kind == "int":
        return int(x)
    if kind == "float":
        return float.fromhex(x)
    if kind == "none":
        return None
    if kind == "bool":
        return x
    if kind == "str":
        return x
    if kind == "bytes_b64":
        return base64.b64decode(x)
    if kind == "list":
        return [_decode(i) for i in x]
    if kind == "tuple":
        return tuple(_decode(i) for i in x)
    if kind == "dict":
        return {_decode(k): _decode(i) for k, i in x}
    pytest.fail(f"unknown form {kind}")


def _equal(got, want, where):
    if isinstance(want, numpy.ma.MaskedArray):
        assert isinstance(got, numpy.ma.MaskedArray), where
        assert isinstance(got.data, numpy.memmap), where
        assert isinstance(got.mask, numpy.memmap), where
        _equal(got.data, want.data, where)
        numpy.testing.assert_array_equal(numpy.ma.getmaskarray(got), numpy.ma.getmaskarray(want))
    elif isinstance(want, numpy.ndarray):
        assert isinstance(got, numpy.memmap), where
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert got.tobytes() == want.tobytes(), where
    else:
        assert got == want, where


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_mmappickle_files_read_through_the_drop_in(row):
    m = mmapdict(str(FIX / row["file"]), readonly=True)
    want = {k: _decode(v) for k, v in row["expected"].items()}
    assert sorted(m.keys()) == sorted(want)
    for k, w in want.items():
        _equal(m[k], w, f"{row['file']}:{k}")
    assert m.commit_number == row["commit_number"]
