"""Tracing: run a Python function on symbolic arrays and collect its expression DAG.

A `TracedArray` is what a traced function sees instead of a float or a
NumPy array: an object array of IR nodes behind NumPy's interfaces
(`__array_ufunc__`, `__array_function__`, operators, methods). Every
operation on it builds nodes; nothing is evaluated. Python control flow on
a traced value (`if`, `while`, `bool()`, `float()`) cannot be captured and
raises `TracingError` naming the user's function and line.

Also here: pytrees (tuples, lists and dicts of arrays) and the symbols that
stand for a function's arguments.
"""

from __future__ import annotations

import functools
import itertools
import linecache
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from . import primitives as P
from . import tree
from .errors import TracingError
from .ir import Node
from .primitives.registry import REGISTRY, Primitive, as_node, symbol_p

_SYMGRAD_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_fresh_tags = itertools.count(1)
_context = threading.local()


# ----- Symbols for arguments -----


def symbol(name: str, tag: int = 0) -> Node:
    """The symbol `name`; symbols with different tags are different variables."""
    return Node.make(symbol_p, (), (name, tag))


def fresh_tag() -> int:
    """A tag no symbol has used yet (for the variables of one trace)."""
    return next(_fresh_tags)


def node_array(nodes: Iterable[Any], shape: tuple[int, ...]) -> np.ndarray:
    """An object array of `shape` holding `nodes` in C order."""
    out = np.empty(math.prod(shape), dtype=object)
    out[:] = list(nodes)
    return out.reshape(shape)


def traced_leaves(value: Any) -> tuple[list[TracedArray], Any]:
    """The leaves of a pytree as traced arrays (numbers become constants), and its structure."""
    leaves, treedef = tree.flatten(value)
    return [x if isinstance(x, TracedArray) else wrap(x) for x in leaves], treedef


def flat_nodes(leaves: Sequence[TracedArray]) -> list[Node]:
    """The nodes of traced arrays, one after the other in C order."""
    return [n for leaf in leaves for n in leaf.nodes.flat]


def shaped_like(leaves: Sequence[TracedArray], nodes: Iterable[Node]) -> list[TracedArray]:
    """Traced arrays of the shapes of `leaves`, holding `nodes` in order (the inverse of `flat_nodes`)."""
    it = iter(nodes)
    return [TracedArray(node_array((next(it) for _ in range(leaf.size)), leaf.shape)) for leaf in leaves]


def symbol_array(name: str, shape: tuple[int, ...], tag: int = 0) -> np.ndarray:
    """An object array of symbols named `name[i, j]` (or `name` for a scalar)."""
    out = np.empty(shape, dtype=object)
    if shape == ():
        out[()] = symbol(name, tag)
        return out
    for index in np.ndindex(*shape):
        out[index] = symbol(f"{name}[{', '.join(map(str, index))}]", tag)
    return out


# ----- Errors that point at the user's code -----


def _user_frame():
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith((_SYMGRAD_DIR, _NUMPY_DIR)):
            return frame
        frame = frame.f_back
    return None


def tracing_error(what: str, suggestion: str) -> TracingError:
    """A TracingError naming the traced function and the user's source line."""
    names = getattr(_context, "functions", [])
    where = f" in `{names[-1]}`" if names else ""
    frame = _user_frame()
    if frame is not None:
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        where += f" ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        where += f": `{line}`)" if line else ")"
    return TracingError(f"{what}{where}.\n  {suggestion}")


def _no_concrete(kind: str):
    def refuse(self, *args):
        raise tracing_error(
            f"cannot use a traced value as a Python {kind}",
            "Branching on inputs cannot be captured in a static graph; use "
            "`symgrad.where(condition, a, b)` (or `np.where`) instead. To use a value "
            "as a constant, pass it as an int argument or close over it.",
        )

    return refuse


for _name, _kind in [("__bool__", "bool"), ("__float__", "float"), ("__int__", "int"),
                     ("__index__", "int"), ("__complex__", "complex")]:
    setattr(Node, _name, _no_concrete(_kind))


class tracing:  # noqa: N801  (used as a context manager, like np.errstate)
    """Marks the function being traced, for error messages."""

    def __init__(self, fun: Callable):
        self.name = getattr(fun, "__name__", repr(fun))

    def __enter__(self):
        if not hasattr(_context, "functions"):
            _context.functions = []
        _context.functions.append(self.name)

    def __exit__(self, *exc):
        _context.functions.pop()


# ----- Elementwise application -----


