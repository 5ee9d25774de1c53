"""Second derivatives and vector-Jacobian products.

A Hessian is the Jacobian of the gradient; a vector-Jacobian product is what
PyTorch's `backward(v)` or `torch.autograd.grad(y, x, grad_outputs=v)`
computes for a non-scalar y.

Run: python examples/hessian_and_vjp.py
"""

import numpy as np

import symgrad as sg


def f(x):
    return (x[0] ** 2 * x[1] + sg.sin(x[1]) * x[0]).sum()


x = np.array([1.0, 2.0])
print("gradient:")
print(sg.grad(f).formula(x))
print("Hessian:")
print(sg.hessian(f).formula(x))
print("H(1, 2) =", sg.hessian(f)(x), sep="\n")


def squares(x):
    return x**2


# The full Jacobian of an elementwise function is diagonal ...
print("Jacobian of x**2:", sg.jacobian(squares)(x), sep="\n")
# ... and a vector-Jacobian product gets v @ J without building it.
out, pull_back = sg.vjp(squares, x)
(v_jacobian,) = pull_back(np.array([1.0, 0.5]))
print("x**2 =", out, " v @ J with v = [1, 0.5]:", v_jacobian)

# Third derivative by repeating grad, as with create_graph=True in PyTorch.
d3 = sg.grad(sg.grad(sg.grad(lambda t: t**4 * sg.exp(t))))
print("d3/dt3 (t**4*exp(t)) =", d3.formula(1.0))
