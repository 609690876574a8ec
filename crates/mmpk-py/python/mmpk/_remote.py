"""Remote files: ``mmpk.open("s3://...")`` / ``"https://..."``, read-only,
through the Rust crate ``mmpk-remote`` (ranged GETs, no download).

One handle per URL and settings per process (:func:`_object`): its
connections and, once a dict was opened, its index are shared by every
:class:`RemoteDict` and :class:`RemoteArray` of that URL in the process.
Every handle of the process runs on mmpk-remote's one I/O runtime (a
multi-thread tokio runtime whose few threads receive the responses, so
that several threads' reads progress in parallel).

Settings (``storage_options``) take the keys s3fs users know: ``key``,
``secret``, ``token``, ``anon``, ``endpoint_url``, ``client_kwargs=
{"region_name": ..., "endpoint_url": ...}``; and ``region``,
``allow_http``, ``timeout``, ``connect_timeout`` (seconds), ``retries``.
What is not given comes from the ``AWS_*`` variables (``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_ALLOW_HTTP``) and the AWS credential chain.
"""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import _mmpk
from .errors import ReadOnlyError

__all__ = ["RemoteArray", "RemoteDict", "set_storage_options", "is_url"]

_SCHEMES = ("http://", "https://", "s3://", "s3a://")
#: Settings that are credentials: never pickled.
_SECRET = frozenset({"key", "secret", "token"})
_KNOWN = frozenset(
    {
        "key",
        "secret",
        "token",
        "anon",
        "endpoint_url",
        "region",
        "allow_http",
        "timeout",
        "connect_timeout",
        "retries",
    }
)
#: Byte gaps up to this are read and dropped rather than split into requests.
_GAP = 64 << 10
#: A contiguous run is one ranged GET up to this many bytes (a dask chunk
#: of dask's default size, 128 MiB: one request); a longer one is split
#: into parts of at most this, fetched several at a time.
_PART = 128 << 20
#: Results of at least this many bytes are read into recycled blocks
#: (``_mmpk.pooled_bytes``): no page faults for a worker's next chunk.
_POOLED = 1 << 20

_lock = threading.RLock()
_by_prefix: dict[str, dict[str, Any]] = {}
_objects: dict[tuple[str, tuple[tuple[str, Any], ...]], _mmpk.RemoteObject] = {}
_cores: dict[tuple[str, tuple[tuple[str, Any], ...]], _mmpk.RemoteCore] = {}
# Handles of a parent process, kept alive (never dropped) in a forked child:
# their runtime's threads do not exist there (and dropping their sockets
# would unregister them from the epoll the parent shares).
_orphans: list[Any] = []


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()
    _orphans.extend(_objects.values())
    _orphans.extend(_cores.values())
    _objects.clear()
    _cores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def is_url(target: Any) -> bool:
    """Whether ``target`` is a URL :func:`mmpk.open` reads remotely."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def _normalise(storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """s3fs-style ``storage_options`` as mmpk-remote's settings."""
    if storage_options is None:
        return {}
    if not isinstance(storage_options, Mapping):
        raise TypeError(f"storage_options must be a dict, not {type(storage_options).__name__}")
    out: dict[str, Any] = {}
    for k, v in storage_options.items():
        if k == "client_kwargs":
            for ck, cv in dict(v or {}).items():
                if ck == "region_name":
                    out["region"] = cv
                elif ck == "endpoint_url":
                    out["endpoint_url"] = cv
                else:
                    raise ValueError(
                        f"storage option client_kwargs[{ck!r}] is not supported "
                        "(region_name, endpoint_url are)"
                    )
        elif k == "region_name":
            out["region"] = v
        elif k in _KNOWN:
            out[k] = v
        else:
            raise ValueError(
                f"storage option {k!r} is not supported; mmpk takes "
                f"{', '.join(sorted(_KNOWN | {'client_kwargs'}))}"
            )
    return {k: v for k, v in out.items() if v is not None}


def set_storage_options(
    storage_options: Mapping[str, Any] | None = None, *, prefix: str = ""
) -> None:
    """Sets this process's settings for the URLs that start with ``prefix``
    (every URL by default; ``None`` removes them). Where several prefixes
    match, the longer one wins key by key.

    This is how credentials reach dask workers: a pickled
    :class:`RemoteArray` carries no credential (only the endpoint, region
    and ``anon`` it was opened with); a worker reads with the settings set
    here in its own process (``client.run(mmpk.set_storage_options, {...})``,
    or a worker plugin), else with its ``AWS_*`` variables.
    :func:`mmpk.open` with ``storage_options`` sets them for its URL.
    """
    if not isinstance(prefix, str):
        raise TypeError("prefix must be a str")
    with _lock:
        if storage_options is None:
            _by_prefix.pop(prefix, None)
        else:
            _by_prefix[prefix] = _normalise(storage_options)