@functools.cache
def _ufunc_of(prim: Primitive) -> np.ufunc:
    return np.frompyfunc(prim.bind, prim.arity, 1)


def _operand(x: Any) -> Any:
    """The object-array (or scalar) form of an operand of an elementwise operation."""
    if isinstance(x, TracedArray):
        return x.nodes
    if isinstance(x, Node):
        return x
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufO":
            raise TypeError(f"symgrad cannot trace arrays of dtype {x.dtype}")
        return x
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        if np.iscomplexobj(x):
            raise TypeError("symgrad traces real functions; complex values are not supported")
        return x
    raise TypeError(f"cannot combine a traced array with {type(x).__name__}: {x!r:.60}")


def apply(prim: Primitive, *operands: Any) -> TracedArray:
    """`prim` applied elementwise, with NumPy broadcasting."""
    result = _ufunc_of(prim)(*map(_operand, operands))
    return wrap(result)


def wrap(value: Any) -> TracedArray:
    """A TracedArray holding a node, a number or an array of them."""
    nodes = np.asarray(value, dtype=object)
    if nodes.size and not all(isinstance(n, Node) for n in nodes.flat):
        nodes = np.asarray(np.frompyfunc(_element_node, 1, 1)(nodes), dtype=object)
    return TracedArray(nodes)


def _element_node(x: Any) -> Node:
    # `np.array([t0, t1])` of 0-d traced arrays makes an object array holding them.
    if isinstance(x, TracedArray):
        if x.shape != ():
            raise TypeError(
                "cannot build an array from traced arrays of shape "
                f"{x.shape} with `np.array`; use `np.stack` or `np.concatenate`"
            )
        return x.nodes[()]
    return as_node(x)


def reduce(prim: Primitive, x: Any, axis=None, keepdims=False, initial=None) -> TracedArray:
    """Reduce along `axis` with a binary primitive (`sum` is `add`, `max` is `maximum`)."""
    nodes = _as_object(x)
    if axis is None:
        nodes, axis = nodes.reshape(-1), 0
    kwargs = {} if initial is None else {"initial": as_node(initial)}
    if isinstance(axis, tuple):
        for ax in sorted((a % nodes.ndim for a in axis), reverse=True):
            nodes = _ufunc_of(prim).reduce(nodes, axis=ax, keepdims=keepdims, **kwargs)
        return wrap(nodes)
    if not kwargs and nodes.shape[axis] == 0:
        raise ValueError(f"zero-size array to reduction operation `{prim.name}` has no identity")
    return wrap(_ufunc_of(prim).reduce(nodes, axis=axis, keepdims=keepdims, **kwargs))


def _binary(prim: Primitive, reflected: bool = False):
    if reflected:
        return lambda self, other: apply(prim, other, self)
    return lambda self, other: apply(prim, self, other)


# ----- The traced array -----


