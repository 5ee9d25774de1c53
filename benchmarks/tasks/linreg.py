"""Task 4: gradient of the mean squared loss of linear regression (w, b) over 10⁶ samples."""

import ctypes

import numpy as np

from .. import harness

TITLE = "4. Linear regression ∇ mean loss"
RTOL = 1e-10
# The mean is a native reduction: `vmap` over closed-over data inside a traced function compiles
# to one accumulation loop (no per-sample gradients are materialised).
SYMGRAD_PATH = (
    "sg.grad(lambda w, b: sg.vmap(lambda x, t: loss_one(w, b, x, t))(X, y).mean(), argnums=(0, 1))(w, b)"
)
D = 10

C_SOURCE = r"""
void linreg_grad(const double *w, double b, const double *X, const double *y, long n, long d, double *g) {
    for (long j = 0; j <= d; j++) g[j] = 0.0;
    #pragma omp parallel
    {
        double acc[d + 1];
        for (long j = 0; j <= d; j++) acc[j] = 0.0;
        #pragma omp for schedule(static)
        for (long s = 0; s < n; s++) {
            const double *x = X + s * d;
            double r = b - y[s];
            for (long j = 0; j < d; j++) r += x[j] * w[j];
            for (long j = 0; j < d; j++) acc[j] += r * x[j];
            acc[d] += r;
        }
        #pragma omp critical
        for (long j = 0; j <= d; j++) g[j] += 2.0 * acc[j] / n;
    }
}
"""


def size(quick):
    return {"features": D, "samples": 10_000 if quick else 1_000_000}


def inputs(quick):
    rng = np.random.default_rng(4)
    n = size(quick)["samples"]
    X = rng.normal(size=(n, D))
    y = X @ rng.normal(size=D) + 0.5 + 0.1 * rng.normal(size=n)
    w = rng.normal(size=D)
    return w, 0.3, X, y


def loss_one(w, b, x, y):
    return (x @ w + b - y) ** 2


def reference(data):
    w, b, X, y = data
    r = X @ w + b - y
    return 2.0 * (X.T @ r) / len(y), 2.0 * r.mean()


def c(data):
    w, b, X, y = data
    fn = harness.c_function(
        harness.compile_c(C_SOURCE),
        "linreg_grad",
        None,
        ctypes.c_void_p,
        ctypes.c_double,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_long,
        ctypes.c_void_p,
    )

    w_ptr, X_ptr, y_ptr = harness.ptr(w), harness.ptr(X), harness.ptr(y)

    def run():
        g = np.empty(D + 1)
        fn(w_ptr, b, X_ptr, y_ptr, len(y), D, harness.ptr(g))
        return g

    return run


def numpy(data):
    return lambda: reference(data)


def symgrad(data):
    import symgrad as sg

    w, b, X, y = data
    g = sg.grad(lambda w, b: sg.vmap(lambda x, t: loss_one(w, b, x, t))(X, y).mean(), argnums=(0, 1))
    return lambda: g(w, b)


def jax(data):
    jax, jnp = harness.import_jax()
    w, b, X, y = (jnp.asarray(a) for a in data)
    g = jax.jit(jax.grad(lambda w, b, X, y: jnp.mean((X @ w + b - y) ** 2), argnums=(0, 1)))
    return lambda: tuple(np.asarray(a) for a in g(w, b, X, y))


def torch(data):
    import torch

    w = torch.from_numpy(data[0].copy()).requires_grad_()
    b = torch.tensor(data[1], dtype=torch.float64, requires_grad=True)
    X, y = torch.from_numpy(data[2]), torch.from_numpy(data[3])

    def run():
        loss = torch.mean((X @ w + b - y) ** 2)
        return tuple(g.numpy() for g in torch.autograd.grad(loss, (w, b)))

    return run