def _settings_for(url: str, public: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings a read of ``url`` uses: ``public`` (what was pickled),
    then this process's settings by prefix, longer prefixes last."""
    merged = dict(public or {})
    with _lock:
        for p in sorted((p for p in _by_prefix if url.startswith(p)), key=len):
            merged.update(_by_prefix[p])
    return merged


def _public(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings without credentials (what a pickle may carry)."""
    return {k: v for k, v in settings.items() if k not in _SECRET}


def _handle_key(url: str, settings: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return url, tuple(sorted((k, repr(v)) for k, v in settings.items()))


def _object(url: str, settings: Mapping[str, Any]) -> _mmpk.RemoteObject:
    """This process's handle on ``url`` with ``settings``."""
    k = _handle_key(url, settings)
    with _lock:
        obj = _objects.get(k)
        if obj is None:
            obj = _objects[k] = _mmpk.RemoteObject.open(url, dict(settings))
        return obj


def _core(url: str, settings: Mapping[str, Any]) -> _mmpk.RemoteCore:
    """This process's index of ``url``: read once, refreshed when reused."""
    k = _handle_key(url, settings)
    with _lock:
        core = _cores.get(k)
    if core is not None:
        core.refresh()
        return core
    obj = _object(url, settings)
    core = obj.open_dict()
    with _lock:
        return _cores.setdefault(k, core)


def open_url(
    url: str, mode: str, trusted: bool, storage_options: Mapping[str, Any] | None
) -> RemoteDict:
    """``mmpk.open`` of a URL."""
    if mode != "r":
        raise ReadOnlyError(
            f"remote files are read-only: mode {mode!r} is not supported for {url} "
            "(write a local file and upload it)"
        )
    if storage_options is not None:
        set_storage_options(storage_options, prefix=url)
    settings = _settings_for(url)
    return RemoteDict(_core(url, settings), url, _public(settings), bool(trusted))


class RemoteDict(Mapping[str, Any]):
    """A published mmpk file, read-only: ``collections.abc.Mapping[str,
    Any]`` and a context manager. Made by :func:`mmpk.open` of an
    ``http://``, ``https://`` or ``s3://bucket/key`` URL.

    Opening reads the header and the index (a few ranged GETs; arrays'
    bytes are skipped). ``d[key]`` of an array or a masked array is a
    :class:`RemoteArray` (nothing fetched yet); of any other value, the
    value, fetched and decoded as a local file's (safe unless
    ``trusted=True``). Keys, ``len`` and ``in`` answer from the index.

    The keys are those of the version of the object read when it was
    opened or last refreshed: :meth:`refresh` (or :func:`mmpk.open` of the
    URL again) picks up entries appended since. A read that finds the object
    changed refreshes it: entries appended by a writer are followed; a
    rewritten object (vacuumed or replaced) raises
    :class:`mmpk.errors.ChangedError` once (the dict then reads the new
    version).
    """

    __slots__ = ("_core", "_url", "_public", "_trusted")

    def __init__(
        self, core: _mmpk.RemoteCore, url: str, public: dict[str, Any], trusted: bool
    ) -> None:
        """Use :func:`mmpk.open`."""
        self._core = core
        self._url = url
        self._public = public
        self._trusted = trusted

    def __getitem__(self, key: str) -> Any:
        """A :class:`RemoteArray` for an array or masked array entry, else
        the decoded value (``KeyError`` if missing)."""
        if not isinstance(key, str):
            raise TypeError(f"mmpk keys are str, not {type(key).__name__}")
        d = self._core.describe(key)
        if d[0] == "array":
            _, dtype, shape, offset, nbytes, pin = d
            return RemoteArray._make(self._url, self._public, dtype, shape, offset, nbytes, pin)
        if d[0] == "masked":
            _, dtype, shape, offset, nbytes, moff, mbytes, kind, pin = d
            return RemoteArray._make(
                self._url, self._public, dtype, shape, offset, nbytes, pin, (moff, mbytes, kind)
            )
        return self._core.value(key, self._trusted)

    def __setitem__(self, key: str, value: Any) -> None:
        raise ReadOnlyError(f"{self._url} is a remote file: read-only")

    def __delitem__(self, key: str) -> None:
        raise ReadOnlyError(f"{self._url} is a remote file: read-only")

    def __iter__(self) -> Iterator[str]:
        """The keys in file order (of the version read)."""
        return iter(self._core.keys())

    def __len__(self) -> int:
        return self._core.len()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._core.contains(key)

    @property
    def url(self) -> str:
        """The URL."""
        return self._url

    @property
    def read_only(self) -> bool:
        """Always true: remote files are read-only."""
        return True

    @property
    def commit_number(self) -> int:
        """The commit number of the version read."""
        return self._core.commit_number()

    @property
    def version(self) -> tuple[int, str | None, int]:
        """``(size, etag, last_modified_ms)`` of the version read."""
        return self._core.version()

    def refresh(self) -> str:
        """Looks at the object again: ``"unchanged"``, ``"grew"`` (a writer
        appended: only the new part was read), ``"data_changed"`` (bytes
        written in place), or ``"rescanned"`` (rewritten: the whole index
        was read again)."""
        return self._core.refresh()

    def stats(self) -> dict[str, int]:
        """Requests sent, bytes received and cache hits, for every read of
        this URL in this process (dicts and arrays); ``direct``: of the
        requests, those of mmpk-remote's direct HTTP/1.1 reader (the
        ranged GETs of a plain ``http://`` URL, bodies read from the
        socket straight into place)."""
        return _object(self._url, _settings_for(self._url, self._public)).stats()

    def close(self) -> None:
        """Nothing to release (the process keeps the URL's handle)."""

    def __enter__(self) -> RemoteDict:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self._url, self._public, self._trusted))

    def __repr__(self) -> str:
        return f"<mmpk.RemoteDict {self._url!r}: {len(self)} keys>"


