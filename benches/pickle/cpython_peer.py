#!/usr/bin/env python3
"""CPython side of `cargo xtask bench pickle` (see BENCHMARKS.md).

Deterministic: re-executes itself with PYTHONHASHSEED=0. Standard library only.

    cpython_peer.py gen  --n N --out DIR
        writes DIR/dict_N.p4.pickle  = pickle.dumps({str(i): [i, float(i), str(i)]
                                                     for i in range(N)}, 4)
           and DIR/floats_N.p4.pickle = pickle.dumps([float(i) for i in range(N)], 4)
    cpython_peer.py time FILE --object dict|floats --n N [--warmup W] [--iters K] [--check]
        one line per timed iteration: `<measure>\t<seconds>` for
        dumps (protocol 4, of the object FILE was written from, rebuilt here),
        then loads (gc on) and loads_nogc (gc off during the call) of FILE;
        --check first makes sure that dumps gives FILE's bytes and loads the object
    cpython_peer.py peak FILE
        decodes once in this fresh process and prints
        `peak\t<VmHWM kB after>\t<VmHWM kB before>`

The object a call returns is dropped outside the timed region, as the Rust
programs do, so every contender is timed on the same work.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    env = dict(os.environ, PYTHONHASHSEED="0")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse
import gc
import pathlib
import pickle
import time


def build(kind, n):
    """The benchmark objects (a new one each call)."""
    if kind == "dict":
        return {str(i): [i, float(i), str(i)] for i in range(n)}
    if kind == "floats":
        return [float(i) for i in range(n)]
    sys.exit(f"unknown kind {kind!r}")


def gen(args):
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("dict", "floats"):
        obj = build(kind, args.n)
        (out / f"{kind}_{args.n}.p4.pickle").write_bytes(pickle.dumps(obj, 4))
        del obj


def emit(measure, seconds):
    sys.stdout.write(f"{measure}\t{seconds:.9f}\n")


def time_file(args):
    data = pathlib.Path(args.file).read_bytes()
    loads, dumps, clock = pickle.loads, pickle.dumps, time.perf_counter
    # dumps: of the object the file was written from (a loaded one would
    # differ: the unpickler shares one-character strs, so dumps of it writes
    # BINGETs where the file has a second str).
    obj = build(args.object, args.n)
    if args.check:
        if dumps(obj, 4) != data:
            sys.exit(f"{args.file}: pickle.dumps({args.object}, 4) is not the file's bytes")
        if loads(data) != obj:
            sys.exit(f"{args.file}: pickle.loads(b) != {args.object}")
    for i in range(args.warmup + args.iters):
        t = clock()
        out = dumps(obj, 4)
        dt = clock() - t
        del out
        if i >= args.warmup:
            emit("dumps", dt)
    # loads: nothing else big is alive, so gc passes see only what loads makes.
    del obj
    gc.collect()
    gc.enable()
    for i in range(args.warmup + args.iters):
        timed = i >= args.warmup
        # gc on (the default)
        t = clock()
        obj = loads(data)
        dt = clock() - t
        if timed:
            emit("loads", dt)
        del obj
        gc.collect()
        # gc off for the call
        gc.disable()
        t = clock()
        obj = loads(data)
        dt = clock() - t
        gc.enable()
        if timed:
            emit("loads_nogc", dt)
        del obj
        gc.collect()
    sys.stdout.flush()


def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def peak(args):
    data = pathlib.Path(args.file).read_bytes()
    before = vm_hwm_kb()
    obj = pickle.loads(data)
    after = vm_hwm_kb()
    del obj
    print(f"peak\t{after}\t{before}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--n", type=int, required=True)
    g.add_argument("--out", required=True)
    t = sub.add_parser("time")
    t.add_argument("file")
    t.add_argument("--warmup", type=int, default=1)
    t.add_argument("--iters", type=int, default=3)
    t.add_argument("--object", choices=("dict", "floats"), required=True)
    t.add_argument("--n", type=int, required=True)
    t.add_argument("--check", action="store_true")
    p = sub.add_parser("peak")
    p.add_argument("file")
    args = ap.parse_args()
    {"gen": gen, "time": time_file, "peak": peak}[args.cmd](args)


if __name__ == "__main__":
    main()
