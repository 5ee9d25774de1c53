"""Matrix products through symgrad's contraction ABI: own kernel vs the BLAS found vs NumPy.

    python benchmarks/contraction.py                     # table of GFLOP/s medians
    python benchmarks/contraction.py --json /tmp/c.json  # and the records as JSON (+ /tmp/c.md)
    python benchmarks/contraction.py --sweep             # square sizes 4..256 and matrix-vector shapes
    python benchmarks/contraction.py --quick             # shorter samples
    python benchmarks/contraction.py --threads 1         # one core each, timed in CPU time of the thread

Each row is one product C = op(A) op(B) (beta = 0), all in one process.
`own` and `BLAS` call `symgrad_gemm_own` / `symgrad_gemm_blas` (the same
entry with the dispatch fixed), `symgrad` calls `symgrad_gemm` (the
dispatch policy), all from a native loop (one ctypes call, GIL released, per
sample), so that small sizes measure the kernels and not ctypes. NumPy is
`np.matmul(..., out=C)` called from Python, so its small sizes include
about a microsecond of Python per call. Both symgrad's kernels and the
BLAS use every core (2 here) for large products. With `--threads 1`
every peer runs on one thread and is timed by that thread's CPU time,
which a loaded machine disturbs far less than wall time: it compares
kernels, not thread pools.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import math
import os
import sys
import time

# With --threads 1 the BLAS must be single-threaded before NumPy loads it.
if "--threads" in sys.argv[:-1] and sys.argv[sys.argv.index("--threads") + 1] == "1":
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from llvmlite import ir  # noqa: E402

from benchmarks import harness  # noqa: E402
from symgrad import engine as runtime  # noqa: E402
from symgrad.codegen import contract  # noqa: E402
from symgrad.codegen.contract import BATCH_ARGUMENTS, GEMM_ARGUMENTS, blas  # noqa: E402

# (label, m, n, k, trans_a, trans_b, batch)
CASES = [(f"{s}×{s} @ {s}×{s}", s, s, s, 0, 0, 1) for s in (8, 32, 128, 512, 1000, 2000)] + [
    ("MLP (128×784) @ (784×256)", 128, 256, 784, 0, 0, 1),
    ("  dW: (784×128) @ (128×256), A.T", 784, 256, 128, 1, 0, 1),
    ("  dX: (128×256) @ (256×784), B.T", 128, 784, 256, 0, 1, 1),
    ("X @ w: (10⁶×10) @ (10)", 10**6, 1, 10, 0, 0, 1),
    ("X.T @ r: (10×10⁶) @ (10⁶), A.T", 10, 1, 10**6, 1, 0, 1),
    ("r @ X: (10⁶) @ (10⁶×10)", 1, 10, 10**6, 0, 0, 1),
    ("1000² A.T @ B", 1000, 1000, 1000, 1, 0, 1),
    ("1000² A @ B.T", 1000, 1000, 1000, 0, 1, 1),
    ("1000² A.T @ B.T", 1000, 1000, 1000, 1, 1, 1),
    ("batch 10⁴ × (8×8 @ 8×8)", 8, 8, 8, 0, 0, 10**4),
    ("batch 64 × (128×128 @ 128×128)", 128, 128, 128, 0, 0, 64),
]
SWEEP = [(f"{s}×{s} @ {s}×{s}", s, s, s, 0, 0, 1) for s in (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)]
# Matrix-vector: op(A) is m x k, stored k x m for ".T".
SWEEP += [(f"({k}×{m}).T @ ({k})" if t else f"({m}×{k}) @ ({k})", m, 1, k, t, 0, 1)
          for m, k in [(s, s) for s in (64, 128, 256, 512, 1000, 2000)] + [(10**5, 32), (32, 10**5), (10**4, 256),
                                                                          (256, 10**4)]
          for t in (0, 1)]
PEERS = ("own", "blas", "symgrad", "numpy")
_ARG_TYPES = {"i64": ctypes.c_int64, "double": ctypes.c_double}


def _repeaters() -> dict[str, ctypes._CFuncPtr]:
    """Native loops `repeat(entry, count, args...)` calling a gemm entry `count` times."""
    module = ir.Module("contraction_benchmark")
    names = {}
    for kind, arguments in (("gemm", GEMM_ARGUMENTS), ("batched", BATCH_ARGUMENTS)):
        types = [t for _, t in arguments]
        target = ir.FunctionType(ir.VoidType(), types).as_pointer()
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [target, ir.IntType(64), *types]), f"repeat_{kind}")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        entry, count, *args = fn.args
        loop, done = fn.append_basic_block("loop"), fn.append_basic_block("done")
        before = b.block
        b.branch(loop)
        b.position_at_end(loop)
        i = b.phi(ir.IntType(64))
        i.add_incoming(ir.Constant(ir.IntType(64), 0), before)
        b.call(entry, args)
        following = b.add(i, ir.Constant(ir.IntType(64), 1))
        i.add_incoming(following, loop)
        b.cbranch(b.icmp_signed("<", following, count), loop, done)
        b.position_at_end(done)
        b.ret_void()
        c_types = [ctypes.c_void_p, ctypes.c_int64] + [
            ctypes.c_void_p if isinstance(t, ir.PointerType) else _ARG_TYPES[str(t)] for t in types]
        names[kind] = (fn.name, ctypes.CFUNCTYPE(None, *c_types))
    addresses = runtime._get_engine().add(str(module), [name for name, _ in names.values()])
    return {kind: prototype(addresses[name]) for kind, (name, prototype) in names.items()}


def _operands(m, n, k, ta, tb, batch, rng):
    shape_a = (k, m) if ta else (m, k)
    shape_b = (n, k) if tb else (k, n)
    lead = (batch,) if batch > 1 else ()
    a = rng.standard_normal(lead + shape_a)
    b = rng.standard_normal(lead + shape_b)
    return a, b, np.zeros(lead + (m, n))


_clock = time.perf_counter
# OpenBLAS's idle threads spin for about 0.1 s after a call, taking a core from whatever runs
# next (see `interference`); every sample starts after this pause so that no peer pays for another.
_pause_s = 0.15


def _calibrate(run, sample_s: float) -> int:
    """Calls per sample, so that a sample lasts about `sample_s`."""
    run(1)
    t0 = _clock()
    run(1)
    return max(1, math.ceil(sample_s / max(_clock() - t0, 1e-9)))


def measure(case, entries, repeaters, sample_s: float, repeats: int, rng) -> dict:
    """GFLOP/s medians of every peer on one product; samples of the peers alternate, so that
    the noise of a shared machine falls on all of them alike."""
    label, m, n, k, ta, tb, batch = case
    a, b, c = _operands(m, n, k, ta, tb, batch, rng)
    op_a = np.swapaxes(a, -1, -2) if ta else a
    op_b = np.swapaxes(b, -1, -2) if tb else b
    reference = np.matmul(op_a, op_b)
    flops = 2.0 * m * n * k * batch
    args = (ta, tb, m, n, k, 1.0, a.ctypes.data, a.shape[-1], b.ctypes.data, b.shape[-1], 0.0, c.ctypes.data,
            c.shape[-1])
    record = {"case": label, "m": m, "n": n, "k": k, "trans_a": ta, "trans_b": tb, "batch": batch}
    runs = {}
    for peer in PEERS:
        if peer == "numpy":
            def run(count):
                for _ in range(count):
                    np.matmul(op_a, op_b, out=c)
        else:
            name = {"own": "gemm_own", "blas": "gemm_blas", "symgrad": "gemm"}[peer]
            if batch > 1:
                name = name.replace("gemm", "gemm_batched")
            if name not in entries:
                record[peer] = None
                continue
            address = entries[name]
            if batch > 1:
                def run(count, address=address):
                    repeaters["batched"](address, count, *args, batch, a[0].size, b[0].size, c[0].size)
            else:
                def run(count, address=address):
                    repeaters["gemm"](address, count, *args)
        c[...] = np.nan
        run(1)
        error = float(np.abs(c - reference).max() / max(np.abs(reference).max(), 1e-300))
        runs[peer] = (run, _calibrate(run, sample_s), error)
    samples = {peer: [] for peer in runs}
    for _ in range(repeats):
        for peer, (run, count, _) in runs.items():
            time.sleep(_pause_s)
            t0 = _clock()
            run(count)
            samples[peer].append((_clock() - t0) / count)
    for peer, (_, count, error) in runs.items():
        median = float(np.median(samples[peer]))
        record[peer] = {"time_s": median, "gflops": flops / median / 1e9, "calls_per_sample": count,
                        "max_rel_error": error}
    return record


def interference(entries, repeaters, repeats: int) -> dict:
    """symgrad's own 500 x 500 product (both cores) alone, right after a 1000 x 1000 BLAS product,
    and 0.3 s after one: the cost of the BLAS's spinning idle threads to the code that follows."""
    rng = np.random.default_rng(1)
    big = [rng.standard_normal((1000, 1000)) for _ in range(3)]
    small = [rng.standard_normal((500, 500)) for _ in range(3)]

    def call(name, mats, s):
        a, b, c = mats
        repeaters["gemm"](entries[name], 1, 0, 0, s, s, s, 1.0, a.ctypes.data, s, b.ctypes.data, s, 0.0,
                          c.ctypes.data, s)

    times = {"alone": [], "right after BLAS": [], "0.3 s after BLAS": []}
    for _ in range(repeats):
        for label in times:
            if label != "alone":
                call("gemm_blas", big, 1000)
            time.sleep(0.3 if label != "right after BLAS" else 0.0)
            t0 = time.perf_counter()
            call("gemm_own", small, 500)
            times[label].append(time.perf_counter() - t0)
    return {label: 2 * 500**3 / float(np.median(t)) / 1e9 for label, t in times.items()}


