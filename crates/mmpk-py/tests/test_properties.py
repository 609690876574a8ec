"""Property tests (hypothesis): any array of the stored dtypes and any
shape round-trips through a file, reads back mapped, and plain
`pickle.load` of the whole file agrees."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmpk

DTYPES = [
    "?", "i1", "<i2", ">i4", "<u8", ">f2", "<f4", ">f8", "<c8", ">c16",
    "S3", "<U2", "V5", "<M8[ms]", ">m8[D]",
    [("a", "<i2"), ("b", ">f8", (2,))],
]  # fmt: skip


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    n = int(np.prod(shape)) * dtype.itemsize
    raw = draw(st.binary(min_size=n, max_size=n))
    a = np.frombuffer(raw, dtype="u1").view(dtype).reshape(shape) if n else np.zeros(shape, dtype)
    if dtype.kind == "b":
        a = a.view("u1") & 1 == 1
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = np.concatenate([a, a], axis=-1)[..., ::2]
    return a


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(arrays(), min_size=1, max_size=4), layout=st.sampled_from(["v2", "mmappickle1"])
)
def test_arrays_round_trip(tmp_path_factory, items, layout):
    path = tmp_path_factory.mktemp("p") / "h.mmpk"
    if layout == "mmappickle1":
        items = [a for a in items if a.dtype.fields is None] or [np.arange(2)]
    with mmpk.open(path, "x", layout=layout) as d:
        for i, a in enumerate(items):
            d[str(i)] = a
        for i, a in enumerate(items):
            got = d[str(i)]
            assert got.dtype == a.dtype and got.shape == a.shape
            assert got.tobytes() == np.ascontiguousarray(a).tobytes()
    v2_loadable = layout == "v2" or np.lib.NumpyVersion(np.__version__) < "2.3.0"
    if v2_loadable:
        with open(path, "rb") as f, warnings.catch_warnings():
            # numpy 1.x warns on the v1 encoding's fromstring.
            warnings.simplefilter("ignore", DeprecationWarning)
            plain = pickle.load(f)
        assert list(plain) == [str(i) for i in range(len(items))]
        for i, a in enumerate(items):
            assert plain[str(i)].tobytes() == np.ascontiguousarray(a).tobytes()
