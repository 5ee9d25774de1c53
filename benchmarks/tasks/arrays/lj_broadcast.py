"""Array task: Lennard-Jones forces of 1024 particles, the energy written with broadcasting.

E = Σ_{i<j} 4 (r_ij⁻¹² - r_ij⁻⁶) over all pairs at once: the differences
`pos[:, None, :] - pos[None, :, :]`, then r² with the identity added (so that
the diagonal divides by 1, not 0), then the pair energies times the constant
mask of pairs i < j. Forces = -∇E. Particles sit near the sites of a cubic
lattice of spacing 1.12, so that no pair is too close.
"""

import numpy as np

from ... import harness
from ..lennard_jones import reference as pair_loop_reference

TITLE = "Lennard-Jones forces, broadcasting"
RTOL = 1e-10
SYMGRAD_PATH = "forces = -sg.grad(energy)(pos)  (energy: pos[:, None, :] - pos[None, :, :], masked i<j)"
TARGETS = {"first_call_s": 1.0, "per_call_vs_jax": 1.0}


def size(quick):
    return {"particles": 8 if quick else 1024}


def inputs(quick):
    n = size(quick)["particles"]
    side = int(np.ceil(n ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(float(side))] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return 1.12 * grid[:n] + 0.05 * np.random.default_rng(104).normal(size=(n, 3))


def energy(pos, eye, upper):
    """`eye`: the n×n identity; `upper`: 1 where i < j, else 0 (constants)."""
    d = pos[:, None, :] - pos[None, :, :]
    r2 = (d * d).sum(-1) + eye
    s3 = (1.0 / r2) ** 3
    return (upper * 4.0 * (s3 * s3 - s3)).sum()


def reference(P):
    return pair_loop_reference(P)


def numpy(P):
    return lambda: reference(P)


def symgrad(P):
    import symgrad as sg

    n = len(P)
    g = sg.grad(lambda pos: energy(pos, np.eye(n), np.triu(np.ones((n, n)), 1)))
    return lambda: -g(P)


def jax(P):
    jax, jnp = harness.import_jax()
    n = len(P)
    g = jax.jit(lambda pos: -jax.grad(lambda p: energy(p, jnp.eye(n), jnp.triu(jnp.ones((n, n)), 1)))(pos))
    Pj = jnp.asarray(P)
    return lambda: np.asarray(g(Pj))


def torch(P):
    torch = harness.import_torch()
    n = len(P)
    eye = torch.eye(n, dtype=torch.float64)
    upper = torch.triu(torch.ones((n, n), dtype=torch.float64), 1)
    pos = torch.from_numpy(P).requires_grad_()

    def run():
        (g,) = torch.autograd.grad(energy(pos, eye, upper), pos)
        return (-g).numpy()

    return run
