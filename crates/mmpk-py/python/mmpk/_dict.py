"""``mmpk.open``, ``mmpk.Dict`` and ``mmpk.convert``: the public face of the
native core (``mmpk._mmpk.Core``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, BinaryIO

from . import _mmpk

__all__ = ["Dict", "open", "convert"]

if TYPE_CHECKING:  # (not built at import: `import mmpk` stays fast)
    from collections.abc import Mapping
    from typing import Literal, Union

    from ._remote import RemoteDict

    Mode = Literal["r", "r+", "a", "w", "x"]
    Change = Literal["added", "replaced", "removed"]
    PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_MODES = ("r", "r+", "a", "w", "x")
#: What `open` reads remotely (mmpk._remote.is_url says the same).
_URL_SCHEMES = ("http://", "https://", "s3://", "s3a://")
_MISSING = object()

# A child process must not use its parent's file descriptions (and so its
# flock): dicts reopen their file in the child before their next use.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mmpk._after_fork_in_child)


class Dict(MutableMapping[str, Any]):
    """A dict stored in one mmpk file: ``collections.abc.MutableMapping[str,
    Any]`` and a context manager. Made by :func:`mmpk.open`.

    ``d[key]`` of an array is a :class:`numpy.ndarray` that views the mapped
    file (zero copy for any size): read-only in mode ``"r"``, writable in the
    other modes, where ``d[key][i] = x`` lands in the file (on disk after
    :meth:`flush`, or when the OS writes it back). Masked arrays come back as
    :class:`numpy.ma.MaskedArray` over the mapped data and mask.

    Iteration is in file order: a replaced key moves to the end (its new
    entry is appended). Every operation takes the file's lock, so several
    processes (Python, Rust, mmappickle 1.0) may read and write at once.

    An array keeps the file's map alive after the key is removed or replaced
    and after the dict is closed: it keeps showing the old bytes, which mmpk
    never reuses (writes through it land in dead bytes no reader sees).
    """

    __slots__ = ("_core", "_trusted", "_file", "_mode", "__weakref__")

    def __init__(self, core: _mmpk.Core, mode: str, trusted: bool, file: Any = None) -> None:
        """Use :func:`mmpk.open`."""
        self._core = core
        self._mode = mode
        self._trusted = trusted
        self._file = file

    # -- the mapping -------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        """The value of ``key``: a mapped array, a masked array, or the
        decoded value (``KeyError`` if missing)."""
        return self._core.get(key, self._trusted)

    def __setitem__(self, key: str, value: Any) -> None:
        """Stores ``value`` under ``key`` (replacing any value it had).
        numpy arrays (every dtype but object) and masked arrays become
        mapped entries, written from the array's buffer when it is
        C-contiguous, in C order otherwise; any other object is pickled
        (protocol 4). Keys are ``str`` of at most 255 UTF-8 bytes."""
        self._core.set(key, value)

    def __delitem__(self, key: str) -> None:
        """Removes ``key`` (``KeyError`` if missing)."""
        self._core.delete(key)

    def __len__(self) -> int:
        """The number of keys."""
        return self._core.len()

    def __iter__(self) -> Iterator[str]:
        """The keys in file order (a snapshot taken when iteration starts)."""
        return iter(self._core.keys())

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is in the dict (without reading its value)."""
        return self._core.contains(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``d[key]`` if ``key`` is in the dict, else ``default``."""
        try:
            return self._core.get(key, self._trusted)
        except KeyError:
            return default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``d[key]`` if present; else stores ``default`` and returns it as
        read back (a mapped array for an array)."""
        try:
            return self._core.get(key, self._trusted)
        except KeyError:
            self._core.set(key, default)
            return self._core.get(key, self._trusted)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        """Removes ``key`` and returns its value (an array keeps viewing the
        removed entry's bytes); ``default`` (or ``KeyError``) if missing."""
        try:
            value = self._core.get(key, self._trusted)
        except KeyError:
            if default is _MISSING:
                raise
            return default
        self._core.delete(key)
        return value

    # -- arrays ------------------------------------------------------------

    def reserve(self, key: str, shape: int | tuple[int, ...], dtype: Any) -> Any:
        """Reserves an array of ``shape`` and ``dtype`` under ``key`` without
        writing it (sparse: no disk and no RAM until written, the same time
        for any size) and returns it as a writable mapped array."""
        if isinstance(shape, int):
            shape = (shape,)
        return self._core.reserve(key, [int(n) for n in shape], dtype)

    def flush(self) -> None:
        """Writes every change, writes through mapped arrays included, to
        the disk (``fsync``)."""
        self._core.flush()

    # -- the file ----------------------------------------------------------

    @property
    def commit_number(self) -> int:
        """The file's commit number now: every change by any process bumps
        it."""
        return self._core.commit_number()

    @commit_number.setter
    def commit_number(self, value: int) -> None:
        """Sets the commit number (as mmappickle 1.0 lets programs do). Other
        processes notice changes by it and the file's length: set it only
        when no other process has the file open."""
        self._core.set_commit_number(int(value))

    def changed(self) -> bool:
        """Whether the file changed (another process or dict wrote to it)
        since this dict last read its entry list."""
        return self._core.changed()

    def info(self) -> dict[str, Any]:
        """Facts about the file: ``path``, ``file_size``, ``commit_number``,
        the counts ``live`` (keys) and ``dead`` (deleted entries and
        fillers), ``frames``, ``clean_tail``, the options (``read_only``,
        ``layout``, ``align``, ``durable``), and ``bytes`` and ``entries``:
        ``{"live", "dead", "filler"}`` totals of the bytes and entries in
        live entries, deleted (or replaced) ones and alignment fillers, as
        ``mmpk info --json`` reports them (``vacuum`` reclaims the last two)."""
        return self._core.info()

    def verify(self) -> list[dict[str, Any]]:
        """Checks every byte of the file's structure: each entry's value
        (arrays and masked arrays validated, other values decoded without
        running anything, deleted entries too: ``pickle.load`` of the whole
        file would fail on any of them) and the end of the file. Returns the
        findings, ``{"offset", "key", "message"}`` each; ``[]`` when sound."""
        return self._core.verify()

    def repair(self) -> dict[str, Any]:
        """Repairs a damaged end of file (a writer killed mid-insert, a
        truncated copy): intact entries are kept, the rest is cut. Run it
        while no other process holds arrays of the file."""
        return self._core.repair()

    def vacuum(self) -> dict[str, Any]:
        """Rewrites the file with its live entries only (crash-safe: a new
        file renamed over the old one). Raises :class:`mmpk.errors.BusyError`
        while arrays of this dict are alive in this process (``del`` them
        first); other processes must not have the file open."""
        from . import errors

        try:
            return self._core.vacuum()
        except errors.BusyError:
            import gc

            gc.collect()
            return self._core.vacuum()

    def upgrade(self) -> list[str]:
        """Rewrites mmappickle 1.0's (v1) array entries in the v2 encoding,
        which every numpy can ``pickle.load``; returns their keys. Follow
        with :meth:`vacuum` to drop the old bytes."""
        return self._core.upgrade()

    def watch(self, timeout: float | None = None) -> Iterator[tuple[Change, str]]:
        """Follows changes made by anyone (other processes included):
        yields ``("added" | "replaced" | "removed", key)`` events, in file
        order, as the commit number moves. Each event describes the
        difference between two states seen, not every operation (a key
        replaced twice between two looks is one ``"replaced"``). Waits with
        the GIL released and Ctrl-C working; stops when no change arrives
        within ``timeout`` seconds (``None``: never)."""
        commit = self._core.commit_number()
        before = dict(self._core.entries())
        while True:
            if not self._core.wait(commit, timeout):
                return
            commit = self._core.commit_number()
            after = dict(self._core.entries())
            for key, offset in after.items():
                if key not in before:
                    yield ("added", key)
                elif before[key] != offset:
                    yield ("replaced", key)
            for key in before:
                if key not in after:
                    yield ("removed", key)
            before = after

    # -- life --------------------------------------------------------------

    @property
    def path(self) -> str:
        """The file's path."""
        return os.fspath(self._core.path)

    @property
    def mode(self) -> str:
        """The mode the dict was opened in."""
        return self._mode

    @property
    def writable(self) -> bool:
        """Whether the dict can be written (not opened with mode ``"r"``)."""
        return not self._core.read_only

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core.closed

    def close(self) -> None:
        """Drops the dict's file handle and its reference to the map; arrays
        still alive keep theirs (the map goes with the last of them). Any
        later use of the dict raises ``ValueError``."""
        self._core.close()
        self._file = None

    def __enter__(self) -> Dict:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"mode={self._mode!r}"
        return f"<mmpk.Dict {self.path!r} {state}>"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickles by path and options (for ``multiprocessing``): the
        receiving process opens the file itself (mode ``"r"`` stays ``"r"``,
        any other becomes ``"r+"``)."""
        if self._core.fd is not None:
            raise TypeError(
                "an mmpk.Dict opened from a file object without a path cannot be pickled"
            )
        mode = "r" if self._mode == "r" else "r+"
        c = self._core
        return (_reopen, (c.path, mode, c.layout, c.align, c.durable, self._trusted))


def _reopen(path: str, mode: str, layout: str, align: int, durable: bool, trusted: bool) -> Dict:
    return open(path, mode, layout=layout, align=align, durable=durable, trusted=trusted)


def _file_target(file: Any) -> tuple[str, int | None]:
    """What to open for a binary file object (flushed first): its path if
    its name still names the same file, else its descriptor (with a name
    for messages)."""
    flush = getattr(file, "flush", None)
    if flush is not None:
        flush()
    fd = file.fileno()
    name = getattr(file, "name", None)
    if isinstance(name, (str, bytes)):
        try:
            a, b = os.stat(name), os.fstat(fd)
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                return os.fsdecode(name), None
        except OSError:
            pass
    return f"<file object, fd {fd}>", fd


def open(
    file: PathLike | BinaryIO,
    mode: Mode = "r",
    *,
    layout: Literal["v2", "mmappickle1"] = "v2",
    align: int = 64,
    durable: bool = False,
    trusted: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Dict | RemoteDict:
    """Opens the mmpk file ``file`` as a :class:`Dict`, or a published one
    (an ``http://``, ``https://`` or ``s3://bucket/key`` URL) as a
    read-only :class:`mmpk.RemoteDict`.

    ``file`` is a path or an open binary file object, which is flushed
    first. A file object whose ``name`` names its file is opened by that
    path; any other (``tempfile.TemporaryFile()``, a descriptor handed over)
    through its descriptor: on Linux a new open of ``/proc/self/fd/N``, so
    the dict has its own file description and lock; its :meth:`Dict.vacuum`
    then works in place (not crash-safe, as mmappickle's), and it cannot be
    pickled. Keep the file object open while the dict is used.

    ``mode``, as ``open()`` and h5py: ``"r"`` read-only, ``"r+"`` read-write
    (the file must exist), ``"a"`` read-write, creating the file if missing,
    ``"w"`` create or truncate, ``"x"`` create (the file must not exist).

    ``layout``: how new arrays are written: ``"v2"`` (numpy 1.23 to 2.x
    ``pickle.load`` them; data aligned to ``align`` bytes, a power of two
    from 8 to 4096) or ``"mmappickle1"`` (mmappickle 1.0's bytes).
    ``durable``: ``fsync`` at every change. ``trusted``: let CPython's
    pickle load values that name globals outside mmpk's allowlist (only for
    files you trust as you would trust code).

    A file that is not an mmpk file raises ``ValueError``
    (:class:`mmpk.errors.NotMmpkError`) and is left unchanged; a plain
    pickled dict is converted by :func:`mmpk.convert`.

    A URL is read with ranged GETs through the Rust crate mmpk-remote (see
    :class:`mmpk.RemoteDict`): only mode ``"r"`` (any other raises
    :class:`mmpk.errors.ReadOnlyError`); ``storage_options`` as s3fs takes
    them (``key``, ``secret``, ``token``, ``anon``, ``endpoint_url``,
    ``client_kwargs={"region_name": ...}``), else the ``AWS_*`` variables;
    ``layout``, ``align`` and ``durable`` do not apply.
    """
    if isinstance(file, str) and file.lower().startswith(_URL_SCHEMES):
        from ._remote import open_url  # (imported for URLs only)

        return open_url(file, mode, trusted, storage_options)
    if storage_options is not None:
        raise TypeError("storage_options are for URLs (http://, https://, s3://), not files")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, _MODES))}, not {mode!r}")
    keep = fd = None
    if isinstance(file, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(file))
    elif hasattr(file, "fileno"):
        path, fd = _file_target(file)
        keep = file
    else:
        raise TypeError(
            f"mmpk.open needs a path or a binary file object, not {type(file).__name__}"
        )
    core = _mmpk.Core.open(path, mode, layout, int(align), bool(durable), fd)
    return Dict(core, mode, bool(trusted), keep)


def convert(src: PathLike | BinaryIO, dst: PathLike | None = None) -> None:
    """Converts the plain pickled dict ``src`` (``pickle.dump(d, f)``, any
    protocol) into an mmpk file at ``dst`` (which must not exist; ``None``:
    in place). numpy arrays and masked arrays become mapped entries; nothing
    in the pickle runs. Crash-safe by path: the new file is written beside
    ``dst`` (or ``src``) and renamed to it once complete. ``src`` may be an open
    binary file object (read and write; flushed first), converted in place
    (not crash-safe: the converted bytes are copied over the old ones). An
    mmpk file is left as it is."""
    if not isinstance(src, (str, bytes, os.PathLike)):
        if dst is not None:
            raise TypeError("mmpk.convert of a file object works in place: give no dst")
        name, fd = _file_target(src)
        _mmpk.convert_in_place(name, fd)
        return
    src = os.fsdecode(os.fspath(src))
    if dst is None:
        _mmpk.convert_in_place(src)
        return
    dst = os.fsdecode(os.fspath(dst))
    if os.path.lexists(dst):
        raise FileExistsError(17, "mmpk.convert: the destination exists", dst)
    _mmpk.convert_to(src, dst)
