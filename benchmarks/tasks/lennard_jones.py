"""Task 6: Lennard-Jones forces (-∇ of the energy) on 64 particles, per call.

E = Σ_{i<j} 4 (r_ij⁻¹² - r_ij⁻⁶) (ε = σ = 1), particles near the sites of a
4×4×4 lattice, so that no pair is too close.
"""


import numpy as np

from .. import harness

TITLE = "6. Lennard-Jones forces, per call"
RTOL = 1e-10
SYMGRAD_PATH = "forces = -sg.grad(energy)(P)  (energy: a Python loop over i of vectorised pairs i<j)"

C_SOURCE = r"""
void lj_forces(const double *P, double *F, long n) {
    for (long i = 0; i < 3 * n; i++) F[i] = 0.0;
    for (long i = 0; i < n; i++) {
        for (long j = i + 1; j < n; j++) {
            double d[3], r2 = 0.0;
            for (int k = 0; k < 3; k++) { d[k] = P[3 * i + k] - P[3 * j + k]; r2 += d[k] * d[k]; }
            double s = 1.0 / r2, s3 = s * s * s;
            double c = 24.0 * s * s3 * (2.0 * s3 - 1.0);   /* -dE/dr2 * 2 */
            for (int k = 0; k < 3; k++) { F[3 * i + k] += c * d[k]; F[3 * j + k] -= c * d[k]; }
        }
    }
}
"""


def size(quick):
    return {"particles": 16 if quick else 64}


def inputs(quick):
    n = size(quick)["particles"]
    grid = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return 1.12 * grid[:n] + 0.05 * np.random.default_rng(6).normal(size=(n, 3))


def energy(P):
    """The energy as a loop over particles i of vectorised pairs (i, j > i): traceable by all peers."""
    e = 0.0
    for i in range(P.shape[0] - 1):
        d = P[i + 1 :] - P[i]
        s = 1.0 / (d * d).sum(axis=1)
        s3 = s * s * s
        e = e + (4.0 * (s3 * s3 - s3)).sum()
    return e


def _pairs(n):
    return np.triu_indices(n, 1)


def reference(P):
    i, j = _pairs(len(P))
    d = P[i] - P[j]
    s = 1.0 / (d * d).sum(axis=1)
    s3 = s**3
    c = (24.0 * s * s3 * (2.0 * s3 - 1.0))[:, None] * d
    F = np.zeros_like(P)
    np.add.at(F, i, c)
    np.add.at(F, j, -c)
    return F


def c(P):
    return harness.c_array_kernel(C_SOURCE, "lj_forces", P, P.shape)


def numpy(P):
    return lambda: reference(P)


def symgrad(P):
    import symgrad as sg

    g = sg.grad(energy)
    return lambda: -g(P)


def _pair_energy(P, i, j, np):
    d = P[i] - P[j]
    s = 1.0 / (d * d).sum(axis=1)
    s3 = s * s * s
    return (4.0 * (s3 * s3 - s3)).sum()


def jax(P):
    jax, jnp = harness.import_jax()
    i, j = _pairs(len(P))
    g = jax.jit(jax.grad(lambda P: -_pair_energy(P, i, j, jnp)))
    Pj = jnp.asarray(P)
    return lambda: np.asarray(g(Pj))


def torch(P):
    import torch

    i, j = (torch.from_numpy(a) for a in _pairs(len(P)))

    def run():
        Pt = torch.from_numpy(P).requires_grad_()
        (g,) = torch.autograd.grad(-_pair_energy(Pt, i, j, torch), Pt)
        return g.numpy()

    return run


def _symbolic_energy(p, n):
    e = 0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = sum((p[3 * i + k] - p[3 * j + k]) ** 2 for k in range(3))
            s3 = 1 / r2**3
            e = e + 4 * (s3 * s3 - s3)
    return e


def casadi(P):
    import casadi as ca

    p = ca.SX.sym("p", P.size)
    f = ca.Function("F", [p], [-ca.gradient(_symbolic_energy(p, len(P)), p)], harness.casadi_options())
    flat = P.ravel()
    return lambda: np.asarray(f(flat)).reshape(P.shape)


def symengine(P):
    import symengine as se

    p = se.symbols(f"p0:{P.size}")
    e = _symbolic_energy(p, len(P))
    f = se.Lambdify(list(p), [-se.diff(e, v) for v in p], backend="llvm", cse=True, real=True)
    flat = P.ravel()
    return lambda: f(flat).reshape(P.shape)
