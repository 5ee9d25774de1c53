"""Task 7: 4th derivative of f(x) = Π_{k=1..4} sin(k·x + sin x) (build time of nested grads)."""

import ctypes

import numpy as np

from .. import harness

TITLE = "7. d⁴/dx⁴ Π sin(kx + sin x), per call"
RTOL = 1e-10
SYMGRAD_PATH = "sg.grad(sg.grad(sg.grad(sg.grad(f))))(0.7)"
X = 0.7
K = 4

# Hand-written Taylor-mode arithmetic: truncated series of degree 4 (coefficient c[k] = f⁽ᵏ⁾/k!).
C_SOURCE = r"""
#include <math.h>
#define DEG 5
static void mul(const double *a, const double *b, double *c) {
    for (int k = 0; k < DEG; k++) { c[k] = 0.0; for (int i = 0; i <= k; i++) c[k] += a[i] * b[k - i]; }
}
static void sin_cos(const double *a, double *s, double *c) {   /* s' = c a', c' = -s a' */
    s[0] = sin(a[0]); c[0] = cos(a[0]);
    for (int k = 1; k < DEG; k++) {
        double ss = 0.0, cc = 0.0;
        for (int j = 1; j <= k; j++) { ss += j * a[j] * c[k - j]; cc -= j * a[j] * s[k - j]; }
        s[k] = ss / k; c[k] = cc / k;
    }
}
double d4(double x) {
    double t[DEG] = {x, 1.0, 0.0, 0.0, 0.0}, sx[DEG], cx[DEG], p[DEG] = {1.0, 0.0, 0.0, 0.0, 0.0};
    sin_cos(t, sx, cx);
    for (int k = 1; k <= 4; k++) {
        double arg[DEG], s[DEG], c[DEG], q[DEG];
        for (int i = 0; i < DEG; i++) arg[i] = k * t[i] + sx[i];
        sin_cos(arg, s, c);
        mul(p, s, q);
        for (int i = 0; i < DEG; i++) p[i] = q[i];
    }
    return 24.0 * p[4];
}
"""


def size(quick):
    return {"order": 4, "factors": K}


def inputs(quick):
    return X


def f(x, sin=np.sin):
    p = 1.0
    for k in range(1, K + 1):
        p = p * sin(k * x + sin(x))
    return p


def _sympy_d4():
    import sympy

    x = sympy.Symbol("x")
    return x, sympy.diff(f(x, sympy.sin), x, 4)


def reference(x):
    s, d4 = _sympy_d4()
    return float(d4.evalf(30, subs={s: x}))


def c(x):
    fn = harness.c_function(harness.compile_c(C_SOURCE), "d4", ctypes.c_double, ctypes.c_double)
    return lambda: fn(x)


def numpy(x):
    """SymPy differentiates, `sympy.lambdify` turns the result into a NumPy function."""
    import sympy

    s, d4 = _sympy_d4()
    fn = sympy.lambdify(s, d4, "math")
    return lambda: fn(x)


def symgrad(x):
    import symgrad as sg

    d4 = sg.grad(sg.grad(sg.grad(sg.grad(lambda x: f(x, sg.sin)))))
    return lambda: d4(x)


def jax(x):
    jax, jnp = harness.import_jax()
    d4 = jax.jit(jax.grad(jax.grad(jax.grad(jax.grad(lambda x: f(x, jnp.sin))))))
    return lambda: float(d4(x))


def torch(x):
    import torch

    fn = torch.func.grad(torch.func.grad(torch.func.grad(torch.func.grad(lambda x: f(x, torch.sin)))))
    return lambda: fn(torch.tensor(x, dtype=torch.float64)).item()


def casadi(x):
    import casadi as ca

    s = ca.SX.sym("x")
    d = f(s, ca.sin)
    for _ in range(4):
        d = ca.gradient(d, s)
    fn = ca.Function("d4", [s], [d], harness.casadi_options())
    return lambda: float(fn(x))


def symengine(x):
    import symengine as se

    s = se.Symbol("x")
    fn = se.Lambdify([s], [se.diff(f(s, se.sin), s, 4)], backend="llvm", cse=True, real=True)
    return lambda: float(fn(x)[0])
