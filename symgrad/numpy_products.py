"""NumPy's products on traced arrays: matmul, dot, inner, outer, vdot, tensordot, einsum and trace,
each one `dot_general` (a contraction kernel in loop code) after at most a few layout steps."""

from __future__ import annotations

import numpy as np

from . import primitives as P
from .ir import Node
from .numpy_reductions import refuse_extras
from .primitives.reduce import LABELS
from .trace import TracedArray, as_array_node

# ----- Products -----


def matmul(x, y):
    a, b = as_array_node(x), as_array_node(y)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions (use `*` for scalars)")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    nb = len(batch)
    if a.ndim >= 2:
        a = P.broadcast_to(a, (*batch, *a.shape[-2:]))
    if b.ndim >= 2:
        b = P.broadcast_to(b, (*batch, *b.shape[-2:]))
    if a.ndim > 2 and b.ndim == 1:
        return TracedArray(P.dot_general(a, b, (LABELS[:nb] + "xy", "y", LABELS[:nb] + "x")))
    if b.ndim > 2 and a.ndim == 1:
        return TracedArray(P.dot_general(a, b, ("y", LABELS[:nb] + "yz", LABELS[:nb] + "z")))
    return TracedArray(P.dot_general(a, b, P.reduce.matmul_spec(a.ndim, b.ndim, nb)))


def dot(x, y, out=None):
    refuse_extras("dot", out=out)
    a, b = as_array_node(x), as_array_node(y)
    if a.ndim == 0 or b.ndim == 0:
        return TracedArray(P.mul(a, b))
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    # dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])
    al = LABELS[:a.ndim - 1] + "z"
    bl = LABELS[a.ndim - 1:a.ndim - 1 + b.ndim - 2] + "z" + LABELS[a.ndim - 1 + b.ndim - 2]
    return TracedArray(P.dot_general(a, b, (al, bl, al[:-1] + bl[:-2] + bl[-1])))


def inner(x, y):
    a, b = as_array_node(x), as_array_node(y)
    if a.ndim == 0 or b.ndim == 0:
        return TracedArray(P.mul(a, b))
    al = LABELS[:a.ndim - 1] + "z"
    bl = LABELS[a.ndim - 1:a.ndim + b.ndim - 2] + "z"
    return TracedArray(P.dot_general(a, b, (al, bl, al[:-1] + bl[:-1])))


def outer(x, y, out=None):
    refuse_extras("outer", out=out)
    a, b = as_array_node(x), as_array_node(y)
    a, b = P.reshape(a, (a.size,)), P.reshape(b, (b.size,))
    return TracedArray(P.dot_general(a, b, ("i", "j", "ij")))


def vdot(x, y):
    a, b = as_array_node(x), as_array_node(y)
    return TracedArray(P.dot_general(P.reshape(a, (a.size,)), P.reshape(b, (b.size,)), ("i", "i", "")))


def tensordot(x, y, axes=2):
    a, b = as_array_node(x), as_array_node(y)
    if isinstance(axes, int):
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        a_axes, b_axes = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                          [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    a_axes, b_axes = [i % a.ndim for i in a_axes], [i % b.ndim for i in b_axes]
    al = list(LABELS[:a.ndim])
    bl = list(LABELS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(a_axes, b_axes):
        bl[j] = al[i]
    out = [c for i, c in enumerate(al) if i not in a_axes] + [c for j, c in enumerate(bl) if j not in b_axes]
    return TracedArray(P.dot_general(a, b, ("".join(al), "".join(bl), "".join(out))))


def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    refuse_extras("einsum", out=out)
    if not isinstance(subscripts, str):
        raise TypeError("`np.einsum` is traced with a subscripts string, e.g. `np.einsum('ij,jk->ik', a, b)`")
    spec = subscripts.replace(" ", "")
    inputs, _, output = spec.partition("->")
    labels = inputs.split(",")
    if "." in spec:
        raise TypeError("`np.einsum` with an ellipsis is not supported when tracing")
    if not _:
        output = "".join(sorted(c for c in set(inputs.replace(",", "")) if inputs.count(c) == 1))
    nodes = [as_array_node(x) for x in operands]
    if len(nodes) != len(labels):
        raise ValueError(f"einsum: {len(labels)} operands in {subscripts!r}, {len(nodes)} given")
    terms = [_einsum_prepare(n, lab, output, labels, k) for k, (n, lab) in enumerate(zip(nodes, labels))]
    node, current = terms[0]
    for other, other_labels in terms[1:]:
        rest = "".join(lab for _, lab in terms[terms.index((other, other_labels)) + 1:])
        keep = "".join(dict.fromkeys(c for c in current + other_labels if c in output + rest))
        node = P.dot_general(node, other, (current, other_labels, keep))
        current = keep
    node, current = _einsum_prepare(node, current, output, [current], 0)
    return TracedArray(P.transpose(node, [current.index(c) for c in output]))


def _einsum_prepare(node: Node, labels: str, output: str, all_labels: list[str], k: int) -> tuple[Node, str]:
    # Diagonals (a label twice in one operand) are gathered; labels of this operand alone are summed.
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        i, j = labels.index(c), labels.index(c, labels.index(c) + 1)
        n = node.shape[i]
        flat = np.arange(node.size).reshape(node.shape)
        index = [slice(None)] * node.ndim
        index[i] = index[j] = np.arange(n)
        picked = np.moveaxis(flat[tuple(index)], 0, -1)
        node = P.gather(P.reshape(node, (node.size,)), picked, 0)
        labels = labels[:i] + labels[i + 1:j] + labels[j + 1:] + c
    others = "".join(lab for m, lab in enumerate(all_labels) if m != k)
    alone = [a for a, c in enumerate(labels) if c not in output and c not in others]
    if alone:
        node = P.reduce_sum(node, alone)
        labels = "".join(c for a, c in enumerate(labels) if a not in alone)
    return node, labels


def trace(x, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    refuse_extras("trace", out=out)
    node = as_array_node(x)
    flat = np.arange(node.size).reshape(node.shape)
    picked = np.diagonal(flat, offset, axis1, axis2)
    return TracedArray(P.reduce_sum(P.gather(P.reshape(node, (node.size,)), picked, 0), (picked.ndim - 1,)))


FUNCTIONS = {
    np.matmul: matmul, np.dot: dot, np.inner: inner, np.outer: outer, np.vdot: vdot, np.tensordot: tensordot,
    np.einsum: einsum, np.trace: trace,
}
UFUNCS = {"matmul": matmul}
