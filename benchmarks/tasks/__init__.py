"""The benchmark tasks, one module each, in the order of the table.

Each module defines `TITLE`, `RTOL` (relative to the reference's largest
magnitude), `SYMGRAD_PATH` (the public API path symgrad is timed on),
`size(quick)`, `inputs(quick)`, `reference(data)`, and one builder per peer
(`c`, `numpy`, `symgrad`, `jax`, `torch`, `casadi`, `symengine`; a missing one
is "n/a"). A builder takes the inputs and returns a zero-argument callable.
"""

from . import fk_jacobian, grad_scalar, hessian_rosen, lennard_jones, linreg, mlp, nested_sin, rosen_grad

TASKS = {
    module.__name__.rsplit(".", 1)[1]: module
    for module in [
        grad_scalar,
        rosen_grad,
        mlp,
        linreg,
        fk_jacobian,
        lennard_jones,
        nested_sin,
        hessian_rosen,
    ]
}
