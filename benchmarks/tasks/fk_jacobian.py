"""Task 5: 3×6 Jacobian of the forward kinematics of a 6-joint spatial arm, batch of points.

Joint 0 turns the arm about the vertical axis (yaw); joints 1-5 are pitch
joints in the arm's plane with link lengths L. The output is the tool
position (x, y, z).
"""


import numpy as np

from .. import harness

TITLE = "5. 6-joint arm FK, 3×6 Jacobian, batch"
RTOL = 1e-12
SYMGRAD_PATH = "sg.vmap(sg.jacobian(fk))(Q)"
L = (0.5, 0.4, 0.3, 0.2, 0.1)

C_SOURCE = r"""
#include <math.h>
static const double L[5] = {0.5, 0.4, 0.3, 0.2, 0.1};
void fk_jacobian(const double *Q, double *J, long n) {
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < n; p++) {
        const double *q = Q + 6 * p;
        double *j = J + 18 * p;                 /* row-major 3 x 6 */
        double s[5], c[5], a = 0.0, r = 0.0;
        for (int k = 0; k < 5; k++) {
            a += q[k + 1];
            s[k] = L[k] * sin(a);
            c[k] = L[k] * cos(a);
            r += c[k];
        }
        double s0 = sin(q[0]), c0 = cos(q[0]), dr = 0.0, dz = 0.0;
        for (int k = 4; k >= 0; k--) {         /* d/dq_{k+1} sums the links from k on */
            dr -= s[k];
            dz += c[k];
            j[k + 1] = c0 * dr;
            j[6 + k + 1] = s0 * dr;
            j[12 + k + 1] = dz;
        }
        j[0] = -s0 * r;
        j[6] = c0 * r;
        j[12] = 0.0;
    }
}
"""


def size(quick):
    return {"joints": 6, "batch": 10_000 if quick else 100_000}


def inputs(quick):
    return np.random.default_rng(5).uniform(-np.pi, np.pi, size=(size(quick)["batch"], 6))


def fk(q, np=np):
    """The tool position; `np` is the array module (numpy, jax.numpy, torch, casadi, symengine)."""
    a, r, z = 0.0, 0.0, 0.0
    for k in range(5):
        a = a + q[k + 1]
        r = r + L[k] * np.cos(a)
        z = z + L[k] * np.sin(a)
    return r * np.cos(q[0]), r * np.sin(q[0]), z


def reference(Q):
    a = np.cumsum(Q[:, 1:], axis=1)
    Ls = np.asarray(L)
    s, c = Ls * np.sin(a), Ls * np.cos(a)
    r = c.sum(axis=1)
    dr = -np.cumsum(s[:, ::-1], axis=1)[:, ::-1]  # d r / d q_{k+1}
    dz = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]
    s0, c0 = np.sin(Q[:, :1]), np.cos(Q[:, :1])
    J = np.zeros((len(Q), 3, 6))
    J[:, 0, 0], J[:, 1, 0] = -s0[:, 0] * r, c0[:, 0] * r
    J[:, 0, 1:], J[:, 1, 1:], J[:, 2, 1:] = c0 * dr, s0 * dr, dz
    return J


def c(Q):
    return harness.c_array_kernel(C_SOURCE, "fk_jacobian", Q, (len(Q), 3, 6))


def numpy(Q):
    return lambda: reference(Q)


def symgrad(Q):
    import symgrad as sg

    jf = sg.vmap(sg.jacobian(lambda q: np.stack(fk(q))))
    return lambda: jf(Q)


def jax(Q):
    jax, jnp = harness.import_jax()
    jf = jax.jit(jax.vmap(jax.jacfwd(lambda q: jnp.stack(fk(q, jnp)))))
    Qj = jnp.asarray(Q)
    return lambda: np.asarray(jf(Qj))


def torch(Q):
    import torch

    jf = torch.func.vmap(torch.func.jacfwd(lambda q: torch.stack(fk(q, torch))))
    Qt = torch.from_numpy(Q)
    return lambda: jf(Qt).numpy()


def casadi(Q):
    import casadi as ca

    q = ca.SX.sym("q", 6)
    p = ca.vertcat(*fk(q, ca))
    f = ca.Function("J", [q], [ca.densify(ca.jacobian(p, q))], harness.casadi_options())
    batch = f.map(len(Q), "thread", 2)
    Qd = ca.DM(Q.T)
    # The mapped output is 3 x (6 n): the n Jacobians side by side.
    return lambda: np.asarray(batch(Qd)).reshape(3, len(Q), 6).transpose(1, 0, 2)


def symengine(Q):
    import symengine as se

    q = se.symbols("q0:6")
    p = fk(q, se)
    J = [se.diff(p[i], q[k]) for i in range(3) for k in range(6)]
    f = se.Lambdify(list(q), J, backend="llvm", cse=True, real=True)
    return lambda: f(Q).reshape(len(Q), 3, 6)
