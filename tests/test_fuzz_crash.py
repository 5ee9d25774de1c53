"""Crash fuzzer: compiled callables called with malformed arguments, in child processes.

Every call must either return the right number (the result of the same call on clean,
C-contiguous float64 copies of the arguments) or raise TypeError/ValueError; it must never
crash the interpreter, hang, accept an argument that has no float64 meaning (strings,
complex numbers, object arrays, a wrong argument count) or modify its inputs. A call whose
clean version raises an error of its own (the user's function indexing past a shape, say)
may raise that error too.

In the test suite a fast setting runs (every target with every mutation of one argument).
For a long run, as a script:

    python tests/test_fuzz_crash.py --calls 200000 --widths 2,4   # random calls, children of 5000
    python tests/test_fuzz_crash.py --child --seed 3 --calls 100   # one child, JSON lines out

Outcomes counted: calls, crashes (a child killed by a signal), hangs (a child or call over its
time limit), silently accepted bad inputs, wrong results, unexpected exceptions, modified inputs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INVALID = object()  # an argument with no float64 meaning: the call must be refused
CALL_SECONDS = 60.0  # a call slower than this counts as a hang (compiles included)


# ----- Targets: compiled callables and clean arguments -----


def rosen(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def loss(w, x):
    return (np.tanh(x @ w) ** 2).sum() + np.sin(w).sum() * 0.1


def _targets():
    import symgrad as sg

    data = np.random.default_rng(0).normal(size=(64, 3))
    out, vjp_fn = sg.vjp(lambda x: np.sin(x) * x[0], np.array([0.5, -1.0, 2.0]))
    kernel = sg.grad(loss, argnums=(0, 1)).compile(np.ones(3), np.ones((4, 3)))
    return {
        "scalar": (sg.grad(lambda x: sg.sin(x) * x ** 3), (1.3,)),
        "array": (sg.grad(loss, argnums=(0, 1)), (np.array([0.1, -0.4, 0.7]), np.linspace(-1, 1, 12).reshape(4, 3))),
        "kernel": (kernel, (np.array([0.1, -0.4, 0.7]), np.linspace(-1, 1, 12).reshape(4, 3))),
        "vmap": (sg.vmap(sg.grad(rosen)), (np.linspace(-1.5, 1.5, 40).reshape(10, 4),)),
        "vmap_shared": (sg.vmap(sg.grad(loss), in_axes=(0, None)),
                        (np.linspace(-1, 1, 15).reshape(5, 3), np.linspace(-1, 1, 12).reshape(4, 3))),
        "hessian": (sg.hessian(rosen), (np.array([0.5, -0.3, 1.2, 0.8]),)),
        "vjp_fn": (vjp_fn, (np.array([1.0, -2.0, 0.5]),)),
        "reduction": (sg.grad(lambda w: sg.vmap(lambda row: (row @ w) ** 2)(data).mean()),
                      (np.array([0.3, -0.2, 0.9]),)),
    }


# ----- Mutations: (name, makes an invalid argument?, function of (arg, rng)) -----


class Subclass(np.ndarray):
    """An ndarray subclass with an attribute of its own."""

    def __array_finalize__(self, obj):
        self.note = getattr(obj, "note", "sub")


def _misaligned(a):
    a = np.asarray(a, dtype=np.float64)
    buffer = np.zeros(a.nbytes + 1, dtype=np.uint8)
    view = buffer[1:].view(np.float64).reshape(a.shape)
    view[...] = a
    return view


def _strided(a):
    a = np.asarray(a, dtype=np.float64)
    big = np.zeros(a.shape + (2,))
    big[..., 0] = a
    return big[..., 0]


def _read_only(a):
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _with_values(a, rng, values):
    a = np.array(a, dtype=np.float64)
    if a.ndim == 0:
        return np.float64(rng.choice(values))
    if a.size == 0:
        return a
    flat = a.reshape(-1)
    flat[rng.integers(0, flat.size)] = rng.choice(values)
    return a


def _reversed(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a
    return np.ascontiguousarray(a[::-1])[::-1]  # the same values through a negative stride


MUTATIONS = [
    # layouts and containers NumPy reads as the same float64 values
    ("float64_array", False, lambda a, r: np.array(a, dtype=np.float64)),
    ("float32", False, lambda a, r: np.asarray(a, dtype=np.float32)),
    ("float16", False, lambda a, r: np.asarray(a, dtype=np.float16)),
    ("longdouble", False, lambda a, r: np.asarray(a, dtype=np.longdouble)),
    ("int64", False, lambda a, r: np.asarray(np.round(a), dtype=np.int64)),
    ("int8", False, lambda a, r: np.asarray(np.round(a), dtype=np.int8)),
    ("uint8", False, lambda a, r: np.asarray(np.abs(np.round(a)), dtype=np.uint8)),
    ("bool", False, lambda a, r: np.asarray(a) > 0),
    ("byteswapped", False, lambda a, r: np.asarray(a, dtype=np.float64).astype(">f8")),
    ("strided", False, lambda a, r: _strided(a)),
    ("negative_stride", False, lambda a, r: _reversed(a)),
    ("fortran", False, lambda a, r: np.asfortranarray(a, dtype=np.float64)),
    ("zero_strides", False, lambda a, r: np.broadcast_to(np.float64(np.ravel(a)[0] if np.size(a) else 0.0),
                                                        np.shape(a))),
    ("misaligned", False, lambda a, r: _misaligned(a)),
    ("read_only", False, lambda a, r: _read_only(a)),
    ("subclass", False, lambda a, r: np.array(a, dtype=np.float64).view(Subclass)),
    ("masked", False, lambda a, r: np.ma.masked_array(np.array(a, dtype=np.float64))),
    ("nan", False, lambda a, r: _with_values(a, r, [math.nan])),
    ("inf", False, lambda a, r: _with_values(a, r, [math.inf, -math.inf])),
    ("huge", False, lambda a, r: _with_values(a, r, [1e308, -1e308, 5e-324])),
    ("list", False, lambda a, r: np.asarray(a, dtype=np.float64).tolist()),
    ("numpy_scalar", False, lambda a, r: np.float64(np.ravel(a)[0]) if np.size(a) else a),
    ("fraction", False, lambda a, r: Fraction(3, 7) if np.ndim(a) == 0 else a),
    ("decimal", False, lambda a, r: Decimal("0.25") if np.ndim(a) == 0 else a),
    # shapes: a new signature for a transformed function, an error for a kernel
    ("extra_axis", False, lambda a, r: np.asarray(a, dtype=np.float64)[None]),
    ("dropped_axis", False, lambda a, r: np.asarray(a, dtype=np.float64).reshape(-1)[:-1] if np.size(a) > 1
     else np.float64(0.5)),
    ("empty", False, lambda a, r: np.zeros((0,) + np.shape(a)[1:])),
    ("scalar_for_array", False, lambda a, r: 0.5),
    ("ragged", True, lambda a, r: [[1.0, 2.0], [3.0]]),
    # values with no float64 meaning
    ("complex", True, lambda a, r: np.asarray(a, dtype=np.complex128) + 1j),
    ("complex_scalar", True, lambda a, r: 1.5 + 2j),
    ("object_floats", True, lambda a, r: np.asarray(a, dtype=object) if np.ndim(a) else np.array([1.0], dtype=object)),
    ("object_strings", True, lambda a, r: np.full(np.shape(a) or (1,), "x", dtype=object)),
    ("string", True, lambda a, r: "abc"),
    ("unicode_array", True, lambda a, r: np.full(np.shape(a) or (1,), "x")),
    ("bytes", True, lambda a, r: b"\x00" * 8),
    ("none", True, lambda a, r: None),
    ("dict", True, lambda a, r: {"x": 1.0}),
    ("datetime", True, lambda a, r: np.full(np.shape(a) or (1,), np.datetime64("2020-01-01"))),
    ("structured", True, lambda a, r: np.zeros(np.shape(a) or (1,), dtype=[("a", "f8")])),
    ("function", True, lambda a, r: len),
]
COUNT_MUTATIONS = ["missing_argument", "extra_argument"]
# Mutations that give a transformed function a new signature whose size follows the argument's.
_RESHAPING = {"extra_axis", "dropped_axis", "list", "numpy_scalar", "scalar_for_array", "fraction", "decimal"}


# ----- One call and its verdict -----


def _clean(value):
    """The clean form of an argument (C-contiguous, aligned, native float64), or INVALID when it has none."""
    if isinstance(value, (complex, np.complexfloating, str, bytes, dict)) or value is None or callable(value):
        return INVALID
    if isinstance(value, (Fraction, Decimal)):
        return float(value)
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return value
    try:
        array = np.asarray(value)
    except ValueError:
        return INVALID
    if array.dtype.kind not in "biuf":
        return INVALID
    # Integer and bool arrays are constants of the function (API.md §1), floats are variables:
    # the clean copy keeps that kind, so that both calls compute the same graph (with NaN among
    # the inputs, a derivative through a constant 0 and through a variable equal to 0 differ).
    kind = np.float64 if array.dtype.kind == "f" else array.dtype.newbyteorder("=")
    return np.array(array, dtype=kind, order="C")


def _numbers(result):
    """The numbers of a result (a float, an array, or a tuple/list/dict of them), flattened."""
    import symgrad.tree as tree

    leaves = tree.flatten(result)[0]
    return [np.asarray(leaf, dtype=np.float64) for leaf in leaves]


def _same(a, b) -> bool:
    # A list argument is a tree of scalars, so its gradient is one too: compare the numbers in order.
    x = np.concatenate([v.reshape(-1) for v in a]) if a else np.zeros(0)
    y = np.concatenate([v.reshape(-1) for v in b]) if b else np.zeros(0)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-12, atol=0.0, equal_nan=True))


def _snapshot(args):
    return [(np.asarray(a).tobytes(), np.asarray(a).dtype, np.shape(a)) if isinstance(a, np.ndarray) else repr(a)
            for a in args]


def _outcome(fn, args):
    try:
        with np.errstate(all="ignore"):
            return "value", _numbers(fn(*args))
    except Exception as e:  # classified by the caller
        return "error", e


ACCEPTED = (TypeError, ValueError)
PROBLEMS = ("crash", "hang", "silently_accepted", "wrong_result", "modified_input")
_LAST_OUTCOME = [""]


def judge(fn, args, clean_args, invalid: bool) -> str | None:
    """None when the call behaved, else the name of what went wrong."""
    before = _snapshot(args)
    start = time.perf_counter()
    kind, got = _outcome(fn, args)
    _LAST_OUTCOME[0] = kind
    if time.perf_counter() - start > CALL_SECONDS:
        return "hang"
    if _snapshot(args) != before:
        return "modified_input"
    if invalid:
        if kind == "value":
            return "silently_accepted"
        return None if isinstance(got, ACCEPTED) else f"unexpected_{type(got).__name__}"
    ref_kind, ref = _outcome(fn, clean_args)
    if kind == "value":
        if ref_kind != "value":
            return "silently_accepted"
        return None if _same(got, ref) else "wrong_result"
    if isinstance(got, ACCEPTED) or (ref_kind == "error" and type(got) is type(ref)):
        return None
    return f"unexpected_{type(got).__name__}"


_TARGET_ARITY = {"scalar": 1, "array": 2, "kernel": 2, "vmap": 1, "vmap_shared": 2, "hessian": 1,
                 "vjp_fn": 1, "reduction": 1}
_MUTATION = {name: (invalid, fn) for name, invalid, fn in MUTATIONS}
# Batch sizes around the vector widths (2, 4, 8) and the thread split of a small kernel.
_BATCH_SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 1000, 4095, 4096, 4097, 65_537]


def cases(seed: int, calls: int | None):
    """Cases `(target, [(position, mutation), ...], batch size or None)`: every single mutation once
    (calls None), or `calls` random ones mutating one or more arguments, with random batch sizes."""
    names = list(_TARGET_ARITY)
    if calls is None:
        for t in names:
            for p in range(_TARGET_ARITY[t]):
                for name, _, _ in MUTATIONS:
                    yield t, [(p, name)], None
            for name in COUNT_MUTATIONS:
                yield t, [(None, name)], None
        return
    rng = np.random.default_rng(seed)
    for _ in range(calls):
        t = names[rng.integers(len(names))]
        if rng.random() < 0.03:
            yield t, [(None, COUNT_MUTATIONS[rng.integers(2)])], None
            continue
        positions = rng.permutation(_TARGET_ARITY[t])[:rng.integers(1, _TARGET_ARITY[t] + 1)]
        chosen = [(int(p), MUTATIONS[rng.integers(len(MUTATIONS))][0]) for p in positions]
        size = int(rng.choice(_BATCH_SIZES)) if t.startswith("vmap") else None
        yield t, chosen, size


def _resized(clean: tuple, size: int | None, rng) -> tuple:
    """The clean arguments of a vmap target with a batch of `size` random rows (some NaN or inf)."""
    if size is None:
        return clean
    batch = rng.normal(size=(size,) + clean[0].shape[1:])
    if size and rng.random() < 0.2:
        batch.reshape(-1)[rng.integers(batch.size)] = rng.choice([math.nan, math.inf, -math.inf])
    return (batch, *clean[1:])


def run_child(seed: int, calls: int | None, out) -> dict:
    """Run cases in this process, printing each before it runs (so a crash names it)."""
    targets = _targets()
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {"calls": 0, "refused": 0, "returned": 0}
    failures = []
    for target, mutations, size in cases(seed, calls):
        fn, clean = targets[target]
        clean = _resized(clean, size, rng)
        print(json.dumps({"case": [target, mutations, size]}), file=out, flush=True)
        if mutations[0][1] == "missing_argument":
            args, clean_args, invalid = clean[:-1], clean[:-1], True
        elif mutations[0][1] == "extra_argument":
            args, clean_args, invalid = (*clean, 1.0), (*clean, 1.0), True
        else:
            args, invalid = list(clean), False
            for position, name in mutations:
                if name in _RESHAPING and np.size(clean[position]) > 64:
                    name = "float64_array"  # a 65,537-point batch as one row would be a huge trace, not a fuzz
                bad, mutate = _MUTATION[name]
                args[position] = mutate(clean[position], rng)
                invalid = invalid or bad
            clean_args = [_clean(a) for a in args]
            invalid = invalid or any(c is INVALID for c in clean_args)
        verdict = judge(fn, args, clean_args, invalid)
        counts["calls"] += 1
        counts["refused" if _LAST_OUTCOME[0] == "error" else "returned"] += 1
        if verdict is not None:
            counts[verdict] = counts.get(verdict, 0) + 1
            failures.append([target, mutations, size, verdict])
    summary = {"summary": counts, "failures": failures[:50]}
    print(json.dumps(summary), file=out, flush=True)
    return summary


def run_in_child(seed: int, calls: int | None, timeout: float, env: dict | None = None) -> dict:
    """Run a child; a crash or hang becomes a count, with the case that caused it."""
    command = [sys.executable, os.path.abspath(__file__), "--child", "--seed", str(seed)]
    if calls is not None:
        command += ["--calls", str(calls)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=HERE)
        lines, code, hung, stderr = done.stdout.splitlines(), done.returncode, False, done.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        lines, code, hung, stderr = out.splitlines(), None, True, ""
    for line in reversed(lines):
        if line.startswith('{"summary"'):
            return json.loads(line)
    started = [json.loads(line)["case"] for line in lines if line.startswith('{"case"')]
    problem = "hang" if hung else "crash" if code is not None and code < 0 else "child_error"
    return {"summary": {"calls": len(started), problem: 1},
            "failures": [[*(started[-1] if started else []), problem]], "stderr": stderr[-2000:]}


# ----- The test (fast setting) -----


def test_every_target_with_every_single_mutation_neither_crashes_nor_accepts_bad_input():
    result = run_in_child(seed=0, calls=None, timeout=600)
    summary = result["summary"]
    assert summary["calls"] >= len(_TARGET_ARITY) * len(MUTATIONS), result
    problems = {k: v for k, v in summary.items() if k not in ("calls", "refused", "returned")}
    assert problems == {}, result
    assert summary["returned"] > 100 and summary["refused"] > 100, summary  # both kinds of outcome were tried


# ----- Script mode (the long run) -----


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="symgrad crash fuzzer")
    parser.add_argument("--calls", type=int, default=None, help="random calls (default: each case once)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-child", type=int, default=5000, help="calls per child process")
    parser.add_argument("--child", action="store_true", help="run the calls in this process (JSON lines out)")
    parser.add_argument("--widths", default="", help="vector widths to cycle the children through, e.g. 2,4 "
                        "(SYMGRAD_VECTOR_WIDTH; default: the CPU's)")
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, HERE)
        run_child(args.seed, args.calls, sys.stdout)
        return 0
    totals: dict[str, int] = {}
    failures = []
    start = time.perf_counter()
    plan = [(args.seed, None)] if args.calls is None else [
        (args.seed + k, min(args.per_child, args.calls - k * args.per_child))
        for k in range(-(-args.calls // args.per_child))]
    widths = [w for w in args.widths.split(",") if w]
    for k, (seed, calls) in enumerate(plan):
        env = {"SYMGRAD_VECTOR_WIDTH": widths[k % len(widths)]} if widths else None
        result = run_in_child(seed, calls, timeout=3600, env=env)
        for key, value in result["summary"].items():
            totals[key] = totals.get(key, 0) + value
        failures += result["failures"]
        if result.get("stderr"):
            print(result["stderr"], file=sys.stderr)
        print(f"seed {seed}{' width ' + env['SYMGRAD_VECTOR_WIDTH'] if env else ''}: {result['summary']}",
              flush=True)
    for key in ("calls", "returned", "refused", *PROBLEMS):
        totals.setdefault(key, 0)
    print(json.dumps({"totals": totals, "seconds": round(time.perf_counter() - start, 1),
                      "failures": failures[:40]}))
    return 1 if any(v for k, v in totals.items() if k not in ("calls", "returned", "refused")) else 0


if __name__ == "__main__":
    sys.exit(main())
