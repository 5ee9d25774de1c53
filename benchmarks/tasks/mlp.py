"""Task 3: mean gradient (w.r.t. all weights) of the MSE loss of a tanh MLP 8-32-32-1."""

import ctypes

import numpy as np

from .. import harness

TITLE = "3. MLP tanh, mean ∇ of MSE"
RTOL = 1e-10
# The mean over samples is a native reduction: `vmap` over closed-over data inside the traced
# loss compiles to one accumulation loop. (Earlier path: `vmap(grad(...), in_axes=(None, 0, 0))`
# then `.mean(0)` in NumPy, which materialises every per-sample gradient.)
SYMGRAD_PATH = "sg.grad(lambda params: sg.vmap(lambda x, t: loss_one(params, x, t))(X, y).mean())(params)"

C_SOURCE = r"""
#include <math.h>
#include <string.h>
/* params and grad: W1 (D x H1), b1 (H1), W2 (H1 x H2), b2 (H2), W3 (H2), b3 (1), row-major. */
void mlp_grad(const double *P, const double *X, const double *Y, long n, double *G) {
    const double *W1 = P, *b1 = W1 + D * H1, *W2 = b1 + H1, *b2 = W2 + H1 * H2, *W3 = b2 + H2, *b3 = W3 + H2;
    const long size = D * H1 + H1 + H1 * H2 + H2 + H2 + 1;
    memset(G, 0, size * sizeof(double));
    #pragma omp parallel
    {
        double g[D * H1 + H1 + H1 * H2 + H2 + H2 + 1];
        memset(g, 0, sizeof g);
        double *gW1 = g, *gb1 = gW1 + D * H1, *gW2 = gb1 + H1, *gb2 = gW2 + H1 * H2, *gW3 = gb2 + H2,
               *gb3 = gW3 + H2;
        #pragma omp for schedule(static)
        for (long s = 0; s < n; s++) {
            const double *x = X + s * D;
            double h1[H1], h2[H2], d1[H1], d2[H2];
            for (int j = 0; j < H1; j++) {
                double a = b1[j];
                for (int i = 0; i < D; i++) a += x[i] * W1[i * H1 + j];
                h1[j] = tanh(a);
            }
            for (int k = 0; k < H2; k++) {
                double a = b2[k];
                for (int j = 0; j < H1; j++) a += h1[j] * W2[j * H2 + k];
                h2[k] = tanh(a);
            }
            double out = b3[0];
            for (int k = 0; k < H2; k++) out += h2[k] * W3[k];
            double d = 2.0 * (out - Y[s]) / n;          /* d(mean loss)/d(out) */
            gb3[0] += d;
            for (int k = 0; k < H2; k++) {
                gW3[k] += d * h2[k];
                d2[k] = d * W3[k] * (1.0 - h2[k] * h2[k]);
                gb2[k] += d2[k];
            }
            for (int j = 0; j < H1; j++) {
                double a = 0.0;
                for (int k = 0; k < H2; k++) {
                    gW2[j * H2 + k] += h1[j] * d2[k];
                    a += W2[j * H2 + k] * d2[k];
                }
                d1[j] = a * (1.0 - h1[j] * h1[j]);
                gb1[j] += d1[j];
            }
            for (int i = 0; i < D; i++)
                for (int j = 0; j < H1; j++) gW1[i * H1 + j] += x[i] * d1[j];
        }
        #pragma omp critical
        for (long i = 0; i < size; i++) G[i] += g[i];
    }
}
"""


def size(quick):
    # Quick mode shrinks the hidden layers too: symgrad's build grows with the unrolled graph.
    return {"layers": [8, 8, 8, 1] if quick else [8, 32, 32, 1], "samples": 2_000 if quick else 100_000}


def inputs(quick):
    d, h1, h2, _ = size(quick)["layers"]
    rng = np.random.default_rng(3)
    params = (
        rng.normal(size=(d, h1)) / np.sqrt(d),
        rng.normal(size=h1) * 0.1,
        rng.normal(size=(h1, h2)) / np.sqrt(h1),
        rng.normal(size=h2) * 0.1,
        rng.normal(size=(h2, 1)) / np.sqrt(h2),
        rng.normal(size=1) * 0.1,
    )
    n = size(quick)["samples"]
    X = rng.normal(size=(n, d))
    y = np.sin(X.sum(axis=1))
    return params, X, y


def forward(params, X, np=np):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(X @ W1 + b1)
    h = np.tanh(h @ W2 + b2)
    return h @ W3 + b3


def loss_one(params, x, y):
    return (forward(params, x)[0] - y) ** 2


def reference(data):
    (W1, b1, W2, b2, W3, b3), X, y = data
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    d = 2.0 * (out - y[:, None]) / len(y)  # (n, 1)
    d2 = (d @ W3.T) * (1 - h2**2)
    d1 = (d2 @ W2.T) * (1 - h1**2)
    return (X.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d, d.sum(0))


def c(data):
    params, X, y = data
    d, h1 = params[0].shape
    h2 = params[2].shape[1]
    lib = harness.compile_c(C_SOURCE, {"D": d, "H1": h1, "H2": h2})
    fn = harness.c_function(
        lib,
        "mlp_grad",
        None,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_void_p,
    )
    P = harness.flat(params)

    pointers = harness.ptr(P), harness.ptr(X), harness.ptr(y)

    def run():
        G = np.empty_like(P)
        fn(*pointers, len(y), harness.ptr(G))
        return G

    return run


def numpy(data):
    return lambda: reference(data)


def symgrad(data):
    import symgrad as sg

    params, X, y = data
    g = sg.grad(lambda params: sg.vmap(lambda x, t: loss_one(params, x, t))(X, y).mean())
    return lambda: g(params)


def _mean_loss(params, X, y, np):
    return np.mean((forward(params, X, np)[:, 0] - y) ** 2)


def jax(data):
    jax, jnp = harness.import_jax()
    params, X, y = (jax.tree_util.tree_map(jnp.asarray, a) for a in data)
    g = jax.jit(jax.grad(lambda p, X, y: _mean_loss(p, X, y, jnp)))
    return lambda: tuple(np.asarray(a) for a in g(params, X, y))


def torch(data):
    import torch

    params = [torch.from_numpy(p.copy()).requires_grad_() for p in data[0]]
    X, y = torch.from_numpy(data[1]), torch.from_numpy(data[2])

    def run():
        loss = _mean_loss(params, X, y, torch)
        return tuple(g.numpy() for g in torch.autograd.grad(loss, params))

    return run
