"""Arrays: zero-copy mapped views of every dtype, shape and layout, writes
from numpy's buffers, masked arrays, replaced and removed keys."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmpk
from mmpk import errors

SCALARS = [
    "?",
    "i1",
    "u1",
    "<i2",
    ">i2",
    "<u2",
    ">u4",
    "<i4",
    "<i8",
    ">u8",
    "<f2",
    ">f2",
    "<f4",
    ">f4",
    "<f8",
    ">f8",
    "<c8",
    ">c16",
    "<c16",
    "S1",
    "S7",
    "<U1",
    "<U5",
    ">U3",
    "V3",
    "V16",
    "<M8[ns]",
    ">M8[D]",
    "<M8[s]",
    "<M8",
    "<m8[us]",
    ">m8[h]",
    "<m8[25s]",
]
STRUCTURED = [
    np.dtype([("x", "<f4"), ("y", ">i8", (2,)), ("name", "S5")]),
    np.dtype([("a", "u1"), ("b", "<f8")], align=True),
    np.dtype({"names": ["p", "q"], "formats": ["<i2", "<f4"], "offsets": [0, 8], "itemsize": 16}),
    np.dtype([("outer", [("inner", "<i4"), ("w", "<U2")]), ("t", "<M8[ms]")]),
]
SHAPES = [(), (0,), (5,), (3, 4), (2, 0, 3), (1, 1, 1, 1, 2)]


def sample(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    a = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape).copy()
    if dtype.kind == "b":
        a = (raw[: a.size] & 1).astype(bool).reshape(shape)
    if dtype.kind == "U":
        a = np.array(["héllo"[: (i % 5) + 1] for i in range(a.size)], dtype=dtype).reshape(shape)
    if dtype.kind in "fc":
        a = np.asarray(np.nan_to_num(a))
    return a


def mapped(a: np.ndarray) -> bool:
    """Whether `a` views a file's map (its chain of bases ends in one)."""
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, mmpk._mmpk.MapRegion)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("layout", ["v2", "mmappickle1"])
@pytest.mark.parametrize("dt", SCALARS)
def test_every_scalar_dtype_round_trips_mapped(path, dt, layout):
    dtype = np.dtype(dt)
    with mmpk.open(path, "a", layout=layout) as d:
        for i, shape in enumerate(SHAPES):
            d[f"k{i}"] = sample(dtype, shape, i)
    with mmpk.open(path) as d:
        for i, shape in enumerate(SHAPES):
            got = d[f"k{i}"]
            assert type(got) is np.ndarray
            assert same(got, sample(dtype, shape, i)), (dt, shape)
            assert not got.flags.writeable
            assert got.flags.c_contiguous
            assert isinstance(got.base, mmpk._mmpk.MapRegion)


@pytest.mark.parametrize("dtype", STRUCTURED, ids=str)
def test_structured_dtypes_round_trip(path, dtype):
    a = sample(dtype, (4, 3))
    with mmpk.open(path, "a") as d:
        d["s"] = a
        got = d["s"]
        assert got.dtype == dtype and got.dtype.itemsize == dtype.itemsize
        assert same(got, a)


