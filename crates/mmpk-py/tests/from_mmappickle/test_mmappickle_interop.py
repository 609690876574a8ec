"""``mmpk.mmappickle`` against the real mmappickle 1.0 (installed in the
numpy 1.23.5 venv only; skipped elsewhere): files written by either open in
the other, with equal keys and values, also while both have the file open,
and a program's code runs the same on both (the one import changed)."""

import os
import pickle
import tempfile

import numpy
import pytest

try:
    import mmappickle
    from mmappickle import mmapdict as _real  # noqa: F401
except ImportError:
    pytest.skip(
        "mmappickle 1.0 is installed in the numpy 1.23.5 venv only", allow_module_level=True
    )

from mmpk.mmappickle import mmapdict  # noqa: E402
from mmpk.mmappickle.stubs.numpy import EmptyNDArray  # noqa: E402


def _fill(m, empty_stub):
    """What an mmappickle 1.0 program stores: arrays of several dtypes and
    shapes, a masked array, a reserved array, plain values; then a replace
    and a removal."""
    m["i8"] = numpy.arange(12, dtype=numpy.int64).reshape(3, 4)
    m["f4be"] = numpy.linspace(0, 1, 7).astype(">f4")
    m["u1"] = numpy.frombuffer(b"\x00\x01\xff", dtype=numpy.uint8).copy()
    m["c16"] = numpy.array([1 + 2j, -3.5j])
    m["zero_d"] = numpy.array(3.25)
    m["masked"] = numpy.ma.MaskedArray([1.0, 2.0, 3.0], [False, True, False])
    m["reserved"] = empty_stub((4, 5), dtype=numpy.float32)
    m["reserved"][1, 2] = 7.5
    m["value"] = {"a": [1, 2.5, "x", None, (True, b"b")], "n": 2**70}
    m["text"] = "caf\u00e9"
    m["gone"] = 1
    m["value"] = {"a": [1, 2.5, "x", None, (True, b"b")], "n": 2**70, "v": 2}
    del m["gone"]


_WANT = {
    "i8": numpy.arange(12, dtype=numpy.int64).reshape(3, 4),
    "f4be": numpy.linspace(0, 1, 7).astype(">f4"),
    "u1": numpy.array([0, 1, 255], dtype=numpy.uint8),
    "c16": numpy.array([1 + 2j, -3.5j]),
    "zero_d": numpy.array(3.25),
    "masked": numpy.ma.MaskedArray([1.0, 2.0, 3.0], [False, True, False]),
    "text": "caf\u00e9",
    "value": {"a": [1, 2.5, "x", None, (True, b"b")], "n": 2**70, "v": 2},
}


def _check(m):
    assert sorted(m.keys()) == sorted([*_WANT, "reserved"])
    for k, want in _WANT.items():
        got = m[k]
        if isinstance(want, numpy.ma.MaskedArray):
            assert isinstance(got, numpy.ma.MaskedArray)
            numpy.testing.assert_array_equal(got.data, want.data)
            numpy.testing.assert_array_equal(numpy.ma.getmaskarray(got), want.mask)
        elif isinstance(want, numpy.ndarray):
            assert got.dtype == want.dtype, k
            numpy.testing.assert_array_equal(got, want)
        else:
            assert got == want, k
    r = m["reserved"]
    assert r.shape == (4, 5) and r.dtype == numpy.float32
    assert r[1, 2] == 7.5 and r.sum() == 7.5


def _path():
    fd, path = tempfile.mkstemp(suffix=".mmpk")
    os.close(fd)
    os.unlink(path)
    return path


def test_written_by_the_drop_in_read_by_mmappickle():
    path = _path()
    try:
        m = mmapdict(path)
        _fill(m, EmptyNDArray)
        _check(m)
        del m
        real = mmappickle.mmapdict(path, True)
        _check(real)
        with open(path, "rb") as f:
            assert sorted(pickle.load(f)) == sorted(real.keys())
    finally:
        os.unlink(path)


