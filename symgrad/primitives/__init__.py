"""The primitive table (`REGISTRY`) and the node builders derivative rules use."""

from . import elementwise
from .elementwise import *  # noqa: F403  (the builders and the `*_p` primitives)
from .registry import (
    REGISTRY,
    Primitive,
    as_node,
    const,
    const_p,
    const_value,
    defprimitive,
    is_const,
    symbol_p,
)

__all__ = [
    "REGISTRY", "Primitive", "as_node", "const", "const_p", "const_value", "defprimitive",
    "elementwise", "is_const", "symbol_p",
]
