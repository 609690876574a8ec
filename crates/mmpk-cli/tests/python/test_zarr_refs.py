"""`mmpk zarr-refs`: the reference JSON read without mmpk by xarray
(engine="zarr" over fsspec's reference://), zarr-python 3 and
dask.array.from_zarr, from a local path, over HTTP (nginx) and S3 (moto's
server), both started here on 127.0.0.1. Every array read equals the array
in the file, as plain pickle.load (numpy 2) or `mmpk get --json` reads it.

Run by `cargo xtask zarr-test`, which sets MMPK_BIN (the mmpk binary),
MMPK_TEST_NGINX (nginx) and MMPK_TEST_MOTO (moto_server). The servers are
the Python package's tests' (crates/mmpk-py/testing/servers.py).
"""

import base64
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import dask.array as da
import fsspec
import numpy as np
import pytest
import requests
import xarray as xr
import zarr

MMPK = os.environ["MMPK_BIN"]
ROOT = Path(__file__).resolve().parents[4]
V1_FIXTURES = ROOT / "fixtures" / "mmappickle"

sys.path.insert(0, str(ROOT / "crates" / "mmpk-py" / "testing"))

from servers import Moto, Nginx, moto_binary, nginx_binary  # noqa: E402


def mmpk(*args):
    r = subprocess.run([MMPK, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"mmpk {args}: {r.stderr}"
    return r


def expected_v1(path, key):
    """An array of a v1 file as `mmpk get --json` decodes it."""
    j = json.loads(mmpk("get", "--json", path, key).stdout)

    def nd(n):
        n = n["ndarray"]
        a = np.frombuffer(base64.b64decode(n["data_b64"]), dtype=np.dtype(n["dtype"]))
        return a.reshape(n["shape"])

    if "masked_array" in j:
        return nd(j["masked_array"]["data"]), nd(j["masked_array"]["mask"])
    return nd(j)


def arrays():
    rng = np.random.default_rng(14)
    out = {
        "f8": rng.standard_normal((1000, 37)),
        "prime": rng.standard_normal((1009, 3)).astype("<f4"),
        "i2be": np.arange(6000, dtype=">i2").reshape(2000, 3),
        "b1": rng.random((77, 5)) > 0.5,
        "u1": rng.integers(0, 255, (333, 7), dtype=np.uint8),
        "i8": rng.integers(-(2**62), 2**62, (129,), dtype=np.int64),
        "u4": rng.integers(0, 2**32 - 1, (50, 2, 3), dtype=np.uint32),
        "f2": rng.standard_normal((40,)).astype("<f2"),
        "c16": (rng.standard_normal((30, 2)) + 1j).astype("<c16"),
        "c8be": (rng.standard_normal(17) - 2j).astype(">c8"),
        "S5": np.array([b"ab", b"hello", b""] * 11),
        "U3": np.array(["x", "yz", "\u00e9\u6f22\U0001f511"] * 7),
        "M8": np.arange(45, dtype="<i8").astype("<M8[ns]"),
        "m8": np.arange(12, dtype="<i8").astype("<m8[s]"),
        "zero_d": np.array(3.25),
        "empty": np.zeros((0, 4), "<f4"),
        "empty2": np.zeros((5, 0), "<i4"),
        "m": np.ma.masked_array(
            np.arange(20.0).reshape(4, 5), mask=np.arange(20).reshape(4, 5) % 3 == 0
        ),
        "nomask": np.ma.masked_array(np.arange(6, dtype="<i4")),
        # The last entry: 1009 rows (prime), nothing but the terminator after it.
        "last": np.arange(1009 * 11, dtype="<f8").reshape(1009, 11),
    }
    return out


def values():
    return {
        "meta": {"unit": "nm", "frames": 3, "scale": [0.5, 2.0], "ok": True, "none": None},
        "raw": b"\x00\x01",
    }


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("zarr")
    www = d / "www"
    www.mkdir()
    # The last entry goes in last (convert does not keep the dict's order).
    late = ["last"]
    src = {k: v for k, v in {**arrays(), **values()}.items() if k not in late}
    pkl = d / "src.pkl"
    with open(pkl, "wb") as f:
        pickle.dump(src, f, protocol=4)
    f = www / "f.mmpk"
    mmpk("convert", pkl, f)
    for k in late:
        np.save(d / f"{k}.npy", arrays()[k])
        mmpk("put", f, k, "--npy", d / f"{k}.npy")
    with open(f, "rb") as fh:
        loaded = pickle.load(fh)
    for k, v in arrays().items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape, k
    # A v1 file (mmappickle 1.0's layout, numpy 2 cannot pickle.load it).
    v1 = www / "v1.mmpk"
    np.save(d / "a.npy", arrays()["prime"])
    mmpk("put", "--layout", "mmappickle1", v1, "a", "--npy", d / "a.npy")
    np.save(d / "b.npy", arrays()["i2be"])
    mmpk("put", "--layout", "mmappickle1", v1, "b", "--npy", d / "b.npy")
    return {"dir": d, "www": www, "f": f, "expected": loaded, "v1": v1}


def refs_for(target, out, *extra, chunk_mib="0.01"):
    r = mmpk("zarr-refs", target, "--chunk-mib", chunk_mib, "-o", out, *extra)
    return json.loads(Path(out).read_text()), r.stderr


def check_all(refs_path, expected, remote_options=None, remote_protocol=None):
    """Reads every array with zarr-python 3 and dask, and the dataset with xarray."""
    opts = {"fo": str(refs_path)}
    aopts = dict(opts)
    if remote_protocol is not None:
        opts.update(remote_options=remote_options, remote_protocol=remote_protocol)
        # zarr's store wants an asynchronous filesystem, and so the target.
        aopts.update(
            remote_options={**remote_options, "asynchronous": True}, remote_protocol=remote_protocol
        )
    fs = fsspec.filesystem("reference", asynchronous=True, **aopts)
    store = zarr.storage.FsspecStore(fs, read_only=True, path="")
    g = zarr.open_group(store, mode="r")
    n = 0
    for key, want in expected.items():
        if not isinstance(want, np.ndarray):
            continue
        if isinstance(want, np.ma.MaskedArray):
            data = g[key]["data"][...]
            mask = g[key]["mask"][...]
            got = np.ma.masked_array(data, mask=np.broadcast_to(mask, data.shape))
            assert np.array_equal(got.data, want.data), key
            assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(want)), key
            n += 1
            continue
        got = g[key][...]
        assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
        assert got.shape == want.shape, key
        assert got.tobytes() == want.tobytes(), key
        sub = zarr.storage.FsspecStore(fs, read_only=True, path=key)
        dz = da.from_zarr(sub)
        assert dz.compute().tobytes() == want.tobytes(), key
        n += 1
    ds = xr.open_dataset(
        "reference://",
        engine="zarr",
        backend_kwargs={"storage_options": aopts, "consolidated": False},
        chunks={},
    )
    for key, want in expected.items():
        if isinstance(want, np.ndarray) and not isinstance(want, np.ma.MaskedArray):
            assert key in ds.variables, key
            # xarray converts big-endian data to native order: compare values.
            got = ds[key].values
            assert got.shape == want.shape and np.array_equal(got, want), key
    return n, ds


def test_local_path(files):
    out = files["dir"] / "local.json"
    j, err = refs_for(files["f"], out)
    exp = files["expected"]
    n, ds = check_all(out, exp)
    assert n == sum(isinstance(v, np.ndarray) for v in exp.values())
    assert ds.attrs["meta"] == values()["meta"]
    # bytes cannot be an attribute: left out, and said so.
    assert "raw" in j["mmpk_skipped"] and '"raw"' in err
    # The last entry's last chunk: 1009 rows (prime), nothing follows.
    assert '"last"' in err and "inline" in err
    # The masked group with xarray (a store rooted at the group: fsspec's
    # reference filesystem lists no members of a subgroup of a store
    # rooted at "", so xarray's group="m" sees an empty group).
    fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
    dm = xr.open_zarr(zarr.storage.FsspecStore(fs, read_only=True, path="m"), consolidated=False)
    assert np.array_equal(dm["data"].values, exp["m"].data)
    assert np.array_equal(dm["mask"].values, np.ma.getmaskarray(exp["m"]))
    # A dask reduction over chunks equals numpy's.
    fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
    x = da.from_zarr(zarr.storage.FsspecStore(fs, read_only=True, path="f8"))
    assert x.numblocks[0] > 1
    assert np.allclose(x.mean(axis=0).compute(), exp["f8"].mean(axis=0))


def test_v1_files(files):
    out = files["dir"] / "v1.json"
    for fixture in [
        "dtype_be_f8.mmpk",
        "dtype_le_U5.mmpk",
        "dtype_le_M8_ns.mmpk",
        "shapes.mmpk",
        "masked.mmpk",
    ]:
        path = V1_FIXTURES / fixture
        j, _ = refs_for(path, out)
        fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
        g = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
        keys = [k.split("/")[0] for k in j["refs"] if k.endswith("/.zarray") and k.count("/") == 1]
        groups = [k.split("/")[0] for k in j["refs"] if k.endswith("/data/.zarray")]
        assert keys or groups, fixture
        for key in keys:
            assert np.array_equal(g[key][...], expected_v1(path, key)), (fixture, key)
        for key in groups:
            m = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=key), mode="r")
            data, mask = expected_v1(path, key)
            assert np.array_equal(m["data"][...], data), (fixture, key)
            assert np.array_equal(m["mask"][...], mask), (fixture, key)
    v1 = files["v1"]
    refs_for(v1, out)
    fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
    g = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
    assert g["a"][...].tobytes() == arrays()["prime"].tobytes()
    assert g["b"][...].tobytes() == arrays()["i2be"].tobytes()


