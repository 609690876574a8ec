"""Values rebuilt by mmpk's safe decoder (mmpk.loads / mmpk.load) equal what
CPython's pickle.loads makes of the same bytes: builtins with shared
references and cycles, the allowlist (numpy, datetime, decimal,
collections, uuid, complex, slice, range), every protocol; numpy's own
pickles from fixtures/numpy (numpy 1.x and 2.x) and CPython's from
fixtures/pickle."""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import io
import json
import pickle
import pickletools
import uuid
import warnings
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from values_compare import assert_same, difference

import mmpk
from mmpk.errors import BadPickleError, UnsafePickleError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
PROTOCOLS = range(0, pickle.HIGHEST_PROTOCOL + 1)


def both(obj, protocol=4):
    """pickle.loads and mmpk.loads of pickle.dumps(obj, protocol)."""
    data = pickle.dumps(obj, protocol)
    return pickle.loads(data), mmpk.loads(data)


# ----------------------------------------------------------------- examples

TZ = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")
EXAMPLES = [
    None,
    True,
    False,
    0,
    -1,
    2**47,
    -(2**47) - 1,
    2**64,
    -(2**200) + 7,
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
    1 + 2j,
    complex(float("nan"), -0.0),
    "",
    "héllo wörld ☃",
    "lone \ud800 surrogate",
    "x" * 300,
    b"",
    b"\x00\xff" * 200,
    bytearray(b"abc"),
    bytearray(),
    [],
    [1, [2, [3]]],
    (),
    (1,),
    (1, "a", None),
    {},
    {"a": 1, 2: "b", (1, 2): [3]},
    {1, 2, 3},
    set(),
    frozenset({1, "a"}),
    frozenset(),
    datetime.date(2026, 12, 3),
    datetime.date(1, 1, 1),
    datetime.time(23, 59, 59, 999999),
    datetime.time(1, 2, 3, 4, tzinfo=TZ, fold=1),
    datetime.datetime(2026, 12, 3, 8, 0, 1, 5),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=TZ),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
    datetime.timedelta.max,
    datetime.timezone.utc,
    TZ,
    datetime.timezone(datetime.timedelta(minutes=-90)),
    decimal.Decimal("1.50"),
    decimal.Decimal("-0"),
    decimal.Decimal("NaN"),
    decimal.Decimal("sNaN"),
    decimal.Decimal("-Infinity"),
    decimal.Decimal("1e-999999"),
    collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.OrderedDict(),
    collections.defaultdict(list, {1: [2]}),
    collections.defaultdict(int),
    collections.defaultdict(None, {"k": "v"}),
    collections.defaultdict(dict),
    collections.Counter("abracadabra"),
    collections.Counter(),
    collections.deque([1, 2, 3]),
    collections.deque([1, 2], maxlen=3),
    collections.deque(maxlen=0),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    uuid.UUID(int=0),
    uuid.UUID(int=2**128 - 1, is_safe=uuid.SafeUUID.safe),
    uuid.UUID(int=5, is_safe=uuid.SafeUUID.unsafe),
    slice(None),
    slice(1, None, -2),
    slice("a", [1], (2,)),
    range(0),
    range(1, 10, 3),
    range(-(2**70), 2**70, 2**65),
    int,
    list,
    dict,
    collections.OrderedDict,
    datetime.datetime,
    np.arange(6, dtype="<i4").reshape(2, 3),
    np.arange(6, dtype=">f8").reshape(3, 2),
    np.asfortranarray(np.arange(12).reshape(3, 4)),
    np.arange(12).reshape(3, 4).T,
    np.array(3.5),
    np.zeros((0, 3), "<c16"),
    np.array(["ab", "cde"], dtype="<U3"),
    np.array([b"ab"], dtype="S2"),
    np.array([True, False]),
    np.array(["2020-01-01T00:00", "NaT"], dtype="<M8[m]"),
    np.array([1, -2], dtype=">m8[25s]"),
    np.zeros(2, dtype=[("a", "<i4"), ("b", ">f8"), ("c", "S3")]),
    np.zeros(2, dtype={"names": ["x", "y"], "formats": ["<i2", "<f4"], "offsets": [0, 8]}),
    np.array([1.0, 2.0], dtype="<f2"),
    np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[False, True, False]),
    np.ma.MaskedArray(np.arange(6).reshape(2, 3)),
    np.array([1, "a", None, [2, 3], (4,), {"k": 5}], dtype=object),
    np.array([[1, 2.5], ["x", b"y"]], dtype=object),
    np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], dtype=object)),
    np.empty((0, 2), dtype=object),
    np.array(7, dtype=object),
    np.float64(1.5),
    np.float32(-0.0),
    np.int64(-(2**63)),
    np.uint8(255),
    np.bool_(True),
    np.complex128(1 - 2j),
    np.str_("abc"),
    np.bytes_(b"ab"),
    np.datetime64("2020-01-01", "D"),
    np.timedelta64(5, "ms"),
    np.dtype("<f8"),
    np.dtype(">i2"),
    np.dtype("<M8[ns]"),
    np.dtype("U7"),
    np.dtype([("a", "<i4"), ("b", ">f8")]),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: f"{type(o).__name__}:{o!r}"[:60])