def _reopen(url: str, public: dict[str, Any], trusted: bool) -> RemoteDict:
    settings = _settings_for(url, public)
    return RemoteDict(_core(url, settings), url, public, trusted)


def _basic_index(index: Any, ndim: int) -> list[Any]:
    """``index`` as a list of one item per axis (ints, slices) and ``None``s,
    the Ellipsis expanded."""
    items = list(index) if isinstance(index, tuple) else [index]
    for it in items:
        if it is None or it is Ellipsis or isinstance(it, slice):
            continue
        try:
            ok = not isinstance(it, (bool, np.bool_)) and (operator.index(it), True)[1]
        except TypeError:
            ok = False
        if not ok:
            raise TypeError(
                "mmpk.RemoteArray takes basic indexes only (ints, slices, Ellipsis, None), "
                f"not {type(it).__name__}; use numpy on the rows read: a[rows][index]"
            )
    if sum(it is Ellipsis for it in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    real = sum(it is not None and it is not Ellipsis for it in items)
    if real > ndim:
        raise IndexError(
            f"too many indices for array: array is {ndim}-dimensional, but {real} were indexed"
        )
    fill = [slice(None)] * (ndim - real)
    if Ellipsis in items:
        i = next(i for i, it in enumerate(items) if it is Ellipsis)
        # The Ellipsis stays (after the axes it stands for): numpy gives a
        # 0-d array, not a scalar, for a[0, ...].
        items[i : i + 1] = [*fill, Ellipsis]
    else:
        items += fill
    return items


def _empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new C-contiguous array to read into (its bytes are arbitrary): a
    recycled block for a large one (see ``_POOLED``)."""
    n = dtype.itemsize
    for d in shape:
        n *= d
    if n < _POOLED:
        return np.empty(shape, dtype)
    return _mmpk.pooled_bytes(n).view(dtype).reshape(shape)


def _bytes(a: np.ndarray) -> np.ndarray:
    """The bytes of ``a`` (a new C-contiguous array) as a 1-D ``uint8``
    view: what ``RemoteObject.read_into`` writes into."""
    return a.reshape(-1).view(np.uint8)


def _places(out: np.ndarray, offset: int, row: int, runs: list[tuple[int, int]]) -> list[Any]:
    """``(start, bytes)`` for ``read_into`` (one ranged GET each): the runs
    ``(first row, rows)`` of an entry whose rows of ``row`` bytes start at
    ``offset``, laid one after another in ``out``; a run longer than
    ``_PART`` bytes in parts of at most ``_PART``."""
    flat = _bytes(out)
    places, at = [], 0
    for first, k in runs:
        start, end = offset + first * row, at + k * row
        while at < end:
            n = min(_PART, end - at)
            places.append((start, flat[at : at + n]))
            start += n
            at += n
    return places


class RemoteArray:
    """An array of a remote mmpk file; its bytes are fetched when indexed.

    ``a[i]``, ``a[i:j:k]``, ``a[..., 3]``, ``a[None, 2:5]`` (basic indexing)
    fetch only the rows of the first axis they select, with one ranged GET
    for a contiguous run (rows far apart: one request each, several in
    flight), and cut the other axes after; ``np.asarray(a)`` and ``a[...]``
    fetch it all. Results are new numpy arrays (writable, in the stored
    byte order); a masked entry gives :class:`numpy.ma.MaskedArray`, its
    data and mask fetched for the same rows.

    A ``RemoteArray`` pickles as what a reader needs and no more: the URL,
    the entry's place and length, dtype, shape, and a pin (the object's
    ETag, Last-Modified and size, and the entry's frame), never the index
    and never credentials (see :func:`mmpk.set_storage_options`). Reads
    carry ``If-Match``; when the object changed (a writer appended
    entries), the entry is re-validated in the new version (its frame head
    and tail are where they were) and read from it; a rewritten object
    (vacuumed, replaced) raises :class:`mmpk.errors.ChangedError`, never
    bytes of two versions. Array data written in place (which mmpk does not
    count as a change) is not detected: such rows are read as they are now.
    """

    __slots__ = ("_url", "_public", "_dtype", "_shape", "_offset", "_nbytes", "_pin", "_mask")

    _url: str
    _public: dict[str, Any]
    _dtype: np.dtype
    _shape: tuple[int, ...]
    _offset: int
    _nbytes: int
    _pin: tuple[Any, ...]
    _mask: tuple[int, int, str] | None

    def __init__(self) -> None:
        """Use :class:`RemoteDict` (``d[key]``)."""
        raise TypeError("RemoteArray is made by mmpk.open(url)[key]")

    @classmethod
    def _make(
        cls,
        url: str,
        public: dict[str, Any],
        dtype: np.dtype,
        shape: tuple[int, ...],
        offset: int,
        nbytes: int,
        pin: tuple[Any, ...],
        mask: tuple[int, int, str] | None = None,
    ) -> RemoteArray:
        self = object.__new__(cls)
        self._url = url
        self._public = dict(public)
        self._dtype = np.dtype(dtype)
        self._shape = tuple(int(n) for n in shape)
        self._offset = int(offset)
        self._nbytes = int(nbytes)
        self._pin = tuple(pin)
        self._mask = None if mask is None else (int(mask[0]), int(mask[1]), str(mask[2]))
        return self

    # -- what it is ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL of the file."""
        return self._url

    @property
    def key(self) -> str:
        """The key of the entry."""
        return self._pin[3]

    @property
    def dtype(self) -> np.dtype:
        """The dtype (as stored: byte order kept)."""
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape."""
        return self._shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self._shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        n = 1
        for d in self._shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """The data's bytes (the mask's not counted)."""
        return self._nbytes

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self._dtype.itemsize

    @property
    def masked(self) -> bool:
        """Whether the entry is a masked array."""
        return self._mask is not None

    @property
    def offset(self) -> int:
        """Offset of the data's first byte in the object."""
        return self._offset

    @property
    def pin(self) -> tuple[Any, ...]:
        """``(size, etag, last_modified_ms, key, entry_offset, entry_len,
        memo_max)``: the version and entry reads are pinned to."""
        return self._pin

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d RemoteArray")
        return self._shape[0]

    def __repr__(self) -> str:
        kind = "masked " if self._mask else ""
        return (
            f"<mmpk.RemoteArray {kind}{self.key!r} of {self._url}: "
            f"shape={self._shape}, dtype={self._dtype}>"
        )

    # -- reading --------------------------------------------------------------

    def _object(self) -> _mmpk.RemoteObject:
        return _object(self._url, _settings_for(self._url, self._public))

    def _rows(self, rows: range) -> Any:
        """The rows ``rows`` (a range with a positive step) of the first
        axis, in order, as a new array; for a 0-d array (``rows`` None) the
        whole."""
        dt, rest = self._dtype, self._shape[1:]
        elems = 1
        for d in rest:
            elems *= d
        count = len(rows)
        shape = (count, *rest)
        if count == 0 or self._nbytes == 0 or dt.itemsize == 0:
            data = np.zeros(shape, dt)
            mask = np.zeros(shape, bool) if self._mask else None
            return self._assemble(data, mask)
        step = rows.step
        row_data = elems * dt.itemsize
        elementwise = self._mask is not None and self._mask[2] == "elementwise"
        # One range for a run (gaps of at most _GAP read and dropped), else
        # one range per row; read straight into the arrays returned.
        span = step == 1 or (step - 1) * row_data <= _GAP
        if span:
            first, stop = rows.start, rows[-1] + 1
            runs = [(first, stop - first)]
        else:
            runs = [(r, 1) for r in rows]
        n_rows = sum(k for _, k in runs)
        data = _empty((n_rows, *rest), dt)
        reads = _places(data, self._offset, row_data, runs)
        mask = None
        if elementwise:
            mask = _empty((n_rows, *rest), np.dtype(np.bool_))
            reads += _places(mask, self._mask[0], elems, runs)
        self._object().read_into(self._pin, reads)
        if span and step != 1:
            data = data[::step]
            if mask is not None:
                mask = mask[::step]
        return self._assemble(data, mask)

    def _assemble(self, data: np.ndarray, mask: np.ndarray | None) -> Any:
        if self._mask is None:
            return data
        kind = self._mask[2]
        if kind == "elementwise":
            m: Any = mask
        elif kind == "nomask":
            m = np.ma.nomask
        else:
            m = True
        return np.ma.MaskedArray(data, mask=m, copy=False)

    def _whole_0d(self) -> Any:
        dt = self._dtype
        elementwise = self._mask is not None and self._mask[2] == "elementwise"
        if self._nbytes == 0 or dt.itemsize == 0:
            return self._assemble(np.zeros((), dt), np.zeros((), bool) if elementwise else None)
        data = np.empty((), dt)
        reads = [(self._offset, _bytes(data))]
        mask = None
        if elementwise:
            mask = np.empty((), np.bool_)
            reads.append((self._mask[0], _bytes(mask)))
        self._object().read_into(self._pin, reads)
        return self._assemble(data, mask)

    def __getitem__(self, index: Any) -> Any:
        """The elements ``index`` selects (basic indexing), fetching only
        the rows of the first axis it selects."""
        items = _basic_index(index, self.ndim)
        if not self._shape:
            return self._whole_0d()[tuple(items)]
        p = next(i for i, it in enumerate(items) if it is not None and it is not Ellipsis)
        first, n = items[p], self._shape[0]
        if isinstance(first, slice):
            start, stop, step = first.indices(n)
            sel = range(start, stop, step)
            if step > 0:
                rows, local = sel, slice(None)
            else:
                rows, local = sel[::-1], slice(None, None, -1)
        else:
            i = operator.index(first)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
            i %= n
            rows, local = range(i, i + 1), 0
        items[p] = local
        return self._rows(rows)[tuple(items)]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The whole array, fetched (numpy's ``np.asarray(a)``); a masked
        entry gives its data. ``copy=False`` raises ``ValueError``: the
        bytes are always fetched into a new array."""
        if copy is False:
            raise ValueError("a RemoteArray cannot be viewed without a copy: its bytes are fetched")
        a = np.asarray(self[...])
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a

    def read(self) -> Any:
        """The whole array (``a[...]``)."""
        return self[...]

    def _part(self, which: str) -> RemoteArray:
        """The data (``"data"``) or the elementwise mask (``"mask"``) of a
        masked entry as a plain RemoteArray of the same entry."""
        if self._mask is None:
            return self
        if which == "data":
            return RemoteArray._make(
                self._url,
                self._public,
                self._dtype,
                self._shape,
                self._offset,
                self._nbytes,
                self._pin,
            )
        moff, mbytes, kind = self._mask
        shape = self._shape if kind == "elementwise" else ()
        return RemoteArray._make(
            self._url, self._public, np.dtype(bool), shape, moff, mbytes, self._pin
        )

    # -- pickling, dask -------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                self._url,
                self._public,
                self._dtype,
                self._shape,
                self._offset,
                self._nbytes,
                self._pin,
                self._mask,
            ),
        )

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return (
            "mmpk.RemoteArray",
            self._url,
            self._pin,
            self._offset,
            self._dtype.str,
            self._shape,
            self._mask,
        )


def _rebuild(
    url: str,
    public: dict[str, Any],
    dtype: np.dtype,
    shape: tuple[int, ...],
    offset: int,
    nbytes: int,
    pin: tuple[Any, ...],
    mask: tuple[int, int, str] | None,
) -> RemoteArray:
    return RemoteArray._make(url, public, dtype, shape, offset, nbytes, pin, mask)
