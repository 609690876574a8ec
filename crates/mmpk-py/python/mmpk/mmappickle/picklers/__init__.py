"""The picklers (mmappickle 1.0's ``mmappickle.picklers``): which values an
``mmapdict`` stores and how stored entries come back; see
:mod:`mmpk.mmappickle.picklers.base`."""

from .base import BasePickler, GenericPickler
from .numpy import ArrayPickler, MaskedArrayPickler

__all__ = ["BasePickler", "GenericPickler", "ArrayPickler", "MaskedArrayPickler"]
