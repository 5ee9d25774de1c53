"""Whole Jacobians of node lists, from the two modes: one JVP per variable or one VJP per output."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node
from .forward import jvp
from .reverse import vjp


def jacobian(outputs: Sequence[Node], wrt: Sequence[Node], mode: str = "auto") -> list[list[Node]]:
    """`d outputs[k] / d wrt[j]` as rows, one per output.

    `mode` is `"fwd"` (one JVP per variable), `"rev"` (one VJP per output) or
    `"auto"`: forward when there are fewer variables than outputs.
    """
    m, n = len(outputs), len(wrt)
    if mode == "fwd" or (mode == "auto" and n < m):
        columns = [jvp(outputs, [w], [1.0]) for w in wrt]
        return [[column[k] for column in columns] for k in range(m)]
    return [vjp(outputs, [1.0 if i == k else 0.0 for i in range(m)], wrt) for k in range(m)]
