"""Fit a Student t distribution by maximum likelihood: SciPy's optimiser, symgrad's gradient of the log-density.

The negative log-likelihood is written with `symgrad.stats.t.logpdf` (SciPy's definition, traced), so
`sg.grad` gives its exact gradient, compiled; `scipy.optimize.minimize` does the rest. The result is
compared with `scipy.stats.t.fit`, which maximises the same likelihood without a gradient.

Run: python examples/maximum_likelihood.py [--fast]   (needs scipy; skips cleanly without it)
"""

import sys

import numpy as np

import symgrad as sg

try:
    from scipy import optimize, stats
except ImportError:
    print("scipy is not installed (pip install scipy): skipping this example")
    sys.exit(0)

n = 300 if "--fast" in sys.argv else 5000
data = stats.t.rvs(df=4.0, loc=1.0, scale=2.0, size=n, random_state=np.random.default_rng(0))


def negative_log_likelihood(theta):
    # log df and log scale keep both positive while the optimiser moves freely
    df, loc, scale = np.exp(theta[0]), theta[1], np.exp(theta[2])
    return -sg.stats.t.logpdf(data, df, loc, scale).sum()


gradient = sg.grad(negative_log_likelihood)
theta0 = np.array([np.log(10.0), np.median(data), np.log(data.std())])
print("the gradient agrees with SciPy's log-density:",
      np.allclose(gradient(theta0), optimize.approx_fprime(
          theta0, lambda th: -stats.t.logpdf(data, np.exp(th[0]), th[1], np.exp(th[2])).sum(), 1e-7), rtol=1e-4))
result = optimize.minimize(negative_log_likelihood, theta0, jac=gradient, method="BFGS")
df, loc, scale = np.exp(result.x[0]), result.x[1], np.exp(result.x[2])
print(f"{result.message} after {result.nit} iterations ({result.njev} gradients)")
print(f"fitted t: df = {df:.3f}, loc = {loc:.3f}, scale = {scale:.3f}")
reference = stats.t.fit(data)
print(f"scipy.stats.t.fit: df = {reference[0]:.3f}, loc = {reference[1]:.3f}, scale = {reference[2]:.3f}")
print("same maximum as scipy.stats.t.fit:",
      abs(result.fun + stats.t.logpdf(data, *reference).sum()) < 1e-3 * n)
