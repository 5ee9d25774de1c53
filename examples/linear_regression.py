"""Linear regression trained by mini-batch SGD, with symgrad's compiled gradient.

Synthetic data: 100 samples of one feature, true bias 14.5, noise 10
(seeded, made with NumPy). Batches of 16, 100 epochs, learning rate 0.01.

Run: python examples/linear_regression.py [--fast]
Saves linear_regression.png (loss curve, fitted vs true line) when matplotlib is installed.
"""

import os
import sys

import numpy as np

import symgrad as sg

FAST = "--fast" in sys.argv or os.environ.get("SYMGRAD_FAST") == "1"
EPOCHS = 5 if FAST else 100
BATCH = 16
RATE = 0.01

rng = np.random.default_rng(0)
true_w, true_b = rng.uniform(0, 100), 14.5
x = rng.normal(size=100)
y = true_w * x + true_b + rng.normal(scale=10.0, size=100)


def mse(w, b, x, y):
    return ((w * x + b - y) ** 2).mean()


step = sg.value_and_grad(mse, argnums=(0, 1))
print("gradient of the loss over a batch of 2:")
print(sg.grad(mse, argnums=(0, 1)).formula(1.0, 1.0, np.ones(2), np.ones(2)))

w, b = 0.0, 0.0
losses = []
for epoch in range(EPOCHS):
    order = rng.permutation(len(x))
    total = 0.0
    for start in range(0, len(x), BATCH):
        batch = order[start:start + BATCH]
        loss, (dw, db) = step(w, b, x[batch], y[batch])
        w, b = w - RATE * dw, b - RATE * db
        total += loss * len(batch)
    losses.append(total / len(x))
print(f"after {EPOCHS} epochs: w = {w:.3f} (true {true_w:.3f}), b = {b:.3f} (true {true_b}),"
      f" loss = {losses[-1]:.2f}")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed (pip install 'symgrad[plot]'): no plot saved")
else:
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(range(1, EPOCHS + 1), losses)
    left.set_xlabel("epoch")
    left.set_ylabel("mean squared error")
    left.set_title("loss")
    left.grid(True)
    grid = np.linspace(x.min(), x.max(), 100)
    right.scatter(x, y, s=10, color="0.6")
    right.plot(grid, w * grid + b, color="tab:red", label="fitted")
    right.plot(grid, true_w * grid + true_b, "--", color="tab:blue", label="true")
    right.set_title("data and lines")
    right.legend()
    right.grid(True)
    figure.tight_layout()
    figure.savefig("linear_regression.png", dpi=100)
    print("saved linear_regression.png")
