"""Build and call timings of the core compiler (the numbers the core issue asks for).

    python benchmarks/core_timings.py

Prints: the time to trace + differentiate + compile the gradient of the
100-variable Rosenbrock function (median of fresh builds, each stage
separately), and the per-call time of the compiled scalar gradient of 2x²
called with a Python float, next to a ctypes call of the same function
compiled from C, when gcc is available.
"""

import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

import numpy as np

import symgrad as sg


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def build_time(n=100, repeats=5):
    totals = []
    for _ in range(repeats):
        df = sg.grad(rosenbrock)
        start = time.perf_counter()
        df(np.zeros(n))
        totals.append(time.perf_counter() - start)
    return statistics.median(totals)


def per_call(fn, arg, number=200_000, repeats=7):
    times = timeit.repeat(lambda: fn(arg), number=number, repeat=repeats)
    return statistics.median(times) / number


def c_scalar_grad():
    if not (gcc := _which("gcc")):
        return None
    source = "double dfdx(double x) { return 4.0 * x; }\n"
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "dfdx.so")
    c_file = os.path.join(folder, "dfdx.c")
    with open(c_file, "w") as f:
        f.write(source)
    subprocess.run([gcc, "-O3", "-march=native", "-shared", "-fPIC", c_file, "-o", path], check=True)
    fn = ctypes.CDLL(path).dfdx
    fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_double]
    return fn


def _which(name):
    from shutil import which

    return which(name)


def main():
    df = sg.grad(lambda x: 2 * x**2)
    assert df(3.0) == 12.0
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"Rosenbrock n=100 gradient, trace + differentiate + compile: {build_time() * 1e3:.1f} ms (median of 5)")
    ours = per_call(df, 3.0)
    print(f"grad of 2x^2, compiled, called with a Python float: {ours * 1e6:.3f} us per call (median of 7)")
    c = c_scalar_grad()
    if c is not None:
        theirs = per_call(c, 3.0)
        print(f"the same in C (gcc -O3) through ctypes:            {theirs * 1e6:.3f} us per call; "
              f"ratio symgrad/C = {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
