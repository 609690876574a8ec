"""Safe loading of pickled values: :func:`loads` and :func:`load`.

mmpk decodes pickles with a data-only decoder and never runs code a pickle
names. Builtin values (``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``dict``, ``set``,
``frozenset``; shared references and cycles kept) and an allowlist of
globals are rebuilt by mmpk itself, with constructors it chooses: numpy
arrays, masked arrays, scalars and dtypes (numpy's own pickles of numpy 1.x
and 2.x), ``datetime`` (``date``, ``time``, ``datetime``, ``timedelta``,
``timezone``), ``decimal.Decimal``, ``collections`` (``OrderedDict``,
``defaultdict`` of a builtin factory, ``Counter``, ``deque``),
``uuid.UUID``, ``slice`` and ``range``. Any other global (a class, a
function: ``os.system``, ``builtins.eval``, your own classes) raises
:class:`mmpk.errors.UnsafePickleError` naming it, before anything is built.

``trusted=True`` hands such pickles to Python's own :func:`pickle.loads`,
which imports and calls whatever the pickle names: use it only for data you
trust as you would trust code.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, Any, Union

from . import _mmpk

__all__ = ["loads", "load"]

_Buffer = Union[bytes, bytearray, memoryview]


def loads(data: _Buffer, *, trusted: bool = False, buffers: Iterable[_Buffer] | None = None) -> Any:
    """Return the object a pickle (any protocol, 0 to 5) holds, rebuilt
    without running code it names (see the module docs for what is rebuilt).

    Bytes after the pickle's STOP are ignored, as :func:`pickle.loads` does.
    ``buffers`` are the out-of-band buffers of a protocol-5 pickle, as for
    :func:`pickle.loads` (numpy arrays are rebuilt from them).

    :raises mmpk.errors.UnsafePickleError: the pickle names a global outside
        the allowlist (and ``trusted`` is false); nothing was run.
    :raises mmpk.errors.BadPickleError: the bytes are not a valid pickle, or
        an allowlisted object in it is malformed. Both errors are also
        :class:`pickle.UnpicklingError`.

    With ``trusted=True``, a pickle naming other globals is loaded by
    :func:`pickle.loads` instead (it may run any code).
    """
    if not isinstance(data, (bytes, bytearray)):
        data = memoryview(data).tobytes()
    bufs = [b if isinstance(b, bytes) else memoryview(b).tobytes() for b in buffers or ()]
    obj, _end = _mmpk.loads_prefix(data, trusted, bufs)
    return obj


def load(file: IO[bytes], *, trusted: bool = False) -> Any:
    """Read one pickle from the binary file object ``file`` and return its
    object as :func:`loads` does; a replacement for :func:`pickle.load`.

    On a seekable file the position is left just after the pickle (so
    several pickles written one after another are read one by one, as with
    :func:`pickle.load`); otherwise the rest of the file is consumed.
    """
    try:
        seekable = file.seekable()
    except (AttributeError, ValueError):
        seekable = False
    start = file.tell() if seekable else 0
    data = file.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"file.read() returned {type(data).__name__}, not bytes")
    obj, end = _mmpk.loads_prefix(data, trusted)
    if seekable:
        file.seek(start + end, io.SEEK_SET)
    return obj
