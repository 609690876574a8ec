"""The numpy picklers (mmappickle 1.0's ``mmappickle.picklers.numpy``): see
:mod:`mmpk.mmappickle.picklers.base` for what a pickler decides here."""

from __future__ import annotations

from typing import Any

import numpy

from ..stubs.numpy import EmptyNDArray
from .base import BasePickler

__all__ = ["ArrayPickler", "MaskedArrayPickler"]


class ArrayPickler(BasePickler):
    """Stores :class:`numpy.ndarray` and :class:`numpy.memmap` values as
    mapped arrays, and reserves :class:`~mmpk.mmappickle.stubs.numpy.EmptyNDArray`
    ones; reads array entries as :class:`numpy.memmap` over the file
    (writable unless the dict is read-only)."""

    _reads = frozenset({"array"})

    @property
    def priority(self) -> int:  # type: ignore[override]
        return 100

    def is_picklable(self, obj: Any) -> bool:
        """Exactly an ndarray, a memmap or an ``EmptyNDArray`` (as
        mmappickle 1.0: subclasses such as masked arrays are not)."""
        return type(obj) in (numpy.ndarray, numpy.memmap, EmptyNDArray)


class MaskedArrayPickler(BasePickler):
    """Stores :class:`numpy.ma.MaskedArray` values with both parts mapped;
    reads masked entries as masked arrays whose ``data`` and ``mask`` are
    :class:`numpy.memmap` over the file."""

    _reads = frozenset({"masked"})

    @property
    def priority(self) -> int:  # type: ignore[override]
        return 100

    def is_picklable(self, obj: Any) -> bool:
        """Exactly a :class:`numpy.ma.MaskedArray`."""
        return type(obj) is numpy.ma.MaskedArray
