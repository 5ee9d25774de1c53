"""Task 2: gradient of the Rosenbrock function (n = 100) at a batch of points."""

import ctypes
import os

import numpy as np

from .. import harness

TITLE = "2. Rosenbrock ∇, batch"
RTOL = 1e-12
SYMGRAD_PATH = "sg.vmap(sg.grad(rosen))(X)"
N = 100

C_SOURCE = r"""
void rosen_grad(const double *X, double *G, long points, long n) {
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < points; p++) {
        const double *x = X + p * n;
        double *g = G + p * n;
        for (long i = 0; i < n; i++) g[i] = 0.0;
        for (long i = 0; i < n - 1; i++) {
            double t = x[i + 1] - x[i] * x[i];
            g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
            g[i + 1] += 200.0 * t;
        }
    }
}
"""


def size(quick):
    return {"n": N, "batch": 2_000 if quick else 20_000}


def inputs(quick):
    rng = np.random.default_rng(2)
    return rng.uniform(-2, 2, size=(size(quick)["batch"], N))


def rosen(x, np=np):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def reference(X):
    t = X[:, 1:] - X[:, :-1] ** 2
    G = np.zeros_like(X)
    G[:, :-1] = -400.0 * X[:, :-1] * t - 2.0 * (1.0 - X[:, :-1])
    G[:, 1:] += 200.0 * t
    return G


def c(X):
    fn = harness.c_function(
        harness.compile_c(C_SOURCE),
        "rosen_grad",
        None,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_long,
    )

    x_ptr = harness.ptr(X)

    def run():
        G = np.empty_like(X)
        fn(x_ptr, harness.ptr(G), X.shape[0], X.shape[1])
        return G

    return run


def numpy(X):
    return lambda: reference(X)


def symgrad(X):
    import symgrad as sg

    g = sg.vmap(sg.grad(rosen))
    return lambda: g(X)


def jax(X):
    jax, jnp = harness.import_jax()
    g = jax.jit(jax.vmap(jax.grad(lambda x: rosen(x, jnp))))
    Xj = jnp.asarray(X)
    return lambda: np.asarray(g(Xj))


def torch(X):
    import torch

    g = torch.func.vmap(torch.func.grad(lambda x: rosen(x, torch)))
    Xt = torch.from_numpy(X)
    return lambda: g(Xt).numpy()


def casadi(X):
    import casadi as ca

    x = ca.SX.sym("x", N)
    f = ca.Function("g", [x], [ca.gradient(rosen_sx(x), x)], harness.casadi_options())
    batch = f.map(X.shape[0], "thread", os.cpu_count())
    Xd = ca.DM(X.T)
    return lambda: np.asarray(batch(Xd)).T


def rosen_sx(x, n=N):
    """Rosenbrock over a sequence of scalar symbols (CasADi, SymEngine)."""
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(n - 1))


def symengine(X):
    import symengine as se

    x = se.symbols(f"x0:{N}")
    f = rosen_sx(x)
    g = se.Lambdify(list(x), [se.diff(f, v) for v in x], backend="llvm", cse=True, real=True)
    return lambda: g(X)
