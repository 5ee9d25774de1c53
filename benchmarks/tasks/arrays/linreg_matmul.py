"""Array task: gradient of the mean squared error of linear regression, written without vmap.

loss = ((X @ w + b - y)**2).mean() with X of 10⁶×10; the gradient with
respect to (w, b). The data (X, y) are arguments.
"""

import numpy as np

from ... import harness

TITLE = "((X @ w + b - y)**2).mean(), ∇(w, b)"
RTOL = 1e-10
SYMGRAD_PATH = "sg.grad(lambda w, b, X, y: ((X @ w + b - y) ** 2).mean(), argnums=(0, 1))(w, b, X, y)"
TARGETS = {"per_call_vs_jax": 1.0}


def size(quick):
    return {"features": 10, "samples": 20 if quick else 1_000_000}


def inputs(quick):
    features, samples = size(quick)["features"], size(quick)["samples"]
    rng = np.random.default_rng(103)
    X = rng.normal(size=(samples, features))
    y = X @ rng.normal(size=features) + 0.3 + 0.1 * rng.normal(size=samples)
    return rng.normal(size=features), 0.5, X, y


def loss(w, b, X, y):
    return ((X @ w + b - y) ** 2).mean()


def reference(data):
    w, b, X, y = data
    r = X @ w + b - y
    return 2.0 / len(y) * (X.T @ r), 2.0 / len(y) * r.sum()


def numpy(data):
    return lambda: reference(data)


def symgrad(data):
    import symgrad as sg

    g = sg.grad(loss, argnums=(0, 1))
    return lambda: g(*data)


def jax(data):
    jax, jnp = harness.import_jax()
    args = tuple(jnp.asarray(a) for a in data)
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: tuple(np.asarray(d) for d in g(*args))


def torch(data):
    torch = harness.import_torch()
    w, b, X, y = data
    w, b = torch.from_numpy(w).requires_grad_(), torch.tensor(b, dtype=torch.float64, requires_grad=True)
    X, y = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        return tuple(d.numpy() for d in torch.autograd.grad(loss(w, b, X, y), (w, b)))

    return run