def test_allowlisted_values_equal_pickles_own(obj, protocol):
    expected, got = both(obj, protocol)
    assert_same(expected, got)


def test_everything_in_one_value_keeps_identity():
    shared_t = ("t", 1)
    shared_l = [1, 2]
    value = {"all": EXAMPLES, "t": [shared_t, shared_t], "l": (shared_l, shared_l)}
    for protocol in PROTOCOLS:
        expected, got = both(value, protocol)
        assert_same(expected, got)
        assert got["t"][0] is got["t"][1]
        assert got["l"][0] is got["l"][1]


def test_cycles_and_shared_references():
    me = []
    me.append(me)
    d = {}
    d["self"] = d
    t_holder = []
    t = (t_holder,)
    t_holder.append(t)  # a tuple holding a list holding the tuple
    od = collections.OrderedDict()
    od["me"] = od
    dq = collections.deque()
    dq.append(dq)
    dd = collections.defaultdict(list)
    dd["x"].append(dd)
    oa = np.empty(3, dtype=object)
    oa[0] = oa
    oa[1] = me
    oa[2] = me
    for value in (me, d, t, od, dq, dd, [t, t, me, me], oa):
        for protocol in PROTOCOLS:
            expected, got = both(value, protocol)
            assert_same(expected, got)
    got = mmpk.loads(pickle.dumps(me))
    assert got[0] is got
    got = mmpk.loads(pickle.dumps(t))
    assert got[0][0] is got
    got = mmpk.loads(pickle.dumps(dq))
    assert got[0] is got
    got = mmpk.loads(pickle.dumps(oa))
    assert got[0] is got and got[1] is got[2] and got[1][0] is got[1]


def test_masked_arrays_keep_their_fill_value(tmp_path):
    cases = [
        np.ma.MaskedArray([1.5, 2.0, 3.0], mask=[0, 1, 0], fill_value=-7.25),
        np.ma.MaskedArray(np.arange(6, dtype=">i2").reshape(2, 3), fill_value=99),
        np.ma.MaskedArray(np.array([b"ab", b"c"]), mask=[1, 0], fill_value=b"zz"),
        np.ma.MaskedArray(np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]), fill_value=(5, 2.5)),
        np.ma.MaskedArray([1.0, 2.0]),  # numpy's default fill value
    ]
    for protocol in (2, 4, 5):
        got = mmpk.loads(pickle.dumps({"m": cases}, protocol))["m"]
        for a, b in zip(got, cases):
            assert isinstance(a, np.ma.MaskedArray)
            assert a.fill_value == b.fill_value and a.fill_value.dtype == b.fill_value.dtype
            assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            assert a.filled().tobytes() == b.filled().tobytes()
    # Inside a value stored in a file, too.
    with mmpk.open(tmp_path / "f.mmpk", "w") as d:
        d["v"] = {"m": cases[0], "n": [cases[1]]}
        v = d["v"]
        assert v["m"].fill_value == -7.25 and v["n"][0].fill_value == 99


