"""Tracing: run a Python function on symbolic arrays and collect its array DAG.

A `TracedArray` is what a traced function sees instead of a float or a
NumPy array: one IR node (a whole array of static shape) behind NumPy's
interfaces (`__array_ufunc__`, `__array_function__`, operators, methods).
Every operation on it builds one node, whatever the size of the array;
nothing is evaluated. NumPy functions are mapped to primitives in
`symgrad.numpy_api`. Python control flow on a traced value (`if`, `while`,
`bool()`, `float()`) cannot be captured and raises `TracingError` naming
the user's function and line.

Data the function closes over (NumPy arrays) become named constants of the
graph (`array_const`), named after the variable that holds them when it
can be found in the function's closure or globals.
"""

from __future__ import annotations

import itertools
import linecache
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import primitives as P
from . import tree
from .errors import TracingError
from .ir import Node
from .primitives import Primitive, array_const, as_node, pack, symbol

_SYMGRAD_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_fresh_tags = itertools.count(1)
_context = threading.local()

__all__ = [
    "TracedArray", "apply", "as_array_node", "fresh_tag", "is_traced", "node_of", "symbol", "symbol_leaf",
    "traced_leaves", "tracing", "tracing_error", "wrap",
]


def fresh_tag() -> int:
    """A tag no symbol has used yet (for the variables of one trace)."""
    return next(_fresh_tags)


def symbol_leaf(name: str, shape: tuple[int, ...], tag: int) -> TracedArray:
    """A traced array standing for an argument: the symbol `name` of `shape`."""
    return TracedArray(symbol(name, tag, tuple(shape)))


# ----- Errors that point at the user's code -----


def _user_frame():
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith((_SYMGRAD_DIR, _NUMPY_DIR)) and f"{os.sep}scipy{os.sep}" not in path:
            return frame
        frame = frame.f_back
    return None


def tracing_error(what: str, suggestion: str) -> TracingError:
    """A TracingError naming the traced function and the user's source line (and the SciPy function that
    failed on a traced value, with what to use instead, when that is how it came about)."""
    from .library_calls import numpy_advice, scipy_advice

    advice = scipy_advice() or numpy_advice()
    if advice is not None:
        what, suggestion = advice.split("; ", 1)
        suggestion = suggestion[0].upper() + suggestion[1:] + "."
    names = getattr(_context, "functions", [])
    where = f" in `{names[-1]}`" if names else ""
    frame = _user_frame()
    if frame is not None:
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        where += f" ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        where += f": `{line}`)" if line else ")"
    return TracingError(f"{what}{where}.\n  {suggestion}")


def _math_function_called() -> str | None:
    """The `math.f` the user's line calls on a traced value, if any (it asks for a Python float)."""
    frame = _user_frame()
    if frame is None:
        return None
    match = re.search(r"\bmath\.(\w+)\(", linecache.getline(frame.f_code.co_filename, frame.f_lineno))
    return match.group(1) if match else None


def _no_concrete(kind: str):
    def refuse(self, *args):
        name = _math_function_called() if kind == "float" else None
        if name is not None:
            raise tracing_error(
                f"`math.{name}` is not supported by symgrad on traced values (it converts them to a Python float)",
                f"Use `np.{name}` or `symgrad.{name}` instead: they are traced.",
            )
        raise tracing_error(
            f"cannot use a traced value as a Python {kind}",
            "Branching on inputs cannot be captured in a static graph; use "
            "`symgrad.where(condition, a, b)` (or `np.where`) instead. To use a value "
            "as a constant, pass it as an int argument or close over it. (A NumPy function "
            "such as `np.max` on an array made with `np.array([...])` of traced values compares "
            "them in Python: build the array with `np.stack` instead.)",
        )

    return refuse


for _name, _kind in [("__bool__", "bool"), ("__float__", "float"), ("__int__", "int"),
                     ("__index__", "int"), ("__complex__", "complex")]:
    setattr(Node, _name, _no_concrete(_kind))


