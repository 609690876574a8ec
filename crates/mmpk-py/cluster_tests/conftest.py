"""Fixtures of the cluster tests (`cargo xtask cluster-test`): one mmpk file
served by nginx and by moto's S3 server (behind a counting proxy), both on
127.0.0.1 (`testing/servers.py`), and a `dask.distributed.LocalCluster` of
2 worker processes.

The environment comes from the xtask: MMPK_TEST_NGINX (nginx),
MMPK_TEST_MOTO (moto_server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testing"))

from servers import Moto, Nginx, moto_binary, nginx_binary  # noqa: E402

import mmpk  # noqa: E402

BUCKET = "data"
# Credentials of moto's test server (it accepts any); the workers take them
# from their environment, as on a real cluster.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def make_arrays() -> dict[str, np.ndarray]:
    """The arrays of the test file: a few MiB, several chunks each."""
    rng = np.random.default_rng(14)
    return {
        # 4 MiB of float64: 16 chunks of 128 rows at 0.25 MiB.
        "a": rng.standard_normal((2048, 256)),
        # int32, 3-d, a first axis no chunk size divides (the last chunk
        # runs on into the next entry's bytes).
        "i": rng.integers(-1000, 1000, (1009, 24, 16), dtype=np.int32),
        # float32 in big-endian order.
        "b": rng.standard_normal((2000, 100)).astype(">f4"),
    }


def write_file(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with mmpk.open(path, "w") as d:
        for k, v in arrays.items():
            d[k] = v
        d["meta"] = {"unit": "K", "frames": 3}


@pytest.fixture(scope="session")
def arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture(scope="session")
def www(tmp_path_factory, arrays) -> Path:
    d = tmp_path_factory.mktemp("www")
    write_file(d / "f.mmpk", arrays)
    return d


@pytest.fixture(scope="session")
def nginx(tmp_path_factory, www):
    n = Nginx(nginx_binary(), www, tmp_path_factory.mktemp("nginx"))
    yield n
    n.close()


@pytest.fixture(scope="session")
def moto(www):
    m = Moto(moto_binary())
    # moto accepts an unsigned CreateBucket.
    assert requests.put(f"{m.direct}/{BUCKET}", timeout=30).status_code == 200
    yield m
    m.close()


def s3_put(moto: Moto, src: Path, key: str) -> None:
    """Uploads `src` to s3://BUCKET/key, straight to moto (not counted)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": moto.direct, "region_name": "us-east-1"},
        skip_instance_cache=True,
    )
    fs.put_file(str(src), f"{BUCKET}/{key}")


@pytest.fixture(scope="session")
def s3_options(moto) -> dict:
    """s3fs's storage options for the counted endpoint."""
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": moto.url, "region_name": "us-east-1"},
    }


@pytest.fixture(scope="session")
def client(nginx, moto):
    """A LocalCluster of 2 worker processes (2 threads each); started after
    the servers so that the workers inherit the S3 settings."""
    from dask.distributed import Client, LocalCluster

    os.environ.update(S3_ENV)
    os.environ["AWS_ENDPOINT_URL"] = moto.url
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        dashboard_address=":0",
        silence_logs=40,
    )
    c = Client(cluster)
    assert len(c.scheduler_info()["workers"]) == 2
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def served(www, tmp_path):
    """A copy of the test file under a fresh name in the served directory
    (for the tests that change it): (path, name)."""
    name = f"{tmp_path.name}.mmpk"
    p = www / name
    shutil.copyfile(www / "f.mmpk", p)
    yield p, name
    p.unlink(missing_ok=True)


class Inserter:
    """Another process inserting `late0`, `late1`, ... (float32 arrays of
    256 KiB, 10 ms apart, at most 500) into the file at `path` until
    stopped; started, it has made its first insert."""

    SCRIPT = """
import os, sys, time
import numpy as np
import mmpk
path, stop = sys.argv[1], sys.argv[2]
n = 0
with mmpk.open(path, "r+") as d:
    while not os.path.exists(stop) and n < 500:
        d[f"late{n}"] = np.full((64, 1024), n, dtype="<f4")
        n += 1
        print(n, flush=True)
        time.sleep(0.01)
"""

    def __init__(self, path: Path, stop: Path):
        self.stop_file = stop
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self.proc.stdout.readline().strip() == "1"
        except BaseException:
            self.stop()
            raise

    def stop(self) -> int:
        """Stops it; returns how many arrays it inserted (its exit status
        is `proc.returncode`)."""
        self.stop_file.touch()
        out, _ = self.proc.communicate(timeout=60)
        return int(out.split()[-1]) if out.split() else 1