class TracedArray:
    """A symbolic float64 array standing in for an argument of a traced function."""

    __slots__ = ("nodes",)
    __array_priority__ = 1000

    def __init__(self, nodes: np.ndarray):
        self.nodes = nodes

    # -- array attributes --
    @property
    def shape(self) -> tuple[int, ...]:
        return self.nodes.shape

    @property
    def ndim(self) -> int:
        return self.nodes.ndim

    @property
    def size(self) -> int:
        return self.nodes.size

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def T(self) -> TracedArray:  # noqa: N802  (NumPy's name)
        return TracedArray(self.nodes.T)

    @property
    def mT(self) -> TracedArray:  # noqa: N802
        return TracedArray(np.swapaxes(self.nodes, -1, -2))

    def __repr__(self) -> str:
        return f"TracedArray(shape={self.shape}, dtype=float64)"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self) -> Iterator[TracedArray]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: Any) -> TracedArray:
        if _contains_traced(index):
            raise tracing_error(
                "cannot index with a traced value",
                "Indices must be known when tracing; pass them as int arguments, or select "
                "with `symgrad.where`.",
            )
        return TracedArray(np.asarray(self.nodes[index], dtype=object))

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "traced arrays are immutable; build a new array with `np.where`, "
            "`np.concatenate` or `np.stack` instead of assigning into one"
        )

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise tracing_error(
                f"cannot convert a traced array to a concrete {np.dtype(dtype)} array",
                "Use NumPy functions on the traced array itself; they are traced.",
            )
        return self.nodes

    # -- operators --
    __add__ = _binary(P.add_p)
    __radd__ = _binary(P.add_p, reflected=True)
    __sub__ = _binary(P.sub_p)
    __rsub__ = _binary(P.sub_p, reflected=True)
    __mul__ = _binary(P.mul_p)
    __rmul__ = _binary(P.mul_p, reflected=True)
    __truediv__ = _binary(P.div_p)
    __rtruediv__ = _binary(P.div_p, reflected=True)
    __pow__ = _binary(P.pow_p)
    __rpow__ = _binary(P.pow_p, reflected=True)
    __gt__ = _binary(P.greater_p)
    __ge__ = _binary(P.greater_equal_p)
    __lt__ = _binary(P.less_p)
    __le__ = _binary(P.less_equal_p)
    __eq__ = _binary(P.equal_p)  # type: ignore[assignment]
    __ne__ = _binary(P.not_equal_p)  # type: ignore[assignment]
    __and__ = _binary(P.logical_and_p)
    __rand__ = _binary(P.logical_and_p, reflected=True)
    __or__ = _binary(P.logical_or_p)
    __ror__ = _binary(P.logical_or_p, reflected=True)
    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> TracedArray:
        return apply(P.neg_p, self)

    def __pos__(self) -> TracedArray:
        return self

    def __abs__(self) -> TracedArray:
        return apply(P.abs_p, self)

    def __invert__(self) -> TracedArray:
        return apply(P.logical_not_p, self)

    def __matmul__(self, other: Any) -> TracedArray:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> TracedArray:
        return matmul(other, self)

    __bool__ = _no_concrete("bool")
    __float__ = _no_concrete("float")
    __int__ = _no_concrete("int")
    __index__ = _no_concrete("int")
    __complex__ = _no_concrete("complex")

    # -- methods --
    def sum(self, axis=None, keepdims=False) -> TracedArray:
        return reduce(P.add_p, self, axis, keepdims, initial=0.0)

    def prod(self, axis=None, keepdims=False) -> TracedArray:
        return reduce(P.mul_p, self, axis, keepdims, initial=1.0)

    def mean(self, axis=None, keepdims=False) -> TracedArray:
        count = self.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis, keepdims) / float(count)

    def max(self, axis=None, keepdims=False) -> TracedArray:
        return reduce(P.maximum_p, self, axis, keepdims)

    def min(self, axis=None, keepdims=False) -> TracedArray:
        return reduce(P.minimum_p, self, axis, keepdims)

    def reshape(self, *shape: Any) -> TracedArray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return TracedArray(self.nodes.reshape(shape))

    def transpose(self, *axes: Any) -> TracedArray:
        return TracedArray(self.nodes.transpose(*axes))

    def ravel(self) -> TracedArray:
        return TracedArray(self.nodes.ravel())

    flatten = ravel

    def squeeze(self, axis=None) -> TracedArray:
        return TracedArray(self.nodes.squeeze(axis))

    def dot(self, other: Any) -> TracedArray:
        return wrap(np.dot(self.nodes, _operand(other)))

    def astype(self, dtype: Any) -> TracedArray:
        if np.dtype(dtype).kind != "f":
            raise tracing_error(
                f"cannot cast a traced array to {np.dtype(dtype)}",
                "Traced values are float64; use `np.floor`/`np.round` for integral values.",
            )
        return self

    def copy(self) -> TracedArray:
        return self

    def item(self) -> Any:
        raise tracing_error(
            "cannot take `.item()` of a traced array", "Keep computing with the array itself."
        )

    # -- NumPy protocols --
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        if kwargs.get("out") is not None:
            raise TypeError("traced arrays are immutable; `out=` is not supported when tracing")
        if method == "__call__":
            if kwargs:
                raise TypeError(f"`np.{ufunc.__name__}` keyword arguments are not supported when tracing")
            handler = _UFUNC_HANDLERS.get(ufunc.__name__)
            if handler is None:
                raise TypeError(f"`np.{ufunc.__name__}` is not supported on traced arrays")
            return handler(*inputs)
        if method == "reduce":
            prim = _UFUNC_PRIMITIVES.get(ufunc.__name__)
            if prim is None or prim.arity != 2:
                raise TypeError(f"`np.{ufunc.__name__}.reduce` is not supported on traced arrays")
            initial = {"add": 0.0, "multiply": 1.0}.get(ufunc.__name__)
            return reduce(prim, inputs[0], kwargs.get("axis", 0), kwargs.get("keepdims", False),
                          kwargs.get("initial", initial))
        return NotImplemented

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any):
        handler = _FUNCTION_HANDLERS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        # Most NumPy functions (outer, trace, diag, cumsum, ...) work on object
        # arrays of nodes through the node operators; run them on those.
        result = func._implementation(*_unwrap(args), **_unwrap(kwargs))
        return _rewrap(result)


