"""symgrad: symbolic differentiation and LLVM code generation for Python functions.

    >>> import symgrad as sg
    >>> df = sg.grad(lambda x: 2 * x**2)
    >>> df(10.0)
    40.0
    >>> print(df.formula(1.0))
    4*x
"""

from typing import TYPE_CHECKING

from . import linalg as linalg
from . import stats as stats
from .api import grad as grad
from .api import hessian as hessian
from .api import jacfwd as jacfwd
from .api import jacobian as jacobian
from .api import jacrev as jacrev
from .api import jit as jit
from .api import jvp as jvp
from .api import value_and_grad as value_and_grad
from .api import vjp as vjp
from .batching import vmap as vmap
from .custom import custom_jvp as custom_jvp
from .custom import custom_vjp as custom_vjp
from .errors import CompileError as CompileError
from .errors import SymgradError as SymgradError
from .errors import TracingError as TracingError
from .errors import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from .functions import *  # noqa: F403  (sin, cos, ..., where, stop_gradient: see functions.__all__)
from .functions import __all__ as _functions
from .symbolic import compile as compile  # noqa: A004  (the API's name)
from .transformed import Transformed as Transformed

if TYPE_CHECKING:  # imported on first use: see `_LAZY`
    from .cache import cache_info as cache_info
    from .cache import clear_cache as clear_cache
    from .cache import set_cache_limit as set_cache_limit
    from .graphviz import graphviz as graphviz
    from .printing import Formula as Formula
    from .printing import from_sympy as from_sympy
from .symbolic import diff as diff
from .symbolic import free_symbols as free_symbols
from .symbolic import symbols as symbols
from .tree import register_dataclass as register_dataclass
from .tree import register_pytree_node as register_pytree_node

__version__ = "0.1.0"

# Imported on first use, so that `import symgrad` stays fast: printing needs SymPy
# (0.4 s to import), and the others are not needed to compute.
_LAZY = {
    "Formula": "printing",
    "from_sympy": "printing",
    "graphviz": "graphviz",
    "cache_info": "cache",
    "clear_cache": "cache",
    "set_cache_limit": "cache",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def formula(f, *example_args):
    """The `Formula` of a transformed callable (for the signature of `example_args`),
    or of a symbolic expression or array of expressions.

    >>> import symgrad as sg
    >>> print(sg.formula(sg.grad(lambda x: 2 * x**2), 1.0))
    4*x
    """
    from .ir import Node
    from .symbolic import formula as expression_formula

    if hasattr(f, "formula") and callable(f):
        return f.formula(*example_args)
    if isinstance(f, Node) or (hasattr(f, "dtype") and f.dtype == object):
        return expression_formula(f)
    return jit(f).formula(*example_args)


def clear_caches() -> None:
    """Forget the compiled kernels held by `jvp`/`vjp` and free the native code of every kernel
    no longer used (transformed callables keep their own kernels while they live)."""
    import gc

    from . import api, engine, runtime

    for cache in (api._jvp_cache, api._vjp_cache, api._jit_cache):
        cache.clear()
    runtime._offsets.cache_clear()
    gc.collect()
    engine.release_unused_code()


__all__ = [
    "CompileError", "Formula", "SymgradError", "TracingError", "Transformed",
    "UnsupportedPrimitiveError", "cache_info", "clear_cache", "clear_caches", "compile", "custom_jvp", "custom_vjp",
    "diff", "set_cache_limit",
    "formula", "free_symbols", "from_sympy", "grad", "graphviz", "hessian", "jacfwd", "jacobian", "jacrev",
    "jit", "jvp", "linalg", "register_dataclass", "register_pytree_node", "stats", "symbols", "value_and_grad",
    "vjp", "vmap",
    *_functions,
]