def markdown(records: list[dict], info: dict) -> str:
    lines = ["| product | own | BLAS | symgrad_gemm (policy) | NumPy matmul |", "|---|---|---|---|---|"]
    for r in records:
        cells = []
        for peer in PEERS:
            entry = r.get(peer)
            cells.append("—" if entry is None else f"{entry['gflops']:.2f}")
        lines.append(f"| {r['case']} | " + " | ".join(cells) + " |")
    found = info.get("blas") or "none found"
    return (f"GFLOP/s, medians; {info['cpu']}, {info['cores']} cores, threads: {info['threads']}, "
            f"vector width {info['vector_width']}; BLAS: {found}\n\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the records here")
    parser.add_argument("--quick", action="store_true", help="shorter samples")
    parser.add_argument("--threads", type=int, choices=(1, 0), default=0,
                        help="1: every peer on one thread, timed in thread CPU time; 0: all cores, wall time")
    parser.add_argument("--sweep", action="store_true",
                        help="square sizes 4..256 and matrix-vector shapes instead of the main cases")
    options = parser.parse_args(argv)
    global _clock, _pause_s
    sample_s, repeats = (0.01, 5) if options.quick else (0.05, 9)
    if options.threads == 1:
        # CPU time of this thread: other threads' idle spinning does not count.
        _clock, _pause_s = time.thread_time, 0.0
    from symgrad.codegen.llvm import VECTOR_WIDTH

    start = time.perf_counter()
    if options.threads == 1:
        one_thread = dataclasses.replace(contract.POLICY, threads=1)
        entries = runtime.contraction(policy=one_thread)
    else:
        entries = runtime.contraction()
    compile_s = time.perf_counter() - start
    repeaters = _repeaters()
    found = blas.routine("dgemm")
    info = {**harness.machine_info(), "vector_width": VECTOR_WIDTH, "contraction_compile_s": compile_s,
            "threads": "1 (thread CPU time)" if options.threads == 1 else "all (wall time)",
            "blas": found and f"{found.origin} ({found.abi} ABI, {found.int_bits}-bit integers)"}
    rng = np.random.default_rng(0)
    records = []
    for case in SWEEP if options.sweep else CASES:
        records.append(measure(case, entries, repeaters, sample_s, repeats, rng))
        print(markdown(records[-1:], info).splitlines()[-1], flush=True)
    print()
    print(markdown(records, info))
    print(f"\ncontraction module compiled in {compile_s * 1000:.0f} ms")
    report = {"machine": info, "records": records}
    if "gemm_blas" in entries and options.threads == 0 and not options.sweep:
        report["interference_gflops"] = interference(entries, repeaters, repeats)
        print("own 500x500 product (GFLOP/s), BLAS idle threads:",
              ", ".join(f"{label}: {value:.1f}" for label, value in report["interference_gflops"].items()))
    if options.json:
        with open(options.json, "w") as f:
            json.dump(report, f, indent=1)
        with open(os.path.splitext(options.json)[0] + ".md", "w") as f:
            f.write(markdown(records, info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
