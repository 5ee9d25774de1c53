"""Graph passes that simplify a finished graph before it is compiled or printed.

Construction-time rules (folding, identities, canonical order) live with
each primitive's `simplify` facet; the passes here need the whole graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from .ir import Node, topological_order
from .primitives.registry import Identity


def inline_identities(outputs: Sequence[Node]) -> list[Node]:
    """Replace every node whose value is its first operand (`stop_gradient`, custom rules) by it.

    Such nodes matter only to differentiation; once a graph is final they are
    noise in formulas and kernels.
    """
    image: dict[Node, Node] = {}
    for node in topological_order(outputs):
        if isinstance(node.op.llvm, Identity):
            image[node] = image[node.args[0]]
        elif not node.args:
            image[node] = node
        else:
            args = tuple(image[a] for a in node.args)
            same = all(new is old for new, old in zip(args, node.args))
            image[node] = node if same else node.op.bind(*args)
    return [image[o] for o in outputs]