def _unwrap(x: Any) -> Any:
    if isinstance(x, TracedArray):
        return x.nodes
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _rewrap(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype == object:
        return wrap(x)
    if isinstance(x, Node):
        return wrap(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_rewrap(v) for v in x)
    return x


def _contains_traced(x: Any) -> bool:
    if isinstance(x, (TracedArray, Node)):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_traced(v) for v in x)
    if isinstance(x, dict):
        return any(_contains_traced(v) for v in x.values())
    children = tree.registered_children(x)
    return children is not None and any(_contains_traced(v) for v in children)


def is_traced(x: Any) -> bool:
    """Whether a pytree holds any traced value."""
    return _contains_traced(x)


# ----- Array functions with their own semantics -----


def matmul(a: Any, b: Any) -> TracedArray:
    return wrap(np.matmul(_as_object(a), _as_object(b)))


def _as_object(x: Any) -> np.ndarray:
    return np.asarray(_operand(x), dtype=object)


def where(condition: Any, a: Any, b: Any) -> TracedArray:
    return apply(P.where_p, condition, a, b)


def _where(condition: Any, x: Any = None, y: Any = None) -> TracedArray:
    if x is None or y is None:
        raise tracing_error(
            "`np.where(condition)` with one argument returns indices, which depend on values",
            "Use the three-argument form `np.where(condition, a, b)`.",
        )
    return where(condition, x, y)


def _join(func: Callable):
    def joined(arrays, *args, **kwargs):
        return wrap(func([_as_object(a) for a in arrays], *args, **kwargs))

    return joined


def _clip(x, a_min=None, a_max=None, **kwargs):
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if a_min is not None:
        x = apply(P.maximum_p, x, a_min)
    if a_max is not None:
        x = apply(P.minimum_p, x, a_max)
    return x


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord not in (None, 2, "fro") and not (ord == 2 and axis is not None):
        raise TypeError(f"`np.linalg.norm` with ord={ord!r} is not supported when tracing")
    return apply(P.sqrt_p, (wrap(_operand(x)) ** 2).sum(axis=axis, keepdims=keepdims))


def _method_handler(name: str):
    def handler(x, *args, **kwargs):
        return getattr(wrap(_operand(x)), name)(*args, **kwargs)

    return handler


_FUNCTION_HANDLERS: dict[Callable, Callable] = {
    np.where: _where,
    np.sum: _method_handler("sum"),
    np.mean: _method_handler("mean"),
    np.prod: _method_handler("prod"),
    np.max: _method_handler("max"),
    np.min: _method_handler("min"),
    np.amax: _method_handler("max"),
    np.amin: _method_handler("min"),
    np.clip: _clip,
    np.stack: _join(np.stack),
    np.concatenate: _join(np.concatenate),
    np.hstack: _join(np.hstack),
    np.vstack: _join(np.vstack),
    np.linalg.norm: _norm,
}

_UFUNC_PRIMITIVES: dict[str, Primitive] = {p.ufunc: p for p in REGISTRY.values() if p.ufunc}
_UFUNC_HANDLERS: dict[str, Callable] = {
    name: functools.partial(apply, prim) for name, prim in _UFUNC_PRIMITIVES.items()
}
_UFUNC_HANDLERS.update(
    true_divide=functools.partial(apply, P.div_p),
    fabs=functools.partial(apply, P.abs_p),
    float_power=functools.partial(apply, P.pow_p),
    square=lambda x: apply(P.pow_p, x, 2.0),
    reciprocal=lambda x: apply(P.div_p, 1.0, x),
    exp2=lambda x: apply(P.pow_p, 2.0, x),
    positive=lambda x: wrap(_operand(x)),
    conjugate=lambda x: wrap(_operand(x)),
    matmul=matmul,
    deg2rad=lambda x: apply(P.mul_p, x, np.pi / 180.0),
    rad2deg=lambda x: apply(P.mul_p, x, 180.0 / np.pi),
    radians=lambda x: apply(P.mul_p, x, np.pi / 180.0),
    degrees=lambda x: apply(P.mul_p, x, 180.0 / np.pi),
    isnan=lambda x: apply(P.not_equal_p, x, x),
    invert=lambda x: apply(P.logical_not_p, x),
    bitwise_and=lambda x, y: apply(P.logical_and_p, x, y),
    bitwise_or=lambda x, y: apply(P.logical_or_p, x, y),
)
