"""symgrad: symbolic differentiation and LLVM code generation for Python functions.

    >>> import symgrad as sg
    >>> df = sg.grad(lambda x: 2 * x**2)
    >>> df(10.0)
    40.0
    >>> print(df.formula(1.0))
    4*x
"""

from .api import Transformed as Transformed
from .api import grad as grad
from .api import jit as jit
from .api import value_and_grad as value_and_grad
from .errors import CompileError as CompileError
from .errors import SymgradError as SymgradError
from .errors import TracingError as TracingError
from .errors import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from .functions import *  # noqa: F403  (sin, cos, ..., where, stop_gradient: see functions.__all__)
from .functions import __all__ as _functions
from .printing import Formula as Formula
from .printing import from_sympy as from_sympy

__version__ = "0.1.0"


def formula(f, *example_args):
    """The `Formula` of a transformed callable for the signature of `example_args`."""
    if isinstance(f, Transformed):
        return f.formula(*example_args)
    return jit(f).formula(*example_args)


__all__ = [
    "CompileError", "Formula", "SymgradError", "TracingError", "Transformed",
    "UnsupportedPrimitiveError", "formula", "from_sympy", "grad", "jit", "value_and_grad",
    *_functions,
]
