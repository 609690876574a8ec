"""mmpk arrays as dask arrays: :func:`from_mmpk`.

dask is imported here only (``import mmpk`` does not need it).

>>> import mmpk.dask                                          # doctest: +SKIP
>>> x = mmpk.dask.from_mmpk("s3://bucket/cube.mmpk", "stack")  # doctest: +SKIP
>>> x.mean(axis=0).compute()                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np

from ._dict import Dict
from ._dict import open as _open
from ._remote import RemoteArray, is_url
from .errors import ChangedError

__all__ = ["from_mmpk"]

_lock = threading.Lock()
_local: dict[str, Dict] = {}


def _local_dict(path: str) -> Dict:
    """This process's read-only dict of ``path`` (opened once)."""
    with _lock:
        d = _local.get(path)
        if d is None:
            d = _local[path] = _open(path, "r")
        return d


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_local.clear)


def _region_offset(a: Any) -> int | None:
    """The file offset of a mapped array's bytes (its ``MapRegion``)."""
    base = a
    while base is not None and not hasattr(base, "offset"):
        base = getattr(base, "base", None)
    return None if base is None else int(base.offset)


class _LocalPart:
    """The data or mask of an array of a local file, reopened (mapped) in
    whatever process reads it: pickles as its path, key and where its bytes
    were, never as the bytes."""

    __slots__ = ("path", "key", "part", "offset", "shape", "dtype", "ndim")

    def __init__(
        self, path: str, key: str, part: str, offset: int | None, shape: tuple, dtype: Any
    ):
        self.path, self.key, self.part, self.offset = path, key, part, offset
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def _array(self) -> np.ndarray:
        a = _local_dict(self.path)[self.key]
        if isinstance(a, np.ma.MaskedArray):
            a = a.data if self.part == "data" else np.ma.getmaskarray(a)
        if _region_offset(a) != self.offset:
            raise ChangedError(
                f"{self.path}: key {self.key!r} was replaced (or the file vacuumed) "
                "since the dask array was made"
            )
        return a

    def __getitem__(self, index: Any) -> np.ndarray:
        return self._array()[index]

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _LocalPart,
            (self.path, self.key, self.part, self.offset, self.shape, self.dtype),
        )

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return (
            "mmpk.local",
            self.path,
            self.key,
            self.part,
            self.offset,
            self.shape,
            self.dtype.str,
        )


def _default_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Whole rows of the first axis, about dask's ``array.chunk-size``."""
    if not shape:
        return ()
    limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
    row = max(1, itemsize)
    for d in shape[1:]:
        row *= max(1, d)
    rows = max(1, min(shape[0], limit // row))
    return (rows, *shape[1:])


def _wrap(source: Any, chunks: Any, name: str) -> da.Array:
    meta = np.empty((0,) * source.ndim, source.dtype)
    return da.from_array(source, chunks=chunks, name=name, asarray=False, meta=meta)


def from_mmpk(
    url_or_path: str | os.PathLike[str],
    key: str,
    chunks: Any = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> da.Array:
    """The array ``key`` of an mmpk file as a :class:`dask.array.Array`.

    ``url_or_path``: a local file (each chunk is a slice of the mapped
    array, the file reopened in each worker process) or an ``http://``,
    ``https://`` or ``s3://`` URL (each chunk fetches its rows with one
    ranged GET, as :class:`mmpk.RemoteArray` does; ``storage_options`` as
    for :func:`mmpk.open`, which this process remembers for the URL; other
    processes take theirs from :func:`mmpk.set_storage_options` or the
    ``AWS_*`` variables). A masked array becomes a dask masked array
    (``dask.array.ma``), its data and mask chunked alike.

    ``chunks``: as :func:`dask.array.from_array` takes it; by default,
    whole rows of the first axis, about dask's ``array.chunk-size`` each
    (chunks across the other axes work, but each fetches its whole rows
    from a remote file).

    The graph holds what a worker needs to read its chunk (for a URL: the
    pinned entry, never the index and never credentials). A file that
    grows meanwhile is read as it was; one rewritten underneath (vacuumed,
    replaced, or the key replaced, for a local file) raises
    :class:`mmpk.errors.ChangedError`.
    """
    if is_url(url_or_path):
        d = _open(url_or_path, storage_options=storage_options)  # type: ignore[arg-type]
        a = d[key]
        if not isinstance(a, RemoteArray):
            raise TypeError(f"key {key!r} of {url_or_path} is not an array")
        data: Any = a._part("data")
        kind = a._mask[2] if a._mask else None
        mask: Any = a._part("mask") if kind == "elementwise" else None
        token = dask.base.tokenize(a, chunks)
    else:
        if storage_options is not None:
            raise TypeError("storage_options are for URLs (http://, https://, s3://), not files")
        path = os.path.abspath(os.fsdecode(os.fspath(url_or_path)))
        a = _local_dict(path)[key]
        if not isinstance(a, np.ndarray):
            raise TypeError(f"key {key!r} of {path} is not an array")
        kind = None
        mask = None
        if isinstance(a, np.ma.MaskedArray):
            m = np.ma.getmask(a)
            if m is np.ma.nomask:
                kind = "nomask"
            elif isinstance(m, np.ndarray) and m.shape == a.shape and m.base is not None:
                kind = "elementwise"
                mask = _LocalPart(path, key, "mask", _region_offset(m), a.shape, np.bool_)
            else:
                kind = "all" if bool(np.all(m)) else "nomask"
            raw = a.data
        else:
            raw = a
        data = _LocalPart(path, key, "data", _region_offset(raw), a.shape, a.dtype)
        token = dask.base.tokenize(data, chunks)
    if chunks is None:
        chunks = _default_chunks(data.shape, data.dtype.itemsize)
    x = _wrap(data, chunks, f"mmpk-{token}")
    if kind is None:
        return x
    if kind == "elementwise":
        m = _wrap(mask, x.chunks, f"mmpk-mask-{token}")
    else:
        m = kind == "all"
    return da.ma.masked_array(x, mask=m)
