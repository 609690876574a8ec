"""mmpk.dask.from_mmpk: local files and URLs (nginx, moto's S3 server) as
dask arrays, masked arrays as dask masked arrays, one fetch per chunk; the
synchronous and threaded schedulers (a LocalCluster of processes is tested
elsewhere)."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import mmpk  # noqa: E402
import mmpk.dask  # noqa: E402
import mmpk.errors  # noqa: E402


def data():
    rng = np.random.default_rng(3)
    return {
        "cube": rng.standard_normal((203, 16, 8)).astype("f4"),
        "be": np.arange(1000, dtype=">i8").reshape(100, 10),
        "m": np.ma.MaskedArray(
            np.arange(300, dtype="f8").reshape(30, 10), mask=np.arange(300).reshape(30, 10) % 7 == 0
        ),
        "nomask": np.ma.MaskedArray(np.arange(50, dtype="i4")),
        "s": np.array(2.5),
        "v": {"not": "an array"},
    }


@pytest.fixture(scope="module")
def files(nginx):
    d = data()
    with mmpk.open(nginx.root / "f.mmpk", "w") as f:
        for k, v in d.items():
            f[k] = v
    return {"path": str(nginx.root / "f.mmpk"), "url": f"{nginx.url}/f.mmpk", "data": d}


@pytest.mark.parametrize("where", ["path", "url"])
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_arrays_compute_as_numpy(files, where, scheduler):
    src, d = files[where], files["data"]
    with dask.config.set(scheduler=scheduler):
        x = mmpk.dask.from_mmpk(src, "cube", chunks=(50, 16, 8))
        assert isinstance(x, da.Array)
        assert x.shape == d["cube"].shape and x.dtype == d["cube"].dtype
        assert x.chunks[0] == (50, 50, 50, 50, 3)
        assert np.allclose(x.sum().compute(), d["cube"].sum(dtype="f8"), rtol=1e-5)
        assert np.allclose(x.mean(axis=0, dtype="f8").compute(), d["cube"].mean(axis=0, dtype="f8"))
        assert np.array_equal(x[10:60:7, 3].compute(), d["cube"][10:60:7, 3])
        y = mmpk.dask.from_mmpk(src, "be")
        assert y.dtype == np.dtype(">i8")
        assert np.array_equal(y.compute(), d["be"])
        s = mmpk.dask.from_mmpk(src, "s")
        assert s.compute() == 2.5


@pytest.mark.parametrize("where", ["path", "url"])
def test_masked_arrays_are_dask_masked(files, where):
    src, d = files[where], files["data"]
    x = mmpk.dask.from_mmpk(src, "m", chunks=(7, 10))
    assert isinstance(x._meta, np.ma.MaskedArray)
    got = x.compute()
    assert isinstance(got, np.ma.MaskedArray)
    assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(d["m"]))
    assert x.sum().compute() == d["m"].sum()
    assert np.allclose(x.mean(axis=0).compute(), d["m"].mean(axis=0))
    n = mmpk.dask.from_mmpk(src, "nomask", chunks=10)
    assert n.sum().compute() == d["nomask"].sum()
    assert not np.ma.getmaskarray(n.compute()).any()


def test_not_an_array(files):
    for src in (files["path"], files["url"]):
        with pytest.raises(TypeError):
            mmpk.dask.from_mmpk(src, "v")
        with pytest.raises(KeyError):
            mmpk.dask.from_mmpk(src, "missing")


def test_each_chunk_is_fetched_once(files):
    url, d = files["url"], files["data"]
    x = mmpk.dask.from_mmpk(url, "cube", chunks=(25, 16, 8))
    obj = mmpk._remote._object(url, mmpk._remote._settings_for(url))
    before = obj.stats()
    with dask.config.set(scheduler="threads"):
        total = x.sum().compute()
    after = obj.stats()
    assert np.isclose(total, d["cube"].sum(dtype="f8"), rtol=1e-5)
    assert after["requests"] - before["requests"] == len(x.chunks[0])
    assert after["bytes"] - before["bytes"] == d["cube"].nbytes


def test_the_graph_pickles_small(files):
    # The graph of a local file holds its path, not its bytes; a URL's, pins.
    for src in (files["path"], files["url"]):
        x = mmpk.dask.from_mmpk(src, "cube", chunks=(50, 16, 8))
        blob = pickle.dumps(dict(x.__dask_graph__()))
        assert len(blob) < 20_000, len(blob)
        assert np.allclose(pickle.loads(blob) is not None and x.sum().compute(), x.sum().compute())


def test_default_chunks_are_whole_rows(files):
    with dask.config.set({"array.chunk-size": "16KiB"}):
        x = mmpk.dask.from_mmpk(files["url"], "cube")
    assert x.chunks[1:] == ((16,), (8,))
    assert x.chunks[0][0] == 16 * 1024 // (16 * 8 * 4)


def test_key_replaced_or_file_vacuumed(nginx):
    path = nginx.root / "g.mmpk"
    a = np.arange(4000, dtype="f8").reshape(400, 10)
    with mmpk.open(path, "w") as f:
        f["pad"] = np.zeros(1000)
        f["a"] = a
    local = mmpk.dask.from_mmpk(str(path), "a", chunks=100)
    remote = mmpk.dask.from_mmpk(f"{nginx.url}/g.mmpk", "a", chunks=100)
    with mmpk.open(path, "a") as f:
        f["more"] = np.ones(10)  # grows: both still read the old state
    assert local.sum().compute() == a.sum()
    assert remote.sum().compute() == a.sum()
    with mmpk.open(path, "r+") as f:
        del f["pad"]
        mmpk.dask._local.clear()  # the cached map would keep vacuum busy
        import gc

        gc.collect()
        f.vacuum()
    with pytest.raises(mmpk.errors.ChangedError):
        remote.sum().compute()
    with pytest.raises(mmpk.errors.ChangedError):
        local.sum().compute()


def test_s3(tmp_path, moto):
    d = data()
    p = tmp_path / "f.mmpk"
    with mmpk.open(p, "w") as f:
        f["cube"] = d["cube"]
    moto.put("dask-bucket", "f.mmpk", p.read_bytes())
    opts = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": moto.direct, "region_name": "us-east-1"},
    }
    x = mmpk.dask.from_mmpk(
        "s3://dask-bucket/f.mmpk", "cube", chunks=(40, 16, 8), storage_options=opts
    )
    assert np.allclose(
        x.mean(axis=(1, 2), dtype="f8").compute(), d["cube"].mean(axis=(1, 2), dtype="f8")
    )


def test_mmpk_does_not_import_dask():
    import subprocess

    code = "import sys, mmpk; mmpk.open; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert out.strip() == b"False"


def test_worker_processes_read_their_chunks_and_raise_typed_errors(nginx):
    # dask's multiprocessing scheduler: the graph (pins, paths) and the
    # errors cross process boundaries by pickle.
    path = nginx.root / "p.mmpk"
    a = np.arange(6000, dtype="<f8").reshape(600, 10)
    with mmpk.open(path, "w") as f:
        f["pad"] = np.zeros(100)
        f["a"] = a
    url = f"{nginx.url}/p.mmpk"
    with dask.config.set(scheduler="processes", num_workers=2):
        for src in (str(path), url):
            x = mmpk.dask.from_mmpk(src, "a", chunks=100)
            assert x.sum().compute() == a.sum()
        x = mmpk.dask.from_mmpk(url, "a", chunks=100)
        mmpk.dask._local.clear()
        import gc

        gc.collect()
        with mmpk.open(path, "r+") as f:
            del f["pad"]
            f.vacuum()
        with pytest.raises(mmpk.errors.ChangedError):
            x.sum().compute()
