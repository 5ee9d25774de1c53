"""Sums over rows of data as single nodes: one native loop instead of N copies of a function.

Inside a traced function, `vmap(f)` over concrete data arrays (closed over,
as in JAX) does not unroll. It returns a `RowMap`: the expression of one row,
in terms of row symbols that stand for the data. Reducing it over the rows
(`.sum()`, `.mean()`, `np.mean(...)`) gives a *row-sum node*: its value is
the sum over all rows, its operands are the outer variables the row
expression uses, and its partials are again row sums over the same data. So
the gradient of a mean loss over a million samples is a handful of row-sum
nodes, which codegen fuses into one SIMD loop that accumulates.

Each row sum has its own `Primitive` (like custom rules) holding the data,
the row symbols, the outer variables and the row expression; primitives are
cached on their dataset, so equal sums are one node, and the data lives as
long as a graph (or kernel) uses it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import primitives as P
from .diff import vjp
from .evaluate import evaluate
from .ir import Node, substitute, topological_order
from .primitives import const, const_p, is_const, symbol_p
from .primitives.registry import Primitive
from .trace import TracedArray, apply, node_array

# Beyond this many rows, unrolling a map (for an operation other than a reduction) is refused.
UNROLL_LIMIT = 10_000


class Dataset:
    """Data arrays of N rows and the symbols that stand for one row of each."""

    def __init__(self, columns: list[tuple[np.ndarray, np.ndarray]], n: int):
        # Each entry: (data of shape (n, k), row symbols of shape (k,)). Kept alive here:
        # compiled kernels read the arrays in place.
        self.columns = columns
        self.n = n
        # Row-sum primitives over this data, by (expression, variables): equal sums are one node.
        # Kept here, not in a global table, so that they and the data go when the dataset goes.
        self.primitives: dict[tuple, Primitive] = {}

    def extended(self, data: np.ndarray, symbols: np.ndarray) -> Dataset:
        return Dataset(self.columns + [(data, symbols)], self.n)


@dataclass(frozen=True, eq=False)
class RowSum:
    """The LLVM lowering facet of a row sum: codegen emits a loop for it."""

    dataset: Dataset
    variables: tuple[Node, ...]
    expression: Node


_names = itertools.count()


def row_sum(dataset: Dataset, expression: Node, variables: tuple[Node, ...] | None = None) -> Node:
    """The node of `sum over rows of expression`.

    Its operands are `variables`, the outer symbols the expression may use
    (found by a traversal when not given).
    """
    if expression.op is const_p:
        return const(expression.param * dataset.n)
    if variables is None:
        row_symbols = {s for _, symbols in dataset.columns for s in symbols.flat}
        variables = tuple(sorted((n for n in topological_order([expression])
                                  if n.op is symbol_p and n not in row_symbols), key=lambda n: n.id))
    key = (expression, variables)
    prim = dataset.primitives.get(key)
    if prim is None:
        prim = dataset.primitives[key] = _row_sum_primitive(dataset, variables, expression)
    return prim.bind(*variables) if variables else _constant_sum(dataset, expression)


def _constant_sum(dataset: Dataset, expression: Node) -> Node:
    # No outer variable: the sum is a number, evaluated now.
    return const(float(np.sum(_evaluate_rows(dataset, expression, {}))))


def _evaluate_rows(dataset: Dataset, expression: Node, values: dict) -> np.ndarray:
    batched = any(np.ndim(v) > 0 for v in values.values())
    for data, symbols in dataset.columns:
        for j, s in enumerate(symbols.flat):
            column = data[:, j]
            values[s] = column[:, None] if batched else column
    return evaluate([expression], values)[0]


def _row_sum_primitive(dataset: Dataset, variables: tuple[Node, ...], expression: Node) -> Primitive:
    def impl(*operands):
        rows = _evaluate_rows(dataset, expression, dict(zip(variables, operands)))
        return np.sum(rows, axis=0)

    def partials(*operands: Node) -> tuple:
        mapping = {v: o for v, o in zip(variables, operands) if v is not o}
        derivatives = substitute(vjp([expression], [1.0], list(variables)), mapping)
        # Unsubstituted, a derivative uses no outer symbol but these: skip the search.
        known = None if mapping else variables
        return tuple(None if is_const(d, 0.0) else row_sum(dataset, d, known) for d in derivatives)

    def sympy(sp, *operands):
        from .printing import to_sympy

        i = sp.Symbol("i", integer=True)
        replace = {sp.Symbol(v.param[0]): o for v, o in zip(variables, operands)}
        for _, symbols in dataset.columns:
            for s in symbols.flat:
                # `x_i[0]` prints as the indexed `x[i, 0]`, so SymPy keeps it inside the sum.
                base, _, rest = s.param[0].partition("_i")
                indices = [int(k) for k in rest.strip("[]").split(",") if k.strip().isdigit()]
                replace[sp.Symbol(s.param[0])] = sp.IndexedBase(base)[(i, *indices)]
        body = to_sympy([expression])[0].xreplace(replace)
        return sp.Sum(body, (i, 0, dataset.n - 1))

    return Primitive(f"row_sum{next(_names)}", len(variables), impl=impl, partials=partials, sympy=sympy,
                     llvm=RowSum(dataset, variables, expression))


class RowMap:
    """`vmap(f)` over data, inside a traced function: one row's expression, reduced lazily.

    Supports reductions over the rows (`sum`, `mean`, with `axis` None or 0),
    and elementwise arithmetic with numbers, with traced values shared by all
    rows, and with arrays of one entry per row. Anything else unrolls the
    map (refused beyond `UNROLL_LIMIT` rows).
    """

    __array_priority__ = 2000

    def __init__(self, dataset: Dataset, row: TracedArray, unroll):
        self.dataset = dataset
        self.row = row
        self._unroll = unroll

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.dataset.n, *self.row.shape)

    @property
    def ndim(self) -> int:
        return 1 + self.row.ndim

    def __repr__(self) -> str:
        return f"RowMap(shape={self.shape})"

    # -- reductions --
    def sum(self, axis=None, keepdims=False):
        if keepdims or axis not in (None, 0, (0,)):
            return self.materialize().sum(axis=axis, keepdims=keepdims)
        row = self.row.sum() if axis is None else self.row
        return TracedArray(node_array((row_sum(self.dataset, node) for node in row.nodes.flat), row.shape))

    def mean(self, axis=None, keepdims=False):
        count = self.dataset.n * (self.row.size if axis is None else 1)
        return self.sum(axis, keepdims) / float(count)

    # -- elementwise --
    def _combine(self, prim, others: list[Any], reflected: bool = False) -> RowMap:
        dataset = self.dataset
        operands = []
        for other in others:
            if isinstance(other, RowMap):
                if other.dataset is not dataset:
                    return self._elementwise_unrolled(prim, others, reflected)
                operands.append(other.row)
            elif isinstance(other, np.ndarray) and other.ndim >= 1 and other.shape[0] == dataset.n \
                    and other.dtype.kind in "biuf" and not (other.ndim == 1 and dataset.n == 1):
                # One entry per row: more data.
                data = np.ascontiguousarray(other, dtype=np.float64).reshape(dataset.n, -1)
                from .trace import fresh_tag, symbol_array

                symbols = symbol_array(f"_row{len(dataset.columns)}", (data.shape[1],), fresh_tag())
                dataset = dataset.extended(data, symbols)
                operands.append(TracedArray(symbols.reshape(other.shape[1:])))
            else:
                operands.append(other)
        args = [*operands[::-1], self.row] if reflected else [self.row, *operands]
        return RowMap(dataset, apply(prim, *args), self._unroll)

    def _elementwise_unrolled(self, prim, others, reflected):
        return apply(prim, *([*others, self.materialize()] if reflected else [self.materialize(), *others]))

    def materialize(self) -> TracedArray:
        """The map unrolled: one copy of the row expression per row."""
        if self.dataset.n > UNROLL_LIMIT:
            raise TypeError(
                f"this use of a `vmap` over {self.dataset.n} rows of data inside a traced function "
                "would unroll it into one copy per row; reduce it first (`.sum()`, `.mean()`), "
                "which compiles to one native loop, or call `vmap` outside the traced function"
            )
        return self._unroll()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .trace import _UFUNC_PRIMITIVES

        prim = _UFUNC_PRIMITIVES.get(ufunc.__name__)
        if method == "__call__" and prim is not None and not kwargs:
            position = next(i for i, x in enumerate(inputs) if x is self)
            others = [x for x in inputs if x is not self]
            if position == 0:
                return self._combine(prim, others)
            return self._combine(prim, others, reflected=True)
        materialized = [self.materialize() if x is self else x for x in inputs]
        return getattr(ufunc, method)(*materialized, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.sum, np.mean) and args and args[0] is self:
            return getattr(self, func.__name__)(*args[1:], **kwargs)
        materialized = [self.materialize() if x is self else x for x in args]
        return func(*materialized, **kwargs)

    def __getattr__(self, name: str):
        # Any other array method works on the unrolled map.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.materialize(), name)


def _binary(name: str, reflected: bool = False):
    prim = {"add": P.add_p, "sub": P.sub_p, "mul": P.mul_p, "div": P.div_p, "pow": P.pow_p}[name]
    return lambda self, other: self._combine(prim, [other], reflected)


for _op, _name in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")]:
    setattr(RowMap, f"__{_op}__", _binary(_name))
    setattr(RowMap, f"__r{_op}__", _binary(_name, reflected=True))
RowMap.__neg__ = lambda self: RowMap(self.dataset, -self.row, self._unroll)
RowMap.__getitem__ = lambda self, index: self.materialize()[index]
