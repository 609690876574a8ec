"""Shared fixtures: the repository root, the `mmpk` tool (for cross-checks
with the Rust core), a fresh file path per test, and nginx and moto's S3
server on 127.0.0.1 for the remote tests (`testing/servers.py`).

The servers are found as `cargo xtask remote-test` finds them for
mmpk-remote: nginx from `MMPK_TEST_NGINX` (else `nginx` on PATH or in
/usr/sbin), `moto_server` from `MMPK_TEST_MOTO` (else the one of this
Python's venv). Missing servers skip their tests, unless
`MMPK_REQUIRE_SERVERS=1` (set by `cargo xtask python-test` for the venv that
has moto), where they fail."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("MMPK_ROOT", HERE.parent.parent.parent))

sys.path.insert(0, str(HERE.parent / "testing"))

from servers import Moto, Nginx, find_moto, find_nginx  # noqa: E402


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A path for a new mmpk file (not created)."""
    return tmp_path / "d.mmpk"


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def cli() -> str:
    """The `mmpk` tool (`MMPK_CLI`, set by `cargo xtask python-test`)."""
    exe = os.environ.get("MMPK_CLI") or str(ROOT / "target" / "debug" / "mmpk")
    if not os.path.exists(exe):
        pytest.skip("the mmpk tool is not built (run cargo xtask python-test)")
    return exe


def run_cli(cli: str, *args: str, input: bytes | None = None) -> str:
    """Runs the `mmpk` tool; returns its stdout (fails the test on error)."""
    r = subprocess.run([cli, *args], input=input, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def ticks_during(work):
    """Runs `work()` while another thread ticks every millisecond; returns
    what it returned, the seconds it took and the ticks made meanwhile (a
    call that holds the GIL lets none through)."""
    done = threading.Event()
    ticks: list[float] = []

    def count():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.05)
    start = len(ticks)
    t0 = time.monotonic()
    try:
        got = work()
    finally:
        t1 = time.monotonic()
        done.set()
        t.join()
    return got, t1 - t0, len([x for x in ticks[start:] if t0 <= x <= t1])


def _missing(what: str) -> str:
    if os.environ.get("MMPK_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{what} not found (MMPK_REQUIRE_SERVERS=1)")
    pytest.skip(f"{what} not found")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Nginx:
    """nginx serving a fresh directory, `nginx.root`, at `nginx.url`."""
    exe = find_nginx() or _missing("nginx")
    d = tmp_path_factory.mktemp("nginx")
    (d / "www").mkdir()
    n = Nginx(exe, d / "www", d)
    yield n
    n.close()


@pytest.fixture(scope="module")
def moto() -> Moto:
    """moto's S3 server; `moto.direct` is its endpoint."""
    m = Moto(find_moto() or _missing("moto_server"))
    yield m
    m.close()
