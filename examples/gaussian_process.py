"""Fit the hyperparameters of a Gaussian process by its marginal likelihood: Cholesky, solve, log-determinant.

    -log p(y) = y^T K^-1 y / 2 + log det K / 2 + n log(2 pi) / 2,   K = s^2 exp(-|x_i - x_j|^2 / (2 l^2)) + noise^2 I

written with `np.linalg.cholesky` and `np.linalg.solve` on traced arrays. symgrad differentiates through
the factorisation (matrix-calculus rules) and compiles the gradient to loops that call LAPACK;
`scipy.optimize.minimize` uses it.

Run: python examples/gaussian_process.py [--fast]   (needs scipy; skips cleanly without it)
"""

import sys

import numpy as np

import symgrad as sg

try:
    from scipy import optimize
except ImportError:
    print("scipy is not installed (pip install scipy): skipping this example")
    sys.exit(0)

n = 40 if "--fast" in sys.argv else 300
rng = np.random.default_rng(1)
x = np.sort(rng.uniform(0.0, 6.0, n))
y = np.sin(2.0 * x) + 0.3 * x + rng.normal(0.0, 0.2, n)


def negative_log_marginal_likelihood(theta):
    s, length, noise = np.exp(theta)
    squared = (x[:, None] - x[None, :]) ** 2
    k = s**2 * np.exp(-squared / (2.0 * length**2)) + noise**2 * np.eye(n)
    factor = np.linalg.cholesky(k)
    alpha = np.linalg.solve(k, y)
    log_det = 2.0 * np.log(np.diagonal(factor)).sum()
    return 0.5 * y @ alpha + 0.5 * log_det + 0.5 * n * np.log(2.0 * np.pi)


gradient = sg.grad(negative_log_marginal_likelihood)
theta0 = np.log(np.array([1.0, 1.0, 0.5]))
print("lowering:", gradient.formula(theta0).lowering)
numeric = optimize.approx_fprime(theta0, negative_log_marginal_likelihood, 1e-6)
print("the gradient agrees with finite differences:", np.allclose(gradient(theta0), numeric, rtol=1e-4, atol=1e-4))
result = optimize.minimize(sg.jit(negative_log_marginal_likelihood), theta0, jac=gradient, method="L-BFGS-B")
s, length, noise = np.exp(result.x)
print(f"{result.message} after {result.nit} iterations")
print(f"fitted kernel: s = {s:.3f}, length = {length:.3f}, noise = {noise:.3f} (data noise 0.2)")