class tracing:  # noqa: N801  (used as a context manager, like np.errstate)
    """Marks the function being traced: for error messages, and to name the data it closes over."""

    def __init__(self, fun: Callable):
        self.name = getattr(fun, "__name__", repr(fun))
        self.fun = fun

    def __enter__(self):
        if not hasattr(_context, "functions"):
            _context.functions = []
            _context.constants = []
        _context.functions.append(self.name)
        _context.constants.append(_Constants(self.fun))

    def __exit__(self, *exc):
        _context.functions.pop()
        _context.constants.pop()


def inside_trace() -> bool:
    """Whether a function is being traced in this thread."""
    return bool(getattr(_context, "functions", None))


class _Constants:
    """The constant nodes of one trace, one per array object, named after the variables holding them."""

    def __init__(self, fun: Callable):
        self.fun = fun
        self.names: dict[int, str] | None = None
        self.nodes: dict[int, tuple[np.ndarray, Node]] = {}

    def node(self, array: np.ndarray) -> Node:
        found = self.nodes.get(id(array))
        if found is not None and found[0] is array:
            return found[1]
        if self.names is None:
            self.names = _variable_names(self.fun)
        name = self.names.get(id(array)) or f"c{len(self.nodes)}"
        node = array_const(array, name)
        self.nodes[id(array)] = (array, node)  # the array is kept alive, so its id stays its own
        return node


def _variable_names(fun: Callable) -> dict[int, str]:
    """`id(value) -> name` for the arrays a function (and what it wraps) can see by name."""
    names: dict[int, str] = {}
    seen = set()
    stack = [fun]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        code = getattr(f, "__code__", None)
        if code is None:
            for attribute in ("__wrapped__", "fun", "__func__"):
                inner = getattr(f, attribute, None)
                if callable(inner):
                    stack.append(inner)
            continue
        scopes = []
        if getattr(f, "__closure__", None):
            scopes.append((name, c.cell_contents) for name, c in zip(code.co_freevars, f.__closure__) if _filled(c))
        f_globals = getattr(f, "__globals__", {})
        scopes.append((n, f_globals[n]) for n in code.co_names if n in f_globals)
        for scope in scopes:
            for name, value in scope:
                if isinstance(value, np.ndarray):
                    names.setdefault(id(value), name)
                elif callable(value) and not isinstance(value, type):
                    stack.append(value)
    return names


def _filled(cell) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return False
    return True


def _constant(array: np.ndarray) -> Node:
    stack = getattr(_context, "constants", None)
    if stack:
        return stack[-1].node(array)
    return array_const(array)


# ----- Conversions -----


def as_array_node(x: Any) -> Node:
    """The node of a traced array, a node, a number, an array or a nested list of them."""
    if isinstance(x, TracedArray):
        return x.node
    if isinstance(x, Node):
        return x
    if isinstance(x, (bool, int, float, np.integer, np.floating, np.bool_)):
        if isinstance(x, (complex, np.complexfloating)):
            raise TypeError("symgrad traces real functions; complex values are not supported")
        return as_node(x)
    if isinstance(x, (list, tuple)):
        if any(is_traced(v) for v in x):
            from .numpy_layout import stack

            return stack([as_array_node(v) for v in x], 0)
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return _object_array_node(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"symgrad cannot trace arrays of dtype {x.dtype}")
        if x.ndim == 0:
            return as_node(float(x))
        return _constant(x)
    if isinstance(x, (complex, np.complexfloating)):
        raise TypeError("symgrad traces real functions; complex values are not supported")
    if type(x) in DEFER_TO:  # a map over data, as array code over all its rows
        return x.materialize().node
    raise TypeError(f"cannot combine a traced array with {type(x).__name__}: {x!r:.60}")


def _object_array_node(x: np.ndarray) -> Node:
    # `np.array([t0, t1])` of 0-d traced arrays, or an object array of scalar nodes.
    scalars = []
    for v in x.flat:
        node = as_array_node(v)
        if node.shape != ():
            raise TypeError(
                f"cannot build an array from traced arrays of shape {node.shape} with `np.array`; "
                "use `np.stack` or `np.concatenate`"
            )
        scalars.append(node)
    return pack(scalars, x.shape)


