"""Python peers of the file workloads W1-W5 (docs/design.md "Performance: what is measured").

Run by `cargo xtask bench files` in fresh processes, one measurement per
process; each prints `measure<TAB>seconds` lines (and `name<TAB>value` for
counts). Data are generated outside the timed regions; a peer's own module
(h5py, joblib, safetensors, mmappickle) is imported inside them, as a fresh
process pays for it.

Contenders and venvs:
  raw, npsave, npload, memmap, safetensors, h5py,
  joblib (dump / load(mmap_mode='r')),
  openmemmap (np.lib.format.open_memmap, W1),
  pickle                        numpy 2 venv (target/venv/bench)
  mmappickle                    mmappickle 1.0.0 + numpy 1.23.5 (target/venv/mmp1)
  mmpk (`cargo xtask bench python`)  numpy 2 venv with the Python package's wheel installed

`bench python` adds to W2 `safetensors` (safe_open(..., framework="numpy").get_tensor,
which copies) and `pickle` (pickle.load of the mmpk file itself, which copies), and
names the W1 array `a` in every dict-like file.

    w1 CONTENDER OUT --mib N           write one float32 array of N MiB to a new file
                                       (`write`: wall time; `write_cpu`: CPU time)
    w2 CONTENDER FILE --mib N          fresh process: open FILE, get the array, sum it
                                       (`open` includes importing the contender's module,
                                       `import` and `open_only` split it)
    w3 CONTENDER OUT --n N             insert N float64[128] arrays, keys k0..k{N-1}
    w3read CONTENDER FILE --n N        fresh process: open, read every key
    w4 CONTENDER OUT --n N             store {str(i): [i, float(i), str(i)]} (mmappickle:
                                       as one entry; pickle: pickle.dump to a file)
    w4read CONTENDER FILE              fresh process: read it back
    w5 mmappickle OUT --procs P --n N  P processes insert N small arrays each
"""

import argparse
import os
import sys
import time

import numpy as np


def emit(name, value):
    print(f"{name}\t{value:.9f}" if isinstance(value, float) else f"{name}\t{value}", flush=True)


def f32_array(mib):
    n = mib * (1 << 20) // 4
    return (np.arange(n, dtype=np.uint32) % 1000).astype(np.float32)


def small(i):
    return np.full(128, float(i), dtype=np.float64)


def remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# ---- W1 ---------------------------------------------------------------------


def w1(c, out, mib):
    a = f32_array(mib)
    remove(out)
    t = time.perf_counter()
    cpu = time.process_time()
    if c == "raw":
        with open(out, "wb") as f:
            f.write(memoryview(a).cast("B"))
    elif c == "npsave":
        np.save(out, a)
    elif c == "safetensors":
        from safetensors.numpy import save_file

        save_file({"a": a}, out)
    elif c == "h5py":
        import h5py

        with h5py.File(out, "w") as f:
            f.create_dataset("a", data=a)
    elif c == "joblib":
        import joblib

        joblib.dump(a, out)
    elif c == "openmemmap":
        m = np.lib.format.open_memmap(out, mode="w+", dtype=a.dtype, shape=a.shape)
        m[:] = a
        m.flush()
        del m
    elif c == "mmappickle":
        from mmappickle import mmapdict

        d = mmapdict(out)
        d["a"] = a
        del d
    elif c == "mmpk":
        import mmpk

        with mmpk.open(out, "w") as d:
            d["a"] = a
    elif c == "floor":
        # The system calls every writer above makes, with nothing around
        # them: a 128-byte head, the data's range allocated, one write of
        # the array's buffer.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, bytes(128))
            os.posix_fallocate(fd, 128, a.nbytes)
            view, at = memoryview(a).cast("B"), 0
            while at < len(view):
                at += os.pwrite(fd, view[at:], 128 + at)
        finally:
            os.close(fd)
    else:
        raise SystemExit(f"w1: unknown contender {c}")
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    emit("write", wall)
    # The CPU time of the same region (all threads): what the write itself
    # costs, without the time spent waiting for a CPU on a loaded machine.
    emit("write_cpu", cpu)


# ---- W2 ---------------------------------------------------------------------


def w2(c, path, mib):
    n = mib * (1 << 20) // 4
    t = time.perf_counter()
    t1 = t  # after the contender's own module is imported (numpy already is)
    if c == "memmap":
        a = np.memmap(path, dtype=np.float32, mode="r", shape=(n,))
    elif c == "npload":
        a = np.load(path, mmap_mode="r")
    elif c == "joblib":
        import joblib

        t1 = time.perf_counter()
        a = joblib.load(path, mmap_mode="r")
    elif c == "mmappickle":
        from mmappickle import mmapdict

        t1 = time.perf_counter()
        d = mmapdict(path, readonly=True)
        a = d["a"]
    elif c == "h5py":
        import h5py

        t1 = time.perf_counter()
        f = h5py.File(path, "r")
        a = f["a"]
    elif c == "mmpk":
        import mmpk

        t1 = time.perf_counter()
        d = mmpk.open(path)
        a = d["a"]
    elif c == "safetensors":
        from safetensors import safe_open

        t1 = time.perf_counter()
        with safe_open(path, framework="numpy") as f:
            a = f.get_tensor("a")
    elif c == "pickle":
        import pickle

        t1 = time.perf_counter()
        with open(path, "rb") as f:
            a = pickle.load(f)["a"]
    else:
        raise SystemExit(f"w2: unknown contender {c}")
    t2 = time.perf_counter()
    emit("open", t2 - t)  # import + open + get
    emit("import", t1 - t)
    emit("open_only", t2 - t1)  # open + get, the module imported
    t = time.perf_counter()
    s = (
        float(np.sum(a, dtype=np.float64))
        if c != "h5py"
        else float(np.sum(a[...], dtype=np.float64))
    )
    emit("sum", time.perf_counter() - t)
    emit("value", s)


