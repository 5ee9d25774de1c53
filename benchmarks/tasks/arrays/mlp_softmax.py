"""Array task: gradient of the softmax cross-entropy of a 784-256-10 tanh MLP, batch 128.

loss = mean over the batch of logsumexp(z) - z[label], z = tanh(X W1 + b1) W2 + b2,
with the labels one-hot in Y; the gradient is taken with respect to all four
parameters. The batch (X, Y) is an argument, as in a training loop.
"""

import numpy as np

from ... import harness

TITLE = "MLP tanh + softmax cross-entropy, ∇ all parameters"
RTOL = 1e-10
SYMGRAD_PATH = "sg.grad(loss, argnums=(0, 1, 2, 3))(W1, b1, W2, b2, X, Y)  (loss uses sg.logsumexp)"
TARGETS = {"first_call_s": 2.0, "per_call_vs_jax": 1.2}


def size(quick):
    return {"layers": [8, 6, 3] if quick else [784, 256, 10], "batch": 4 if quick else 128}


def inputs(quick):
    (n_in, n_hidden, n_out), batch = size(quick)["layers"], size(quick)["batch"]
    rng = np.random.default_rng(102)
    params = (
        rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in),
        0.1 * rng.normal(size=n_hidden),
        rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden),
        0.1 * rng.normal(size=n_out),
    )
    X = rng.normal(size=(batch, n_in))
    Y = np.eye(n_out)[rng.integers(0, n_out, size=batch)]
    return params, X, Y


def loss(W1, b1, W2, b2, X, Y, xp, logsumexp):
    z = xp.tanh(X @ W1 + b1) @ W2 + b2
    return (logsumexp(z, 1) - (z * Y).sum(1)).mean()


def reference(data):
    (W1, b1, W2, b2), X, Y = data
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    dz = (p / p.sum(axis=1, keepdims=True) - Y) / len(X)
    da = (dz @ W2.T) * (1.0 - h**2)
    return X.T @ da, da.sum(0), h.T @ dz, dz.sum(0)


def numpy(data):
    return lambda: reference(data)


def symgrad(data):
    import symgrad as sg

    params, X, Y = data
    g = sg.grad(lambda W1, b1, W2, b2, X, Y: loss(W1, b1, W2, b2, X, Y, np, sg.logsumexp), argnums=(0, 1, 2, 3))
    return lambda: g(*params, X, Y)


def jax(data):
    jax, jnp = harness.import_jax()
    params, X, Y = data
    params, X, Y = tuple(jnp.asarray(p) for p in params), jnp.asarray(X), jnp.asarray(Y)
    g = jax.jit(
        jax.grad(lambda W1, b1, W2, b2, X, Y: loss(W1, b1, W2, b2, X, Y, jnp, jax.nn.logsumexp), argnums=(0, 1, 2, 3))
    )
    return lambda: tuple(np.asarray(d) for d in g(*params, X, Y))


def torch(data):
    torch = harness.import_torch()
    params, X, Y = data
    params = tuple(torch.from_numpy(p).requires_grad_() for p in params)
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)

    def run():
        grads = torch.autograd.grad(loss(*params, X, Y, torch, torch.logsumexp), params)
        return tuple(d.numpy() for d in grads)

    return run