def test_views_are_zero_copy_and_writable(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(12, dtype="<f8").reshape(3, 4)
        a, b = d["a"], d["a"]
        assert a.flags.writeable and b.flags.writeable
        assert a.flags.aligned and a.ctypes.data % 64 == 0
        assert np.shares_memory(a, b)
        a[1, 2] = -1.0
        assert b[1, 2] == -1.0  # several writable views of one entry
        assert a.base.offset % 64 == 0 and a.base.nbytes == 96
        d.flush()
    with open(path, "rb") as f:
        raw = f.read()
    assert np.float64(-1.0).tobytes() in raw
    assert mmpk.open(path)["a"][1, 2] == -1.0


def test_misaligned_v1_arrays_are_views_not_copies(path):
    with mmpk.open(path, "a", layout="mmappickle1") as d:
        d["pad"] = np.zeros(3, "u1")
        d["a"] = np.arange(5, dtype="<f8")
    with mmpk.open(path, "r+") as d:
        a = d["a"]
        assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert a.flags.writeable
        a[4] = 9.5  # unaligned write, into the file
        assert d["a"][4] == 9.5


def test_non_contiguous_inputs_are_written_in_c_order(path, tmp_path):
    base = np.arange(60, dtype="<i4").reshape(3, 4, 5)
    cases = {
        "fortran": np.asfortranarray(base),
        "strided": base[:, ::2, 1:],
        "transposed": base.T,
        "reversed": base[::-1],
        "zero_d": np.full((), 3.5, "f4"),
        "memmap": np.memmap(tmp_path / "m.bin", "<i4", "w+", shape=(2, 5))[:, ::2],
    }
    with mmpk.open(path, "a") as d:
        for k, v in cases.items():
            d[k] = v
        for k, v in cases.items():
            got = d[k]
            assert got.flags.c_contiguous and np.array_equal(got, v) and got.dtype == v.dtype


def test_large_non_contiguous_arrays_are_written_in_blocks(path):
    # Over 16 MiB, a non-contiguous array is copied in C order in blocks of
    # at most 16 MiB: along the last axes that fit, or of single elements.
    base = np.arange(3 * 1200 * 1500, dtype="<f8").reshape(3, 1200, 1500)  # 41 MiB
    cases = {
        "fortran": np.asfortranarray(base),
        "strided": base[:, ::2, 1:],
        "transposed": base.T,
        "reversed": base[::-1, :, ::-1],
        "flat_strided": base.reshape(-1)[::2],
        "wide_rows": np.asfortranarray(base.reshape(2, -1)),  # a row is over 16 MiB
        "big_endian": base.astype(">i4")[:, ::-1],
    }
    with mmpk.open(path, "a") as d:
        for k, v in cases.items():
            assert not v.flags.c_contiguous and v.nbytes > 16 << 20
            d[k] = v
        for k, v in cases.items():
            got = d[k]
            assert got.dtype == v.dtype and got.shape == v.shape
            assert np.array_equal(got, v), k


def test_a_large_contiguous_write_lands_exactly(path):
    # 72 MiB (preallocated, then one write from numpy's buffer), after an
    # entry that leaves the next data at an odd place, replaced, and masked:
    # read back by mmpk and by pickle.load.
    a = np.arange(9 << 20, dtype="<u8") * 2654435761 % 1000003
    with mmpk.open(path, "w") as d:
        d["pad"] = np.arange(3, dtype="u1")  # the next data at an odd place
        d["a"] = a
        d["m"] = np.ma.masked_array(a, mask=a % 3 == 0)
        d["a"] = a + 1  # replaced
    with mmpk.open(path) as d:
        assert np.array_equal(d["a"], a + 1)
        assert np.array_equal(d["m"].data, a) and np.array_equal(d["m"].mask, a % 3 == 0)
    with open(path, "rb") as f:
        plain = pickle.load(f)
    assert np.array_equal(plain["a"], a + 1)


def test_a_non_contiguous_write_needs_no_whole_copy(path):
    probe = textwrap.dedent(
        """
        import resource, sys
        import numpy as np
        import mmpk
        a = np.asfortranarray(np.ones((4096, 8192), "f4"))  # 128 MiB
        d = mmpk.open(sys.argv[1], "a")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        d["f"] = a
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        assert d["f"].shape == a.shape and d["f"][4095, 8191] == 1.0
        print(grew)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert int(out) < 64 << 20, f"peak resident memory grew by {out.strip()} bytes"


def test_large_dims_and_keys(path):
    with mmpk.open(path, "a") as d:
        a = d.reserve("big", (1 << 40, 0), "f8")
        assert a.shape == (1 << 40, 0) and a.size == 0
        d["é" * 127] = np.arange(2)  # 254 UTF-8 bytes
        with pytest.raises(ValueError, match="255"):
            d["a" * 256] = np.arange(2)
        with pytest.raises(TypeError, match="str"):
            d[3] = np.arange(2)
        with pytest.raises(TypeError):
            d[b"bytes"] = np.arange(2)
        with pytest.raises(ValueError):
            d["\ud800"] = np.arange(2)
        assert list(d) == ["big", "é" * 127]
        assert 3 not in d and b"big" not in d


def test_reserve_is_sparse_and_writable(path):
    with mmpk.open(path, "a") as d:
        a = d.reserve("r", (256, 1024, 1024), "u2")  # 512 MiB
        assert a.dtype == np.dtype("u2") and a.flags.writeable
        a[100, 5, 7] = 77
        st = path.stat()
        assert st.st_blocks * 512 < 16 << 20
        assert d["r"][100, 5, 7] == 77
        s = d.reserve("s", 3, np.dtype([("x", "<i4")]))
        assert s.shape == (3,)
        with pytest.raises(errors.UnsupportedError):
            d.reserve("o", 3, object)


def test_replace_and_remove_keep_old_views_valid(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(4, dtype="i8")
        d["b"] = np.ones(2)
        old = d["a"]
        d["a"] = np.full(3, 7, dtype="i8")
        assert list(d) == ["b", "a"]  # a replaced key moves to the end
        assert old.tolist() == [0, 1, 2, 3]  # the old bytes, never reused
        old[0] = 100  # lands in dead bytes
        assert d["a"].tolist() == [7, 7, 7]
        gone = d.pop("a")
        assert "a" not in d and gone.tolist() == [7, 7, 7]
        with pytest.raises(KeyError):
            d["a"]
        with pytest.raises(KeyError):
            del d["a"]
        assert d.pop("a", None) is None
        d["c"] = np.zeros(10)  # appended after the dead entries
        assert gone.tolist() == [7, 7, 7] and old.tolist() == [100, 1, 2, 3]


def test_vacuum_waits_for_arrays(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(4)
        d["a"] = np.arange(5)
        a = d["a"]
        with pytest.raises(errors.BusyError):
            d.vacuum()
        assert a.tolist() == [0, 1, 2, 3, 4]
        del a
        r = d.vacuum()
        assert r["live"] == 1 and r["after"] < r["before"]
        assert d["a"].tolist() == [0, 1, 2, 3, 4]
        # An array of a map the file has outgrown counts too.
        old = d["a"]
        d.reserve("big", 1 << 24, "u1")
        d["a"] = np.arange(2)
        with pytest.raises(errors.BusyError):
            d.vacuum()
        assert old.tolist() == [0, 1, 2, 3, 4]
        del old
        d.vacuum()
        assert d["a"].tolist() == [0, 1]


@pytest.mark.parametrize("layout", ["v2", "mmappickle1"])
def test_masked_arrays_both_ways(path, layout):
    data = np.arange(6, dtype=">f4").reshape(2, 3)
    cases = {
        "elementwise": np.ma.MaskedArray(data, mask=[[0, 1, 0], [1, 0, 0]]),
        "nomask": np.ma.MaskedArray(np.arange(3)),
        "int": np.ma.masked_greater(np.arange(5, dtype="i2"), 2),
    }
    with mmpk.open(path, "a", layout=layout) as d:
        for k, v in cases.items():
            d[k] = v
    with mmpk.open(path, "r+") as d:
        for k, v in cases.items():
            got = d[k]
            assert isinstance(got, np.ma.MaskedArray)
            assert got.dtype == v.dtype and got.shape == v.shape
            assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(v))
            assert np.array_equal(got.filled(0), v.filled(0))
        m = d["elementwise"]
        assert mapped(m.data) and mapped(m.mask)
        m[0, 0] = np.ma.masked  # written into the mapped mask
        m.data[1, 2] = 42.0
    with mmpk.open(path) as d:
        m = d["elementwise"]
        assert m.mask.tolist() == [[True, True, False], [True, False, False]]
        assert m.data[1, 2] == 42.0


def test_storing_plain_arrays_does_not_import_numpy_ma(path):
    # numpy 2 imports numpy.ma lazily (numpy 1.x at `import numpy`): a
    # store must not import it (tens of ms) just to ask whether a value is
    # a masked array, since none can exist before it is imported.
    probe = textwrap.dedent(
        """
        import sys
        import numpy as np
        if "numpy.ma" in sys.modules:
            print("preloaded")
            raise SystemExit
        import mmpk
        with mmpk.open(sys.argv[1], "a") as d:
            d["a"] = np.arange(5.0)
            d["f"] = np.asfortranarray(np.ones((2, 3), "f4"))
            d["v"] = {"x": [1, 2.5, "s"]}
            assert d["a"].sum() == 10.0 and d["v"] == {"x": [1, 2.5, "s"]}
        print(sorted(m for m in sys.modules if m == "numpy.ma" or m.startswith("numpy.ma.")))
        import numpy.ma  # now a masked array exists and is stored as one
        with mmpk.open(sys.argv[1], "a") as d:
            d["m"] = np.ma.masked_less(np.arange(3), 1)
            assert d["m"].mask.tolist() == [True, False, False]
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    if out == "preloaded":
        pytest.skip("this numpy imports numpy.ma with numpy")
    assert out == "[]"


def test_object_arrays_are_pickled_not_mapped(path):
    with mmpk.open(path, "a") as d:
        d["o"] = np.array([1, "x", None], dtype=object)
        # Its items are rebuilt by the safe decoder, like any value's.
        got = d["o"]
        assert got.dtype == object and got.tolist() == [1, "x", None]
        assert not mapped(got)
        # An item outside the allowlist is refused by default.
        d["f"] = np.array([np.add], dtype=object)
        with pytest.raises(errors.UnsafePickleError):
            d["f"]
    with mmpk.open(path, trusted=True) as d:
        assert d["f"][0] is np.add


def test_mapping_protocol(path):
    with mmpk.open(path, "a") as d:
        d.update({"a": np.arange(2)}, b=np.arange(3))
        assert sorted(d.keys()) == ["a", "b"]
        assert [k for k, _ in d.items()] == ["a", "b"]
        assert [v.tolist() for v in d.values()] == [[0, 1], [0, 1, 2]]
        assert d.get("zz") is None and d.get("zz", 5) == 5
        v = d.setdefault("c", np.arange(4))
        assert v.base is not None and v.tolist() == [0, 1, 2, 3]
        assert d.setdefault("c", np.zeros(1)).tolist() == [0, 1, 2, 3]
        assert len(d) == 3 and "c" in d.keys()
        del d["b"]
        assert list(d) == ["a", "c"]