def test_structured_dtypes_with_subarray_fields_need_no_trust(tmp_path):
    dtypes = [
        [("a", "<i4"), ("b", "<f8", (2,))],
        [("m", ">u2", (2, 3)), ("s", "S3", (2,))],
        [("outer", [("x", "<f4", (3,)), ("y", "i1")], (2,)), ("z", "<c8")],
        np.dtype({"names": ["p", "q"], "formats": ["<i2", ("<f4", (2,))], "offsets": [0, 8]}),
    ]
    for dt in dtypes:
        a = np.zeros(3, dtype=dt)
        a.view("u1")[:] = np.arange(a.nbytes) % 251
        for protocol in (2, 4, 5):
            got = mmpk.loads(pickle.dumps({"a": a, "s": a[1]}, protocol))
            assert got["a"].dtype == a.dtype and got["a"].tobytes() == a.tobytes()
            assert got["s"].dtype == a.dtype and got["s"].tobytes() == a[1].tobytes()
    with mmpk.open(tmp_path / "f.mmpk", "w") as d:
        d["v"] = [np.ones(2, dtype=dtypes[0])]
        assert d["v"][0].tobytes() == np.ones(2, dtype=dtypes[0]).tobytes()


def test_large_values_leave_the_gc_as_they_found_it():
    # Large values are built with the cyclic GC paused, then resumed.
    import gc

    big = pickle.dumps({str(i): [i, float(i)] for i in range(20_000)}, 4)
    # Refused while building (Decimal('abc')), with the GC paused.
    bad = pickle.dumps([[i] for i in range(20_000)] + [decimal.Decimal("1.5")], 4)
    bad = bad.replace(b"\x8c\x031.5", b"\x8c\x03abc")
    assert gc.isenabled()
    assert len(mmpk.loads(big)) == 20_000
    assert gc.isenabled()
    with pytest.raises(BadPickleError, match="Decimal"):
        mmpk.loads(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(mmpk.loads(big)) == 20_000
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_million_nested_lists():
    data = (FIXTURES / "pickle" / "huge_nested_lists_1e6.pkl").read_bytes()
    got = mmpk.loads(data)
    depth = 0
    while isinstance(got, list) and got:
        got = got[0]
        depth += 1
    assert depth >= 999_999


def test_results_are_fresh_and_writable():
    a = mmpk.loads(pickle.dumps(np.arange(4)))
    a[0] = 7  # owns its data, writable like pickle.loads' arrays
    assert a.flags.writeable and a[0] == 7
    b = mmpk.loads(pickle.dumps(bytearray(b"xy")))
    b[0] = 0
    assert b == bytearray(b"\x00y")


# --------------------------------------------------------------- load, loads


def test_loads_takes_any_buffer_and_ignores_trailing_bytes():
    data = pickle.dumps({"a": [1, 2]}, 4)
    for buf in (data, bytearray(data), memoryview(data), data + b"garbage"):
        assert mmpk.loads(buf) == {"a": [1, 2]}


def test_load_reads_one_pickle_after_another():
    f = io.BytesIO()
    for v in ([1], "two", {3: 4}):
        pickle.dump(v, f, 4)
    f.write(b"tail")
    f.seek(0)
    assert mmpk.load(f) == [1]
    assert mmpk.load(f) == "two"
    assert mmpk.load(f) == {3: 4}
    assert f.read() == b"tail"


def test_load_of_an_unseekable_stream(tmp_path):
    path = tmp_path / "v.pkl"
    path.write_bytes(pickle.dumps([1, 2.5], 2))
    with open(path, "rb", buffering=0) as raw:
        assert mmpk.load(raw) == [1, 2.5]

    class Stream(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def readable(self):
            return True

        def readinto(self, b):
            n = min(len(b), len(self.data))
            b[:n] = self.data[:n]
            self.data = self.data[n:]
            return n

    assert mmpk.load(io.BufferedReader(Stream(pickle.dumps("s")))) == "s"
    with pytest.raises(TypeError):
        mmpk.load(io.StringIO("text"))


def test_python2_pickles():
    # pickle.dumps(u'abc', 2) in Python 2 and a protocol-0 set (__builtin__).
    assert mmpk.loads(b"\x80\x02X\x03\x00\x00\x00abcq\x00.") == "abc"
    assert mmpk.loads(b"c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n.") == {1, 2}
    with pytest.raises(BadPickleError):
        mmpk.loads(b"\x80\x02U\x02\xc3\xa9q\x00.")  # non-ASCII STRING, as pickle.loads


# ----------------------------------------------------------------- hypothesis

hashables = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats()
    | st.text()
    | st.binary()
    | st.complex_numbers()
    | st.decimals(allow_nan=False)
    | st.datetimes()
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.uuids(),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4),
    max_leaves=8,
)

