"""Graph passes that simplify a finished graph before it is compiled or printed.

Construction-time rules (folding, identities, canonical order) live with
each primitive's `simplify` facet; the passes here need the whole graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from .ir import Node, rewrite, topological_order
from .primitives.registry import Identity


def inline_identities(outputs: Sequence[Node]) -> list[Node]:
    """Replace every node whose value is its first operand (`stop_gradient`, custom rules) by it.

    Such nodes matter only to differentiation; once a graph is final they are
    noise in formulas and kernels.
    """
    if not any(isinstance(node.op.llvm, Identity) for node in topological_order(outputs)):
        return list(outputs)  # (most graphs: no rebuilding)
    return rewrite(outputs, lambda node, args: args[0] if isinstance(node.op.llvm, Identity) else None)
