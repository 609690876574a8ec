"""mmpk: a dict in one file that is a valid Python pickle, whose numpy
arrays are memory-mapped instead of loaded.

>>> import mmpk, numpy as np
>>> with mmpk.open("cube.mmpk", "a") as d:          # doctest: +SKIP
...     d["image"] = np.ones((512, 512), "f4")       # written once
...     big = d.reserve("stack", (100, 512, 512), "u2")  # sparse, no RAM
...     big[3] = 7                                   # lands in the file
>>> d = mmpk.open("cube.mmpk")                       # doctest: +SKIP
>>> d["image"].sum()                                 # a zero-copy view

>>> r = mmpk.open("s3://bucket/cube.mmpk")           # doctest: +SKIP
>>> r["stack"][10:20]                                # fetches those rows only

See :func:`mmpk.open`, :class:`mmpk.Dict`, :class:`mmpk.RemoteDict` and
:mod:`mmpk.dask`; errors are in
:mod:`mmpk.errors`.
"""

from typing import TYPE_CHECKING, Any

from ._dict import Dict, convert, open
from ._mmpk import __version__

__all__ = [
    "Dict",
    "RemoteDict",
    "RemoteArray",
    "open",
    "convert",
    "set_storage_options",
    "errors",
    "load",
    "loads",
    "zarr_refs",
    "__version__",
]

if TYPE_CHECKING:
    from . import errors
    from ._remote import RemoteArray, RemoteDict, set_storage_options
    from ._values import load, loads
    from ._zarr import zarr_refs

# Imported on first use (PEP 562), so that `import mmpk` costs only what
# `mmpk.open` needs: the rest (and `json` for zarr_refs) loads when named.
_LAZY = {
    "errors": ("errors", None),
    "load": ("_values", "load"),
    "loads": ("_values", "loads"),
    "zarr_refs": ("_zarr", "zarr_refs"),
    "RemoteDict": ("_remote", "RemoteDict"),
    "RemoteArray": ("_remote", "RemoteArray"),
    "set_storage_options": ("_remote", "set_storage_options"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mmpk' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    m = importlib.import_module(f".{module}", __name__)
    value = m if attr is None else getattr(m, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