timezones = st.builds(
    datetime.timezone,
    st.timedeltas(
        min_value=datetime.timedelta(hours=-23, minutes=-59),
        max_value=datetime.timedelta(hours=23, minutes=59),
    ),
) | st.just(datetime.timezone.utc)

numpy_arrays = hnp.arrays(
    dtype=hnp.scalar_dtypes() | hnp.byte_string_dtypes() | hnp.unicode_string_dtypes(),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)

leaves = (
    hashables
    | st.binary().map(bytearray)
    | st.datetimes(timezones=timezones)
    | st.times(timezones=timezones)
    | timezones
    | st.decimals()
    | st.builds(slice, st.integers(), st.none() | st.integers(), st.integers(1, 9))
    | st.builds(range, st.integers(-99, 99), st.integers(-99, 99), st.integers(1, 9))
    | numpy_arrays
    | numpy_arrays.map(lambda a: a.reshape(-1)[:1] if a.size else a).map(
        lambda a: a[0] if a.size else a
    )
    | hnp.array_dtypes()
)


def _containers(inner):
    return (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.dictionaries(st.text(max_size=3), inner, max_size=4).map(collections.OrderedDict)
        | st.dictionaries(st.text(max_size=3), st.integers(), max_size=4).map(collections.Counter)
        | st.builds(
            collections.defaultdict,
            st.sampled_from([list, int, set, dict, None]),
            st.dictionaries(hashables, inner, max_size=3),
        )
        | st.builds(collections.deque, st.lists(inner, max_size=4), st.none() | st.integers(0, 5))
    )


values = st.recursive(leaves, _containers, max_leaves=12)


@st.composite
def graphs(draw):
    """A value with sharing and cycles: containers linked at random."""
    pool = [
        draw(st.sampled_from([list, dict, collections.deque]))()
        for _ in range(draw(st.integers(1, 5)))
    ]
    leaves_ = draw(st.lists(leaves, max_size=4))
    nodes = pool + leaves_
    for _ in range(draw(st.integers(0, 10))):
        src = draw(st.sampled_from(pool))
        dst = draw(st.sampled_from(nodes))
        if isinstance(src, dict):
            src[str(len(src))] = dst
        else:
            src.append(dst)
    shared = tuple(draw(st.lists(st.sampled_from(nodes), max_size=3)))
    return [pool[0], shared, shared, *pool]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(values, st.sampled_from(PROTOCOLS))
