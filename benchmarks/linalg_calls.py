"""Compiled linear algebra against NumPy's: per-call time of the same LAPACK work (median of repeats).

    python benchmarks/linalg_calls.py

symgrad's loop kernels call the LAPACK routines of NumPy's bundled OpenBLAS from native code (no Python
between the copies and the call), so a compiled `np.linalg.cholesky` should cost what NumPy's does plus
the copies into LAPACK's layout; a gradient costs a few factorisations and products more.
"""

from __future__ import annotations

import time

import numpy as np

import symgrad as sg


def median_time(f, *args, repeats: int = 15) -> float:
    f(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'operation':>34}  {'n':>5}  {'NumPy ms':>9}  {'symgrad ms':>10}")
    for n in (50, 200, 500):
        a = rng.normal(size=(n, n))
        spd = a @ a.T + n * np.eye(n)
        b = rng.normal(size=(n, 3))
        cases = {
            "cholesky": (np.linalg.cholesky, spd),
            "solve (n x 3)": (lambda m, b=b: np.linalg.solve(m, b), a),
            "slogdet": (lambda m: np.linalg.slogdet(m)[1], a),
            "eigh": (lambda m: np.linalg.eigh(m)[0], spd),
            "svd values": (lambda m: np.linalg.svd(m, compute_uv=False), a),
            "grad of log det (cholesky)": (None, spd),
        }
        for name, (f, x) in cases.items():
            if f is None:
                def log_det(m):
                    return 2.0 * np.log(np.diagonal(np.linalg.cholesky(m))).sum()

                numpy_ms = median_time(lambda m: np.linalg.inv(m), x) * 1e3  # its closed form: inv(A)
                symgrad_ms = median_time(sg.grad(log_det), x) * 1e3
            else:
                numpy_ms = median_time(f, x) * 1e3
                symgrad_ms = median_time(sg.jit(f), x) * 1e3
            print(f"{name:>34}  {n:>5}  {numpy_ms:9.3f}  {symgrad_ms:10.3f}")


if __name__ == "__main__":
    main()
