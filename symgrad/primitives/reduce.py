"""Reductions, contraction and array leaves.

- `reduce_sum` (linear: its transpose is a broadcast), `reduce_max` and
  `reduce_min` (the derivative goes to the elements equal to the result,
  split evenly among ties, as in JAX; expanded into scalars they become
  pairwise `maximum`/`minimum`, whose ties split pairwise).
- `dot_general`: one contraction for matmul, tensordot, inner, outer,
  batched matmul and einsum, written with einsum labels (`"ij,jk->ik"`).
  It is bilinear: the derivative along each operand is a contraction of
  the cotangent with the other operand, again a `dot_general`.
- Leaves: `array_const` (data closed over by a traced function, named) and
  `basis` (the one-hot tangents of a Jacobian, whose zeros are structural).
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..ir import Node
from . import elementwise as E
from .layout import _make, broadcast_in_dim, broadcast_in_dim_p, reshape, transpose
from .registry import ZERO, Primitive, const, is_structural_zero, object_ufunc

# ----- Reductions -----


def _normalize_axes(x: Node, axes: Sequence[int]) -> tuple[int, ...]:
    out = set()
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of shape {x.shape}")
        out.add(a % x.ndim)
    return tuple(sorted(out))


def _kept(x: Node, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a for a in range(x.ndim) if a not in axes)


def reduce_sum(x: Node, axes: Sequence[int]) -> Node:
    """The sum of `x` over `axes` (which disappear from the shape)."""
    axes = _normalize_axes(x, axes)
    if not axes:
        return x
    kept = _kept(x, axes)
    shape = tuple(x.shape[a] for a in kept)
    if all(x.shape[a] == 1 for a in axes):
        return reshape(x, shape)
    if x.op is broadcast_in_dim_p:
        summed = _sum_of_broadcast(x, axes, kept, shape)
        if summed is not None:
            return summed
    return _make(reduce_sum_p, (x,), axes, shape)


def _sum_of_broadcast(x: Node, axes: tuple[int, ...], kept: tuple[int, ...], shape) -> Node | None:
    # Summing copies: sum(broadcast(y)) over axes that only repeat y is count * broadcast(y).
    y = x.args[0]
    _, dims = x.param
    repeated = {d for n, d in zip(y.shape, dims) if n == 1} | {a for a in range(x.ndim) if a not in dims}
    if not set(axes) <= repeated:
        return None
    count = math.prod(x.shape[a] for a in axes)
    keep_y = [j for j, d in enumerate(dims) if d not in axes]
    y = reshape(y, [y.shape[j] for j in keep_y])
    result = broadcast_in_dim(y, shape, [kept.index(dims[j]) for j in keep_y])
    return E.mul(result, float(count))


def _reduce_objects(prim: Primitive, xs: np.ndarray, axes: tuple[int, ...], initial) -> np.ndarray:
    ufunc = object_ufunc(prim.bind, prim.arity)
    extra = {} if initial is None else {"initial": initial}
    if len(axes) == xs.ndim:
        # Over everything: in C order, as one sum `x[0] + x[1] + ...`.
        return np.asarray(ufunc.reduce(xs.reshape(-1), axis=0, **extra), dtype=object)
    for axis in reversed(axes):
        xs = ufunc.reduce(xs, axis=axis, **extra)
    return np.asarray(xs, dtype=object)


reduce_sum_p = Primitive(
    "reduce_sum", 1,
    build=lambda axes, x: reduce_sum(x, axes),
    impl=lambda node, x: np.sum(x, axis=node.param),
    jvp=lambda node, ts: None if ts[0] is None else reduce_sum(ts[0], node.param),
    vjp=lambda ct, node, i: broadcast_in_dim(ct, node.args[0].shape, _kept(node.args[0], node.param)),
    scalarize=lambda node, x: _reduce_objects(E.add_p, x, node.param, const(0.0)),
    batch=lambda node, args, batched: reduce_sum(args[0], [a + 1 for a in node.param]),
)


def _chooser(name: str, ufunc: np.ufunc, elementwise: Primitive):
    """reduce_max or reduce_min: the derivative flows to the elements equal to the result, split evenly."""

    def build(x: Node, axes: Sequence[int]) -> Node:
        axes = _normalize_axes(x, axes)
        if not axes:
            return x
        kept = _kept(x, axes)
        shape = tuple(x.shape[a] for a in kept)
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"zero-size array to reduction operation `{name}` has no identity")
        if all(x.shape[a] == 1 for a in axes):
            return reshape(x, shape)
        return _make(prim, (x,), axes, shape)

    def indicators(node: Node) -> tuple[Node, Node]:
        x, axes = node.args[0], node.param
        chosen = E.equal(x, broadcast_in_dim(node, x.shape, _kept(x, axes)))
        return chosen, reduce_sum(chosen, axes)

    def jvp(node: Node, ts) -> Node | None:
        if ts[0] is None:
            return None
        chosen, count = indicators(node)
        return E.div(reduce_sum(E.mul(ts[0], chosen), node.param), count)

    def vjp(ct: Node, node: Node, i: int) -> Node:
        x = node.args[0]
        chosen, count = indicators(node)
        return E.mul(broadcast_in_dim(E.div(ct, count), x.shape, _kept(x, node.param)), chosen)

    prim = Primitive(
        name, 1,
        build=lambda axes, x: build(x, axes),
        impl=lambda node, x: ufunc.reduce(x, axis=node.param),
        jvp=jvp, vjp=vjp,
        scalarize=lambda node, x: _reduce_objects(elementwise, x, node.param, None),
        batch=lambda node, args, batched: build(args[0], [a + 1 for a in node.param]),
    )
    return prim, build


reduce_max_p, reduce_max = _chooser("reduce_max", np.maximum, E.maximum_p)
reduce_min_p, reduce_min = _chooser("reduce_min", np.minimum, E.minimum_p)

# ----- Contraction -----

LABELS = string.ascii_letters


@dataclass(frozen=True)
class ContractionAxes:
    """The labels of a contraction `xl,yl->ol` by role, in output order (contracted ones in `xl`'s),
    and the size of each label."""

    batch: list[str]
    rows: list[str]
    columns: list[str]
    contracted: list[str]
    size: dict[str, int]

    def count(self, labels: Sequence[str]) -> int:
        """The number of elements along `labels`."""
        return math.prod(self.size[c] for c in labels)


def contraction_axes(node: Node) -> ContractionAxes:
    """The roles of the labels of the `dot_general` node `node`."""
    x, y = node.args
    xl, yl, ol = node.param
    return ContractionAxes(
        batch=[c for c in ol if c in xl and c in yl],
        rows=[c for c in ol if c in xl and c not in yl],
        columns=[c for c in ol if c in yl and c not in xl],
        contracted=[c for c in xl if c in yl and c not in ol],
        size=dict(zip(xl + yl, x.shape + y.shape)),
    )


def dot_general(x: Node, y: Node, spec: str | tuple[str, str, str]) -> Node:
    """The contraction `np.einsum(spec, x, y)`.

    Each label appears at most once per operand; a label of an operand is
    in the other operand or in the output (sum over a label of one operand
    first), and every output label is in an operand. Labels in both operands
    and the output are batch axes, in both operands only contracted.
    """
    if isinstance(spec, str):
        inputs, out = spec.replace(" ", "").split("->")
        xl, yl = inputs.split(",")
        spec = (xl, yl, out)
    xl, yl, ol = spec
    sizes: dict[str, int] = {}
    for labels, shape in ((xl, x.shape), (yl, y.shape)):
        if len(labels) != len(shape) or len(set(labels)) != len(labels):
            raise ValueError(f"dot_general labels {labels!r} do not fit an operand of shape {shape}")
        for label, n in zip(labels, shape):
            if sizes.setdefault(label, n) != n:
                raise ValueError(f"dot_general: label {label!r} has sizes {sizes[label]} and {n}")
    if len(set(ol)) != len(ol) or set(ol) - set(xl + yl) or (set(xl) ^ set(yl)) - set(ol):
        raise ValueError(f"dot_general: bad labels {xl},{yl}->{ol}")
    shape = tuple(sizes[c] for c in ol)
    simpler = _simpler_contraction(x, y, (xl, yl, ol), shape)
    if simpler is not None:
        return simpler
    return _make(dot_general_p, (x, y), (xl, yl, ol), shape)


def _simpler_contraction(x: Node, y: Node, spec, shape) -> Node | None:
    # A structural zero absorbs, and a contraction with the identity (a Jacobian basis) is a
    # transpose. (Scalar factors are not moved out: the scaled operand is often shared with other
    # derivatives; array formulas show them in front, see `symgrad.arrayform`.)
    xl, yl, ol = spec
    for operand in (x, y):
        if operand.op is broadcast_in_dim_p and is_structural_zero(operand.args[0]):
            return broadcast_in_dim(operand.args[0], shape, ())
    for identity, other, il, otl in ((x, y, xl, yl), (y, x, yl, xl)):
        if identity.op is basis_p and identity.ndim == 2:
            a, b = il
            for kept, summed in ((a, b), (b, a)):
                if summed in otl and summed not in ol and kept not in otl:
                    # other with its label `summed` renamed `kept`, in the output's order.
                    labels = otl.replace(summed, kept)
                    if set(labels) == set(ol):
                        return transpose(other, [labels.index(c) for c in ol])
    return None


def _dot_jvp(node: Node, ts) -> Node | None:
    x, y = node.args
    terms = []
    if ts[0] is not None:
        terms.append(dot_general(ts[0], y, node.param))
    if ts[1] is not None:
        terms.append(dot_general(x, ts[1], node.param))
    return functools.reduce(E.add, terms) if terms else None


def _dot_vjp(ct: Node, node: Node, i: int) -> Node:
    x, y = node.args
    xl, yl, ol = node.param
    if i == 0:
        return dot_general(ct, y, (ol, yl, xl))
    return dot_general(x, ct, (xl, ol, yl))


def _dot_objects(node: Node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # As (batch, rows, k) @ (batch, k, columns) on object arrays: NumPy's object
    # matmul sums the products in order, like a loop written by hand.
    xl, yl, ol = node.param
    axes = contraction_axes(node)
    batch, contracted, rows, columns, n = axes.batch, axes.contracted, axes.rows, axes.columns, axes.count
    a = x.transpose([xl.index(c) for c in batch + rows + contracted]).reshape(n(batch), n(rows), n(contracted))
    b = y.transpose([yl.index(c) for c in batch + contracted + columns]).reshape(n(batch), n(contracted),
                                                                                 n(columns))
    if n(contracted) == 0:
        product = np.empty((n(batch), n(rows), n(columns)), dtype=object)
        product.fill(const(0.0))
    else:
        product = np.matmul(a, b)
    order = batch + rows + columns
    product = product.reshape([axes.size[c] for c in order])
    return product.transpose([order.index(c) for c in ol])


def _dot_batch(node: Node, args, batched) -> Node:
    xl, yl, ol = node.param
    label = next(c for c in LABELS if c not in xl + yl + ol)
    return dot_general(args[0], args[1], (label * batched[0] + xl, label * batched[1] + yl, label + ol))


dot_general_p = Primitive(
    "dot_general", 2,
    build=lambda spec, x, y: dot_general(x, y, spec),
    impl=lambda node, x, y: np.einsum("{},{}->{}".format(*node.param), x, y),
    jvp=_dot_jvp, vjp=_dot_vjp, scalarize=_dot_objects, batch=_dot_batch,
)


def matmul_spec(x_ndim: int, y_ndim: int, batch: int = 0) -> tuple[str, str, str]:
    """Labels of `x @ y` for operands of these ranks (after broadcasting their batch axes)."""
    b = LABELS[:batch]
    i, k, j = "xyz"
    xl = b + (i + k if x_ndim >= 2 else k)
    yl = b + (k + j if y_ndim >= 2 else k)
    ol = b + (i if x_ndim >= 2 else "") + (j if y_ndim >= 2 else "")
    return xl, yl, ol


# ----- Leaves: named constant arrays and Jacobian bases -----


class ArrayConstant:
    """Data closed over by a traced function: a read-only float64 array and the name it goes by."""

    __slots__ = ("name", "value", "__weakref__")

    def __init__(self, name: str, value: np.ndarray):
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"ArrayConstant({self.name!r}, shape={self.value.shape})"


def array_const(value, name: str = "c") -> Node:
    """The leaf for a constant array (a scalar gives an ordinary constant); the data are copied once."""
    value = np.array(value, dtype=np.float64)
    if value.ndim == 0:
        return const(float(value))
    value.flags.writeable = False
    return Node.make(array_const_p, (), ArrayConstant(name, value), value.shape)


array_const_p = Primitive(
    "array_const", 0, impl=lambda node: node.param.value,
    scalarize=lambda node: np.asarray(object_ufunc(const, 1)(node.param.value), dtype=object),
)


def basis(shape: Sequence[int]) -> Node:
    """The one-hot arrays of `shape`, stacked: shape `(size, *shape)`, entry [k, i] = 1 where i is element k.

    The zeros are structural: expanded into scalars, a Jacobian column only
    builds its nonzero paths.
    """
    shape = tuple(shape)
    n = math.prod(shape)
    return Node.make(basis_p, (), shape, (n, *shape))


def _basis_objects(node: Node) -> np.ndarray:
    n = node.shape[0]
    out = np.empty((n, n), dtype=object)
    out.fill(ZERO)
    one = const(1.0)
    for k in range(n):
        out[k, k] = one
    return out.reshape(node.shape)


basis_p = Primitive(
    "basis", 0, impl=lambda node: np.eye(node.shape[0]).reshape(node.shape), scalarize=_basis_objects,
)

LEAVES = {p.name: p for p in (array_const_p, basis_p)}
