"""The primitive tables and the node builders derivative rules use.

`REGISTRY` holds the elementwise primitives (`elementwise.py`), `STRUCTURAL`
the array primitives (`layout.py`, `reduce.py`), `LEAVES` the leaves.
"""

from . import elementwise, layout, linalg, reduce, rounding, special, spectral
from .elementwise import *  # noqa: F403  (the builders and the `*_p` primitives)
from .layout import (
    Indices,
    broadcast_in_dim,
    broadcast_to,
    concatenate,
    element,
    gather,
    pack,
    pad,
    reshape,
    scatter_add,
    slice_,
    transpose,
    zeros,
)
from .reduce import ArrayConstant, array_const, basis, dot_general, reduce_max, reduce_min, reduce_sum
from .registry import (
    REGISTRY,
    ZERO,
    Primitive,
    StructuralZero,
    as_node,
    const,
    const_p,
    const_value,
    defprimitive,
    is_const,
    is_structural_zero,
    object_ufunc,
    symbol,
    symbol_p,
)
from .rounding import *  # noqa: F403
from .special import *  # noqa: F403

# The linear algebra primitives (each lowered by LAPACK in loop code).
LINALG = (*linalg.FACTORISATIONS, *spectral.DECOMPOSITIONS)
STRUCTURAL = {p.name: p for p in (
    layout.broadcast_in_dim_p, layout.reshape_p, layout.transpose_p, layout.slice_p, layout.pad_p,
    layout.concatenate_p, layout.gather_p, layout.scatter_add_p, layout.pack_p,
    reduce.reduce_sum_p, reduce.reduce_max_p, reduce.reduce_min_p, reduce.dot_general_p, *LINALG,
)}
LEAVES = {p.name: p for p in (const_p, symbol_p, reduce.array_const_p, reduce.basis_p)}

__all__ = [
    "LEAVES", "LINALG", "REGISTRY", "STRUCTURAL", "ZERO", "ArrayConstant", "Indices", "Primitive", "StructuralZero",
    "array_const", "as_node", "basis", "broadcast_in_dim", "broadcast_to", "concatenate", "const", "const_p",
    "const_value", "defprimitive", "dot_general", "element", "elementwise", "gather", "is_const",
    "is_structural_zero", "layout", "linalg", "object_ufunc", "pack", "pad", "reduce", "reduce_max", "reduce_min",
    "reduce_sum",
    "reshape", "rounding", "scatter_add", "special", "spectral", "slice_", "symbol", "symbol_p", "transpose", "zeros",
]