# ---- W3 ---------------------------------------------------------------------


def w3(c, out, n):
    arrays = [small(i) for i in range(n)]
    remove(out)
    t = time.perf_counter()
    if c == "h5py":
        import h5py

        with h5py.File(out, "w") as f:
            for i, a in enumerate(arrays):
                f.create_dataset(f"k{i}", data=a)
    elif c == "mmappickle":
        from mmappickle import mmapdict

        d = mmapdict(out)
        for i, a in enumerate(arrays):
            d[f"k{i}"] = a
        del d
    elif c == "mmpk":
        import mmpk

        with mmpk.open(out, "w") as d:
            for i, a in enumerate(arrays):
                d[f"k{i}"] = a
    else:
        raise SystemExit(f"w3: unknown contender {c}")
    emit("insert", time.perf_counter() - t)


def w3read(c, path, n):
    t = time.perf_counter()
    total = 0.0
    if c == "h5py":
        import h5py

        with h5py.File(path, "r") as f:
            for i in range(n):
                total += float(f[f"k{i}"][0])
    elif c == "mmappickle":
        from mmappickle import mmapdict

        d = mmapdict(path, readonly=True)
        for i in range(n):
            total += float(d[f"k{i}"][0])
    elif c == "mmpk":
        import mmpk

        with mmpk.open(path) as d:
            for i in range(n):
                total += float(d[f"k{i}"][0])
    else:
        raise SystemExit(f"w3read: unknown contender {c}")
    emit("read", time.perf_counter() - t)
    want = n * (n - 1) / 2
    if total != want:
        raise SystemExit(f"w3read: read {total}, expected {want}")


# ---- W4 ---------------------------------------------------------------------


def w4(c, out, n):
    obj = {str(i): [i, float(i), str(i)] for i in range(n)}
    remove(out)
    if c == "pickle":
        import pickle

        t = time.perf_counter()
        with open(out, "wb") as f:
            pickle.dump(obj, f, 4)
        emit("write", time.perf_counter() - t)
    elif c == "mmappickle":
        from mmappickle import mmapdict

        d = mmapdict(out)
        t = time.perf_counter()
        d["obj"] = obj
        emit("write", time.perf_counter() - t)
    elif c == "mmpk":
        import mmpk

        d = mmpk.open(out, "w")
        t = time.perf_counter()
        d["obj"] = obj
        d.close()
        emit("write", time.perf_counter() - t)
    else:
        raise SystemExit(f"w4: unknown contender {c}")


def w4read(c, path):
    t = time.perf_counter()
    if c == "pickle":
        import pickle

        with open(path, "rb") as f:
            obj = pickle.load(f)
    elif c == "mmappickle":
        from mmappickle import mmapdict

        d = mmapdict(path, readonly=True)
        obj = d["obj"]
    elif c == "mmpk":
        import mmpk  # the safe (data-only) decoder: trusted=False

        with mmpk.open(path) as d:
            obj = d["obj"]
    else:
        raise SystemExit(f"w4read: unknown contender {c}")
    emit("read", time.perf_counter() - t)
    emit("entries", len(obj))


# ---- W5 ---------------------------------------------------------------------


def _open_rw(c, path):
    if c == "mmpk":
        import mmpk

        return mmpk.open(path, "a")
    from mmappickle import mmapdict

    return mmapdict(path)


def _w5_child(c, path, proc, n):
    d = _open_rw(c, path)
    for i in range(n):
        d[f"p{proc}_{i}"] = small(i)
    if c == "mmpk":
        d.close()


def w5(c, out, procs, n):
    if c not in ("mmappickle", "mmpk"):
        raise SystemExit("w5: only mmappickle and mmpk")
    import multiprocessing as mp

    remove(out)
    d = _open_rw(c, out)  # create it before the writers race
    if c == "mmpk":
        d.close()
    del d
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    ps = [ctx.Process(target=_w5_child, args=(c, out, p, n)) for p in range(procs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    emit("total", time.perf_counter() - t)
    # mmappickle 1.0's writers race: a child may die reading another's
    # half-written entry (KeyError: 'key'); its remaining inserts are lost.
    emit("failed", sum(1 for p in ps if p.exitcode != 0))
    if c == "mmpk":
        import mmpk

        with mmpk.open(out) as d:
            keys = set(d.keys())
    else:
        from mmappickle import mmapdict

        keys = set(mmapdict(out, readonly=True).keys())
    lost = sum(1 for p in range(procs) for i in range(n) if f"p{p}_{i}" not in keys)
    emit("lost", lost)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("contender")
    ap.add_argument("path")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--procs", type=int, default=4)
    a = ap.parse_args()
    if a.task == "w1":
        w1(a.contender, a.path, a.mib)
    elif a.task == "w2":
        w2(a.contender, a.path, a.mib)
    elif a.task == "w3":
        w3(a.contender, a.path, a.n)
    elif a.task == "w3read":
        w3read(a.contender, a.path, a.n)
    elif a.task == "w4":
        w4(a.contender, a.path, a.n)
    elif a.task == "w4read":
        w4read(a.contender, a.path)
    elif a.task == "w5":
        w5(a.contender, a.path, a.procs, a.n)
    else:
        raise SystemExit(f"unknown task {a.task}")


if __name__ == "__main__":
    sys.exit(main())
