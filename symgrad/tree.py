"""Pytrees: nested containers whose leaves are numbers and arrays, with one registry of node types.

`flatten` gives the leaves in a fixed order and a `treedef` that rebuilds
the same structure with new leaves. As in JAX:

- tuples (named ones too), lists and dicts are nodes; `None` is a node with
  no children (an empty subtree);
- other classes are nodes once registered with `register_pytree_node` or
  `register_dataclass`;
- leaves are numbers and arrays (NumPy arrays, traced arrays, IR nodes).
  Other real numbers (`fractions.Fraction`, `decimal.Decimal`) become the
  float64 NumPy would make of them (`float(x)`);
- strings are kept in the treedef as static values (they pass through a
  transformed function unchanged; differentiating with respect to one is
  an error, raised by the transformation);
- anything else is refused with a TypeError that says how to register it,
  rather than silently passed through.
"""

from __future__ import annotations

import dataclasses
import decimal
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .ir import Node

_NUMBER = (bool, int, float, complex, np.number, np.bool_)

# Registered node types: class -> (flatten, unflatten, child names or None).
# flatten(obj) -> (children, aux); unflatten(aux, children) -> obj (JAX's signatures).
_NODES: dict[type, tuple[Callable, Callable, Callable[[Any], list[str]] | None]] = {}

_LEAF_TYPES: tuple[type, ...] = ()


def register_pytree_node(cls: type, flatten_func: Callable[[Any], tuple[Iterable[Any], Any]],
                         unflatten_func: Callable[[Any, Iterable[Any]], Any]) -> None:
    """Let symgrad look inside instances of `cls`, as `jax.tree_util.register_pytree_node` does.

    Args:
        cls: the class.
        flatten_func: `obj -> (children, aux_data)`; the children are pytrees,
            `aux_data` is static (hashable, compared by value to reuse a
            compiled kernel).
        unflatten_func: `(aux_data, children) -> obj`.

    >>> import symgrad as sg
    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> sg.register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    >>> sg.grad(lambda p: p.a * p.b)(Pair(2.0, 3.0)).b
    2.0
    """
    _register(cls, flatten_func, unflatten_func, None)


def register_dataclass(cls: type | None = None, data_fields: Iterable[str] | None = None,
                       meta_fields: Iterable[str] | None = None):
    """Register a dataclass as a pytree node (JAX's `register_dataclass`); usable as a decorator.

    Fields are children (data) unless listed in `meta_fields` or declared with
    `dataclasses.field(metadata={"static": True})`, which makes them static.

    >>> import dataclasses, symgrad as sg
    >>> @sg.register_dataclass
    ... @dataclasses.dataclass
    ... class Params:
    ...     w: float
    ...     b: float
    >>> sg.grad(lambda p: p.w * 3.0 + p.b)(Params(1.0, 2.0))
    Params(w=3.0, b=1.0)
    """
    if cls is None:
        return lambda c: register_dataclass(c, data_fields, meta_fields)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"`register_dataclass` expects a dataclass, got {cls!r}; decorate it with "
                        "`@dataclasses.dataclass` first, or use `register_pytree_node`")
    fields = [f.name for f in dataclasses.fields(cls)]
    if data_fields is None:
        meta = set(meta_fields or ()) | {f.name for f in dataclasses.fields(cls) if f.metadata.get("static")}
        data = [name for name in fields if name not in meta]
    else:
        data = list(data_fields)
        meta = set(meta_fields or ())
    meta_names = [name for name in fields if name in meta]
    unknown = (set(data) | meta) - set(fields)
    if unknown:
        raise ValueError(f"`register_dataclass({cls.__name__})`: no field named {sorted(unknown)}")

    def flatten(obj):
        return [getattr(obj, name) for name in data], tuple(getattr(obj, name) for name in meta_names)

    def unflatten(aux, children):
        # Set the fields directly, as `dataclasses.replace` would not let traced values past
        # a `__post_init__` that converts or checks them.
        obj = object.__new__(cls)
        for name, value in [*zip(data, children), *zip(meta_names, aux)]:
            object.__setattr__(obj, name, value)
        return obj

    _register(cls, flatten, unflatten, lambda obj: [f".{name}" for name in data])
    return cls


def _register(cls, flatten_func, unflatten_func, names) -> None:
    if not isinstance(cls, type):
        raise TypeError(f"expected a class to register, got {cls!r}")
    if cls in (tuple, list, dict, type(None)) or issubclass(cls, (np.ndarray, *_NUMBER, str)):
        raise ValueError(f"`{cls.__name__}` is already a pytree node or leaf and cannot be registered")
    _NODES[cls] = (flatten_func, unflatten_func, names)


def registered_children(x: Any) -> list[Any] | None:
    """The children of an instance of a registered class, or None for anything else."""
    node = _NODES.get(type(x))
    return None if node is None else list(node[0](x)[0])


