"""A hand-written derivative rule: the `line` function w*x + b with its own backward pass.

symgrad derives derivatives by itself; a custom rule replaces that for one
function (for numerical stability, or to use a known closed form). The rule
is traced like any other code, so it shows up in the formula and compiles.

Run: python examples/custom_rule.py
"""

import numpy as np

import symgrad as sg


@sg.custom_vjp
def line(w, x, b):
    return w * x + b


def line_fwd(w, x, b):  # the output, and what the backward pass needs to keep
    return w * x + b, (w, x)


def line_bwd(saved, g):  # one cotangent per input, given the output's cotangent g
    w, x = saved
    return g * x, g * w, g


line.defvjp(line_fwd, line_bwd)

rng = np.random.default_rng(0)
w, x, b = (rng.uniform(size=(2, 2)) for _ in range(3))


def total(w, x, b):  # summing is backward() with a cotangent of ones
    return line(w, x, b).sum()


grads = sg.grad(total, argnums=(0, 1, 2))
print(grads.formula(w, x, b))
dw, dx, db = grads(w, x, b)
print("dw =", dw, "\ndx =", dx, "\ndb =", db, sep="\n")
assert np.allclose(dw, x) and np.allclose(dx, w) and np.allclose(db, 1.0)
print("the custom rule gives dw = x, dx = w, db = 1, as it should")
