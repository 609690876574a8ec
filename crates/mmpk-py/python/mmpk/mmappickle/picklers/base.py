"""The pickler classes every ``mmapdict`` knows (mmappickle 1.0's
``mmappickle.picklers.base``).

In mmappickle 1.0 a pickler writes and reads an entry's bytes itself. Here
mmpk writes and reads every entry (arrays mapped, other values decoded
safely); a pickler says which values may be stored and which stored entries
may be read, so that ``picklers=`` lists behave as in mmappickle 1.0:

- :meth:`BasePickler.is_picklable` chooses the first pickler, in decreasing
  :attr:`~BasePickler.priority`, that accepts a value to store (none:
  ``TypeError``), and so how it is stored: an array pickler stores a mapped
  array, the generic pickler a pickled value (numpy arrays are mapped
  whatever the pickler);
- on reading, the first pickler that reads the entry's kind decides what
  comes back: :class:`~mmpk.mmappickle.picklers.numpy.ArrayPickler` a
  :class:`numpy.memmap` over the file,
  :class:`~mmpk.mmappickle.picklers.numpy.MaskedArrayPickler` a masked
  array whose ``data`` and ``mask`` are :class:`numpy.memmap`,
  :class:`GenericPickler` anything (arrays as plain :class:`numpy.ndarray`
  views); no pickler: ``ValueError``.

A pickler class of a program's own (a subclass of :class:`BasePickler`) is
found as in mmappickle 1.0 when ``picklers`` is ``None``; its
:meth:`~BasePickler.is_picklable` is asked, and what it accepts is stored
by mmpk (as a pickle, or a mapped array for numpy arrays), never through
its ``write``; it reads what the class it derives from reads.
"""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["BasePickler", "GenericPickler"]


class BasePickler:
    """Base class of the picklers; picklers are tried in decreasing
    :attr:`priority` order."""

    priority = 0

    #: The kinds of stored entries this pickler reads: any of ``"array"``,
    #: ``"masked"`` and ``"value"``.
    _reads: frozenset[str] = frozenset()

    def __init__(self, parent_object: Any) -> None:
        """``parent_object``: the :class:`~mmpk.mmappickle.mmapdict` (held
        weakly, as in mmappickle 1.0)."""
        self._parent_object = weakref.ref(parent_object)

    def is_picklable(self, obj: Any) -> bool:
        """Whether this pickler accepts ``obj`` for storing."""
        return False

    def is_valid(self, offset: int, length: int) -> bool:
        """mmappickle 1.0's test of an entry's bytes; entries are told
        apart by mmpk here, so this is ``False`` (kept for programs that
        override it)."""
        return False

    def read(self, offset: int, length: int) -> Any:
        """Not used: mmpk reads every entry (see the module docs)."""
        raise NotImplementedError("mmpk.mmappickle reads entries through mmpk")

    def write(self, obj: Any, offset: int, memo_start_idx: int = 0) -> Any:
        """Not used: mmpk writes every entry (see the module docs)."""
        raise NotImplementedError("mmpk.mmappickle writes entries through mmpk")


class GenericPickler(BasePickler):
    """Stores any picklable value (numpy arrays as mapped arrays, anything
    else pickled at protocol 4) and reads every entry: the catch-all, of
    the lowest priority."""

    _reads = frozenset({"array", "masked", "value"})

    @property
    def priority(self) -> int:  # type: ignore[override]
        return -100

    def is_valid(self, offset: int, length: int) -> bool:
        """Every entry (the catch-all)."""
        return True

    def is_picklable(self, obj: Any) -> bool:
        """Every value (the catch-all)."""
        return True
