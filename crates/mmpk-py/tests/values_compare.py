"""A strict comparison of two object graphs for the value tests: same types,
same values (NaN bits, signed zeros, numpy dtypes and bytes included) and
the same sharing (a node shared twice on one side is shared on the other;
cycles are followed). Iterative, so a million nested lists compare."""

from __future__ import annotations

import collections
import decimal
import math
import struct
from typing import Any

import numpy as np

# Mutable containers: identity must correspond both ways.
_MUTABLE = (list, dict, set, bytearray, collections.deque)


def _float_same(x: float, y: float) -> bool:
    return struct.pack("<d", x) == struct.pack("<d", y) or (math.isnan(x) and math.isnan(y))


def _array_same(x: np.ndarray, y: np.ndarray) -> str | None:
    if (
        x.dtype != y.dtype
        and x.dtype.names is None
        and x.dtype.newbyteorder("<") == y.dtype.newbyteorder("<")
    ):
        # numpy's own loading of protocol 0-2 pickles swaps non-native arrays
        # to native order; mmpk keeps the stored order: the values must agree.
        x = x.astype(y.dtype)
    if x.dtype != y.dtype or x.dtype.descr != y.dtype.descr:
        return f"dtype {x.dtype!r} != {y.dtype!r}"
    if x.shape != y.shape:
        return f"shape {x.shape} != {y.shape}"
    if x.dtype.hasobject:
        return None  # items compared by the caller, as a list's
    if x.tobytes(order="C") != y.tobytes(order="C"):
        return "array bytes differ"
    if isinstance(x, np.ma.MaskedArray):
        xm = np.ma.getmaskarray(x)
        ym = np.ma.getmaskarray(y)
        if xm.tobytes() != ym.tobytes():
            return "masks differ"
    return None


def _canon(x: Any) -> str:
    """A text of a hashable value that does not depend on set order."""
    if isinstance(x, (set, frozenset)):
        return f"{type(x).__name__}{{{','.join(sorted(_canon(m) for m in x))}}}"
    if isinstance(x, tuple):
        return f"({','.join(_canon(m) for m in x)})"
    return repr(x)


def difference(a: Any, b: Any) -> str | None:
    """None if ``b`` is a faithful copy of ``a``, else what differs."""
    fwd: dict[int, int] = {}
    back: dict[int, int] = {}
    keep = []
    stack = [(a, b, "root")]
    while stack:
        x, y, path = stack.pop()
        if type(x) is not type(y):
            return f"{path}: type {type(x).__name__} != {type(y).__name__}"
        if isinstance(x, (np.ndarray, np.generic, np.dtype)):
            if isinstance(x, np.ndarray):
                d = _array_same(x, y)
                if d:
                    return f"{path}: {d}"
                if x.dtype.hasobject:
                    if id(x) in fwd:
                        if fwd[id(x)] != id(y):
                            return f"{path}: shared on one side only"
                        continue
                    fwd[id(x)] = id(y)
                    keep.append((x, y))
                    for i, (xi, yi) in enumerate(zip(x.ravel(order="K"), y.ravel(order="K"))):
                        stack.append((xi, yi, f"{path}.flat[{i}]"))
            elif isinstance(x, np.dtype):
                if x != y or x.descr != y.descr:
                    return f"{path}: dtype {x!r} != {y!r}"
            else:
                if x.dtype != y.dtype or x.tobytes() != y.tobytes():
                    return f"{path}: numpy scalar {x!r} != {y!r}"
            continue
        if isinstance(x, (list, tuple, dict, set, frozenset, bytearray, collections.deque)):
            if id(x) in fwd:
                if fwd[id(x)] != id(y):
                    return f"{path}: shared on one side only"
                continue
            if isinstance(x, _MUTABLE):
                if id(y) in back:
                    return f"{path}: shared on the other side only"
                back[id(y)] = id(x)
            fwd[id(x)] = id(y)
            keep.append((x, y))
        if isinstance(x, float):
            if not _float_same(x, y):
                return f"{path}: {x!r} != {y!r}"
        elif isinstance(x, complex):
            if not (_float_same(x.real, y.real) and _float_same(x.imag, y.imag)):
                return f"{path}: {x!r} != {y!r}"
        elif isinstance(x, decimal.Decimal):
            if str(x) != str(y):
                return f"{path}: {x!r} != {y!r}"
        elif isinstance(x, (list, tuple, collections.deque)):
            if len(x) != len(y):
                return f"{path}: length {len(x)} != {len(y)}"
            if isinstance(x, collections.deque) and x.maxlen != y.maxlen:
                return f"{path}: maxlen {x.maxlen} != {y.maxlen}"
            for i, (xi, yi) in enumerate(zip(x, y)):
                stack.append((xi, yi, f"{path}[{i}]"))
        elif isinstance(x, dict):
            if isinstance(x, collections.defaultdict) and x.default_factory != y.default_factory:
                return f"{path}: default_factory differs"
            if len(x) != len(y):
                return f"{path}: length {len(x)} != {len(y)}"
            for i, ((kx, vx), (ky, vy)) in enumerate(zip(x.items(), y.items())):
                stack.append((kx, ky, f"{path}.key{i}"))
                stack.append((vx, vy, f"{path}[{kx!r}]"))
        elif isinstance(x, (set, frozenset)):
            # Members are hashable (immutable): compared by repr, in any
            # order (a NaN's hash is its identity, so order may differ).
            if _canon(x) != _canon(y):
                return f"{path}: {x!r} != {y!r}"
        elif isinstance(x, int):
            if x != y:
                return f"{path}: ints differ"
        elif isinstance(x, slice):
            for part in ("start", "stop", "step"):
                stack.append((getattr(x, part), getattr(y, part), f"{path}.{part}"))
        else:
            if x != y or repr(x) != repr(y):
                return f"{path}: {x!r} != {y!r}"
            if hasattr(x, "fold") and x.fold != y.fold:
                return f"{path}: fold differs"
    return None


def assert_same(a: Any, b: Any) -> None:
    d = difference(a, b)
    assert d is None, d