def wrap(x: Any) -> TracedArray:
    """A TracedArray holding a node, a number, an array or a list of them."""
    return x if isinstance(x, TracedArray) else TracedArray(as_array_node(x))


def node_of(x: Any) -> Node:
    return as_array_node(x)


def apply(prim: Primitive, *operands: Any) -> TracedArray:
    """`prim` applied elementwise, with NumPy broadcasting."""
    return TracedArray(prim.bind(*map(as_array_node, operands)))


def traced_leaves(value: Any) -> tuple[list[TracedArray], Any]:
    """The leaves of a pytree as traced arrays (numbers become constants), and its structure."""
    leaves, treedef = tree.flatten(value)
    return [wrap(x) for x in leaves], treedef


# Types whose own reflected operators take precedence over a traced array's (maps over data,
# `reduction.RowMap`, which keep a combination row by row).
DEFER_TO: set[type] = set()


def _binary(prim: Primitive, reflected: bool = False):
    def operator(self, other):
        if type(other) in DEFER_TO:
            return NotImplemented
        return apply(prim, other, self) if reflected else apply(prim, self, other)

    return operator


def _numpy_method(name: str, module: str = "numpy_api"):
    def method(self, *args, **kwargs):
        import importlib

        return getattr(importlib.import_module(f"symgrad.{module}"), name)(self, *args, **kwargs)

    method.__name__ = name
    return method


