"""Values other than arrays through an mmpk file: `d[k] = v` stores
CPython's pickle.dumps(v, 4) as a generic entry, `d[k]` rebuilds it with the
safe decoder; shared references and cycles survive, the whole file stays a
pickle CPython loads, entries written late in a file (large memo indices)
load, custom classes need trusted=True, and damaged value bytes raise."""

from __future__ import annotations

import collections
import datetime
import decimal
import itertools
import json
import pickle
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from test_values import EXAMPLES, graphs, values
from values_compare import assert_same, difference

import mmpk
from mmpk.errors import BadPickleError, FormatError, UnsafePickleError


class Point:
    """A custom class (stored fine, read back only with trusted=True)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


def pickled(v):
    """`v` as stored through the value path: a top-level array (not of
    objects) would be mapped instead (tests/test_arrays.py), so it goes in
    a list."""
    if isinstance(v, np.ndarray) and not v.dtype.hasobject:
        return [v]
    return v


EXAMPLES = [pickled(v) for v in EXAMPLES]


def test_examples_round_trip_and_the_file_is_a_pickle(path):
    with mmpk.open(path, "w") as d:
        for i, v in enumerate(EXAMPLES):
            d[f"k{i}"] = v
    with mmpk.open(path) as d:
        for i, v in enumerate(EXAMPLES):
            # What CPython's own round trip at protocol 4 gives.
            assert_same(pickle.loads(pickle.dumps(v, 4)), d[f"k{i}"])
    with open(path, "rb") as f:
        whole = pickle.load(f)
    for i, v in enumerate(EXAMPLES):
        assert_same(pickle.loads(pickle.dumps(v, 4)), whole[f"k{i}"])
    # The same value stored twice is byte for byte what mmpk stores (the
    # memo renumbered for the file): reading it gives the same object.
    with mmpk.open(path, "a") as d:
        d["again"] = EXAMPLES
        assert_same(pickle.loads(pickle.dumps(EXAMPLES, 4)), d["again"])


@pytest.mark.parametrize("kind", ["plain", "shared", "small"])
def test_values_are_the_bytes_mmappickle_writes(tmp_path, kind):
    """Large values (64 KiB of ops and more are written apart from their
    entry's head) and small ones, with and without memo fetches: the whole
    file is byte for byte the one mmappickle 1.0 writes."""
    mmappickle = pytest.importorskip("mmappickle")
    s = "shared"
    value = {
        "plain": {str(i): [i, float(i), str(i)] for i in range(20_000)},
        "shared": [[s, i, s] for i in range(20_000)],
        "small": {"a": [1, 2.0, "x"]},
    }[kind]
    ours, theirs = tmp_path / "ours.mmpk", tmp_path / "theirs.mmpk"
    with mmpk.open(ours, "w", layout="mmappickle1") as d:
        d["k"] = value
    m = mmappickle.mmapdict(str(theirs))
    m["k"] = value
    del m
    assert ours.read_bytes() == theirs.read_bytes()


def test_shared_references_and_cycles_through_a_file(path):
    me = []
    me.append(me)
    t = ("shared", [1])
    od = collections.OrderedDict()
    od["me"] = od
    value = {"me": me, "t": [t, t], "od": od, "dd": collections.defaultdict(list, {1: [me]})}
    with mmpk.open(path, "w") as d:
        d["v"] = value
        d["w"] = value  # a second entry: its memo starts after the first's
    with mmpk.open(path) as d:
        for k in ("v", "w"):
            got = d[k]
            assert_same(value, got)
            assert got["me"][0] is got["me"]
            assert got["t"][0] is got["t"][1]
            assert got["od"]["me"] is got["od"]
            assert got["dd"][1][0] is got["me"]


@pytest.fixture(scope="module")
def shared_file():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp) / "h.mmpk"


_keys = itertools.count()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(value=values | graphs())
def test_any_value_round_trips_through_a_file(shared_file, value):
    key = f"k{next(_keys)}"
    value = pickled(value)
    with mmpk.open(shared_file, "a") as d:
        d[key] = value
    with mmpk.open(shared_file) as d:
        got = d[key]
    assert difference(pickle.loads(pickle.dumps(value, 4)), got) is None
    assert difference(value, got) is None, difference(value, got)


def test_custom_classes_need_trusted(path):
    with mmpk.open(path, "w") as d:
        d["p"] = Point(1, 2)  # any picklable object is stored
        d["plain"] = {"x": 1}
    with mmpk.open(path) as d:
        with pytest.raises(UnsafePickleError, match=r"test_values_file\.Point.*trusted=True"):
            d["p"]
        assert d["plain"] == {"x": 1}
    with mmpk.open(path, trusted=True) as d:
        assert d["p"] == Point(1, 2)
        assert d["plain"] == {"x": 1}


def test_entries_late_in_a_file_load_with_trusted(path):
    """An entry's memo indices start at the file's running maximum; for
    pickle.loads they are renumbered from 0 (a value after 70,000 memo slots
    loads in a small memo)."""
    many = [str(i) for i in range(70_000)]
    with mmpk.open(path, "w") as d:
        d["shared"] = [many, many, [(s, s) for s in many]]  # 70,000 kept stores
        late = Point([1], [2])
        late.x = late.y  # shared inside the late value
        d["late"] = late
    with mmpk.open(path, trusted=True) as d:
        got = d["late"]
        assert got.x is got.y and got.x == [2]
        s = d["shared"]
        assert s[0] is s[1] and s[2][5][0] is s[2][5][1]
    with open(path, "rb") as f:
        assert pickle.load(f)["late"].x == [2]


def test_unsafe_entries_run_nothing(path, tmp_path):
    marker = tmp_path / "marker"

    class Gadget:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    with mmpk.open(path, "w") as d:
        d["g"] = Gadget()  # stored by pickle.dumps: nothing runs while storing
    assert not marker.exists()
    with mmpk.open(path) as d:
        with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
            d["g"]
        assert "g" in d and len(d) == 1
    assert not marker.exists()


def test_damaged_values_raise(path):
    with mmpk.open(path, "w") as d:
        d["v"] = {"key": "value" * 10, "n": [1, 2, 3]}
    data = bytearray(path.read_bytes())
    i = data.index(b"valuevalue")
    # Turn the str's opcode argument into garbage: the entry no longer
    # decodes (a bad length), and reading it raises, never crashes.
    j = data.rindex(b"\x8c", 0, i)
    data[j] = ord("X")  # BINUNICODE with a 4-byte length: far too long
    path.write_bytes(bytes(data))
    with mmpk.open(path) as d:
        with pytest.raises(FormatError) as e:
            d["v"]
        assert isinstance(e.value, BadPickleError) or "v" in str(e.value)


def test_types_stored_as_values_round_trip(path):
    values = {
        "dt": datetime.datetime(2026, 12, 3, tzinfo=datetime.timezone.utc),
        "dec": decimal.Decimal("3.14"),
        "uuid": uuid.UUID(int=7),
        "counter": collections.Counter("hello"),
        "deque": collections.deque([1, 2], maxlen=2),
        "obj_array": np.array([1, "two", None], dtype=object),
        "scalar": np.float32(2.5),
        "dtype": np.dtype([("a", "<i4")]),
        "range": range(3, 9, 2),
        "complex": 1j,
    }
    with mmpk.open(path, "w") as d:
        d.update(values)
    with mmpk.open(path) as d:
        for k, v in values.items():
            assert_same(v, d[k])


# The same value as Python and as canonical JSON (what `mmpk get --json`
# prints and `mmpk put --value-json` reads): Rust and Python agree on it.
CROSS_VALUE = {
    "n": [None, True, -(2**70), 2.5, "héllo", b"\x00b", bytearray(b"z")],
    "t": (1, frozenset({3})),
    "d": datetime.date(2020, 1, 2),
}
CROSS_JSON = {
    "dict": [
        [
            {"str": "n"},
            {
                "list": [
                    {"none": None},
                    {"bool": True},
                    {"int": str(-(2**70))},
                    {"float": (2.5).hex()},
                    {"str": "héllo"},
                    {"bytes_b64": "AGI="},
                    {"bytearray_b64": "eg=="},
                ]
            },
        ],
        [{"str": "t"}, {"tuple": [{"int": "1"}, {"frozenset": [{"int": "3"}]}]}],
        [
            {"str": "d"},
            {
                "reduce": {
                    "callable": {"global": ["datetime", "date"]},
                    "args": {"tuple": [{"bytes_b64": "B+QBAg=="}]},
                }
            },
        ],
    ]
}


def test_python_writes_rust_reads_values(path, cli):
    from conftest import run_cli

    with mmpk.open(path, "w") as d:
        d["v"] = CROSS_VALUE
    assert json.loads(run_cli(cli, "get", "--json", str(path), "v")) == CROSS_JSON


def test_rust_writes_python_reads_values(path, cli):
    from conftest import run_cli

    run_cli(cli, "put", str(path), "v", "--value-json", "-", input=json.dumps(CROSS_JSON).encode())
    with mmpk.open(path) as d:
        assert_same(CROSS_VALUE, d["v"])