def test_any_allowlisted_value_equals_pickles_own(value, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy scalar repr / NaT comparisons
        expected, got = both(value, protocol)
        assert difference(expected, got) is None, difference(expected, got)


@SETTINGS
@given(graphs(), st.sampled_from(PROTOCOLS))
def test_shared_references_and_cycles_are_kept(value, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, got = both(value, protocol)
        assert difference(expected, got) is None, difference(expected, got)
        if protocol >= 4:
            # Below 4, CPython's own pickles drop a datetime's fold.
            assert difference(value, got) is None, difference(value, got)


# ------------------------------------------------------------------- fixtures


def _manifest(path):
    text = path.read_text()
    return json.loads(text)


def _resolved_array(node):
    """An array from a manifest's resolved `ndarray` node."""
    a = node["ndarray"]
    dtype = a["dtype"]
    if isinstance(dtype, list):
        dtype = np.lib.format.descr_to_dtype(
            [tuple(x) if isinstance(x, list) else x for x in _tuples(dtype)]
        )
    data = base64.b64decode(a["data_b64"])
    return (
        np.frombuffer(data, dtype=dtype).reshape(a["shape"])
        if data
        else np.zeros(a["shape"], dtype)
    )


def _tuples(descr):
    out = []
    for item in descr:
        name, fmt, *shape = item
        if isinstance(name, list):
            name = tuple(name)
        if isinstance(fmt, list):
            fmt = _tuples(fmt)
        out.append((name, fmt, *(tuple(s) for s in shape)))
    return out


NUMPY_ROWS = _manifest(FIXTURES / "numpy" / "manifest.json")


@pytest.mark.parametrize("row", NUMPY_ROWS, ids=lambda r: r["file"])
def test_numpy_fixtures_of_both_majors(row):
    data = (FIXTURES / "numpy" / row["file"]).read_bytes()
    buffers = [(FIXTURES / "numpy" / b).read_bytes() for b in row["oob_buffers"]]
    if buffers:
        # Without its buffers there is nothing to rebuild from (nor for
        # pickle.loads).
        with pytest.raises(BadPickleError, match="out-of-band"):
            mmpk.loads(data)
        got = mmpk.loads(data, buffers=buffers)
        assert_same(_resolved_array(row["resolved_with_buffers"]).copy(), got)
        return
    got = mmpk.loads(data)
    if row["kind"] == "ndarray":
        assert_same(_resolved_array(row["resolved"]).copy(), got)
    elif row["kind"] == "masked":
        r = row["resolved"]["masked_array"]
        want = np.ma.MaskedArray(_resolved_array(r["data"]), mask=_resolved_array(r["mask"]))
        assert_same(want, got)
    else:
        want = {"scalar_f8": np.float64(1.5), "scalar_i4": np.int32(7)}[row["name"]]
        assert_same(want, got)
    # And numpy's own loading, where this numpy can read the file.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = pickle.loads(data)
    except (ModuleNotFoundError, AttributeError, ValueError, TypeError):
        return  # numpy 1.x reading numpy._core names; numpy >= 2.3 and v1 bytes
    assert_same(expected.copy() if isinstance(expected, np.ndarray) else expected, got)


def _names_globals(data):
    """Whether a pickle names any global (or extension code)."""
    try:
        return any(
            op.name in ("GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4")
            for op, _, _ in pickletools.genops(data)
        )
    except Exception:
        return True


def _has_op(data, *names):
    try:
        return any(op.name in names for op, _, _ in pickletools.genops(data))
    except ValueError:  # pickletools is stricter than the C unpickler on text ops
        return False


PICKLE_ROWS = [
    r for r in _manifest(FIXTURES / "pickle" / "manifest.json") if r["encoding"] == "ASCII"
]


@pytest.mark.parametrize("row", PICKLE_ROWS, ids=lambda r: r["file"])
def test_cpython_pickle_fixtures(row):
    """Every pickle CPython accepts is rebuilt equal to pickle.loads' object,
    or refused as unsafe when it names a global outside the allowlist;
    every pickle CPython refuses is refused."""
    data = (FIXTURES / "pickle" / row["file"]).read_bytes()
    if row["cpython_error"] is not None:
        if row["cpython_error"].startswith("MemoryError"):
            mmpk.loads(data)  # a sparse memo costs mmpk nothing
            return
        with pytest.raises((BadPickleError, UnsafePickleError)):
            mmpk.loads(data)
        return
    if _has_op(data, "PERSID", "BINPERSID"):
        # Persistent ids need the writer's persistent_load (pickle.loads
        # without one refuses them too).
        with pytest.raises(BadPickleError, match="persistent id"):
            mmpk.loads(data)
        return
    buffers = [(FIXTURES / "pickle" / b).read_bytes() for b in row.get("oob_buffers") or []]
    if buffers and _has_op(data, "NEXT_BUFFER") and b"numpy" not in data:
        # Out-of-band buffers are rebuilt for numpy arrays only.
        with pytest.raises(BadPickleError, match="out-of-band"):
            mmpk.loads(data, buffers=buffers)
        return
    try:
        got = mmpk.loads(data, buffers=buffers)
    except UnsafePickleError:
        assert _names_globals(data), "refused as unsafe without naming a global"
        return
    if row.get("huge_json"):
        return  # compared by test_a_million_nested_lists; memo bombs only decode
    expected = pickle.loads(data, buffers=buffers)
    assert_same(expected, got)
