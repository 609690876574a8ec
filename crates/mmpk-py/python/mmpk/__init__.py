"""mmpk: a dict in one file that is a valid Python pickle, whose numpy
arrays are memory-mapped instead of loaded.

>>> import mmpk, numpy as np
>>> with mmpk.open("cube.mmpk", "a") as d:          # doctest: +SKIP
...     d["image"] = np.ones((512, 512), "f4")       # written once
...     big = d.reserve("stack", (100, 512, 512), "u2")  # sparse, no RAM
...     big[3] = 7                                   # lands in the file
>>> d = mmpk.open("cube.mmpk")                       # doctest: +SKIP
>>> d["image"].sum()                                 # a zero-copy view

See :func:`mmpk.open` and :class:`mmpk.Dict`; errors are in
:mod:`mmpk.errors`.
"""

from . import errors
from ._dict import Dict, convert, open
from ._mmpk import __version__
from ._values import load, loads
from ._zarr import zarr_refs

__all__ = ["Dict", "open", "convert", "errors", "load", "loads", "zarr_refs", "__version__"]
