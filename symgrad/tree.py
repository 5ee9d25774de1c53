"""Pytrees: nested tuples, lists and dicts whose leaves are numbers and arrays.

`flatten` gives the leaves in a fixed order and a `treedef` that rebuilds
the same structure with new leaves. Objects that are neither containers nor
numbers/arrays (strings, None, ...) are kept inside the treedef as static
values, so they pass through a transformed function unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ir import Node

_NUMBER = (bool, int, float, complex, np.number, np.bool_)


_LEAF_TYPES: tuple[type, ...] = ()


def is_leaf(x: Any) -> bool:
    global _LEAF_TYPES
    if not _LEAF_TYPES:
        from .trace import TracedArray  # trace imports this module

        _LEAF_TYPES = (TracedArray, Node, np.ndarray, *_NUMBER)
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
    return ("static", tree)


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
    if kind is dict:
        return {k: _unflatten(d, leaves) for k, d in zip(treedef[1], treedef[2])}
    values = [_unflatten(d, leaves) for d in treedef[1]]
    return kind(values) if kind is list else tuple(values) if kind is tuple else kind(*values)


def leaf_paths(tree: Any, root: str) -> list[str]:
    """A name for each leaf of `tree`: `root`, `root[0]`, `root['key']`, ..."""
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


def structure_key(treedef: Any) -> Any:
    """A hashable form of a treedef (static values by value when hashable)."""
    if treedef is None:
        return None
    if treedef[0] == "static":
        value = treedef[1]
        try:
            hash(value)
            return ("static", type(value), value)
        except TypeError:
            return ("static", id(value))
    if treedef[0] is dict:
        return (dict, treedef[1], tuple(structure_key(d) for d in treedef[2]))
    return (treedef[0], tuple(structure_key(d) for d in treedef[1]))
