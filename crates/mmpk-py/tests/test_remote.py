"""Remote files from Python: mmpk.open(URL) over nginx (HTTP: Range, ETag)
and moto's S3 server, mmpk.RemoteArray (basic indexing fetching only the
rows it selects, pickling with a pin), files that grow or are rewritten
while read, and the errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mmpk
import mmpk.errors

HERE = Path(__file__).resolve().parent


def contents():
    rng = np.random.default_rng(7)
    return {
        "f4": rng.standard_normal((300, 40)).astype("f4"),
        "i4be": np.arange(60, dtype=">i4").reshape(5, 3, 4),
        "u1": np.arange(7, dtype="u1"),
        "zero_d": np.array(3.5),
        "empty": np.zeros((0, 3), "i2"),
        "bools": np.array([True, False, True]),
        "text": np.array(["a", "bcd", ""]),
        "rec": np.array([(1, 2.0), (3, 4.0)], dtype=[("x", "<i4"), ("y", "<f8")]),
        "big": np.arange(1000 * 250, dtype="<f8").reshape(1000, 250),
        "masked": np.ma.MaskedArray(
            np.arange(40, dtype="f4").reshape(10, 4), mask=np.arange(40).reshape(10, 4) % 3 == 0
        ),
        "nomask": np.ma.MaskedArray(np.arange(6, dtype="i8")),
        "meta": {"name": "cube", "when": [1, 2.5, None], "t": (1, "x")},
        "n": 42,
    }


def write(path, data):
    with mmpk.open(path, "w") as d:
        for k, v in data.items():
            d[k] = v


def same(a, b):
    if isinstance(b, np.ma.MaskedArray):
        assert isinstance(a, np.ma.MaskedArray), type(a)
        assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        assert np.array_equal(a.data, b.data)
        return
    assert not isinstance(a, np.ma.MaskedArray)
    b = np.asarray(b)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.array_equal(a, b)


@pytest.fixture(scope="module")
def served(nginx):
    data = contents()
    write(nginx.root / "f.mmpk", data)
    return f"{nginx.url}/f.mmpk", data


INDEXES = [
    (),
    Ellipsis,
    0,
    -1,
    5,
    slice(None),
    slice(2, 9),
    slice(2, 9, 3),
    slice(None, None, -1),
    slice(8, 1, -2),
    slice(-3, None),
    slice(5, 5),
    slice(100, 200),
    (slice(1, 4), 2),
    (Ellipsis, 1),
    (None, slice(1, 3)),
    (slice(1, 3), None),
    (2, Ellipsis, None),
    (np.int64(1),),
]


def test_open_reads_like_the_local_file(served):
    url, data = served
    d = mmpk.open(url)
    assert isinstance(d, mmpk.RemoteDict)
    assert list(d) == list(data)
    assert len(d) == len(data) and "f4" in d and "missing" not in d and 3 not in d
    assert d.read_only and d.url == url
    assert d["meta"] == data["meta"] and d["n"] == 42
    for k, v in data.items():
        if not isinstance(v, np.ndarray):
            continue
        a = d[k]
        assert isinstance(a, mmpk.RemoteArray), k
        assert a.shape == v.shape and a.ndim == v.ndim and a.size == v.size, k
        assert a.dtype == v.dtype and a.nbytes == v.nbytes and a.key == k, k
        assert a.masked == isinstance(v, np.ma.MaskedArray)
        same(a[...], v)
        arr = np.asarray(a)
        assert isinstance(arr, np.ndarray) and not isinstance(arr, np.ma.MaskedArray)
        assert np.array_equal(arr, np.asarray(v))
        if v.dtype.kind in "fiub":
            assert np.array_equal(np.array(a, dtype="f8"), np.asarray(v).astype("f8"))
        if v.ndim:
            assert len(a) == len(v)
            for ix in INDEXES:
                try:
                    want = v[ix]
                except IndexError:
                    with pytest.raises(IndexError):
                        a[ix]
                    continue
                got = a[ix]
                if isinstance(want, np.ndarray):
                    same(got, want)
                else:
                    assert got == want or (np.ma.is_masked(got) and np.ma.is_masked(want)), (k, ix)
        else:
            with pytest.raises(TypeError):
                len(a)
            same(a[()], v[()]) if isinstance(v[()], np.ndarray) else None
            assert a[()] == v[()]


def test_bad_indexes_and_keys(served):
    url, _ = served
    d = mmpk.open(url)
    a = d["f4"]
    with pytest.raises(IndexError):
        a[300]
    with pytest.raises(IndexError):
        a[-301]
    with pytest.raises(IndexError):
        a[1, 2, 3]
    with pytest.raises(IndexError):
        a[..., ...]
    for bad in ([1, 2], np.array([1]), np.array([True] * 300), "x", 1.5, True):
        with pytest.raises(TypeError):
            a[bad]
    with pytest.raises(KeyError):
        d["missing"]
    with pytest.raises(TypeError):
        d[3]
    with pytest.raises(ValueError):
        np.asarray(a, copy=False) if np.__version__ >= "2" else a.__array__(copy=False)


def test_a_range_of_rows_is_one_get_of_exactly_its_bytes(served, nginx):
    url, data = served
    d = mmpk.open(url)
    a = d["big"]
    row = 250 * 8
    before, logged = d.stats(), len(nginx.hits())
    part = a[100:140, 3:7]
    after = d.stats()
    assert np.array_equal(part, data["big"][100:140, 3:7])
    assert after["requests"] - before["requests"] == 1
    assert after["bytes"] - before["bytes"] == 40 * row
    # Read by the direct HTTP/1.1 reader (plain http://, no proxy).
    assert after["direct"] - before["direct"] == 1
    # The server says the same: one ranged GET of those bytes.
    reqs = nginx.hits()[logged:]
    assert [(m, s, n) for m, _, s, n, _ in reqs] == [("GET", 206, 40 * row)], reqs
    start = a.offset + 100 * row
    assert reqs[0][4] == f"bytes={start}-{start + 40 * row - 1}"
    # Rows with small gaps: one GET of their span; far apart: one per row.
    before = d.stats()
    assert np.array_equal(a[0:10:3], data["big"][0:10:3])
    assert d.stats()["requests"] - before["requests"] == 1
    before = d.stats()
    assert np.array_equal(a[0:1000:400], data["big"][0:1000:400])
    after = d.stats()
    assert after["requests"] - before["requests"] == 3
    assert after["bytes"] - before["bytes"] == 3 * row
    # A masked entry: its data and mask rows, nothing else.
    m = d["masked"]
    before = d.stats()
    same(m[2:5], data["masked"][2:5])
    after = d.stats()
    assert after["requests"] - before["requests"] == 2
    assert after["bytes"] - before["bytes"] == 3 * 4 * 4 + 3 * 4


def test_write_modes_are_refused(served):
    url, _ = served
    for mode in ("r+", "a", "w", "x"):
        with pytest.raises(mmpk.errors.ReadOnlyError, match="read-only"):
            mmpk.open(url, mode)
    d = mmpk.open(url)
    with pytest.raises(mmpk.errors.ReadOnlyError):
        d["x"] = 1
    with pytest.raises(mmpk.errors.ReadOnlyError):
        del d["n"]
    with pytest.raises(TypeError):
        mmpk.open("local.mmpk", storage_options={})


def test_one_index_per_process_and_values_decode_safely(served, nginx):
    url, _ = served
    d1 = mmpk.open(url)
    d2 = mmpk.open(url)
    assert d1._core is d2._core
    # A value naming a global outside the allowlist: safe by default.
    write(nginx.root / "unsafe.mmpk", {"obj": Path("/x"), "ok": 1})
    u = mmpk.open(f"{nginx.url}/unsafe.mmpk")
    with pytest.raises(mmpk.errors.UnsafePickleError):
        u["obj"]
    assert mmpk.open(f"{nginx.url}/unsafe.mmpk", trusted=True)["obj"] == Path("/x")


def test_pickle_holds_the_pin_not_the_index(served, nginx):
    url, data = served
    # Many keys: an index far larger than a pin.
    many = {f"k{i:04}": np.arange(i % 5 + 1) for i in range(2000)}
    many["big"] = data["big"]
    write(nginx.root / "many.mmpk", many)
    a = mmpk.open(f"{nginx.url}/many.mmpk")["big"]
    blob = pickle.dumps(a)
    assert len(blob) < 1000, len(blob)
    b = pickle.loads(blob)
    assert (b.shape, b.dtype, b.pin, b.offset) == (a.shape, a.dtype, a.pin, a.offset)
    assert np.array_equal(b[7:9], data["big"][7:9])
    # A fresh process reads its rows with no index read: one GET.
    code = (
        "import pickle, sys, numpy as np, mmpk\n"
        "a = pickle.loads(sys.stdin.buffer.read())\n"
        "r = a[10:12]\n"
        "o = mmpk._remote._objects\n"
        "assert len(o) == 1 and not mmpk._remote._cores\n"
        "s = next(iter(o.values())).stats()\n"
        "print(float(r.sum()), s['requests'], s['bytes'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=blob, capture_output=True, check=True, cwd=HERE
    ).stdout.split()
    assert float(out[0]) == float(data["big"][10:12].sum())
    assert int(out[1]) == 1 and int(out[2]) == 2 * 250 * 8
    # The dict pickles as its URL.
    d = pickle.loads(pickle.dumps(mmpk.open(url)))
    assert d["n"] == 42


def test_a_growing_file_is_read_as_it_was(nginx):
    path = nginx.root / "grow.mmpk"
    base = np.arange(5000, dtype="<i8").reshape(500, 10)
    write(path, {"a": base})
    url = f"{nginx.url}/grow.mmpk"
    d = mmpk.open(url)
    a = d["a"]
    blob = pickle.dumps(a)
    with mmpk.open(path, "a") as w:
        for i in range(20):
            w[f"new{i}"] = np.full(1000, i)
            # Reads between appends: re-validated, never stopped.
            assert np.array_equal(a[i : i + 3], base[i : i + 3])
            assert np.array_equal(pickle.loads(blob)[-1], base[-1])
        # The key replaced: the old entry's bytes stay (until a vacuum).
        w["a"] = np.zeros(3)
    assert np.array_equal(a[...], base)
    # The dict follows the appends.
    assert "new19" in mmpk.open(url)
    assert np.array_equal(d["new7"][...], np.full(1000, 7))
    assert d["a"].shape == (3,)


def test_a_rewritten_file_raises_changed(nginx):
    path = nginx.root / "rewrite.mmpk"
    big = np.arange(20000, dtype="<f4").reshape(2000, 10)
    write(path, {"pad": np.zeros(5000), "a": big})
    url = f"{nginx.url}/rewrite.mmpk"
    a = mmpk.open(url)["a"]
    assert np.array_equal(a[:2], big[:2])
    with mmpk.open(path, "r+") as w:
        del w["pad"]
        w.vacuum()
    with pytest.raises(mmpk.errors.ChangedError, match="rewritten"):
        a[:2]
    with pytest.raises(mmpk.errors.ChangedError):
        pickle.loads(pickle.dumps(a))[5]
    # Another object at the URL (renamed over it).
    b = mmpk.open(url)["a"]
    assert np.array_equal(b[3], big[3])
    other = nginx.root / "other.mmpk"
    write(other, {"zz": np.ones(20000, "<f4")})
    os.replace(other, path)
    with pytest.raises(mmpk.errors.ChangedError):
        b[3]
    # The dict: a rewrite is a ChangedError, then it reads the new version.
    d = mmpk.open(url)
    assert list(d) == ["zz"]


def test_without_etag_size_and_last_modified_then_the_entry_are_checked(nginx):
    (nginx.root / "noetag").mkdir()
    path = nginx.root / "noetag" / "f.mmpk"
    base = np.arange(3000, dtype="<u2").reshape(300, 10)
    write(path, {"pad": np.zeros(3000), "a": base})
    url = f"{nginx.url}/noetag/f.mmpk"
    d = mmpk.open(url)
    assert d.version[1] is None  # no ETag
    a = d["a"]
    assert np.array_equal(a[3:5], base[3:5])
    with mmpk.open(path, "a") as w:
        w["more"] = np.arange(10)
    assert np.array_equal(a[7], base[7])
    assert "more" not in d  # the keys of the version read
    assert d.refresh() == "grew"
    assert np.array_equal(d["more"][...], np.arange(10))
    with mmpk.open(path, "r+") as w:
        del w["pad"]
        w.vacuum()
    with pytest.raises(mmpk.errors.ChangedError):
        a[7]


def test_anonymous_s3(moto, tmp_path):
    write(tmp_path / "pub.mmpk", {"x": np.arange(100.0)})
    moto.put("public", "pub.mmpk", (tmp_path / "pub.mmpk").read_bytes(), public=True)
    d = mmpk.open(
        "s3://public/pub.mmpk",
        storage_options={"anon": True, "endpoint_url": moto.direct, "region": "us-east-1"},
    )
    assert np.array_equal(d["x"][10:20], np.arange(10.0, 20.0))


def test_errors(nginx, tmp_path):
    with pytest.raises(FileNotFoundError):
        mmpk.open(f"{nginx.url}/nothing.mmpk")
    (nginx.root / "plain.bin").write_bytes(b"not a pickle at all, long enough" * 4)
    with pytest.raises(mmpk.errors.NotMmpkError):
        mmpk.open(f"{nginx.url}/plain.bin")
    with pytest.raises(mmpk.errors.RemoteError):
        mmpk.open("http://127.0.0.1:1/f.mmpk", storage_options={"retries": 0, "timeout": 2})
    with pytest.raises(ValueError, match="not supported"):
        mmpk.open("s3://b/k", storage_options={"use_ssl": False})
    with pytest.raises(ValueError):
        mmpk.open("http:///nohost")


def every_error():
    for name in mmpk.errors.__all__:
        yield getattr(mmpk.errors, name)


@pytest.mark.parametrize("cls", list(every_error()), ids=lambda c: c.__name__)
def test_every_error_keeps_its_type_through_pickle(cls):
    e = cls("message with 'quotes' and a key")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and back.args == e.args and str(back) == str(e)


def test_errors_raised_keep_their_type_through_pickle(served, nginx):
    url, _ = served
    raised = []
    for f in (
        lambda: mmpk.open(f"{nginx.url}/nothing.mmpk"),
        lambda: mmpk.open(f"{nginx.url}/plain.bin") if (nginx.root / "plain.bin").exists() else 1,
        lambda: mmpk.open(url, "a"),
        lambda: mmpk.loads(b"\x80\x04cos\nsystem\n."),
        lambda: mmpk.loads(b"\x80\x04\xff"),
    ):
        try:
            f()
        except Exception as e:
            raised.append(e)
    assert len(raised) >= 4
    for e in raised:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e)


def test_s3(moto, tmp_path):
    data = contents()
    write(tmp_path / "s.mmpk", data)
    moto.put("bucket", "dir/s.mmpk", (tmp_path / "s.mmpk").read_bytes())
    url = "s3://bucket/dir/s.mmpk"
    opts = {
        "key": "testing",
        "secret": "a-secret-value",
        "client_kwargs": {"endpoint_url": moto.direct, "region_name": "us-east-1"},
    }
    d = mmpk.open(url, storage_options=opts)
    assert list(d) == list(data)
    a = d["big"]
    before = d.stats()
    assert np.array_equal(a[10:20], data["big"][10:20])
    after = d.stats()
    assert after["requests"] - before["requests"] == 1
    assert after["bytes"] - before["bytes"] == 10 * 250 * 8
    same(d["masked"][3:], data["masked"][3:])
    blob = pickle.dumps(a)
    assert b"a-secret-value" not in blob and b"testing" not in blob
    assert moto.direct.encode() in blob  # where to read, not who reads
    # A fresh process: credentials from its own environment.
    code = (
        "import pickle, sys, mmpk\n"
        "a = pickle.loads(sys.stdin.buffer.read())\n"
        "print(float(a[5:7].sum()))\n"
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], input=blob, capture_output=True, check=True, env=env
    ).stdout
    assert float(out) == float(data["big"][5:7].sum())
    # Or from mmpk.set_storage_options in that process.
    code2 = (
        "import pickle, sys, mmpk\n"
        "mmpk.set_storage_options({'key': 'testing', 'secret': 'x'}, prefix='s3://bucket/')\n"
        "a = pickle.loads(sys.stdin.buffer.read())\n"
        "print(float(a[5:7].sum()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run(
        [sys.executable, "-c", code2], input=blob, capture_output=True, check=True, env=env
    ).stdout
    assert float(out) == float(data["big"][5:7].sum())
    # The environment alone (as `mmpk ls` reads it).
    env = {
        **env,
        "AWS_ENDPOINT_URL": moto.direct,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    code3 = f"import mmpk; print(mmpk.open({url!r})['n'])"
    out = subprocess.run(
        [sys.executable, "-c", code3], capture_output=True, check=True, env=env
    ).stdout
    assert int(out) == 42
    with pytest.raises(FileNotFoundError):
        mmpk.open("s3://bucket/missing.mmpk", storage_options=opts)


def test_s3_object_grown_then_replaced(moto, tmp_path):
    opts = {"key": "k", "secret": "s", "endpoint_url": moto.direct, "region": "us-east-1"}
    p = tmp_path / "g.mmpk"
    base = np.arange(4000, dtype="<i4").reshape(400, 10)
    write(p, {"pad": np.ones(2000), "a": base})
    moto.put("grow", "g.mmpk", p.read_bytes())
    a = mmpk.open("s3://grow/g.mmpk", storage_options=opts)["a"]
    etag = a.pin[1]
    assert etag and np.array_equal(a[1:3], base[1:3])
    # Uploaded again after appends: a new ETag (S3's is a digest), same entry.
    with mmpk.open(p, "a") as w:
        w["b"] = np.zeros(100)
    moto.put("grow", "g.mmpk", p.read_bytes())
    assert np.array_equal(pickle.loads(pickle.dumps(a))[399], base[399])
    assert np.array_equal(a[5:6], base[5:6])
    # Vacuumed and uploaded again: the entry moved.
    with mmpk.open(p, "r+") as w:
        del w["pad"]
        w.vacuum()
    moto.put("grow", "g.mmpk", p.read_bytes())
    with pytest.raises(mmpk.errors.ChangedError, match="rewritten"):
        a[5:6]
