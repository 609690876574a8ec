"""The safety model: pickles naming globals outside the allowlist raise
UnsafePickleError naming them and run nothing (each gadget is shown to run
under pickle.loads, then shown not to run under mmpk.loads); trusted=True
loads custom classes with CPython's pickle; hostile and damaged bytes raise
exceptions, never crash."""

from __future__ import annotations

import datetime
import io
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmpk
from mmpk.errors import BadPickleError, Error, UnsafePickleError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


class Point:
    """A custom class: refused by default, loaded with trusted=True."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


class Reducer:
    """A class whose reduce names a module-level function."""

    def __reduce__(self):
        return (datetime.date.fromordinal, (7,))


def s(text: str) -> bytes:
    """A protocol-0 string argument."""
    return repr(text).encode() + b"\n"


def gadgets(marker: Path) -> list[tuple[str, bytes]]:
    """Pickles that create `marker` when pickle.loads runs them: (the
    dotted name mmpk must refuse, the bytes)."""
    m = str(marker)
    touch = f"touch {m}"
    py_touch = f"open({m!r}, 'w').close()"
    return [
        ("os.system", b"cos\nsystem\n(S" + s(touch) + b"tR."),
        ("posix.system", b"cposix\nsystem\n(S" + s(touch) + b"tR."),
        ("builtins.eval", b"cbuiltins\neval\n(S" + s(py_touch) + b"tR."),
        ("builtins.exec", b"cbuiltins\nexec\n(S" + s(py_touch) + b"tR."),
        ("subprocess.Popen", b"csubprocess\nPopen\n((S'touch'\nS" + s(m) + b"ltR."),
        (
            "subprocess.check_call",
            b"csubprocess\ncheck_call\n((S'touch'\nS" + s(m) + b"ltR.",
        ),
        # getattr(__import__('os'), 'system')('touch ...')
        (
            "builtins.getattr",
            b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S"
            + s(touch)
            + b"tR.",
        ),
        # Imports run the imported module (one written by the test that
        # creates the marker; see GADGET_MODULE).
        ("importlib.import_module", b"cimportlib\nimport_module\n(S'mmpk_gadget'\ntR."),
        ("builtins.__import__", b"cbuiltins\n__import__\n(S'mmpk_gadget'\ntR."),
        ("mmpk_gadget.anything", b"cmmpk_gadget\nanything\n."),
        # INST and OBJ call their class too.
        ("os.system", b"(S" + s(touch) + b"ios\nsystem\n."),
        ("os.system", b"(cos\nsystem\nS" + s(touch) + b"o."),
        # Protocol 4: STACK_GLOBAL + REDUCE, and NEWOBJ.
        (
            "os.system",
            b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c"
            + bytes([len(touch)])
            + touch.encode()
            + b"\x85R.",
        ),
        (
            "subprocess.Popen",
            b"\x80\x04\x8c\nsubprocess\x8c\x05Popen\x93(\x8c\x05touch\x8c"
            + bytes([len(m)])
            + m.encode()
            + b"l\x85R.",
        ),
        # Hidden inside allowlisted containers and objects.
        ("os.system", b"(lp0\nI1\nacos\nsystem\n(S" + s(touch) + b"tRa."),
        ("os.system", b"(dS'k'\ncos\nsystem\n(S" + s(touch) + b"tRs."),
        (
            "os.system",
            b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R\x8c\x01k"
            b"\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(touch)]) + touch.encode() + b"\x85Rs.",
        ),
        # A datetime whose tzinfo is the gadget.
        (
            "os.system",
            b"\x80\x04\x8c\x08datetime\x8c\x04time\x93C\x06\x01\x02\x03\x00\x00\x00"
            b"\x8c\x02os\x8c\x06system\x93\x8c"
            + bytes([len(touch)])
            + touch.encode()
            + b"\x85R\x86R.",
        ),
    ]


@pytest.mark.parametrize("index", range(len(gadgets(Path("/x")))))
def test_gadgets_run_under_pickle_but_not_under_mmpk(tmp_path, index):
    marker = tmp_path / "marker"
    name, data = gadgets(marker)[index]
    (tmp_path / "mmpk_gadget.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    # The gadget is real: CPython's pickle runs it (in a child process).
    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, timeout=60, env=env
    )
    assert marker.exists(), f"the {name} gadget did not run under pickle.loads"
    marker.unlink()
    # mmpk refuses it, naming the global and the way to opt in; nothing ran
    # (the gadget module is importable here too).
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(UnsafePickleError) as e:
            mmpk.loads(data)
        with pytest.raises(UnsafePickleError):
            mmpk.load(io.BytesIO(data))
    finally:
        sys.path.remove(str(tmp_path))
    assert name in str(e.value) and "trusted=True" in str(e.value)
    assert isinstance(e.value, pickle.UnpicklingError) and isinstance(e.value, Error)
    assert not marker.exists()
    assert "mmpk_gadget" not in sys.modules


def test_defaultdict_factory_must_be_a_builtin_type(tmp_path):
    data = b"\x80\x04\x8c\x0bcollections\x8c\x0bdefaultdict\x93\x8c\x02os\x8c\x06system\x93\x85R."
    with pytest.raises(UnsafePickleError, match="os.system"):
        mmpk.loads(data)
    data = (
        b"\x80\x04\x8c\x0bcollections\x8c\x0bdefaultdict\x93\x8c\x08builtins\x8c\x04list\x93\x85R."
    )
    assert mmpk.loads(data).default_factory is list


def test_allowlisted_names_used_otherwise_are_refused():
    # complex('1+2j'): Python never pickles text for complex.
    with pytest.raises(BadPickleError, match="not a number"):
        mmpk.loads(b"cbuiltins\ncomplex\n(S'1+2j'\ntR.")
    # A datetime with state set by BUILD (would call __setstate__).
    with pytest.raises(BadPickleError, match="state"):
        mmpk.loads(b"cdatetime\ndate\n(C\x04\x07\xea\x01\x02tR(dS'x'\nI1\nsb.")
    # A call of an object that is not a global.
    with pytest.raises(UnsafePickleError, match="builtins.getattr"):
        mmpk.loads(b"cbuiltins\ngetattr\n(I1\nS'real'\ntR)R.")
    # Extension codes name globals through copyreg's registry.
    with pytest.raises(UnsafePickleError, match="extension code"):
        mmpk.loads(b"\x80\x02\x82\x01.")
    # numpy's _reconstruct of a dtype mmpk does not read (here a subarray
    # field whose size is not its base's times its shape) is numpy's name,
    # but not rebuilt.
    np = pytest.importorskip("numpy")
    a = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))])
    data = pickle.dumps(a, 4)
    at = data.rfind(b"K\x02\x85")  # the subarray's shape (2,)
    data = data[:at] + b"K\x03\x85" + data[at + 3 :]
    with pytest.raises(UnsafePickleError, match="_reconstruct"):
        mmpk.loads(data)
    # An object array's items are rebuilt like any value: a gadget inside
    # is refused.
    with pytest.raises(UnsafePickleError, match="test_safety.Point"):
        mmpk.loads(pickle.dumps(np.array([Point(1, 2)], dtype=object)))


def test_trusted_loads_custom_classes():
    data = pickle.dumps({"p": Point(1, 2), "d": datetime.date(2026, 1, 1)}, 4)
    with pytest.raises(UnsafePickleError, match=r"test_safety\.Point"):
        mmpk.loads(data)
    assert mmpk.loads(data, trusted=True) == {"p": Point(1, 2), "d": datetime.date(2026, 1, 1)}
    # A classmethod pickles as getattr(datetime.date, 'fromordinal').
    with pytest.raises(UnsafePickleError, match="builtins.getattr"):
        mmpk.loads(pickle.dumps(Reducer()))
    assert mmpk.loads(pickle.dumps(Reducer()), trusted=True) == datetime.date.fromordinal(7)
    # trusted=True does not change what allowlisted values are.
    assert mmpk.loads(pickle.dumps([1, 2]), trusted=True) == [1, 2]


# -------------------------------------------------------- hostile and damaged


def _manifest(path):
    return json.loads(path.read_text())


HOSTILE = _manifest(FIXTURES / "hostile" / "manifest.json")


@pytest.mark.parametrize("row", HOSTILE, ids=lambda r: r["file"])
def test_hostile_fixtures_raise(row):
    data = (FIXTURES / "hostile" / row["file"]).read_bytes()
    if row["cpython_error"] is None and row["canon_error"] is None:
        mmpk.loads(data)
        return
    with pytest.raises((BadPickleError, UnsafePickleError)):
        mmpk.loads(data)


def _corpus():
    files = sorted((FIXTURES / "pickle").glob("*.pkl"))
    rng = random.Random(13)
    return [p.read_bytes() for p in rng.sample(files, 200) if p.stat().st_size < 20000]


CORPUS = _corpus()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.integers(0, 10**6),
)
def test_damaged_pickles_raise_or_load(data, flips, cut):
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    b = bytes(b[: max(1, cut % (len(b) + 1))])
    try:
        mmpk.loads(b)
    except (BadPickleError, UnsafePickleError):
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_or_load(data):
    try:
        mmpk.loads(b"\x80\x04" + data)
    except (BadPickleError, UnsafePickleError):
        pass


@pytest.mark.parametrize("dtype", ["S0", "U0"])
def test_zero_size_dtypes_cannot_ask_for_unbounded_memory(dtype):
    # numpy widens S0/U0 to one character: 2**40 elements without bytes
    # would allocate a terabyte. numpy itself never pickles such an array.
    hostile = (
        b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR"
        b"(I1\n(I1099511627776\ntcnumpy\ndtype\n(S'" + dtype.encode() + b"'\nI00\nI01\ntR"
        b"(I3\nS'|'\nNNNI0\nI1\nI0\ntbI00\nS''\ntb."
    )
    with pytest.raises(BadPickleError, match="without its bytes"):
        mmpk.loads(hostile)
    # A zero-size void dtype costs nothing at any shape.
    v0 = mmpk.loads(hostile.replace(dtype.encode(), b"V0"))
    assert v0.shape == (2**40,) and v0.nbytes == 0
