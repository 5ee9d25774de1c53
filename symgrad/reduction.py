"""Sums over rows of data as single nodes: one native loop instead of N copies of a function.

Inside a traced function, `vmap(f)` over concrete data arrays (closed over,
as in JAX) returns a `RowMap`: the expression of one row, in terms of row
symbols that stand for the data. Reducing it over the rows (`.sum()`,
`.mean()`, `np.mean(...)`) gives *row-sum nodes*, one per element of the
row expression expanded into scalars: its value is the sum over all rows,
its operands are the outer scalars the row expression uses (elements of
the outer array graph), and its partials are again row sums over the same
data. So the gradient of a mean loss over a million samples is a handful
of row-sum nodes, which codegen fuses into one SIMD loop that accumulates.
Any other use of the map batches it as array code over the data
(`vmap`'s batching rule).

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
from . import trace
from .diff import vjp
from .evaluate import evaluate
from .ir import Node, substitute, topological_order
from .primitives import const, const_p, is_const, pack, symbol, symbol_p
from .primitives.registry import Primitive
from .scalarize import scalarize, symbol_elements
from .trace import TracedArray, apply


class Dataset:
    """Data arrays of N rows and the symbols that stand for one row of each."""

    def __init__(self, columns: list[tuple[np.ndarray, np.ndarray]], n: int, rows: frozenset[Node] = frozenset()):
        # Each entry: (data of shape (n, k), scalar row symbols of shape (k,)). Kept alive here:
        # compiled kernels read the arrays in place. `rows` are the array symbols of one row.
        self.columns = columns
        self.n = n
        self.rows = rows
        # Row-sum primitives over this data, by (expression, variables): equal sums are one node.
        # Kept here, not in a global table, so that they and the data go when the dataset goes.
        self.primitives: dict[tuple, Primitive] = {}

    def extended(self, data: np.ndarray, symbols: np.ndarray, row: Node) -> Dataset:
        return Dataset(self.columns + [(data, symbols)], self.n, self.rows | {row})

    def row_symbols(self) -> set[Node]:
        return {s for _, symbols in self.columns for s in symbols.flat}


def row_symbol(name: str, shape: tuple[int, ...], tag: int) -> tuple[Node, np.ndarray]:
    """The array symbol standing for one row of data of `shape`, and its scalar elements."""
    return symbol(name, tag, shape), symbol_elements(name, shape, tag).reshape(-1)


@dataclass(frozen=True, eq=False)
class RowSum:
    """The LLVM lowering facet of a row sum: codegen emits a loop for it."""

    dataset: Dataset
    variables: tuple[Node, ...]
    expression: Node


_names = itertools.count()


def row_sum(dataset: Dataset, expression: Node, variables: tuple[Node, ...]) -> Node:
    """The node of `sum over rows of expression`; its operands are `variables`, the outer scalars the
    expression may use besides the row symbols."""
    if expression.op is const_p:
        return const(expression.param * dataset.n)
    variables = tuple(dict.fromkeys(variables))
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
        return tuple(None if is_const(d, 0.0) else row_sum(dataset, d, operands) for d in derivatives)

    def sympy(sp, *operands):
        from .printing import _ToSympy

        i = sp.Symbol("i", integer=True)
        replace = {}
        for _, symbols in dataset.columns:
            for s in symbols.flat:
                # `x_i[0]` prints as the indexed `x[i, 0]`, so SymPy keeps it inside the sum.
                base, _, rest = s.param[0].partition("_i")
                indices = [int(k) for k in rest.strip("[]").split(",") if k.strip().isdigit()]
                replace[sp.Symbol(s.param[0])] = sp.IndexedBase(base)[(i, *indices)]
        body = _ToSympy(dict(zip(variables, operands))).convert([expression])[0].xreplace(replace)
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
        if _large(row.node):
            # A large row expression (a network per sample): array code over all rows, then a sum.
            return self.materialize().sum(axis=axis)
        elements, variables = _row_scalars(row.node, self.dataset)
        sums = []
        for e in elements.flat:
            uses = set(topological_order([e]))
            sums.append(row_sum(self.dataset, e, tuple(v for v in variables if v in uses)))
        return TracedArray(pack(sums, row.shape))

    def mean(self, axis=None, keepdims=False):
        count = self.dataset.n * (self.row.size if axis is None else 1)
        return self.sum(axis, keepdims) / float(count)

    # -- elementwise --
    def _combine(self, prim, others: list[Any], reflected: bool = False) -> RowMap:
        """`prim` of this map and `others` as NumPy broadcasts them (trailing axes aligned), row by
        row where the rows line up: a map whose row is `prim` of the rows, and whose unrolled form is
        `prim` of the unrolled operands, so that both say the same. Otherwise the map is unrolled."""
        dataset = self.dataset
        operands = []  # what each operand is in one row
        for other in others:
            rank = np.ndim(other)
            if isinstance(other, RowMap):
                if other.dataset is not dataset or rank != self.ndim:
                    return self._elementwise_unrolled(prim, others, reflected)
                operands.append(other.row)
            elif isinstance(other, np.ndarray) and rank == self.ndim and other.shape[0] == dataset.n \
                    and other.dtype.kind in "biuf":
                # One entry per row, its axes lined up with the map's: more data.
                from .trace import fresh_tag

                data = np.ascontiguousarray(other, dtype=np.float64).reshape(dataset.n, -1)
                node, elements = row_symbol(f"_row{len(dataset.columns)}", other.shape[1:], fresh_tag())
                dataset = dataset.extended(data, elements, node)
                operands.append(TracedArray(node))
            elif rank <= self.row.ndim:  # the same for every row (its axes line up with a row's)
                operands.append(other)
            else:
                return self._elementwise_unrolled(prim, others, reflected)

        def unroll() -> TracedArray:
            unrolled = [o.materialize() if isinstance(o, RowMap) else o for o in others]
            return apply(prim, *_in_order(self.materialize(), unrolled, reflected))

        return RowMap(dataset, apply(prim, *_in_order(self.row, operands, reflected)), unroll)

    def _elementwise_unrolled(self, prim, others, reflected):
        others = [o.materialize() if isinstance(o, RowMap) else o for o in others]
        return apply(prim, *_in_order(self.materialize(), others, reflected))

    def materialize(self) -> TracedArray:
        """The map as array code over all rows (the batching rule of `vmap`)."""
        return self._unroll()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .numpy_api import _UFUNC_PRIMITIVES

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
RowMap.__neg__ = lambda self: self._combine(P.neg_p, [])
trace.DEFER_TO.add(RowMap)


def _in_order(first: Any, others: list[Any], reflected: bool) -> list[Any]:
    """The operands of a binary primitive: `first` on the left, or on the right when `reflected`."""
    return [*others[::-1], first] if reflected else [first, *others]


def _large(row: Node) -> bool:
    from .lowering import SCALAR_BUDGET
    from .scalarize import scalar_size

    return scalar_size([row], limit=SCALAR_BUDGET) > SCALAR_BUDGET


def _row_scalars(row: Node, dataset: Dataset) -> tuple[np.ndarray, list[Node]]:
    """The row expression expanded into scalars, and the outer scalars it uses (in the order of the
    row's graph, never of a hash, so that the code and its cache key are the same in every process).

    Nodes that do not depend on the row symbols belong to the outer graph:
    they are not expanded but referred to by their elements.
    """
    row_arrays = dataset.rows
    depends: set[Node] = set()
    outer: set[Node] = set()
    order = topological_order([row])
    for node in order:
        if node in row_arrays or any(a in depends for a in node.args):
            depends.add(node)
        elif node.args or node.op is symbol_p:
            outer.add(node)
    # Only the outermost outer nodes are needed (those used by a row node, or the row itself).
    used = {a for n in depends for a in n.args if a in outer} | ({row} & outer)
    (elements,) = scalarize([row], used)
    variables = list(dict.fromkeys(e for u in order if u in used for e in _element_nodes(u)))
    return elements, variables


def _element_nodes(node: Node) -> list[Node]:
    from .scalarize import _elements

    return list(_elements(node).flat)
RowMap.__getitem__ = lambda self, index: self.materialize()[index]
