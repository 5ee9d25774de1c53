"""Memory over many throwaway transformed functions: it must stay flat.

    python benchmarks/memory_flat.py            # 1000 functions per kind
    python benchmarks/memory_flat.py --count 200

A long-running loop that makes a fresh function each time (a lambda in a
loop, a notebook cell run again) must not keep every compiled kernel, LLVM
module or closed-over array alive. For each kind of throwaway function it
prints the resident set size (RSS, from /proc/self/statm, after
`gc.collect()` and glibc's `malloc_trim`) after a warm-up of a tenth of the functions and at the end,
and the growth in between. Kinds:

- `jvp`:  `sg.jvp(lambda x: ..., (x,), (t,))` with a fresh lambda each time;
- `grad`: `sg.grad(lambda x: ...)(x)`, the gradient made and called once;
- `data`: a fresh lambda averaging a `vmap` over a closed-over 2 MB data array,
  differentiated and called (the row-sum primitives hold that data);
- `loops`: the gradient of `tanh(a @ A).sum()` for a fresh 200×200 `A` closed over (320 KB),
  lowered to loops (a loop kernel, its LLVM module and the named constant `A`).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import time

import numpy as np

import symgrad as sg

PAGE = os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    # Freed blocks stay in glibc's heap (and count as resident) until trimmed; trimming makes
    # RSS measure what is alive rather than where the allocator happens to be.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mib() -> float:
    """Resident set size of this process in MiB, after a full collection (and `malloc_trim`)."""
    gc.collect()
    _malloc_trim()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def one_jvp(k: int) -> None:
    scale = float(k % 7 + 1)
    sg.jvp(lambda x: np.sin(x * scale) * x ** 2, (1.5,), (1.0,))


def one_grad(k: int) -> None:
    scale = float(k % 7 + 1)
    sg.grad(lambda x: (np.tanh(x * scale) ** 2).sum())(np.ones(8))


def one_data(k: int) -> None:
    data = np.random.default_rng(k).normal(size=(32_768, 8))  # 2 MiB per function
    loss = lambda w: sg.vmap(lambda row: (row @ w) ** 2)(data).mean()
    sg.grad(loss)(np.ones(8))


def one_loops(k: int) -> None:
    A = np.random.default_rng(k).normal(size=(200, 200))
    sg.grad(lambda a: np.tanh(a @ A).sum())(A)


KINDS = {"jvp": one_jvp, "grad": one_grad, "data": one_data, "loops": one_loops}


def measure(kind: str, count: int) -> dict[str, float]:
    make = KINDS[kind]
    warm_up = max(1, count // 10)
    start = time.perf_counter()
    for k in range(warm_up):
        make(k)
    after_warm_up = rss_mib()
    for k in range(warm_up, count):
        make(k)
    sg.clear_caches()
    end = rss_mib()
    return {"kind": kind, "count": count, "warm_up": warm_up, "rss_after_warm_up": after_warm_up,
            "rss_end": end, "growth": end - after_warm_up, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="throwaway functions per kind (default 1000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    args = parser.parse_args(argv)
    print(f"start: {rss_mib():.1f} MiB RSS")
    for kind in args.kinds.split(","):
        r = measure(kind, args.count)
        print(f"{kind:5s} x{r['count']}: {r['rss_after_warm_up']:.1f} MiB after {r['warm_up']} (warm-up), "
              f"{r['rss_end']:.1f} MiB at the end: growth {r['growth']:+.1f} MiB ({r['seconds']:.1f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
