"""``mmapdict``: mmappickle 1.0's dict, on mmpk (``mmappickle.dict``).

Opening, reading, writing, locking and maintenance are mmpk's; this module
keeps mmappickle 1.0's names, signatures, return types and exceptions on
top of :class:`mmpk.Dict`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy

from .. import _dict as _mmpk_dict
from .. import _mmpk
from ..errors import NotMmpkError, ReadOnlyError
from .picklers.base import BasePickler
from .stubs.numpy import EmptyNDArray

__all__ = ["mmapdict"]

#: The methods mmappickle 1.0 asks of a file object (else ``TypeError``).
_REQUIRED_FILE_METHODS = ("fileno", "seek", "read", "write", "writable", "truncate", "tell")


def _all_subclasses(cls: type) -> list[type]:
    return cls.__subclasses__() + [g for s in cls.__subclasses__() for g in _all_subclasses(s)]


class mmapdict:  # noqa: N801 - mmappickle's name
    """A dict stored in one file whose numpy arrays are memory-mapped:
    mmappickle 1.0's ``mmapdict``, on mmpk.

    ``mmapdict(file, readonly=False, picklers=None)`` opens ``file``, a path
    (``str`` or ``os.PathLike``) or an open binary file object (flushed
    first, then used through its descriptor: ``tempfile.TemporaryFile()``
    works). A path is created if missing (unless ``readonly``: then
    ``FileNotFoundError``); so is an empty file. A plain pickled dict is
    converted to the mmpk format in place (nothing in it runs); any other
    file raises ``ValueError`` and is left unchanged. A file object is
    read-only when it is not writable.

    Arrays come back as :class:`numpy.memmap` views of the file (writable
    unless read-only), masked arrays with ``data`` and ``mask`` as
    :class:`numpy.memmap`; other values are decoded without running code
    the file names. Values of classes outside mmpk's allowlist raise
    :class:`mmpk.errors.UnsafePickleError` unless ``trusted=True`` (an mmpk
    addition: only for files you trust as you trust code).

    Several processes may use one file at once (the same ``flock`` as
    mmappickle 1.0, which may take part). An ``mmapdict`` pickles by path
    and mode, so ``multiprocessing`` passes it to workers.
    """

    def __init__(
        self,
        file: Any,
        readonly: bool | None = False,
        picklers: list[type[BasePickler]] | None = None,
        *,
        trusted: bool = False,
    ) -> None:
        """Opens (or creates, or converts) the dict in ``file``; see the
        class docs. ``picklers``: the pickler classes to use (default:
        every subclass of :class:`~mmpk.mmappickle.picklers.base.BasePickler`).
        """
        if isinstance(file, (str, os.PathLike)):
            self._file = None
            self._path = os.fspath(file)
            if isinstance(self._path, bytes):
                self._path = os.fsdecode(self._path)
        else:
            missing = [m for m in _REQUIRED_FILE_METHODS if not hasattr(file, m)]
            if missing:
                raise TypeError(
                    "file should be a str, or have the following methods: "
                    + ", ".join(_REQUIRED_FILE_METHODS)
                )
            try:
                file.fileno()
            except (OSError, ValueError) as e:
                raise TypeError(
                    "file should be a str or a file object with a descriptor "
                    f"(mmpk maps the file: {type(file).__name__} cannot be mapped)"
                ) from e
            self._file = file
            self._path = None
        self._readonly = bool(readonly) if self._file is None else not file.writable()
        self._trusted = bool(trusted)
        if picklers is None:
            picklers = _all_subclasses(BasePickler)
        self._picklers = sorted((p(self) for p in picklers), key=lambda x: x.priority, reverse=True)
        self._d = self._open()

    # -- opening -----------------------------------------------------------

    def _size(self) -> int | None:
        """The file's size now (``None``: missing)."""
        if self._file is not None:
            self._file.flush()
            return os.fstat(self._file.fileno()).st_size
        try:
            return os.stat(self._path).st_size
        except FileNotFoundError:
            return None

    def _open(self) -> Any:
        size = self._size()
        if self._readonly:
            if size is None:
                raise FileNotFoundError(
                    2, f"Cannot readonly memmap a non-existent file {self._path!r}", self._path
                )
            mode = "r"
        else:
            # Created only when missing or empty: a file shorter than a
            # header is refused (mmpk would finish an interrupted creation).
            mode = "a" if not size else "r+"
        try:
            return self._open_mode(mode)
        except NotMmpkError as e:
            not_mmpk = e
        if self._readonly:
            raise ReadOnlyError(
                f"{self._name()} is not an mmpk file; converting it needs write access"
            ) from not_mmpk
        try:
            self._convert()
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"{self._name()} is neither an mmpk file nor a pickled dict: {e}"
            ) from e
        return self._open_mode("r+")

    def _open_mode(self, mode: str) -> _mmpk_dict.Dict:
        """The :class:`mmpk.Dict` of the file in ``mode``. A file object is
        used through its descriptor (a new description of the same open
        file), so that it sees every change, in-place vacuums included, as
        with mmappickle 1.0."""
        if self._file is None:
            return _mmpk_dict.open(self._path, mode, trusted=self._trusted)
        core = _mmpk.Core.open(self._name(), mode, "v2", 64, False, self._file.fileno())
        return _mmpk_dict.Dict(core, mode, self._trusted, self._file)

    def _convert(self) -> None:
        """Converts the plain pickled dict in the file in place."""
        if self._file is None:
            _mmpk_dict.convert(self._path)
        else:
            _mmpk.convert_in_place(self._name(), self._file.fileno())

    def _name(self) -> str:
        if self._file is None:
            return self._path
        name = getattr(self._file, "name", None)
        return name if isinstance(name, str) else f"<file descriptor {self._file.fileno()}>"

    # -- pickling (multiprocessing) ----------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The state another process reopens the file from (by path)."""
        path = self._path
        if path is None:
            name = getattr(self._file, "name", None)
            if not isinstance(name, str):
                raise TypeError(
                    "an mmapdict on an unnamed file object cannot be pickled "
                    "(open the file by path to pass it to other processes)"
                )
            path = name
        return {
            "path": path,
            "readonly": self._readonly,
            "picklers": [p.__class__ for p in self._picklers],
            "trusted": self._trusted,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"], state["readonly"], state["picklers"], trusted=state["trusted"]
        )

    # -- properties --------------------------------------------------------

    @property
    def writable(self) -> bool:
        """True if the file is writable, False otherwise."""
        return not self._readonly

    @property
    def commit_number(self) -> int:
        """The commit number of the file: every change, by any process,
        changes it, so an unchanged number means unchanged keys. Setting it
        is allowed (as in mmappickle 1.0), though rarely useful."""
        return self._d.commit_number

    @commit_number.setter
    def commit_number(self, value: int) -> None:
        self._check_writable()
        if type(value) is not int:
            raise TypeError("commit_number should be an int")
        self._d.commit_number = value

    def _check_writable(self) -> None:
        if self._readonly:
            raise ReadOnlyError("not writable")

    # -- the mapping -------------------------------------------------------

    def __contains__(self, k: object) -> bool:
        """Whether key ``k`` is in the dict."""
        return isinstance(k, str) and k in self._d

    def keys(self) -> Any:
        """A set-like view of the keys (a snapshot, in file order)."""
        return dict.fromkeys(self._d.keys()).keys()

    def __iter__(self) -> Any:
        """The keys (a snapshot, in file order); an mmpk addition."""
        return iter(list(self._d.keys()))

    def __len__(self) -> int:
        """The number of keys; an mmpk addition."""
        return len(self._d)

    def __bool__(self) -> bool:
        """Always true, as mmappickle 1.0's ``mmapdict`` (which has no
        ``__len__``)."""
        return True

    def __setitem__(self, k: str, v: Any) -> None:
        """Stores ``v`` under key ``k`` (a ``str`` of at most 255 UTF-8
        bytes), replacing any value it had; the old bytes stay in the file
        until :meth:`vacuum`. The first pickler that accepts ``v`` decides
        how it is stored (none: ``TypeError``)."""
        self._check_writable()
        if not isinstance(k, str):
            raise TypeError("key should be a string")
        pickler = next((p for p in self._picklers if p.is_picklable(v)), None)
        if pickler is None:
            raise TypeError(f"Could not find a pickler for element of type {type(v)}")
        if isinstance(v, EmptyNDArray):
            if "array" in pickler._reads:
                self._d.reserve(k, v.shape, v.dtype)
                return
        self._d[k] = v

    def __getitem__(self, k: str) -> Any:
        """The value of key ``k`` (``KeyError`` if missing): arrays as
        :class:`numpy.memmap` views of the file."""
        if not isinstance(k, str):
            raise KeyError(k)
        value = self._d[k]
        if isinstance(value, numpy.ma.MaskedArray):
            kind = "masked"
        elif isinstance(value, numpy.ndarray):
            kind = "array"
        else:
            kind = "value"
        pickler = next((p for p in self._picklers if kind in p._reads), None)
        if pickler is None:
            raise ValueError(f"No picklers are valid to key {k!r}")
        if kind == "value" or "value" in pickler._reads:
            # The generic pickler: arrays as they are (ndarray views).
            return numpy.asarray(value) if kind == "array" else value
        if kind == "array":
            return self._memmap(value)
        data = self._memmap(value.data)
        mask = self._memmap(
            numpy.ma.getmaskarray(value) if value.mask is numpy.ma.nomask else value.mask
        )
        masked = numpy.ma.MaskedArray(data, False)
        masked._mask = mask
        return masked

    def _memmap(self, a: numpy.ndarray) -> numpy.memmap:
        """``a`` (a view of the file) as a :class:`numpy.memmap`, no copy."""
        m = a.view(numpy.memmap)
        m.filename = os.path.abspath(self._path) if self._path is not None else None
        m.mode = "r" if self._readonly else "r+"
        return m

    def __delitem__(self, k: str) -> None:
        """Removes key ``k`` (``KeyError`` if missing); its bytes stay in
        the file until :meth:`vacuum`."""
        self._check_writable()
        if not isinstance(k, str):
            raise KeyError(k)
        del self._d[k]

    # -- maintenance -------------------------------------------------------

    def vacuum(self, chunk_size: int = 1048576) -> None:
        """Frees the bytes of removed and replaced keys. A dict opened by
        path is rewritten into a new file renamed over the old one
        (crash-safe); one opened from a file object is compacted in place.
        Raises :class:`mmpk.errors.BusyError` while arrays of the file are
        alive in this process; no other process may use the file meanwhile.
        ``chunk_size`` is accepted for mmappickle 1.0's signature."""
        self._check_writable()
        self._d.vacuum()

    def fsck(self) -> bool:
        """Repairs a file whose end is damaged (a writer killed or a disk
        full mid-write): the intact entries are kept, the rest is cut and
        the terminator rewritten. Returns ``True`` if the file was intact.
        May lose data, as in mmappickle 1.0."""
        self._check_writable()
        return not self._d.repair()["changed"]

    def __repr__(self) -> str:
        return f"<mmpk.mmappickle.mmapdict {self._name()!r}>"
