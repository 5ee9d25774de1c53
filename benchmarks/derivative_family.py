"""Measurements behind two choices of the derivative family.

    python benchmarks/derivative_family.py

1. The Hessian strategy: forward-over-reverse (the Jacobian in forward mode of
   the gradient, what `sg.hessian` does) against reverse-over-reverse and
   forward-over-forward, on the Rosenbrock function of n = 100 variables:
   operations after simplification, build time, per-call time.
2. `sg.vmap(sg.grad(f))` over 10^6 points, one native call, against the
   gradient written by hand with NumPy's vectorised operations, in the same run.
"""

import statistics
import time

import numpy as np

import symgrad as sg


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def median_time(fn, repeats=7, number=1):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def hessian_strategies(n=100):
    x = np.random.default_rng(0).uniform(-1, 1, n)
    strategies = {
        "forward-over-reverse (sg.hessian)": lambda: sg.hessian(rosenbrock),
        "reverse-over-reverse": lambda: sg.jacrev(sg.grad(rosenbrock)),
        "forward-over-forward": lambda: sg.jacfwd(sg.jacfwd(rosenbrock)),
    }
    reference = None
    print(f"Hessian of Rosenbrock, n = {n}")
    print("| strategy | operations | build | per call |\n| --- | --- | --- | --- |")
    for name, make in strategies.items():
        builds = []
        for _ in range(3):
            transformed = make()
            start = time.perf_counter()
            result = transformed(x)
            builds.append(time.perf_counter() - start)
        reference = result if reference is None else reference
        assert np.allclose(result, reference, rtol=1e-12), name
        ops = transformed.formula(x).ops
        call = median_time(lambda t=transformed: t(x), number=200)
        print(f"| {name} | {ops} | {statistics.median(builds) * 1e3:.0f} ms | {call * 1e6:.2f} us |")


def f(p):
    x, y = p[0], p[1]
    return np.sin(x) * np.exp(-y * y) + x * y


def numpy_gradient(P):
    x, y = P[:, 0], P[:, 1]
    e = np.exp(-y * y)
    return np.stack([np.cos(x) * e + y, -2.0 * y * np.sin(x) * e + x], axis=1)


def vmap_of_grad(n=1_000_000):
    P = np.random.default_rng(1).uniform(-2, 2, (n, 2))
    batched = sg.vmap(sg.grad(f))
    assert np.allclose(batched(P), numpy_gradient(P), rtol=1e-13, atol=1e-14)
    ours = median_time(lambda: batched(P))
    theirs = median_time(lambda: numpy_gradient(P))
    print(f"\nvmap(grad(f)) over {n:,} points, f(x, y) = sin(x) exp(-y^2) + x y")
    print(f"symgrad: {ours / n * 1e9:.2f} ns per point ({ours * 1e3:.2f} ms); "
          f"NumPy by hand: {theirs / n * 1e9:.2f} ns per point ({theirs * 1e3:.2f} ms); ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    hessian_strategies()
    vmap_of_grad()
