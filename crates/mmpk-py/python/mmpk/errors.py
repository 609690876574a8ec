"""The exceptions of mmpk.

Every error of mmpk's own is an :class:`Error`; each also derives from the
built-in exception a Python user would expect for it, so ``except
ValueError`` or ``except KeyError`` code keeps working. Errors of the
operating system are raised as the usual :class:`OSError` subclasses
(``FileNotFoundError``, ``PermissionError``, ...), with the file name set.
"""

from __future__ import annotations

import io
import pickle

__all__ = [
    "Error",
    "FormatError",
    "NotMmpkError",
    "CorruptError",
    "ChangedError",
    "ReadOnlyError",
    "UnsafePickleError",
    "BadPickleError",
    "UnsupportedError",
    "BusyError",
    "RemoteError",
]


class Error(Exception):
    """Base class of every error mmpk raises for a reason of its own."""


class FormatError(Error, ValueError):
    """The file's bytes do not follow the mmpk format where they must; the
    message names the key and the byte offset."""


class NotMmpkError(FormatError):
    """The file is neither an mmpk file nor, where that is asked, a plain
    pickled dict. Nothing was written to it."""


class CorruptError(FormatError):
    """The entry list ends in a corrupt frame: reading works, writing is
    refused until :meth:`mmpk.Dict.repair` runs."""


class ChangedError(Error):
    """Another process changed the file in a way this dict cannot follow
    (it shrank, was vacuumed or replaced): open it again. For a remote file
    (:class:`mmpk.RemoteDict`, :class:`mmpk.RemoteArray`): the object was
    rewritten under the reader (the entry read is no longer where it was);
    nothing of two versions was returned."""


class ReadOnlyError(Error, io.UnsupportedOperation):
    """A write to a dict opened read-only (``io.UnsupportedOperation``, as
    mmappickle raises)."""


class UnsafePickleError(Error, pickle.UnpicklingError):
    """A stored value names a global (a class or function) outside mmpk's
    allowlist. Nothing from the file was run. Open the file with
    ``trusted=True`` to let CPython's pickle load such values, and only for
    files you trust as you would trust code."""


class BadPickleError(FormatError, pickle.UnpicklingError):
    """A stored value (or a pickle given to :func:`mmpk.loads`) cannot be
    decoded: its bytes are damaged or hostile, or an allowlisted object in
    it is malformed (not what Python writes for it). Nothing was run."""


class UnsupportedError(Error, TypeError):
    """A value, dtype or operation mmpk does not support."""


class BusyError(Error, RuntimeError):
    """The operation conflicts with arrays of the file still alive in this
    process (for example vacuum while arrays view the file)."""


class RemoteError(Error, OSError):
    """A request to a remote file failed after its retries: the server
    could not be reached, answered an error status, or ignores ``Range``
    (it would send the whole object). A missing object is
    :class:`FileNotFoundError`, refused credentials :class:`PermissionError`."""
