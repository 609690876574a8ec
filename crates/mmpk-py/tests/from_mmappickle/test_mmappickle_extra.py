"""``mmpk.mmappickle`` beyond mmappickle 1.0's own tests: what the drop-in
promises where mmpk differs or adds (safe decoding, sparse reservations,
vacuum with live arrays, file objects, pickling)."""

import io
import os
import pickle
import tempfile

import numpy
import pytest

import mmpk
from mmpk.errors import BusyError
from mmpk.mmappickle import mmapdict
from mmpk.mmappickle.picklers import ArrayPickler, GenericPickler
from mmpk.mmappickle.stubs.numpy import EmptyNDArray


class Custom:
    """A class outside mmpk's allowlist."""

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Custom) and other.x == self.x


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "m.mmpk")


def test_values_of_other_classes_need_trusted(path):
    m = mmapdict(path)
    m["c"] = Custom(3)
    with pytest.raises(mmpk.errors.UnsafePickleError):
        m["c"]
    assert mmapdict(path, trusted=True)["c"] == Custom(3)
    # The file is still a plain pickle of the same dict.
    with open(path, "rb") as f:
        assert pickle.load(f) == {"c": Custom(3)}


def test_an_empty_ndarray_reserves_without_writing(path):
    m = mmapdict(path)
    m["big"] = EmptyNDArray((256, 1024, 1024), dtype=numpy.uint8)  # 256 MiB
    st = os.stat(path)
    assert st.st_size > 256 << 20
    assert st.st_blocks * 512 < 16 << 20, "reserved bytes are not written"
    a = m["big"]
    assert isinstance(a, numpy.memmap) and a.shape == (256, 1024, 1024)
    a[100, 5, 7] = 9
    del a
    assert mmapdict(path, True)["big"][100, 5, 7] == 9
    # An int shape and the default dtype (mmappickle's numpy.float: float64).
    m["v"] = EmptyNDArray(5)
    assert m["v"].dtype == numpy.float64 and m["v"].shape == (5,)


def test_arrays_are_memmaps_that_write_the_file(path):
    m = mmapdict(path)
    m["a"] = numpy.arange(6, dtype=">i4").reshape(2, 3)
    a = m["a"]
    assert isinstance(a, numpy.memmap) and a.mode == "r+"
    assert a.filename == os.path.abspath(path)
    a[1, 2] = 50
    del a
    r = mmapdict(path, readonly=True)["a"]
    assert r.mode == "r" and not r.flags.writeable
    assert r.dtype == numpy.dtype(">i4") and r[1, 2] == 50


def test_vacuum_refuses_while_arrays_live_and_keeps_the_file_object(path):
    with tempfile.TemporaryFile() as f:
        m = mmapdict(f)
        m["a"] = numpy.arange(1000.0)
        m["b"] = numpy.arange(10)
        m["b"] = numpy.arange(5)  # the first "b" is dead
        a = m["a"]
        with pytest.raises(BusyError):
            m.vacuum()
        assert isinstance(BusyError("x"), RuntimeError)
        del a
        size = os.fstat(f.fileno()).st_size
        m.vacuum()
        assert os.fstat(f.fileno()).st_size < size
        numpy.testing.assert_array_equal(m["a"], numpy.arange(1000.0))
        numpy.testing.assert_array_equal(m["b"], numpy.arange(5))
        # The caller's file object sees the vacuumed file.
        f.seek(0)
        d = pickle.load(f)
        assert list(d) == ["a", "b"]


def test_a_read_only_file_object_is_read_only(path):
    mmapdict(path)["a"] = 1
    with open(path, "rb") as f:
        m = mmapdict(f)
        assert not m.writable
        assert m["a"] == 1
        with pytest.raises(io.UnsupportedOperation):
            m["a"] = 2
        with pytest.raises(io.UnsupportedOperation):
            m.commit_number = 5
        with pytest.raises(io.UnsupportedOperation):
            m.vacuum()
        with pytest.raises(io.UnsupportedOperation):
            m.fsck()


def test_a_read_only_plain_pickle_is_refused_unchanged(path):
    with open(path, "wb") as f:
        pickle.dump({"a": 1}, f)
    before = open(path, "rb").read()
    with pytest.raises(io.UnsupportedOperation):
        mmapdict(path, readonly=True)
    assert open(path, "rb").read() == before
    # Writable: converted in place, arrays mapped.
    with open(path, "wb") as f:
        pickle.dump({"a": numpy.arange(3), "b": "x"}, f)
    m = mmapdict(path)
    assert isinstance(m["a"], numpy.memmap) and m["b"] == "x"


def test_unnamed_files_do_not_pickle_named_ones_do(path):
    with tempfile.TemporaryFile() as f:
        m = mmapdict(f)
        with pytest.raises(TypeError, match="unnamed"):
            pickle.dumps(m)
    with open(path, "wb+") as f:
        m = mmapdict(f)
        m["a"] = numpy.arange(3)
        m2 = pickle.loads(pickle.dumps(m))
        numpy.testing.assert_array_equal(m2["a"], numpy.arange(3))
        assert m2.writable


def test_picklers_decide_what_is_stored_and_read(path):
    m = mmapdict(path, picklers=[ArrayPickler])
    with pytest.raises(TypeError):
        m["s"] = "abc"  # only arrays
    with pytest.raises(TypeError):
        m["m"] = numpy.ma.masked_array([1, 2])  # not exactly an ndarray
    m["a"] = numpy.arange(3)
    g = mmapdict(path, picklers=[GenericPickler])
    a = g["a"]
    assert type(a) is numpy.ndarray  # the generic pickler: a plain view
    g["s"] = "abc"
    with pytest.raises(ValueError, match="No picklers"):
        mmapdict(path, picklers=[ArrayPickler])["s"]
    # A failed store leaves the old value (mmappickle deleted it first).
    with pytest.raises(TypeError):
        mmapdict(path, picklers=[])["a"] = 1
    numpy.testing.assert_array_equal(m["a"], numpy.arange(3))


def test_the_commit_number_follows_changes_and_can_be_set(path):
    m = mmapdict(path)
    other = mmapdict(path)
    c0 = m.commit_number
    other["a"] = 1
    assert m.commit_number != c0
    m.commit_number = 1000
    assert other.commit_number == 1000
    with pytest.raises(TypeError):
        m.commit_number = 1.5
    with pytest.raises(TypeError):
        m.commit_number = True
    assert m.commit_number == 1000


def test_keys_len_iter_and_truth(path):
    m = mmapdict(path)
    assert bool(m) and len(m) == 0 and list(m) == []
    m["a"] = 1
    m["b"] = numpy.arange(2)
    m["a"] = 2  # replaced: moves to the end
    assert list(m.keys()) == ["b", "a"] and len(m) == 2
    assert "a" in m and 1 not in m
    assert dict(m)["a"] == 2
    with pytest.raises(KeyError):
        m[1]


def test_fsck_reports_whether_the_file_was_intact(path):
    m = mmapdict(path)
    m["a"] = 1
    assert m.fsck() is True
    with open(path, "ab") as f:
        f.write(b"\x95\x01\x02")
    m = mmapdict(path)
    assert m.fsck() is False
    assert dict(m) == {"a": 1}
    with open(path, "rb") as f:
        assert pickle.load(f) == {"a": 1}


def test_file_objects_without_a_descriptor_are_refused():
    with pytest.raises(TypeError, match="BytesIO"):
        mmapdict(io.BytesIO())
    with pytest.raises(TypeError):
        mmapdict(42)
