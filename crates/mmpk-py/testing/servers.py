"""Servers on 127.0.0.1 for the Python tests and `cargo xtask bench dask`:
nginx (with an access log of the bytes it sent and the Range asked for),
moto's S3 server, and a counting proxy in front of moto (moto's own log has
no byte counts). Every request the servers answer is a `Hit`.

One module for every suite that starts them: `cargo xtask python-test`
(`tests/`, through its conftest), `cargo xtask cluster-test`
(`cluster_tests/`), `cargo xtask zarr-test`
(crates/mmpk-cli/tests/python/) and `cargo xtask bench dask`; each puts
this directory on `sys.path`."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple


class Hit(NamedTuple):
    """One answered request: method, path, status, body bytes, Range."""

    method: str
    path: str
    status: int
    nbytes: int
    range: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None, what: str) -> None:
    t = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() - t > 30:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


def start(argv: list[str], port: int, what: str, **popen) -> subprocess.Popen:
    """Starts the server `argv` and waits until it listens on `port` (one
    that exits or does not listen within 30 s is stopped: an error)."""
    proc = subprocess.Popen(argv, **popen)
    try:
        wait_port(port, proc, what)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stops a server: SIGTERM (nginx's master then stops its workers),
    SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_nginx() -> str | None:
    """`MMPK_TEST_NGINX` (None if it does not exist), else `nginx` on PATH
    or in /usr/sbin."""
    p = os.environ.get("MMPK_TEST_NGINX")
    if p:
        return p if os.path.exists(p) else None
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )


def find_moto() -> str | None:
    """`MMPK_TEST_MOTO` (None if it does not exist), else the `moto_server`
    of this Python's venv."""
    p = os.environ.get("MMPK_TEST_MOTO")
    if p:
        return p if os.path.exists(p) else None
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else None


class Nginx:
    """nginx serving `root` on a free port, logging every request as
    `METHOD URI STATUS BODY_BYTES "RANGE"`. Under `/noetag/`, the files of
    `root/noetag/` without an ETag (Last-Modified and size only); under
    `/slow/`, the files of `root` at 1 MiB/s per connection."""

    def __init__(self, binary: str, root: Path, workdir: Path, workers: int = 1):
        self.root = root
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.log = self.dir / "access.log"
        self.port = free_port()
        d = self.dir
        conf = d / "nginx.conf"
        # Run as root (CI), nginx's workers would be `nobody`, who cannot
        # read the test's files: keep them as the user that started it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"daemon off;\n{user}worker_processes {workers};\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log;\nevents {{ worker_connections 256; }}\n"
            "http {\n"
            "  log_format bytes '$request_method $uri $status $body_bytes_sent \"$http_range\"';\n"
            f"  access_log {self.log} bytes;\n  sendfile on;\n  keepalive_requests 100000;\n"
            f"  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n"
            f"  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n"
            f"  scgi_temp_path {d}/tmp;\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {root};\n"
            "    location /noetag/ { etag off; }\n"
            # The same files at 1 MiB/s per connection: passes that last.
            f"    location /slow/ {{ alias {root}/; limit_rate 1m; }}\n  }}\n}}\n"
        )
        self.proc = start([binary, "-p", str(d), "-c", str(conf)], self.port, "nginx")
        self.url = f"http://127.0.0.1:{self.port}"

    def hits_now(self) -> list[Hit]:
        """The requests logged so far (those in flight are not, yet)."""
        out = []
        try:
            text = self.log.read_text()
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            method, path, status, nbytes, rng = line.split(" ", 4)
            out.append(Hit(method, path, int(status), int(nbytes), rng.strip('"')))
        return out

    def hits(self) -> list[Hit]:
        """Every request so far, once the log has not grown for 0.3 s (nginx
        writes a request's line after its response, which may be after the
        client has it)."""
        last, stable = self.hits_now(), 0
        while stable < 3:
            time.sleep(0.1)
            now = self.hits_now()
            stable = stable + 1 if now == last else 0
            last = now
        return last

    def close(self) -> None:
        stop(self.proc)


class Moto:
    """moto's S3 server on a free port, and a counting proxy in front of it:
    `url` is the proxy's, `direct` moto's own."""

    def __init__(self, binary: str):
        self.port = free_port()
        self.proc = start(
            [binary, "-H", "127.0.0.1", "-p", str(self.port)],
            self.port,
            "moto_server",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.direct = f"http://127.0.0.1:{self.port}"
        self.proxy = CountingProxy("127.0.0.1", self.port)
        self.url = self.proxy.url
        self.buckets: set[str] = set()

    def hits(self) -> list[Hit]:
        return self.proxy.hits()

    def put(self, bucket: str, key: str, data: bytes, public: bool = False) -> None:
        """Puts an object straight to moto (not counted), creating its
        bucket, signed with boto3 (which moto brings): moto refuses unsigned
        overwrites."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.direct,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        if bucket not in self.buckets:
            s3.create_bucket(Bucket=bucket)
            self.buckets.add(bucket)
        extra = {"ACL": "public-read"} if public else {}
        s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)

    def close(self) -> None:
        self.proxy.close()
        stop(self.proc)


class CountingProxy:
    """An HTTP/1.1 proxy (one upstream) that records every request it
    forwards with the body bytes of its response. Headers pass unchanged
    (Host included, so S3 signatures stay valid)."""

    def __init__(self, host: str, port: int):
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                conn = getattr(self, "_upstream", None)
                if conn is None:
                    conn = self._upstream = http.client.HTTPConnection(host, port, timeout=60)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                # Recorded before the client can have the response, so a
                # test that counts after its read sees every request.
                path = self.path.split("?", 1)[0]
                with proxy._lock:
                    proxy._hits.append(
                        Hit(
                            self.command,
                            path,
                            r.status,
                            0 if self.command == "HEAD" else len(data),
                            self.headers.get("Range", "-"),
                        )
                    )
                self.send_response_only(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                if self.command == "HEAD":
                    self.send_header("Content-Length", r.getheader("Content-Length") or "0")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def nginx_binary() -> str:
    """nginx (`find_nginx`), or an error saying it is missing."""
    exe = find_nginx()
    if exe is None:
        raise RuntimeError("nginx not found (set MMPK_TEST_NGINX)")
    return exe


def moto_binary() -> str:
    """moto's server (`find_moto`), or an error saying it is missing."""
    exe = find_moto()
    if exe is None:
        raise RuntimeError("moto_server not found (set MMPK_TEST_MOTO)")
    return exe
