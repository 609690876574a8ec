"""nginx and moto's S3 server on 127.0.0.1 for the remote tests, started
as `cargo xtask remote-test` starts them for mmpk-remote: nginx from
`MMPK_TEST_NGINX` (else `nginx` on PATH or in /usr/sbin), `moto_server` from
`MMPK_TEST_MOTO` (else the one of this Python's venv). Missing servers skip their
tests, unless `MMPK_REQUIRE_SERVERS=1` (set by `cargo xtask python-test`
for the venv that has moto), where they fail."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _require() -> bool:
    return os.environ.get("MMPK_REQUIRE_SERVERS") == "1"


def _missing(what: str) -> None:
    if _require():
        pytest.fail(f"{what} not found (MMPK_REQUIRE_SERVERS=1)")
    pytest.skip(f"{what} not found")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    t = time.time()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.time() - t > 30:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


def find_nginx() -> str | None:
    p = os.environ.get("MMPK_TEST_NGINX")
    if p:
        return p if os.path.exists(p) else None
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )


def find_moto() -> str | None:
    """`MMPK_TEST_MOTO`, else the `moto_server` of this Python's venv (with
    boto3, which moto brings and the uploads use)."""
    p = os.environ.get("MMPK_TEST_MOTO")
    if p:
        return p if os.path.exists(p) else None
    beside = Path(sys.executable).parent / "moto_server"
    try:
        import boto3  # noqa: F401
    except ImportError:
        return None
    return str(beside) if beside.exists() else None


class Nginx:
    """nginx serving `root` (files with Range and ETag; under `noetag/`
    without ETag: Last-Modified and size only), logging every request with
    its Range header and body bytes."""

    def __init__(self, d: Path) -> None:
        exe = find_nginx()
        if exe is None:
            _missing("nginx")
        self.root = d / "www"
        self.root.mkdir()
        (d / "tmp").mkdir()
        self.log = d / "access.log"
        port = free_port()
        conf = d / "nginx.conf"
        conf.write_text(
            f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  log_format counted '$request_method $uri $status "
            f'$body_bytes_sent "$http_range"\';\n'
            f"  access_log {self.log} counted;\n  client_body_temp_path {d}/tmp;\n"
            f"  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n"
            f"  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n"
            f"  open_file_cache off;\n  server {{\n    listen 127.0.0.1:{port};\n"
            f"    root {self.root};\n    location /noetag/ {{ etag off; }}\n  }}\n}}\n"
        )
        self.proc = subprocess.Popen([exe, "-p", str(d), "-c", str(conf)])
        wait_port(port, self.proc, "nginx")
        self.base = f"http://127.0.0.1:{port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def requests(self) -> list[tuple[str, str, int, int, str]]:
        """(method, path, status, body bytes, range) of every request so
        far. nginx writes a request's line once the response is sent, which
        may be after the client has it: the log is read once it has stopped
        growing for 0.3 s."""
        last, stable = -1, 0
        while stable < 3:
            size = self.log.stat().st_size if self.log.exists() else 0
            stable = stable + 1 if size == last else 0
            last = size
            time.sleep(0.1)
        out = []
        if not self.log.exists():
            return out
        for line in self.log.read_text().splitlines():
            m = re.match(r'(\S+) (\S+) (\d+) (\d+) "(.*)"', line)
            if m:
                out.append((m[1], m[2], int(m[3]), int(m[4]), m[5]))
        return out

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Moto:
    """moto's S3 server."""

    def __init__(self) -> None:
        exe = find_moto()
        if exe is None:
            _missing("moto_server")
        port = free_port()
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port, self.proc, "moto_server")
        self.buckets: set[str] = set()
        self.endpoint = f"http://127.0.0.1:{port}"

    def put(self, bucket: str, key: str, data: bytes, public: bool = False) -> None:
        """Puts an object (creating its bucket), signed with boto3 (which
        moto brings): moto refuses unsigned overwrites."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        if bucket not in self.buckets:
            s3.create_bucket(Bucket=bucket)
            self.buckets.add(bucket)
        extra = {"ACL": "public-read"} if public else {}
        s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
