"""Task 8: Hessian of the Rosenbrock function, n = 100, per call."""


import numpy as np

from .. import harness
from .rosen_grad import rosen, rosen_sx

TITLE = "8. Hessian of Rosenbrock, per call"
RTOL = 1e-12
SYMGRAD_PATH = "sg.hessian(rosen)(x)"

C_SOURCE = r"""
void rosen_hessian(const double *x, double *H, long n) {
    for (long i = 0; i < n * n; i++) H[i] = 0.0;
    for (long i = 0; i < n - 1; i++) {
        H[i * n + i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        H[(i + 1) * n + i + 1] += 200.0;
        H[i * n + i + 1] = H[(i + 1) * n + i] = -400.0 * x[i];
    }
}
"""


def size(quick):
    return {"n": 20 if quick else 100}


def inputs(quick):
    return np.random.default_rng(8).uniform(-2, 2, size=size(quick)["n"])


def reference(x):
    n = len(x)
    H = np.zeros((n, n))
    k = np.arange(n - 1)
    H[k, k] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    H[k + 1, k + 1] += 200.0
    H[k, k + 1] = H[k + 1, k] = -400.0 * x[:-1]
    return H


def c(x):
    return harness.c_array_kernel(C_SOURCE, "rosen_hessian", x, (len(x), len(x)))


def numpy(x):
    return lambda: reference(x)


def symgrad(x):
    import symgrad as sg

    h = sg.hessian(rosen)
    return lambda: h(x)


def jax(x):
    jax, jnp = harness.import_jax()
    h = jax.jit(jax.hessian(lambda x: rosen(x, jnp)))
    xj = jnp.asarray(x)
    return lambda: np.asarray(h(xj))


def torch(x):
    import torch

    h = torch.func.hessian(lambda x: rosen(x, torch))
    xt = torch.from_numpy(x)
    return lambda: h(xt).numpy()


def casadi(x):
    import casadi as ca

    s = ca.SX.sym("x", len(x))
    H, _ = ca.hessian(rosen_sx(s, len(x)), s)
    fn = ca.Function("H", [s], [ca.densify(H)], harness.casadi_options())
    return lambda: np.asarray(fn(x))


def symengine(x):
    import symengine as se

    s = se.symbols(f"x0:{len(x)}")
    f = rosen_sx(s, len(x))
    g = [se.diff(f, a) for a in s]
    H = [se.diff(gi, b) for gi in g for b in s]
    fn = se.Lambdify(list(s), H, backend="llvm", cse=True, real=True)
    return lambda: fn(x).reshape(len(x), len(x))
