"""NumPy's reductions on traced arrays (sum, mean, var, std, max, min, prod, cumsum), each a reduction
primitive or two, and the helpers of every NumPy handler module: axes as NumPy normalises them,
`keepdims`, and the refusal of arguments tracing does not support."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import primitives as P
from .ir import Node
from .trace import TracedArray, apply, as_array_node

# ----- Axes -----


def normalized_axes(x: Node, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, (list, tuple)):
        axes = [int(a) for a in axis]
    else:
        axes = [int(axis)]
    for a in axes:
        if not -x.ndim <= a < builtins.max(x.ndim, 1):
            raise np.exceptions.AxisError(a, x.ndim)
    return tuple(sorted({a % builtins.max(x.ndim, 1) for a in axes}))


def kept_dims(result: Node, x: Node, axes: tuple[int, ...], keepdims: bool) -> TracedArray:
    if keepdims:
        result = P.reshape(result, [1 if a in axes else n for a, n in enumerate(x.shape)])
    return TracedArray(result)


def refuse_extras(name: str, **extras: Any) -> None:
    for key, value in extras.items():
        if value is not None and value is not np._NoValue:
            raise TypeError(f"`{name}(..., {key}=...)` is not supported when tracing")


# ----- Reductions -----


def sum(x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    refuse_extras("sum", out=out, where=where)
    node = as_array_node(x)
    axes = normalized_axes(node, axis)
    result = P.reduce_sum(node, axes)
    if initial is not None and initial is not np._NoValue:
        result = P.add(result, float(initial))
    return kept_dims(result, node, axes, keepdims)


def mean(x, axis=None, dtype=None, out=None, keepdims=False, where=None):
    refuse_extras("mean", out=out, where=where)
    node = as_array_node(x)
    axes = normalized_axes(node, axis)
    count = math.prod(node.shape[a] for a in axes)
    return kept_dims(P.div(P.reduce_sum(node, axes), float(count)), node, axes, keepdims)


def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    refuse_extras("var", out=out, where=where, mean=mean)
    ddof = correction if correction is not None else ddof
    node = as_array_node(x)
    axes = normalized_axes(node, axis)
    count = math.prod(node.shape[a] for a in axes)
    centred = P.sub(node, P.reshape(P.div(P.reduce_sum(node, axes), float(count)),
                                    [1 if a in axes else n for a, n in enumerate(node.shape)]))
    squares = P.reduce_sum(P.mul(centred, centred), axes)
    return kept_dims(P.div(squares, float(builtins.max(count - ddof, 0))), node, axes, keepdims)


def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    return apply(P.sqrt_p, var(x, axis, dtype, out, ddof, keepdims, where, mean, correction))


def _chooser(name: str, build: Callable[[Node, tuple[int, ...]], Node]):
    def reduce(x, axis=None, out=None, keepdims=False, initial=None, where=None):
        refuse_extras(name, out=out, where=where)
        node = as_array_node(x)
        axes = normalized_axes(node, axis)
        if any(node.shape[a] == 0 for a in axes) and initial is not None:
            return kept_dims(P.broadcast_to(P.const(float(initial)),
                                        [n for a, n in enumerate(node.shape) if a not in axes]), node, axes, keepdims)
        result = build(node, axes)
        if initial is not None and initial is not np._NoValue:
            combine = P.maximum if name == "max" else P.minimum
            result = combine(result, float(initial))
        return kept_dims(result, node, axes, keepdims)

    reduce.__name__ = name
    return reduce


max = _chooser("max", P.reduce_max)  # noqa: A001
min = _chooser("min", P.reduce_min)  # noqa: A001


def prod(x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    refuse_extras("prod", out=out, where=where)
    node = as_array_node(x)
    axes = normalized_axes(node, axis)
    # Moved to the end and flattened, the factors multiply pairwise: log2(n) products of halves.
    kept = [a for a in range(node.ndim) if a not in axes]
    moved = P.transpose(node, kept + list(axes))
    rest = [node.shape[a] for a in kept]
    factors = P.reshape(moved, rest + [math.prod(node.shape[a] for a in axes)])
    result = _pairwise_product(factors)
    if initial is not None and initial is not np._NoValue:
        result = P.mul(result, float(initial))
    return kept_dims(result, node, axes, keepdims)


def _pairwise_product(x: Node) -> Node:
    last = x.ndim - 1
    n = x.shape[last]
    if n == 0:
        return P.broadcast_to(P.const(1.0), x.shape[:last])
    leftover = []
    while n > 1:
        if n % 2:
            leftover.append(take_range(x, last, n - 1, n))
            n -= 1
            x = take_range(x, last, 0, n)
        half = n // 2
        x = P.mul(take_range(x, last, 0, half), take_range(x, last, half, n))
        n = half
    for extra in reversed(leftover):
        x = P.mul(x, extra)
    return P.reshape(x, x.shape[:last])


def take_range(x: Node, axis: int, start: int, stop: int) -> Node:
    starts = [0] * x.ndim
    stops = list(x.shape)
    starts[axis], stops[axis] = start, stop
    return P.slice_(x, starts, stops)


def cumsum(x, axis=None, dtype=None, out=None):
    refuse_extras("cumsum", out=out)
    node = as_array_node(x)
    if axis is None:
        node, axis = P.reshape(node, (node.size,)), 0
    axis = normalized_axes(node, axis)[0]
    # Prefix sums in log2(n) steps: add the array shifted by 1, 2, 4, ... places.
    n, shift = node.shape[axis], 1
    while shift < n:
        lo = [0] * node.ndim
        lo[axis] = shift
        shifted = P.pad(take_range(node, axis, 0, n - shift), lo, [0] * node.ndim)
        node = P.add(node, shifted)
        shift *= 2
    return TracedArray(node)


FUNCTIONS = {
    np.sum: sum, np.mean: mean, np.prod: prod, np.max: max, np.min: min, np.amax: max, np.amin: min,
    np.var: var, np.std: std, np.cumsum: cumsum,
}
