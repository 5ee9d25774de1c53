"""NumPy's shape and joining functions on traced arrays: reshape, transpose and their kin, each one
layout primitive (a view in loop code, no copy); stack, concatenate and their kin, one `concatenate`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import primitives as P
from .ir import Node
from .numpy_reductions import normalized_axes, refuse_extras
from .trace import TracedArray, as_array_node

# ----- Shapes and layout -----


def reshape(x, *shape, order="C", newshape=None, copy=None):
    if order != "C":
        raise TypeError("only C-order `reshape` is supported when tracing")
    if newshape is not None:
        shape = (newshape,)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    node = as_array_node(x)
    shape = [int(n) for n in shape]
    if shape.count(-1) == 1:
        known = math.prod(n for n in shape if n != -1)
        shape[shape.index(-1)] = node.size // known if known else 0
    return TracedArray(P.reshape(node, shape))


def transpose(x, *axes):
    node = as_array_node(x)
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    perm = tuple(reversed(range(node.ndim))) if not axes else tuple(a % node.ndim for a in axes)
    return TracedArray(P.transpose(node, perm))


def ravel(x, order="C"):
    node = as_array_node(x)
    return TracedArray(P.reshape(node, (node.size,)))


def squeeze(x, axis=None):
    node = as_array_node(x)
    axes = [a for a, n in enumerate(node.shape) if n == 1] if axis is None else normalized_axes(node, axis)
    if any(node.shape[a] != 1 for a in axes):
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return TracedArray(P.reshape(node, [n for a, n in enumerate(node.shape) if a not in axes]))


def expand_dims(x, axis):
    node = as_array_node(x)
    axes = [axis] if isinstance(axis, int) else list(axis)
    ndim = node.ndim + len(axes)
    axes = sorted(a % ndim for a in axes)
    shape = iter(node.shape)
    return TracedArray(P.reshape(node, [1 if a in axes else next(shape) for a in range(ndim)]))


def swapaxes(x, axis1, axis2):
    node = as_array_node(x)
    perm = list(range(node.ndim))
    a, b = axis1 % node.ndim, axis2 % node.ndim
    perm[a], perm[b] = perm[b], perm[a]
    return TracedArray(P.transpose(node, perm))


def moveaxis(x, source, destination):
    node = as_array_node(x)
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    source = [s % node.ndim for s in source]
    destination = [d % node.ndim for d in destination]
    order = [a for a in range(node.ndim) if a not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return TracedArray(P.transpose(node, order))


def broadcast_to(x, shape, subok=False):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return TracedArray(P.broadcast_to(as_array_node(x), shape))


def atleast_nd(ndim: int):
    def atleast(*arrays):
        results = []
        for x in arrays:
            node = as_array_node(x)
            if node.ndim < ndim:
                if ndim == 3 and node.ndim == 2:
                    shape = (*node.shape, 1)
                elif ndim == 3 and node.ndim == 1:
                    shape = (1, *node.shape, 1)
                else:
                    shape = (1,) * (ndim - node.ndim) + node.shape
                node = P.reshape(node, shape)
            results.append(TracedArray(node))
        return results[0] if len(results) == 1 else results

    return atleast


# ----- Joining -----


def stack(xs: Sequence[Node], axis: int = 0) -> Node:
    """Nodes of equal shape stacked along a new axis."""
    xs = [as_array_node(x) for x in xs]
    if not xs:
        raise ValueError("need at least one array to stack")
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    ndim = xs[0].ndim + 1
    axis = axis % ndim
    shape = list(xs[0].shape)
    shape.insert(axis, 1)
    return P.concatenate([P.reshape(x, shape) for x in xs], axis)


def _stack(arrays, axis=0, out=None, dtype=None, casting=None):
    refuse_extras("stack", out=out)
    return TracedArray(stack(list(arrays), axis))


def concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    refuse_extras("concatenate", out=out)
    nodes = [as_array_node(a) for a in arrays]
    if axis is None:
        nodes, axis = [P.reshape(x, (x.size,)) for x in nodes], 0
    return TracedArray(P.concatenate(nodes, axis % nodes[0].ndim))


def hstack(arrays, dtype=None, casting=None):
    nodes = [as_array_node(a) for a in arrays]
    nodes = [P.reshape(x, (1,)) if x.ndim == 0 else x for x in nodes]
    return TracedArray(P.concatenate(nodes, 0 if nodes[0].ndim == 1 else 1))


def vstack(arrays, dtype=None, casting=None):
    nodes = [as_array_node(a) for a in arrays]
    nodes = [P.reshape(x, (1, x.size)) if x.ndim < 2 else x for x in nodes]
    return TracedArray(P.concatenate(nodes, 0))


def column_stack(arrays):
    nodes = [as_array_node(a) for a in arrays]
    nodes = [P.reshape(x, (x.size, 1)) if x.ndim < 2 else x for x in nodes]
    return TracedArray(P.concatenate(nodes, 1))


def append(arr, values, axis=None):
    a, b = as_array_node(arr), as_array_node(values)
    if axis is None:
        return TracedArray(P.concatenate([P.reshape(a, (a.size,)), P.reshape(b, (b.size,))], 0))
    return TracedArray(P.concatenate([a, b], axis % a.ndim))


FUNCTIONS = {
    np.reshape: reshape, np.transpose: transpose, np.ravel: ravel, np.squeeze: squeeze,
    np.expand_dims: expand_dims, np.swapaxes: swapaxes, np.moveaxis: moveaxis, np.broadcast_to: broadcast_to,
    np.atleast_1d: atleast_nd(1), np.atleast_2d: atleast_nd(2), np.atleast_3d: atleast_nd(3),
    np.stack: _stack, np.concatenate: concatenate, np.hstack: hstack, np.vstack: vstack,
    np.column_stack: column_stack, np.append: append,
}
