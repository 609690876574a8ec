"""mmpk.zarr_refs: a file's arrays as zarr chunk references (kerchunk JSON)."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Union

from . import _mmpk
from ._dict import open as _open

PathLike = Union[str, "os.PathLike[str]"]


def zarr_refs(
    path: PathLike,
    *,
    url: str | None = None,
    chunk_mib: float = 16.0,
    out: PathLike | None = None,
) -> dict[str, Any]:
    """Kerchunk reference JSON (version 1, zarr v2 metadata) of the mmpk
    file at ``path``, as ``mmpk zarr-refs`` writes it: every array as a zarr
    array whose chunks are byte ranges of the file itself (chunks of whole
    rows of the first axis, about ``chunk_mib`` MiB), masked arrays as groups
    with ``data`` and ``mask``, other values that JSON expresses as root
    attributes. xarray (``engine="zarr"`` over fsspec's ``reference://``),
    zarr-python 3 and ``dask.array.from_zarr`` read it without mmpk.

    The references name ``url`` (default: the file's absolute path): give
    the URL the file is published at. Entries left out (dtypes zarr cannot
    read, keys that cannot name a zarr node, values JSON cannot express)
    are listed under ``"mmpk_skipped"`` and each gives a ``UserWarning``.
    ``out``: also write the JSON there. Returns the parsed JSON.

    Files on HTTP or S3: use the command ``mmpk zarr-refs URL`` (reads the
    index only) until ``mmpk.open`` takes URLs.
    """
    p = os.fsdecode(os.fspath(path))
    if p.startswith(("http://", "https://", "s3://")):
        raise NotImplementedError(
            "mmpk.zarr_refs reads local files; for a URL run `mmpk zarr-refs URL`"
        )
    chunk_bytes = int(float(chunk_mib) * (1 << 20))
    if not chunk_bytes > 0:
        raise ValueError(f"chunk_mib must be above 0, not {chunk_mib!r}")
    with _open(p, "r") as d:
        text, skipped, inlined = _mmpk.zarr_refs(d._core, url or os.path.abspath(p), chunk_bytes)
    for key, why in skipped:
        warnings.warn(f"mmpk.zarr_refs: {p}: skipped {key!r}: {why}", UserWarning, stacklevel=2)
    del inlined  # the JSON holds them; the command line reports them
    if out is not None:
        with open(os.fspath(out), "w", encoding="utf-8") as f:
            f.write(text)
    return json.loads(text)
