"""`python -m symgrad demo`: the classic autograd tutorial examples, derived and run.

Each example prints the derivative symgrad derived (as a formula) and the
values its compiled kernel returns.
"""

from __future__ import annotations

import numpy as np

from . import api
from .functions import sin


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def run() -> None:
    """Print formulas and values for five small examples."""
    _section("y = 2*x**2, dy/dx at x = 10")
    df = api.grad(lambda x: 2 * x**2)
    print("dy/dx =", df.formula(10.0))
    print("value:", df(10.0))

    _section("y = sum(2*x**2) over x = [10, 20]")
    dsum = api.grad(lambda x: (2 * x**2).sum())
    x = np.array([10.0, 20.0])
    print(dsum.formula(x))
    print("value:", dsum(x))

    _section("y = x1 + 2*x2 at (1, 2)")
    dboth = api.grad(lambda x1, x2: x1 + 2 * x2, argnums=(0, 1))
    print(dboth.formula(1.0, 2.0))
    print("value:", dboth(1.0, 2.0))

    _section("product rule: y = sin(x)*x**3")
    print("dy/dx =", api.grad(lambda x: sin(x) * x**3).formula(1.0))

    _section("gradient descent on y = x**2 + 20 from x = 10, step 0.01")
    def parabola(x):
        return x**2 + 20

    print("dy/dx =", api.grad(parabola).formula(10.0))
    value_and_slope = api.value_and_grad(parabola)
    x0 = 10.0
    for step in range(1, 1001):
        y, slope = value_and_slope(x0)
        x0 -= 0.01 * slope
        if step in (1, 2, 3, 10, 100, 1000):
            print(f"step {step:4d}: x = {x0:.6f}  y = {y:.6f}")

    _section("linear layer z = x @ w + b with mean squared error against y")

    def loss(w, b, x, y):
        return ((x @ w + b - y) ** 2).mean()

    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    inputs, targets = np.ones((2, 5)), np.zeros((2, 3))
    dloss = api.grad(loss, argnums=(0, 1))
    print(dloss.formula(w, b, inputs, targets))
    dw, db = dloss(w, b, inputs, targets)
    np.set_printoptions(precision=4, suppress=True)
    print("dw =", dw, sep="\n")
    print("db =", db)
