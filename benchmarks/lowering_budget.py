"""Where the two lowerings cross: build and call times of the scalar and the loop lowering, by size.

    python benchmarks/lowering_budget.py [--json PATH]

For functions of growing size, each is built both ways in a fresh process
(`SYMGRAD_SCALAR_BUDGET` set to infinity, then to 0), and the table gives
its estimated scalar size (`symgrad.scalarize.scalar_size` of its graph),
the first call (trace + differentiate + compile + run) and the median call
of each lowering. The budget between the lowerings is chosen from it:
scalarise while the scalar build stays short and its calls are faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "rosen_grad": [10, 30, 100, 300, 1000, 3000],
    "tanh_matmul_grad": [3, 5, 8, 12, 20],
    "rosen_hessian": [10, 20, 40, 100],
    "lj_loop_grad": [8, 16, 32, 64],
    "mlp_grad": [2, 8, 32],
}

_WORKER = r"""
import json, sys, time
import numpy as np
import symgrad as sg

from benchmarks.tasks.lennard_jones import energy as lj
from benchmarks.tasks.rosen_grad import rosen

case, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)

if case == "rosen_grad":
    f, args = sg.grad(rosen), (rng.uniform(0, 1, n),)
elif case == "rosen_hessian":
    f, args = sg.hessian(rosen), (rng.uniform(0, 1, n),)
elif case == "tanh_matmul_grad":
    B = rng.normal(size=(n, n))
    f, args = sg.grad(lambda A: np.tanh(A @ B).sum()), (rng.normal(size=(n, n)),)
elif case == "lj_loop_grad":
    grid = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    f, args = sg.grad(lj), (1.12 * grid[:n] + 0.05 * rng.normal(size=(n, 3)),)
else:  # a small MLP's mean squared error over n samples, written without vmap
    X, y = rng.normal(size=(n, 8)), rng.normal(size=n)
    def loss(W1, W2):
        return ((np.tanh(X @ W1) @ W2 - y) ** 2).mean()
    f, args = sg.grad(loss, argnums=(0, 1)), (rng.normal(size=(8, 16)), rng.normal(size=16))

started = time.perf_counter()
f(*args)
first = time.perf_counter() - started
times = []
for _ in range(20):
    t = time.perf_counter()
    f(*args)
    times.append(time.perf_counter() - t)
compiled = next(iter(f._cache.values()))
print(json.dumps({"first": first, "call": float(np.median(times)), "lowering": compiled.lowering}))
"""

def run(case: str, n: int, budget: str) -> dict:
    env = {**os.environ, "SYMGRAD_SCALAR_BUDGET": budget, "SYMGRAD_CACHE": "0", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", _WORKER, case, str(n)], env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def scalar_size_of(case: str, n: int) -> float:
    probe = _WORKER.replace("started = time.perf_counter()", "import symgrad.lowering as L\n"
                            "from symgrad.scalarize import scalar_size\n"
                            "def stop(graph, name):\n"
                            "    print(json.dumps({'size': scalar_size(graph.outputs)})); raise SystemExit(0)\n"
                            "L.lower = stop\n"
                            "started = time.perf_counter()")
    out = subprocess.run([sys.executable, "-c", probe, case, str(n)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "SYMGRAD_CACHE": "0", "PYTHONPATH": ROOT})
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["size"]
    except (IndexError, ValueError, KeyError):
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    print("| function | n | scalar size | scalar: first call | scalar: per call | loops: first call "
          "| loops: per call |")
    print("|---|---|---|---|---|---|---|")
    for case, sizes in CASES.items():
        for n in sizes:
            size = scalar_size_of(case, n)
            scalar = run(case, n, "inf") if size < 300_000 else {"error": "skipped (too large)"}
            loops = run(case, n, "0")
            rows.append({"case": case, "n": n, "size": size, "scalar": scalar, "loops": loops})

            def cell(r, key):
                return r["error"][:30] if "error" in r else (f"{r[key] * 1e3:.1f} ms" if key == "first"
                                                             else f"{r[key] * 1e6:.1f} µs")

            print(f"| {case} | {n} | {size:,.0f} | {cell(scalar, 'first')} | {cell(scalar, 'call')} | "
                  f"{cell(loops, 'first')} | {cell(loops, 'call')} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
