"""Minimise the Rosenbrock function with SciPy, using symgrad's compiled gradient and Hessian.

Run: python examples/scipy_rosenbrock.py   (needs scipy; skips cleanly without it)
"""

import sys

import numpy as np

import symgrad as sg

try:
    from scipy.optimize import minimize, rosen, rosen_der
except ImportError:
    print("scipy is not installed (pip install scipy): skipping this example")
    sys.exit(0)


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


gradient = sg.grad(rosenbrock)
hessian = sg.hessian(rosenbrock)
print("gradient of the 2-d Rosenbrock function:")
print(gradient.formula(np.zeros(2)))

x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
assert np.allclose(gradient(x0), rosen_der(x0)) and np.isclose(rosenbrock(x0), rosen(x0))
result = minimize(rosenbrock, x0, method="trust-exact", jac=gradient, hess=hessian)
print(f"{result.message} after {result.nit} iterations")
print("minimum at", np.round(result.x, 4), "value", result.fun)
