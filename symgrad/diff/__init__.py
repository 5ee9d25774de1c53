"""Differentiation as graph-to-graph transforms: `jvp` (forward) and `vjp` (reverse).

Both read each primitive's `partials` and build the derivative from the same
primitives, so derivatives can be simplified, printed, compiled, and
differentiated again.
"""

from .forward import jvp
from .jacobian import jacobian
from .reverse import vjp

__all__ = ["jacobian", "jvp", "vjp"]