def test_written_by_mmappickle_read_by_the_drop_in():
    from mmappickle.stubs.numpy import EmptyNDArray as RealEmpty

    path = _path()
    try:
        real = mmappickle.mmapdict(path)
        _fill(real, RealEmpty)
        del real
        m = mmapdict(path, True)
        _check(m)
        assert isinstance(m["i8"], numpy.memmap)
        assert isinstance(m["masked"].data, numpy.memmap)
        assert isinstance(m["masked"].mask, numpy.memmap)
        # Writes by the drop-in to the mmappickle-written file, read back by
        # mmappickle.
        w = mmapdict(path)
        w["i8"][0, 0] = 100
        w["new"] = numpy.ones(3, dtype=numpy.int16)
        del w
        real = mmappickle.mmapdict(path, True)
        assert real["i8"][0, 0] == 100
        numpy.testing.assert_array_equal(real["new"], numpy.ones(3, dtype=numpy.int16))
    finally:
        os.unlink(path)


def test_both_open_at_once():
    path = _path()
    try:
        ours = mmapdict(path)
        real = mmappickle.mmapdict(path)
        ours["a"] = numpy.arange(3)
        assert list(real.keys()) == ["a"]
        real["b"] = numpy.arange(4.0)
        assert "b" in ours and list(ours.keys()) == ["a", "b"]
        numpy.testing.assert_array_equal(ours["b"], numpy.arange(4.0))
        before = ours.commit_number
        del real["a"]
        assert ours.commit_number != before
        assert "a" not in ours
        # Writes through the maps of both land in the same bytes.
        ours["b"][0] = 9.0
        assert real["b"][0] == 9.0
        real["b"][1] = 8.0
        assert ours["b"][1] == 8.0
    finally:
        os.unlink(path)


def test_vacuumed_by_either_read_by_the_other():
    path = _path()
    try:
        m = mmapdict(path)
        _fill(m, EmptyNDArray)
        m.vacuum()
        del m
        real = mmappickle.mmapdict(path)
        _check(real)
        real["x"] = 1
        del real["x"]
        real.vacuum()
        del real
        _check(mmapdict(path, True))
    finally:
        os.unlink(path)


def test_an_unnamed_file_shared_with_mmappickle():
    # The drop-in writes and vacuums in place through the descriptor of a
    # TemporaryFile; mmappickle then reads the same file object.
    with tempfile.TemporaryFile() as f:
        m = mmapdict(f)
        _fill(m, EmptyNDArray)
        m["junk"] = numpy.zeros(1000)
        del m["junk"]
        m.vacuum()
        _check(m)
        del m
        real = mmappickle.mmapdict(f)
        _check(real)


def test_a_pickled_dict_converted_by_either():
    d = {"a": numpy.arange(5.0), "b": [1, "two"], "c": numpy.ma.masked_less([1, 5, 2], 3)}
    for convert in (mmapdict, mmappickle.mmapdict):
        with tempfile.TemporaryFile() as f:
            pickle.dump(d, f)
            convert(f)
            m = mmapdict(f, True)
            assert list(m.keys()) == ["a", "b", "c"]
            numpy.testing.assert_array_equal(m["a"], d["a"])
            assert isinstance(m["a"], numpy.memmap)
            assert m["b"] == [1, "two"]
            numpy.testing.assert_array_equal(m["c"].mask, d["c"].mask)


def _writer(kind, task, path, n, ready):
    m = mmappickle.mmapdict(path) if kind == "real" else mmapdict(path)
    # mmappickle 1.0's constructor appends a terminator, without the lock,
    # when the file does not end in one, which it does not while another
    # process is in the middle of an insert: an mmappickle dict opened
    # while others write can overwrite their bytes. Every writer opens its
    # dict before any starts writing.
    ready.wait()
    for i in range(n):
        m[f"{kind}-{task}-{i}"] = numpy.full(3, i, dtype=numpy.int32)
        m[f"{kind}-{task}-v{i}"] = [kind, i]


def test_processes_of_both_write_one_file_at_once():
    import multiprocessing

    path = _path()
    try:
        mmapdict(path)  # created by the drop-in
        n = 15
        tasks = [(k, t, path, n) for t, k in enumerate(("real", "ours", "real", "ours"))]
        ready = multiprocessing.Barrier(len(tasks))
        procs = [multiprocessing.Process(target=_writer, args=(*t, ready)) for t in tasks]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        assert [p.exitcode for p in procs] == [0] * len(procs)
        for reader in (mmapdict(path, True), mmappickle.mmapdict(path, True)):
            assert len(set(reader.keys())) == 4 * 2 * n
            for kind, task, _, _ in tasks:
                for i in range(n):
                    numpy.testing.assert_array_equal(reader[f"{kind}-{task}-{i}"], [i, i, i])
                    assert reader[f"{kind}-{task}-v{i}"] == [kind, i]
    finally:
        os.unlink(path)