@pytest.fixture(scope="session")
def nginx(files):
    n = Nginx(nginx_binary(), files["www"], files["dir"] / "nginx")
    yield n.url
    n.close()


def test_http(files, nginx):
    out = files["dir"] / "http.json"
    url = f"{nginx}/f.mmpk"
    j, _ = refs_for(url, out)
    # From the index: the same references as from the local file.
    local = files["dir"] / "local-as-url.json"
    j2, _ = refs_for(files["f"], local, "--url", url)
    assert j == j2
    assert all(r[0] == url for r in j["refs"].values() if isinstance(r, list))
    check_all(out, files["expected"], remote_options={}, remote_protocol="http")


@pytest.fixture(scope="session")
def moto(files):
    m = Moto(moto_binary())
    yield m.direct
    m.close()


def test_s3(files, moto):
    creds = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": moto, "region_name": "us-east-1"},
    }
    s3 = fsspec.filesystem("s3", **creds)
    # moto accepts an unsigned CreateBucket (s3fs would send a location).
    assert requests.put(f"{moto}/data", timeout=30).status_code == 200
    s3.put_file(str(files["f"]), "data/dir/f.mmpk")
    out = files["dir"] / "s3.json"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    r = subprocess.run(
        [MMPK, "zarr-refs", "s3://data/dir/f.mmpk", "--chunk-mib", "0.01", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    j = json.loads(out.read_text())
    assert all(r[0] == "s3://data/dir/f.mmpk" for r in j["refs"].values() if isinstance(r, list))
    check_all(out, files["expected"], remote_options=creds, remote_protocol="s3")


def nd_of(node):
    n = node["ndarray"]
    dt = n["dtype"]
    # A structured dtype is its descr, as lists: numpy wants tuples.
    dt = np.dtype(dt if isinstance(dt, str) else [tuple(f) for f in dt])
    a = np.frombuffer(base64.b64decode(n["data_b64"]), dtype=dt)
    return a.reshape(n["shape"])


def test_every_dtype_and_shape_class_both_layouts(tmp_path):
    """mmpk-format's conformance files (every dtype, 0-d, empty, 5-d,
    structured, masked, in the v2 and the mmappickle 1.0 layout): every
    array and masked array is in the store and reads back exactly."""
    conf = Path(os.environ["MMPK_CONFORMANCE_DIR"])
    manifest = json.loads((conf / "manifest.json").read_text())
    assert len(manifest) == 2
    for m in manifest:
        out = tmp_path / f"{m['file']}.json"
        # Tiny chunks: several per array, edge chunks everywhere.
        j, _ = refs_for(conf / m["file"], out, chunk_mib="0.0001")
        skipped = j.get("mmpk_skipped", {})
        fs = fsspec.filesystem("reference", fo=str(out), asynchronous=True)
        g = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
        n = 0
        for key, node in m["entries"].items():
            kind = m["kinds"][key]
            if kind not in ("array", "masked"):
                continue
            assert key not in skipped, (m["file"], key, skipped.get(key))
            if "ndarray" in node:
                want = nd_of(node)
                arr = g[key]
                # A 0-d read is a numpy scalar (np.str_ drops the itemsize):
                # as an array of the store's dtype.
                got = np.asarray(arr[...], dtype=arr.dtype)
                assert got.shape == want.shape, (m["file"], key)
                if got.dtype == want.dtype:
                    assert got.tobytes() == want.tobytes(), (m["file"], key)
                else:
                    # zarr-python 3 reads big-endian datetime64/timedelta64
                    # in native order: the same values.
                    assert want.dtype.kind in "Mm" and got.dtype == want.dtype.newbyteorder("="), (
                        m["file"],
                        key,
                        got.dtype,
                        want.dtype,
                    )
                    assert np.array_equal(got, want), (m["file"], key)
            else:
                grp = zarr.open_group(
                    zarr.storage.FsspecStore(fs, read_only=True, path=key), mode="r"
                )
                data, mask = (
                    nd_of(node["masked_array"]["data"]),
                    nd_of(node["masked_array"]["mask"]),
                )
                assert grp["data"][...].tobytes() == data.tobytes(), (m["file"], key)
                assert grp["mask"][...].tobytes() == mask.tobytes(), (m["file"], key)
            n += 1
        assert n > 100, (m["file"], n)
