"""Scalar and vector gradients, and the formulas symgrad derives for them.

Run: python examples/gradients.py
"""

import numpy as np

import symgrad as sg

# y = 2*x**2 at a point: symgrad derives dy/dx = 4*x once, then runs native code.
dy = sg.grad(lambda x: 2 * x**2)
print("d(2*x**2)/dx =", dy.formula(10.0))
print("at x = 10:", dy(10.0))

# A vector input: the gradient of sum(2*x_i**2) has one entry per element.
dsum = sg.grad(lambda x: (2 * x**2).sum())
x = np.array([10.0, 20.0])
print(dsum.formula(x))
print("at x = [10, 20]:", dsum(x))

# Two inputs at once: argnums picks which arguments to differentiate by.
dboth = sg.grad(lambda x1, x2: x1 + 2 * x2, argnums=(0, 1))
print(dboth.formula(1.0, 2.0))
print("at (1, 2):", dboth(1.0, 2.0))

# The product rule, as a person would write it.
dprod = sg.grad(lambda x: sg.sin(x) * x**3)
print("d(sin(x)*x**3)/dx =", dprod.formula(1.0))
print("LaTeX:", dprod.formula(1.0).latex())
