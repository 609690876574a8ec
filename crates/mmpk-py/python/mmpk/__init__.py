"""mmpk: a dict in one file that is a valid Python pickle, whose numpy
arrays are memory-mapped instead of loaded."""

from ._mmpk import __version__

__all__ = ["__version__"]