def _numpy_function(name: str):
    def method(self, *args, **kwargs):
        return getattr(np, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


# ----- The traced array -----


class TracedArray:
    """A symbolic float64 array standing in for an argument of a traced function: one IR node."""

    __slots__ = ("node",)
    __array_priority__ = 1000

    def __init__(self, node: Node):
        self.node = node

    # -- array attributes --
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def ndim(self) -> int:
        return self.node.ndim

    @property
    def size(self) -> int:
        return self.node.size

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def T(self) -> TracedArray:  # noqa: N802  (NumPy's name)
        return TracedArray(P.transpose(self.node, tuple(reversed(range(self.ndim)))))

    @property
    def mT(self) -> TracedArray:  # noqa: N802
        if self.ndim < 2:
            raise ValueError(f"`.mT` needs at least 2 dimensions, got shape {self.shape}")
        perm = (*range(self.ndim - 2), self.ndim - 1, self.ndim - 2)
        return TracedArray(P.transpose(self.node, perm))

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
        from .numpy_api import getitem

        return getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "traced arrays are immutable; build a new array with `np.where`, "
            "`np.concatenate` or `np.stack` instead of assigning into one"
        )

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) == np.dtype(object):
            return self.objects()
        if self.shape == ():
            # `np.array([t0, t1])`: an object array of scalar nodes, which symgrad
            # operations take back; NumPy's own functions see the nodes.
            return self.objects()
        raise tracing_error(
            f"cannot convert a traced array of shape {self.shape} to a concrete NumPy array",
            "Use NumPy functions on the traced array itself; they are traced (to make one array of several "
            "traced arrays, use `np.stack([...])` or `np.concatenate`, not `np.array([...])`).",
        )

    def objects(self) -> np.ndarray:
        """The elements as an object array of scalar nodes (for NumPy functions symgrad does not trace)."""
        if self.shape == ():
            out = np.empty((), dtype=object)
            out[()] = self.node
            return out
        flat = P.reshape(self.node, (self.size,))
        out = np.empty(self.size, dtype=object)
        out[:] = [P.element(flat, k) for k in range(self.size)]
        return out.reshape(self.shape)

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
    __mod__ = _binary(P.remainder_p)
    __rmod__ = _binary(P.remainder_p, reflected=True)
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

    def __floordiv__(self, other: Any) -> TracedArray:
        return TracedArray(P.floor_divide(self.node, as_array_node(other)))

    def __rfloordiv__(self, other: Any) -> TracedArray:
        return TracedArray(P.floor_divide(as_array_node(other), self.node))

    def __divmod__(self, other: Any) -> tuple[TracedArray, TracedArray]:
        return self // other, self % other

    def __rdivmod__(self, other: Any) -> tuple[TracedArray, TracedArray]:
        return other // self, other % self

    def __matmul__(self, other: Any) -> TracedArray:
        from .numpy_products import matmul

        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> TracedArray:
        from .numpy_products import matmul

        return matmul(other, self)

    __bool__ = _no_concrete("bool")
    __float__ = _no_concrete("float")
    __int__ = _no_concrete("int")
    __index__ = _no_concrete("int")
    __complex__ = _no_concrete("complex")

    # -- methods (NumPy's, traced by `symgrad.numpy_api`) --
    sum = _numpy_method("sum", "numpy_reductions")
    prod = _numpy_method("prod", "numpy_reductions")
    mean = _numpy_method("mean", "numpy_reductions")
    max = _numpy_method("max", "numpy_reductions")
    min = _numpy_method("min", "numpy_reductions")
    var = _numpy_method("var", "numpy_reductions")
    std = _numpy_method("std", "numpy_reductions")
    reshape = _numpy_method("reshape", "numpy_layout")
    transpose = _numpy_method("transpose", "numpy_layout")
    ravel = _numpy_method("ravel", "numpy_layout")
    flatten = _numpy_method("ravel", "numpy_layout")
    squeeze = _numpy_method("squeeze", "numpy_layout")
    swapaxes = _numpy_method("swapaxes", "numpy_layout")
    dot = _numpy_method("dot", "numpy_products")
    clip = _numpy_method("clip")
    cumsum = _numpy_method("cumsum", "numpy_reductions")
    argmax = _numpy_method("argmax")
    argmin = _numpy_method("argmin")
    cumprod = _numpy_method("cumprod", "numpy_more")
    diagonal = _numpy_method("diagonal", "numpy_more")
    round = _numpy_method("round_", "numpy_more")
    # Methods that are NumPy functions of the array: traced, or refused with a reason, as those are.
    all, any, argpartition, argsort, choose, compress, nonzero, repeat, searchsorted, take, trace = (
        _numpy_function(name) for name in ("all", "any", "argpartition", "argsort", "choose", "compress", "nonzero",
                                           "repeat", "searchsorted", "take", "trace"))

    @property
    def real(self) -> TracedArray:
        return self

    @property
    def imag(self) -> TracedArray:
        return TracedArray(P.broadcast_to(as_node(0.0), self.shape))

    def sort(self, *args, **kwargs) -> None:
        raise tracing_error("`x.sort()` sorts in place, and traced arrays are immutable",
                            "Use `x = np.sort(x)` instead.")

    def partition(self, *args, **kwargs) -> None:
        raise tracing_error("`x.partition()` works in place, and traced arrays are immutable",
                            "Use `x = np.partition(x, kth)` instead.")

    def astype(self, dtype: Any, *args, **kwargs) -> TracedArray:
        if np.dtype(dtype).kind != "f":
            raise tracing_error(
                f"cannot cast a traced array to {np.dtype(dtype)}",
                "Traced values are float64; use `np.floor`/`np.round` for integral values.",
            )
        return self

    def copy(self) -> TracedArray:
        return self

    def conjugate(self) -> TracedArray:
        return self

    conj = conjugate

    def item(self, *args) -> Any:
        raise tracing_error(
            "cannot take `.item()` of a traced array", "Keep computing with the array itself."
        )

    tolist = item

    # -- NumPy protocols --
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        from .numpy_api import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any):
        from .numpy_api import array_function

        return array_function(func, args, kwargs)


def _contains_traced(x: Any) -> bool:
    if isinstance(x, (TracedArray, Node)):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_traced(v) for v in x)
    if isinstance(x, dict):
        return any(_contains_traced(v) for v in x.values())
    if isinstance(x, np.ndarray) and x.dtype == object:
        return any(isinstance(v, (TracedArray, Node)) for v in x.flat)
    children = tree.registered_children(x)
    return children is not None and any(_contains_traced(v) for v in children)


def is_traced(x: Any) -> bool:
    """Whether a pytree holds any traced value."""
    return _contains_traced(x)
