"""Whole Jacobians of node lists, from the two modes, per column or batched over one-hot directions.

A small function is differentiated in scalars: expanded into scalar nodes,
one JVP per input element (forward) or one VJP per output element
(reverse), each building only the nonzero paths of its column, so a sparse
Jacobian stays sparse. A large one is differentiated as arrays: one JVP per
variable whose tangent is every unit direction at once (`basis`, a leading
axis over the variable's elements), or one VJP per output with every unit
cotangent at once; the batch axis is added by `symgrad.vectorize`, so the
graph holds one copy of the derivative, not one per column.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, topological_order
from ..primitives import basis, broadcast_to, element, pack, reshape, symbol, transpose
from ..primitives.registry import Identity, symbol_p
from .forward import jvp
from .reverse import vjp

_DIRECTION = "_direction"

# Columns (or rows) times scalar size of the function up to which it is differentiated in scalars.
# At ~3 us per node visit, 2.5e5 is under a second (and the Jacobian within the scalar limit of `lowering`).
SCALAR_WORK_LIMIT = 250_000


def jacobian(outputs: Sequence[Node], wrt: Sequence[Node], mode: str = "auto") -> list[list[Node]]:
    """Blocks `d outputs[k] / d wrt[j]`, of shape `outputs[k].shape + wrt[j].shape`, one row per output.

    `mode` is `"fwd"` (JVPs), `"rev"` (VJPs) or `"auto"`: forward when the
    variables have fewer elements than the outputs.
    """
    from ..scalarize import scalar_size
    from ..vectorize import batched_output, vectorize

    m, n = sum(o.size for o in outputs), sum(w.size for w in wrt)
    forward = mode == "fwd" or (mode == "auto" and n < m)
    passes = n if forward else m
    if any(w.size != 1 for w in wrt) and scalar_size(outputs, SCALAR_WORK_LIMIT) * passes <= SCALAR_WORK_LIMIT \
            and not _has_array_rules(outputs):
        return _scalar_jacobian(outputs, wrt, forward)
    if forward:
        columns = []
        for w in wrt:
            if w.size == 1:
                derivatives = jvp(outputs, [w], [1.0])
                columns.append([reshape(d, o.shape + w.shape) for d, o in zip(derivatives, outputs)])
                continue
            direction = symbol(_DIRECTION, -1 - w.id, w.shape)
            batched = vectorize(jvp(outputs, [w], [direction]), {direction: basis(w.shape)})
            column = []
            for (d, is_batched), o in zip(batched, outputs):
                d = batched_output(d, is_batched, w.size)  # (w.size, *o.shape)
                d = transpose(d, (*range(1, o.ndim + 1), 0))
                column.append(reshape(d, o.shape + w.shape))
            columns.append(column)
        return [[column[k] for column in columns] for k in range(len(outputs))]
    rows = []
    for o in outputs:
        if o.size == 1:
            derivatives = vjp([o], [broadcast_to(1.0, o.shape)], wrt)
            rows.append([reshape(d, o.shape + w.shape) for d, w in zip(derivatives, wrt)])
            continue
        direction = symbol(_DIRECTION, -1 - o.id, o.shape)
        batched = vectorize(vjp([o], [direction], wrt), {direction: basis(o.shape)})
        rows.append([reshape(batched_output(d, is_batched, o.size), o.shape + w.shape)
                     for (d, is_batched), w in zip(batched, wrt)])
    return rows


def _scalar_jacobian(outputs: Sequence[Node], wrt: Sequence[Node], forward: bool) -> list[list[Node]]:
    """The Jacobian blocks computed on the function expanded into scalars, column by column (or row by row)."""
    from ..scalarize import scalarize

    # Scalar variables are their own element; the elements of an array variable are gathers from it.
    variables = [w if w.shape == () else element(w, k) for w in wrt for k in range(w.size)]
    # Array symbols stay whole (their elements are gathers), so the result is a graph of the same inputs.
    symbols = [n for n in topological_order(outputs) if n.op is symbol_p and n.shape]
    scalars = [e for array in scalarize(outputs, kept={*symbols, *(w for w in wrt if w.shape)}) for e in array.flat]
    if forward:
        cones = _forward_cones(scalars, variables)
        columns = [jvp(scalars, [v], [1.0], order=cone) for v, cone in zip(variables, cones)]
        rows = [[column[k] for column in columns] for k in range(len(scalars))]
    else:
        rows = [vjp([o], [1.0], variables) for o in scalars]
    blocks, row = [], 0
    for o in outputs:
        block_rows = rows[row:row + o.size]
        row += o.size
        blocks_k, column = [], 0
        for w in wrt:
            entries = [r[j] for r in block_rows for j in range(column, column + w.size)]
            blocks_k.append(pack(entries, o.shape + w.shape))
            column += w.size
        blocks.append(blocks_k)
    return blocks


def _has_array_rules(outputs: Sequence[Node]) -> bool:
    # A custom derivative rule on an array call does not survive the expansion into scalars.
    return any(isinstance(n.op.llvm, Identity) and n.op.jvp is not None and n.shape != ()
               for n in topological_order(outputs))


def _forward_cones(outputs: Sequence[Node], variables: Sequence[Node]) -> list[list[Node]]:
    """For each variable, the nodes that depend on it, in topological order."""
    order = topological_order(outputs)
    position = {node: i for i, node in enumerate(order)}
    users: dict[Node, list[Node]] = {}
    for node in order:
        for a in node.args:
            users.setdefault(a, []).append(node)
    cones = []
    for v in variables:
        seen, stack = {v}, [v]
        while stack:
            for user in users.get(stack.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        cones.append(sorted((n for n in seen if n in position), key=position.__getitem__))
    return cones
