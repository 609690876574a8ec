"""Shared fixtures: the repository root, the `mmpk` tool (for cross-checks
with the Rust core), and a fresh file path per test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("MMPK_ROOT", HERE.parent.parent.parent))


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
