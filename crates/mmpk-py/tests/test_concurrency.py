"""Processes and threads on one file: multiprocessing writers, fork,
pickling a Dict, the GIL released during lock waits, Ctrl-C while waiting,
watch()."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest
from conftest import ticks_during

import mmpk


def _writer(args):
    path, worker, n = args
    with mmpk.open(path, "r+") as d:
        for i in range(n):
            d[f"w{worker}-{i}"] = np.full(16, worker * 1000 + i, dtype="i8")
    return worker


def _read_sum(d, key):
    return int(d[key].sum())


def test_multiprocessing_writers_lose_nothing(path):
    mmpk.open(path, "x").close()
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert sorted(pool.map(_writer, [(str(path), w, 25) for w in range(4)])) == [0, 1, 2, 3]
    with mmpk.open(path) as d:
        assert len(d) == 100
        for w in range(4):
            for i in range(25):
                assert d[f"w{w}-{i}"].tolist() == [w * 1000 + i] * 16


def test_dict_pickles_by_path_and_mode(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(5)
        again = pickle.loads(pickle.dumps(d))
        assert again.mode == "r+" and again.path == str(path) and list(again) == ["a"]
        ro = pickle.loads(pickle.dumps(mmpk.open(path)))
        assert ro.mode == "r"
        ctx = mp.get_context("spawn")
        with ctx.Pool(2) as pool:
            assert pool.starmap(_read_sum, [(d, "a"), (ro, "a")]) == [10, 10]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_has_its_own_lock(path):
    d = mmpk.open(path, "a")
    d["a"] = np.arange(3)
    r, w = os.pipe()
    # The parent holds the file's flock through its own description (as
    # another process would); a child sharing the parent's description would
    # get the lock at once and write while the parent holds it.
    f = open(path, "rb")  # noqa: SIM115
    fcntl.flock(f, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:  # the child
        try:
            d["child"] = np.arange(2)
            os.write(w, b"wrote")
        finally:
            os._exit(0)
    time.sleep(0.5)
    os.set_blocking(r, False)
    try:
        early = os.read(r, 5)
    except BlockingIOError:
        early = b""
    fcntl.flock(f, fcntl.LOCK_UN)
    os.waitpid(pid, 0)
    assert early == b""  # the child waited for the lock
    assert "child" in d and d["a"].tolist() == [0, 1, 2]
    f.close()
    d.close()


@pytest.mark.parametrize(
    "value", [np.arange(3), {"k": [1, 2.5, "s"] * 1000}], ids=["array", "value"]
)
def test_threads_run_while_a_write_waits_for_the_lock(path, value):
    # The whole write (of a value: pickled first, with the GIL) runs with
    # the GIL released, the wait for the flock included.
    d = mmpk.open(path, "a")
    f = open(path, "rb")  # noqa: SIM115
    fcntl.flock(f, fcntl.LOCK_EX)
    done = threading.Event()

    def insert():
        d["v"] = value
        done.set()

    t = threading.Thread(target=insert)
    t.start()
    # This thread keeps running Python while the other waits for the flock.
    spins = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    assert spins > 1000 and not done.is_set()
    fcntl.flock(f, fcntl.LOCK_UN)
    t.join(10)
    assert done.is_set()
    if isinstance(value, np.ndarray):
        assert np.array_equal(d["v"], value)
    else:
        assert d["v"] == value
    f.close()
    d.close()


def _ticks_while_storing(d, key, value):
    """Stores `d[key] = value` while another thread ticks every millisecond;
    returns the seconds the store took and the ticks made meanwhile."""
    _, secs, during = ticks_during(lambda: d.__setitem__(key, value))
    return secs, during


def test_other_threads_run_during_a_large_value_write(path):
    big = {"payload": b"x" * (64 << 20)}  # pickled at once, then written
    with mmpk.open(path, "a", durable=True) as d:
        secs, during = _ticks_while_storing(d, "big", big)
        # Only a write long enough to see it is checked (see the array
        # test): the file write and its fsync run without the GIL.
        if secs > 0.1:
            assert during >= 3, (secs, during)
        assert len(d["big"]["payload"]) == 64 << 20


def test_ctrl_c_interrupts_a_lock_wait(path):
    d = mmpk.open(path, "a")
    f = open(path, "rb")  # noqa: SIM115
    fcntl.flock(f, fcntl.LOCK_EX)
    # Ctrl-C every 0.3 s until the insert gives up: one that lands in the
    # instant before the wait begins (the GIL released, the flock not yet
    # called) is seen by the next, as a user presses Ctrl-C again. The
    # handler raises only while armed, so a late one cannot hit the test.
    armed = [True]

    def on_sigint(signum, frame):
        if armed[0]:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    stop = threading.Event()

    def interrupt():
        while not stop.wait(0.3):
            os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt)
    sender.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            d["x"] = np.arange(3)
    finally:
        armed[0] = False
        stop.set()
        sender.join()
        signal.signal(signal.SIGINT, old)
    assert time.monotonic() - t0 < 5
    fcntl.flock(f, fcntl.LOCK_UN)
    assert "x" not in d
    f.close()
    d.close()


def test_ctrl_c_interrupts_watch(path):
    d = mmpk.open(path, "a")
    # Python's own handler, whatever this process inherited: pytest started
    # in the background by a non-interactive shell (`cargo xtask python-test
    # &`) inherits SIGINT ignored, Python then installs no handler, and the
    # watch would wait forever.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        # (Started inside the block: a SIGINT that a slow machine delivers
        # before the watch starts is raised there too.)
        with pytest.raises(KeyboardInterrupt):
            timer.start()
            for _ in d.watch(timeout=60):  # (a bound: fail, not hang, if broken)
                pass
    finally:
        timer.join()
        signal.signal(signal.SIGINT, old)
    d.close()


def _mutate(path):
    time.sleep(0.2)
    with mmpk.open(path, "r+") as d:
        d["b"] = np.arange(2)
        time.sleep(0.1)
        d["a"] = np.arange(3)
        time.sleep(0.1)
        del d["b"]


def test_watch_follows_other_processes(path):
    with mmpk.open(path, "a") as d:
        d["a"] = np.arange(1)
    d = mmpk.open(path)
    p = mp.get_context("spawn").Process(target=_mutate, args=(str(path),))
    p.start()
    events = []
    for ev in d.watch(timeout=60):  # a generous bound for a loaded machine
        events.append(ev)
        if ev == ("removed", "b"):
            break
    p.join()
    assert events[0] == ("added", "b")
    assert ("replaced", "a") in events and events[-1] == ("removed", "b")
    assert list(d.watch(timeout=0.05)) == []


def test_other_threads_run_during_a_large_write(path):
    big = np.ones(64 << 20, dtype="u1")  # 64 MiB, written from its buffer
    with mmpk.open(path, "a", durable=True) as d:
        secs, during = _ticks_while_storing(d, "big", big)
        # The counting thread kept running while the write (and its fsync)
        # ran: the GIL was released. (Only a write long enough to see it is
        # checked: a very fast disk may finish between two ticks.)
        if secs > 0.05:
            assert during >= 3, (secs, during)
        assert d["big"].sum() == 64 << 20
