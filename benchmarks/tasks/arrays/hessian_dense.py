"""Array task: the dense Hessian (an n×n array) of the Rosenbrock function of 1000 variables.

What matters is the first call: trace, differentiate twice, compile, run.
"""

import numpy as np

# The peers are the main suite's Hessian task's, at a larger size.
from ..hessian_rosen import jax, numpy, reference, symgrad, torch  # noqa: F401

TITLE = "Hessian of Rosenbrock (dense n×n)"
RTOL = 1e-12
SYMGRAD_PATH = "sg.hessian(rosen)(x)"
TARGETS = {"first_call_s": 3.0}


def size(quick):
    return {"n": 20 if quick else 1000}


def inputs(quick):
    return np.random.default_rng(105).uniform(-2, 2, size=size(quick)["n"])
