"""mmpk.zarr_refs: a file's arrays as zarr chunk references (kerchunk JSON)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
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
    storage_options: Mapping[str, Any] | None = None,
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

    ``path`` may be the URL of a published file (``http://``, ``https://``,
    ``s3://``; ``storage_options`` as for :func:`mmpk.open`): only its index
    is read (a few ranged GETs), as ``mmpk zarr-refs URL`` does, and the
    references name that URL unless ``url`` says otherwise. Masked arrays
    over 64 MiB are left out over a URL (they are located from their whole
    value): run it on a local copy with ``url=``.
    """
    p = path if isinstance(path, str) else os.fsdecode(os.fspath(path))
    chunk_bytes = int(float(chunk_mib) * (1 << 20))
    if not chunk_bytes > 0:
        raise ValueError(f"chunk_mib must be above 0, not {chunk_mib!r}")
    from ._remote import is_url

    if is_url(p):
        with _open(p, "r", storage_options=storage_options) as d:
            text, skipped, inlined = _mmpk.zarr_refs_remote(d._core, url or p, chunk_bytes)
    else:
        if storage_options is not None:
            raise TypeError("storage_options are for URLs (http://, https://, s3://), not files")
        with _open(p, "r") as d:
            text, skipped, inlined = _mmpk.zarr_refs(
                d._core, url or os.path.abspath(p), chunk_bytes
            )
    for key, why in skipped:
        warnings.warn(f"mmpk.zarr_refs: {p}: skipped {key!r}: {why}", UserWarning, stacklevel=2)
    del inlined  # the JSON holds them; the command line reports them
    if out is not None:
        with open(os.fspath(out), "w", encoding="utf-8") as f:
            f.write(text)
    return json.loads(text)
