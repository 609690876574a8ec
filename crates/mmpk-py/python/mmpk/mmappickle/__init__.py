"""A drop-in for mmappickle 1.0 programs, on mmpk.

Change one import::

    from mmappickle import mmapdict                 # before
    from mmpk.mmappickle import mmapdict            # after

and the program runs as before, on every numpy from 1.23 to 2.x (mmappickle
1.0 itself fails on numpy 1.24 and later). The module names are
mmappickle's: :mod:`mmpk.mmappickle.dict`, :mod:`mmpk.mmappickle.picklers`
(``.base``, ``.numpy``) and :mod:`mmpk.mmappickle.stubs` (``.numpy``, for
:class:`~mmpk.mmappickle.stubs.numpy.EmptyNDArray`).

Files are mmpk files, which mmappickle 1.0 opens too (and the other way
round); processes using either may share a file at once.

What differs from mmappickle 1.0:

- values other than arrays are decoded without running code the file
  names: classes outside mmpk's allowlist raise
  :class:`mmpk.errors.UnsafePickleError` unless ``mmapdict(..., trusted=True)``;
- new arrays are written in mmpk's v2 layout (aligned; plain
  ``pickle.load`` works on every numpy), not mmappickle's ``fromstring``
  one;
- picklers choose which values are stored and which entries are read, but
  mmpk writes and reads the bytes (a program's own pickler class is asked
  :meth:`~mmpk.mmappickle.picklers.base.BasePickler.is_picklable`, never
  its ``write``);
- :meth:`~mmpk.mmappickle.dict.mmapdict.vacuum` by path is crash-safe (a
  new file renamed over the old one), and refuses to run while arrays of
  the file are alive in this process; :meth:`~mmpk.mmappickle.dict.mmapdict.fsck`
  drops an entry that lost any of its bytes;
- a failed ``m[k] = v`` leaves the old value of ``k`` in place;
- ``len(m)`` and ``iter(m)`` work.
"""

from .dict import mmapdict

#: The mmappickle version whose behaviour this module reproduces.
__version__ = "1.0.0"

__all__ = ["mmapdict", "__version__"]