def is_leaf(x: Any) -> bool:
    global _LEAF_TYPES
    if not _LEAF_TYPES:
        from .reduction import RowMap  # (they import this module)
        from .trace import TracedArray

        _LEAF_TYPES = (TracedArray, RowMap, Node, np.ndarray, *_NUMBER)
    return isinstance(x, _LEAF_TYPES)


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """The leaves of `tree` in order, and its structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> Any:
    if isinstance(tree, (tuple, list)):
        return (type(tree), tuple(_flatten(v, leaves) for v in tree))
    if isinstance(tree, dict):
        return (dict, tuple(tree), tuple(_flatten(v, leaves) for v in tree.values()))
    if is_leaf(tree):
        leaves.append(tree)
        return None
    if tree is None:
        return ("none",)
    if isinstance(tree, str):
        return ("static", tree)
    node = _NODES.get(type(tree))
    if node is not None:
        children, aux = node[0](tree)
        return ("node", type(tree), aux, tuple(_flatten(c, leaves) for c in children))
    leaves.append(_real_number(tree))
    return None


def _real_number(x: Any) -> float:
    """A real number of another kind (Fraction, Decimal) as NumPy's float64 would hold it."""
    if isinstance(x, (numbers.Real, decimal.Decimal)):
        try:
            return float(x)
        except (ValueError, OverflowError) as e:
            raise ValueError(f"cannot convert {x!r} to a float64: {e}") from None
    kind = type(x)
    raise TypeError(
        f"symgrad does not know how to look inside a value of type `{kind.__module__}.{kind.__qualname__}`: "
        "arguments and results are numbers, arrays, and tuples, lists and dicts of them. Register the "
        f"class with `symgrad.register_dataclass({kind.__name__})` (for a dataclass) or "
        f"`symgrad.register_pytree_node({kind.__name__}, flatten, unflatten)`, or pass its arrays instead"
    )


def unflatten(treedef: Any, leaves: list[Any]) -> Any:
    """The tree of structure `treedef` with `leaves` in order."""
    it = iter(leaves)
    return _unflatten(treedef, it)


def _unflatten(treedef: Any, leaves) -> Any:
    if treedef is None:
        return next(leaves)
    kind = treedef[0]
    if kind == "static":
        return treedef[1]
    if kind == "none":
        return None
    if kind == "node":
        _, cls, aux, children = treedef
        return _NODES[cls][1](aux, [_unflatten(d, leaves) for d in children])
    if kind is dict:
        return {k: _unflatten(d, leaves) for k, d in zip(treedef[1], treedef[2])}
    values = [_unflatten(d, leaves) for d in treedef[1]]
    return kind(values) if kind is list else tuple(values) if kind is tuple else kind(*values)


def static_values(treedef: Any) -> list[Any]:
    """The static values (strings) kept inside a treedef."""
    found: list[Any] = []
    stack = [treedef]
    while stack:
        d = stack.pop()
        if d is None or d[0] == "none":
            continue
        if d[0] == "static":
            found.append(d[1])
        else:
            stack.extend(d[-1])
    return found


def leaf_paths(tree: Any, root: str) -> list[str]:
    """A name for each leaf of `tree`: `root`, `root[0]`, `root['key']`, `root.field`, ..."""
    paths: list[str] = []
    _paths(tree, root, paths)
    return paths


def _paths(tree: Any, prefix: str, paths: list[str]) -> None:
    if isinstance(tree, (tuple, list)):
        for i, v in enumerate(tree):
            _paths(v, f"{prefix}[{i}]", paths)
    elif isinstance(tree, dict):
        for k, v in tree.items():
            _paths(v, f"{prefix}[{k!r}]", paths)
    elif is_leaf(tree):
        paths.append(prefix)
    elif type(tree) in _NODES:
        flatten_func, _, names = _NODES[type(tree)]
        children = list(flatten_func(tree)[0])
        suffixes = names(tree) if names is not None else [f"[{i}]" for i in range(len(children))]
        for suffix, child in zip(suffixes, children):
            _paths(child, prefix + suffix, paths)
    elif tree is not None and not isinstance(tree, str):
        paths.append(prefix)  # a number of another kind (Fraction, Decimal): one leaf


def structure_key(treedef: Any) -> Any:
    """A hashable form of a treedef (static values by value when hashable)."""
    if treedef is None:
        return None
    kind = treedef[0]
    if kind == "static":
        return ("static", type(treedef[1]), treedef[1])
    if kind == "none":
        return treedef
    if kind == "node":
        _, cls, aux, children = treedef
        try:
            hash(aux)
        except TypeError:
            raise TypeError(f"the static part (aux_data) of a `{cls.__name__}` must be hashable, as in JAX; "
                            f"got {type(aux).__name__}: {aux!r:.80}") from None
        return ("node", cls, aux, tuple(structure_key(d) for d in children))
    if kind is dict:
        return (dict, treedef[1], tuple(structure_key(d) for d in treedef[2]))
    return (kind, tuple(structure_key(d) for d in treedef[1]))
