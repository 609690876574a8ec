"""README.md's "From Python, on a dask cluster" example runs as printed:
the block after the marker comment is run in a fresh directory served by
nginx (its URL in place of https://data.example.org), and every
`print(...)  # output` line prints that output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MARK = "<!-- the block below is run by `cargo xtask cluster-test` (test_readme.py)"


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(MARK)
    m = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert m is not None
    return m.group(1)


def test_readme_example_runs_as_printed(nginx, www, tmp_path):
    code = readme_block()
    expected = re.findall(r"print\(.*\)  # (.*)", code)
    assert len(expected) == 3
    run_dir = www / "readme"
    run_dir.mkdir(exist_ok=True)
    # The test's server speaks http, not https.
    code = code.replace("https://data.example.org", f"{nginx.url}/readme")
    code = code.replace('"remote_protocol": "https"', '"remote_protocol": "http"')
    script = tmp_path / "example.py"
    script.write_text(code)
    r = subprocess.run(
        [sys.executable, str(script)],
        cwd=run_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected, r.stdout
    # The URL was read over HTTP: nginx served the file's chunks.
    gets = [h for h in nginx.hits() if h.path == "/readme/cube.mmpk" and h.method == "GET"]
    assert sum(h.nbytes for h in gets) >= 2 * 4096 * 256 * 8
