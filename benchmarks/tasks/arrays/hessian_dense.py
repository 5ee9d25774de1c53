"""Array task: the dense Hessian (an n×n array) of the Rosenbrock function of 1000 variables.

What matters is the first call: trace, differentiate twice, compile, run.
"""

import numpy as np

from ... import harness
from ..hessian_rosen import reference as rosen_hessian
from ..rosen_grad import rosen

TITLE = "Hessian of Rosenbrock (dense n×n)"
RTOL = 1e-12
SYMGRAD_PATH = "sg.hessian(rosen)(x)"
TARGETS = {"first_call_s": 3.0}


def size(quick):
    return {"n": 20 if quick else 1000}


def inputs(quick):
    return np.random.default_rng(105).uniform(-2, 2, size=size(quick)["n"])


def reference(x):
    return rosen_hessian(x)


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
    torch = harness.import_torch()
    h = torch.func.hessian(lambda x: rosen(x, torch))
    xt = torch.from_numpy(x)
    return lambda: h(xt).numpy()
