"""NumPy on traced arrays: each function, method and ufunc mapped to array primitives.

`TracedArray` dispatches here (`__array_ufunc__`, `__array_function__` and
its methods). Each handler builds a few nodes whatever the size of its
operands: `x @ y` is one `dot_general`, `x[1:, ::2]` one `slice`, `x.sum(0)`
one `reduce_sum`. A NumPy function without a handler runs on the elements
as an object array of scalar nodes (its cost then grows with the size of
the array), and one that cannot be traced (arg-max, unique, ...) is refused
with a message naming it and what to use instead.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import linalg, numpy_layout, numpy_more, numpy_products, numpy_reductions
from . import primitives as P
from .ir import Node
from .numpy_reductions import cumsum, max, min, prod, refuse_extras, sum
from .primitives import REGISTRY, Primitive
from .trace import TracedArray, apply, is_traced, tracing_error, wrap

# ----- Indexing -----


def getitem(x: TracedArray, index: Any) -> TracedArray:
    if is_traced(index):
        raise tracing_error(
            "cannot index with a traced value",
            "Indices must be known when tracing; pass them as int arguments, or select "
            "with `symgrad.where`.",
        )
    node = x.node
    key = index if isinstance(index, tuple) else (index,)
    if all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool)
           for k in key):
        return TracedArray(_basic_index(node, key))
    # Advanced indexing: NumPy picks the positions of the flat elements; gather those.
    positions = np.arange(node.size).reshape(node.shape)[index]
    return TracedArray(P.gather(P.reshape(node, (node.size,)), positions, 0))


def _basic_index(node: Node, key: tuple) -> Node:
    count = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if count > node.ndim:
        raise IndexError(f"too many indices for an array of shape {node.shape}")
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (node.ndim - count) + key[at + 1:]
    else:
        key = key + (slice(None),) * (node.ndim - count)
    starts, stops, steps, reversed_axes, shape = [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            shape.append(1)
            continue
        n = node.shape[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            picked = range(start, stop, step)
            if step < 0:
                # A reversing slice picks its elements by a gather from the whole axis.
                reversed_axes.append((axis, picked))
                start, stop, step = 0, n, 1
            starts.append(start)
            stops.append(builtins.max(stop, start))
            steps.append(step)
            shape.append(len(picked))
        else:
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            i %= n
            starts.append(i)
            stops.append(i + 1)
            steps.append(1)
        axis += 1
    result = P.slice_(node, starts, stops, steps)
    for a, picked in reversed_axes:
        result = P.gather(result, np.array(list(picked), dtype=np.int64), a)
    return P.reshape(result, shape)


# ----- Elementwise helpers -----


def where(condition, x=None, y=None):
    if x is None or y is None:
        raise tracing_error(
            "`np.where(condition)` with one argument returns indices, which depend on values",
            "Use the three-argument form `np.where(condition, a, b)`.",
        )
    return apply(P.where_p, condition, x, y)


def clip(x, a_min=None, a_max=None, out=None, **kwargs):
    refuse_extras("clip", out=out)
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if a_min is not None:
        x = apply(P.maximum_p, x, a_min)
    if a_max is not None:
        x = apply(P.minimum_p, x, a_max)
    return wrap(x)


def logaddexp2(a, b):
    ln2 = math.log(2.0)
    return apply(P.logaddexp_p, wrap(a) * ln2, wrap(b) * ln2) / ln2


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    big = np.finfo(np.float64).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    x = wrap(x)
    x = apply(P.where_p, apply(P.not_equal_p, x, x), nan, x)
    x = apply(P.where_p, apply(P.equal_p, x, np.inf), posinf, x)
    return apply(P.where_p, apply(P.equal_p, x, -np.inf), neginf, x)


# ----- Refusals -----

_UNSUPPORTED = {
    "argsort": "its result is positions that depend on the values; use `np.sort` for the sorted values instead",
    "argmax": "its result is a position that depends on the values; use `np.max` for the value instead",
    "argmin": "its result is a position that depends on the values; use `np.min` for the value instead",
    "argpartition": "its result is positions that depend on the values; use `np.partition` for the values instead",
    "nonzero": "its result depends on the values; use `np.where(condition, a, b)` instead",
    "unique": "its result depends on the values", "searchsorted": "its result depends on the values",
    "argwhere": "its result depends on the values; use `np.where(condition, a, b)` instead",
}


def unsupported(name: str, detail: str | None = None) -> TypeError:
    reason = detail or _UNSUPPORTED.get(name, "")
    return TypeError(f"`np.{name}` is not supported by symgrad on traced arrays"
                     + (f" ({reason})." if reason else "."))


def _refuse(name: str):
    def refused(*args, **kwargs):
        raise unsupported(name)

    return refused


argmax, argmin = _refuse("argmax"), _refuse("argmin")

# ----- Dispatch -----

_FUNCTIONS: dict[Callable, Callable] = {
    np.where: where, np.clip: clip, np.nan_to_num: nan_to_num,
    np.copy: lambda x, *a, **k: wrap(x), np.asarray: lambda x, *a, **k: wrap(x),
    np.array: lambda x, *a, **k: wrap(x), np.shape: lambda x: wrap(x).shape, np.ndim: lambda x: wrap(x).ndim,
    np.size: lambda x, axis=None: wrap(x).size if axis is None else wrap(x).shape[axis],
}
for _name in _UNSUPPORTED:
    _func = functools.reduce(lambda module, part: getattr(module, part, None), _name.split("."), np)
    if _func is not None and _func not in _FUNCTIONS:
        _FUNCTIONS[_func] = _refuse(_name)

_UFUNC_PRIMITIVES: dict[str, Primitive] = {p.ufunc: p for p in REGISTRY.values() if p.ufunc}
_UFUNCS: dict[str, Callable] = {name: functools.partial(apply, prim) for name, prim in _UFUNC_PRIMITIVES.items()}
_UFUNCS.update(
    true_divide=functools.partial(apply, P.div_p),
    fabs=functools.partial(apply, P.abs_p),
    float_power=functools.partial(apply, P.pow_p),
    square=lambda x: apply(P.pow_p, x, 2.0),
    reciprocal=lambda x: apply(P.div_p, 1.0, x),
    exp2=lambda x: apply(P.pow_p, 2.0, x),
    positive=wrap, conjugate=wrap,
    logaddexp2=logaddexp2,
    deg2rad=lambda x: apply(P.mul_p, x, np.pi / 180.0),
    rad2deg=lambda x: apply(P.mul_p, x, 180.0 / np.pi),
    radians=lambda x: apply(P.mul_p, x, np.pi / 180.0),
    degrees=lambda x: apply(P.mul_p, x, 180.0 / np.pi),
    isnan=lambda x: apply(P.not_equal_p, x, x),
    isinf=lambda x: apply(P.equal_p, apply(P.abs_p, x), np.inf),
    isfinite=lambda x: apply(P.less_p, apply(P.abs_p, x), np.inf),
    invert=lambda x: apply(P.logical_not_p, x),
    bitwise_and=lambda x, y: apply(P.logical_and_p, x, y),
    bitwise_or=lambda x, y: apply(P.logical_or_p, x, y),
)
_REDUCERS = {"add": (sum, 0), "multiply": (prod, 0), "maximum": (max, 0), "minimum": (min, 0)}


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    if kwargs.get("out") is not None:
        raise TypeError("traced arrays are immutable; `out=` is not supported when tracing")
    name = ufunc.__name__
    if method == "__call__":
        if kwargs:
            raise TypeError(f"`np.{name}` keyword arguments are not supported when tracing")
        handler = _UFUNCS.get(name)
        if handler is None:
            raise unsupported(name, "no derivative rule or lowering for this ufunc")
        return handler(*inputs)
    if method == "reduce" and name in _REDUCERS:
        reducer, _ = _REDUCERS[name]
        kwargs = dict(kwargs)
        axis = kwargs.pop("axis", 0)
        return reducer(inputs[0], axis=axis, **{k: v for k, v in kwargs.items() if k in ("keepdims", "initial")})
    if method == "accumulate" and name == "add":
        return cumsum(inputs[0], axis=kwargs.get("axis", 0))
    raise unsupported(f"{name}.{method}")


def array_function(func: Callable, args: tuple, kwargs: dict) -> Any:
    handler = _FUNCTIONS.get(func)
    if handler is not None:
        return handler(*args, **kwargs)
    # Other NumPy functions (diag, diff, kron, ...) work on the elements as an
    # object array of scalar nodes, through the node operators.
    from .errors import TracingError

    try:
        result = func._implementation(*_objects(args), **_objects(kwargs))
    except (TracingError, TypeError, AttributeError) as e:
        raise unsupported(getattr(func, "__name__", str(func)), f"it failed on symbolic values: {e}") from None
    return _traced(result)


def _objects(x: Any) -> Any:
    if isinstance(x, TracedArray):
        return x.objects()
    if isinstance(x, (list, tuple)):
        return type(x)(_objects(v) for v in x)
    if isinstance(x, dict):
        return {k: _objects(v) for k, v in x.items()}
    return x


def _traced(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype == object:
        return wrap(x)
    if isinstance(x, Node):
        return TracedArray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_traced(v) for v in x)
    return x


for _module in (numpy_reductions, numpy_layout, numpy_products, numpy_more, linalg):
    _FUNCTIONS.update(_module.FUNCTIONS)
    _UFUNCS.update(getattr(_module, "UFUNCS", {}))


def _install_object_methods() -> None:
    # NumPy applies a ufunc to an object array (`np.sin(np.array([t0, t1]))`) by calling the method of
    # that name on each element: give traced arrays one per traced ufunc.
    for name, handler in _UFUNCS.items():
        if not hasattr(TracedArray, name):
            setattr(TracedArray, name, lambda self, *others, handler=handler: handler(self, *others))


_install_object_methods()
