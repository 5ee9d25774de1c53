"""Gradient descent on y = x**2 + 20, starting at x = 10 with step 0.01.

Run: python examples/gradient_descent.py [--fast]
Saves gradient_descent.png (the path on the curve) when matplotlib is installed.
"""

import os
import sys

import numpy as np

import symgrad as sg

FAST = "--fast" in sys.argv or os.environ.get("SYMGRAD_FAST") == "1"
STEPS = 100 if FAST else 1000
RATE = 0.01


def parabola(x):
    return x**2 + 20


value_and_slope = sg.value_and_grad(parabola)
print("dy/dx =", sg.grad(parabola).formula(10.0))

x = 10.0
path = [x]
for step in range(1, STEPS + 1):
    y, slope = value_and_slope(x)
    x = x - RATE * slope  # a new value, no gradient to reset: nothing accumulates
    path.append(x)
    if step in (1, 2, 3) or step % (STEPS // 5) == 0:
        print(f"step {step:4d}: x = {x:.6f}, y = {parabola(x):.6f}")
print(f"minimum near x = {x:.3g}, y = {parabola(x):.6f}")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed (pip install 'symgrad[plot]'): no plot saved")
else:
    grid = np.linspace(-11, 11, 200)
    path = np.array(path)
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot(grid, parabola(grid), color="0.6", label="y = x² + 20")
    axes.plot(path, parabola(path), "o-", markersize=3, color="tab:red", label="gradient descent")
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.legend()
    figure.tight_layout()
    figure.savefig("gradient_descent.png", dpi=100)
    print("saved gradient_descent.png")
