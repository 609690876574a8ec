"""Stubs: values that stand for data not yet written (mmappickle 1.0's
``mmappickle.stubs``)."""

from .numpy import EmptyNDArray

__all__ = ["EmptyNDArray"]
