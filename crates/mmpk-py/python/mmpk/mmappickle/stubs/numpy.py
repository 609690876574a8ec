"""``EmptyNDArray``: an array to reserve, not to write (as mmappickle 1.0's
``mmappickle.stubs.numpy``)."""

from __future__ import annotations

from typing import Any

import numpy

__all__ = ["EmptyNDArray"]


class EmptyNDArray:
    """A stub of an empty :class:`numpy.ndarray` of ``shape`` and ``dtype``.

    Assigned to a key of an :class:`mmpk.mmappickle.mmapdict`, it reserves
    the array in the file without writing it and without allocating it in
    RAM (the file is sparse there); read the key back to get the writable
    mapped array and fill it in place.

    :param shape: (tuple of ints, or an int) shape of the array
    :param dtype: (:class:`numpy.dtype` or anything it accepts) type of the
        elements; ``float64`` by default (mmappickle's ``numpy.float``,
        which numpy 1.24 and later no longer have).
    """

    def __init__(self, shape: Any, dtype: Any = numpy.float64) -> None:
        self._shape = (int(shape),) if isinstance(shape, int) else tuple(int(n) for n in shape)
        self._dtype = numpy.dtype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the array."""
        return self._shape

    @property
    def dtype(self) -> numpy.dtype:
        """The data type of the array's elements."""
        return self._dtype

    def tofile(self, f: Any) -> None:
        """Moves the stream position of ``f`` past the array's bytes without
        writing them (what mmappickle 1.0's pickler calls)."""
        f.seek(self._dtype.itemsize * int(numpy.prod(self._shape)), 1)

    def __repr__(self) -> str:
        return f"EmptyNDArray({self._shape!r}, dtype={self._dtype.str!r})"
