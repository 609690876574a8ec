"""mmpk: a dict in one file that is a valid Python pickle, whose numpy
arrays are memory-mapped instead of loaded."""

from ._mmpk import __version__
from ._values import load, loads

__all__ = ["__version__", "load", "loads"]
