"""Task 1: d/dx 2x² at a Python float, one call at a time (call overhead)."""

import ctypes

from .. import harness

TITLE = "1. grad 2x², per call"
RTOL = 1e-12
SYMGRAD_PATH = "df = sg.grad(lambda x: 2 * x**2); df(3.0)"
X = 3.0

C_SOURCE = "double grad_2x2(double x) { return 4.0 * x; }\n"


def size(quick):
    return {"x": X}


def inputs(quick):
    return X


def reference(x):
    return 4.0 * x


def c(x):
    fn = harness.c_function(harness.compile_c(C_SOURCE), "grad_2x2", ctypes.c_double, ctypes.c_double)
    return lambda: fn(x)


def numpy(x):
    df = lambda x: 4.0 * x  # derived by hand; NumPy adds nothing for one float
    return lambda: df(x)


def symgrad(x):
    import symgrad as sg

    df = sg.grad(lambda x: 2 * x**2)
    return lambda: df(x)


def jax(x):
    jax, _ = harness.import_jax()
    df = jax.jit(jax.grad(lambda x: 2 * x**2))
    return lambda: float(df(x))


def torch(x):
    import torch

    def df(x):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(2 * t**2, t)
        return g.item()

    return lambda: df(x)


def casadi(x):
    import casadi as ca

    s = ca.SX.sym("x")
    df = ca.Function("df", [s], [ca.gradient(2 * s**2, s)], harness.casadi_options())
    return lambda: float(df(x))


def symengine(x):
    import symengine as se

    s = se.Symbol("x")
    df = se.Lambdify([s], [se.diff(2 * s**2, s)], backend="llvm", real=True)
    return lambda: float(df(x)[0])
