"""Array task: gradient of `np.tanh(A @ B).sum()` with respect to A, for n×n matrices.

Registered at several sizes (see `__init__.py`) to show how build time grows
with the size of the arrays: the program is the same three operations at
every size. B is data closed over by the function, as a NumPy user writes it;
JAX and PyTorch take it as an argument (their idiomatic, fastest form).
"""

import numpy as np

from ... import harness

TITLE = "tanh(A @ B).sum(), ∇A"
RTOL = 1e-10
SYMGRAD_PATH = "sg.grad(lambda A: np.tanh(A @ B).sum())(A)"


def size_at(n):
    return {"n": n}


def inputs_at(n):
    rng = np.random.default_rng(101)
    # B scaled so that A @ B has entries of order 1: tanh neither linear nor saturated.
    return rng.normal(size=(n, n)), rng.normal(size=(n, n)) / np.sqrt(n)


def reference(data):
    A, B = data
    return (1.0 - np.tanh(A @ B) ** 2) @ B.T


def numpy(data):
    return lambda: reference(data)


def symgrad(data):
    import symgrad as sg

    A, B = data
    g = sg.grad(lambda A: np.tanh(A @ B).sum())
    return lambda: g(A)


def jax(data):
    jax, jnp = harness.import_jax()
    A, B = (jnp.asarray(a) for a in data)
    g = jax.jit(jax.grad(lambda A, B: jnp.tanh(A @ B).sum()))
    return lambda: np.asarray(g(A, B))


def torch(data):
    torch = harness.import_torch()
    A, B = (torch.from_numpy(a) for a in data)
    A.requires_grad_()

    def run():
        (g,) = torch.autograd.grad(torch.tanh(A @ B).sum(), A)
        return g.numpy()

    return run
