"""mmpk.open: modes, file objects, closing, errors of the file system and of
files that are not mmpk files."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import run_cli

import mmpk
from mmpk import errors


def test_modes(path):
    with pytest.raises(FileNotFoundError) as e:
        mmpk.open(path)
    assert e.value.filename == str(path)
    assert str(e.value) == f"[Errno 2] open: No such file or directory: {str(path)!r}"
    with pytest.raises(FileNotFoundError):
        mmpk.open(path, "r+")
    with mmpk.open(path, "x") as d:
        d["a"] = np.arange(3)
    with pytest.raises(FileExistsError):
        mmpk.open(path, "x")
    with mmpk.open(path, "a") as d:
        assert list(d) == ["a"]
        d["b"] = np.arange(2)
    with mmpk.open(path, "r+") as d:
        assert list(d) == ["a", "b"]
    with mmpk.open(path, "w") as d:
        assert len(d) == 0
        d["c"] = np.zeros(1)
    with mmpk.open(path) as d:
        assert list(d) == ["c"]
        assert d.mode == "r" and not d.writable
    with pytest.raises(ValueError, match="mode"):
        mmpk.open(path, "rw")
    with pytest.raises(ValueError, match="layout"):
        mmpk.open(path, "a", layout="v3")
    with pytest.raises(ValueError, match="alignment"):
        mmpk.open(path, "a", align=3)


def test_pathlike_and_bytes_paths(path):
    mmpk.open(path, "x").close()
    assert mmpk.open(str(path)).path == str(path)
    assert len(mmpk.open(os.fsencode(path))) == 0


def test_read_only_refuses_writes(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(3.0)
    d = mmpk.open(path)
    for op in (
        lambda: d.__setitem__("b", np.zeros(2)),
        lambda: d.__delitem__("a"),
        lambda: d.reserve("r", 3, "f4"),
        lambda: d.vacuum(),
        lambda: d.repair(),
        lambda: d.upgrade(),
    ):
        with pytest.raises(io.UnsupportedOperation) as e:
            op()
        assert isinstance(e.value, errors.ReadOnlyError)
    a = d["a"]
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 1
    assert list(d) == ["a"]


def test_errors_of_the_file_system(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        mmpk.open(tmp_path, "a")
    assert e.value.filename == str(tmp_path)
    p = tmp_path / "locked.mmpk"
    mmpk.open(p, "x").close()
    os.chmod(p, 0)
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):
            mmpk.open(p)


def test_files_that_are_not_mmpk_are_left_unchanged(tmp_path):
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    before = p.read_bytes()
    for mode in ("r", "r+", "a"):
        with pytest.raises(ValueError, match=r"mmpk\.convert") as e:
            mmpk.open(p, mode)
        assert isinstance(e.value, errors.NotMmpkError)
    assert p.read_bytes() == before
    t = tmp_path / "text.txt"
    t.write_bytes(b"hello, this is not a pickle at all\n")
    with pytest.raises(errors.NotMmpkError) as e:
        mmpk.open(t, "a")
    assert "convert" not in str(e.value)
    assert t.read_bytes() == b"hello, this is not a pickle at all\n"


def test_closed_dict_raises_value_error_and_arrays_survive(path):
    d = mmpk.open(path, "a")
    d["a"] = np.arange(5)
    a = d["a"]
    d.close()
    assert d.closed
    for op in (lambda: d["a"], lambda: len(d), lambda: list(d), lambda: "a" in d, d.flush):
        with pytest.raises(ValueError, match="closed"):
            op()
    # The array keeps its map.
    assert a.tolist() == [0, 1, 2, 3, 4]
    a[0] = 7
    assert mmpk.open(path)["a"][0] == 7


def test_named_file_objects_are_flushed_and_used(path):
    mmpk.open(path, "x").close()
    with open(path, "r+b") as f:
        d = mmpk.open(f, "r+")
        d["a"] = np.arange(4)
        assert d.path == str(path)
        d.close()
    assert mmpk.open(path)["a"].tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        mmpk.open(3.5)


def test_repr_and_info(path):
    d = mmpk.open(path, "a")
    d["a"] = np.arange(3)
    assert repr(d).startswith("<mmpk.Dict ")
    info = d.info()
    assert info["live"] == 1 and info["path"] == str(path)
    assert info["file_size"] == os.path.getsize(path)
    d.close()
    assert "closed" in repr(d)


def test_info_byte_totals_are_mmpk_infos(path, cli):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(3)  # aligned data: a filler before it
        d["v"] = {"x": 1}
        d["a"] = np.arange(5)  # the first "a" is dead now
        del d["v"]
        info = d.info()
    b, e = info["bytes"], info["entries"]
    assert e == {"live": 1, "dead": 2, "filler": e["filler"]} and e["filler"] >= 1
    assert b["live"] > 0 and b["dead"] > 0 and b["filler"] > 0
    assert sum(b.values()) < info["file_size"]  # and the header and terminator
    want = json.loads(run_cli(cli, "info", "--json", str(path)))
    assert b == want["bytes"] and e == want["entries"]


def test_unnamed_file_objects(tmp_path):
    import tempfile

    with tempfile.TemporaryFile() as f:
        d = mmpk.open(f, "a")
        assert d.path.startswith("<file object")
        d["a"] = np.arange(4)
        d["a"] = np.arange(5)  # replaced: a dead entry to vacuum
        before = os.fstat(f.fileno()).st_size
        d.vacuum()  # in place: no path to rename over
        assert os.fstat(f.fileno()).st_size < before
        assert d["a"].tolist() == [0, 1, 2, 3, 4]
        with pytest.raises(TypeError, match="pickled"):
            pickle.dumps(d)
        d.commit_number = 41
        assert d.commit_number == 41
        d.close()
        # The caller's own handle sees the file mmpk wrote.
        f.seek(0)
        assert pickle.load(f)["a"].tolist() == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match="path"):
            mmpk.open(f, "x")
        assert list(mmpk.open(f, "w")) == []


def test_convert(tmp_path):
    src = tmp_path / "plain.pkl"
    src.write_bytes(pickle.dumps({"a": np.arange(3.0), "s": "text", "n": [1, 2]}, protocol=2))
    dst = tmp_path / "conv.mmpk"
    mmpk.convert(src, dst)
    with mmpk.open(dst) as d:
        assert d["a"].tolist() == [0.0, 1.0, 2.0] and d["a"].base is not None
        assert d["s"] == "text" and d["n"] == [1, 2]
    with pytest.raises(FileExistsError):
        mmpk.convert(src, dst)
    mmpk.convert(src)  # in place
    assert mmpk.open(src)["s"] == "text"
    import tempfile

    with tempfile.TemporaryFile() as f:
        pickle.dump({"x": np.ones(2)}, f)
        mmpk.convert(f)
        assert mmpk.open(f)["x"].tolist() == [1.0, 1.0]
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(errors.Error):
        mmpk.convert(bad, tmp_path / "out.mmpk")
    assert not (tmp_path / "out.mmpk").exists()


def test_import_loads_only_what_open_needs(path):
    # `import mmpk` is in the timed region of a fresh process: the modules
    # for values, errors and zarr_refs (and json) load on first use.
    probe = textwrap.dedent(
        """
        import sys
        import numpy as np
        before = set(sys.modules)
        import mmpk
        with mmpk.open(sys.argv[1], "a") as d:
            d["a"] = np.arange(3.0)
            assert d["a"].tolist() == [0.0, 1.0, 2.0]
        for name in sorted(set(sys.modules) - before):
            print(name)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True
    ).stdout
    loaded = out.split()
    for lazy in ("mmpk.errors", "mmpk._values", "mmpk._zarr", "json"):
        assert lazy not in loaded, loaded
    # ... and are there when named, however they are named.
    import mmpk.errors as by_import

    assert mmpk.errors is by_import is errors
    assert mmpk.loads(pickle.dumps([1, "a"])) == [1, "a"]
    assert callable(mmpk.load) and callable(mmpk.zarr_refs)
    assert {"errors", "load", "loads", "zarr_refs", "open"} <= set(dir(mmpk))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mmpk.nope  # noqa: B018
