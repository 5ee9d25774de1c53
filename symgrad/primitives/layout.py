"""Layout primitives: operations that move, repeat or pick elements without arithmetic.

broadcast_in_dim, reshape, transpose, slice (positive steps), pad (with zeros),
concatenate, gather (constant indices along one axis), its transpose
scatter_add, and pack (an array from scalar nodes). All are linear, so each
declares its JVP as itself applied to the tangent and its VJP as its
transpose: broadcasting <-> summing, slicing <-> padding, gathering <->
scatter-adding. Builders simplify as they build (identities, compositions),
so derivative graphs stay small.

Zeros that layout introduces (padding, scatter targets, missing tangents)
are structural zeros (`ZERO`): expanded into scalars they vanish from
products and sums, as zeros never built would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import Node
from .registry import ZERO, Primitive, as_node, broadcast_shapes

# ----- Static parameters -----


class Indices:
    """A constant integer index array as a hashable node parameter (compared by content)."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        array = np.array(array, dtype=np.int64)
        array.flags.writeable = False
        self.array = array
        self._hash = hash((array.shape, array.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Indices) and self.array.shape == other.array.shape \
            and bool(np.array_equal(self.array, other.array))

    def __repr__(self) -> str:
        return f"Indices({self.array.tolist()!r:.60})"

    def __reduce__(self):
        # The hash of bytes differs between processes: computed again when unpickled.
        return (Indices, (self.array,))


def _make(prim: Primitive, args: Sequence[Node], param, shape: Sequence[int]) -> Node:
    return Node.make(prim, tuple(args), param, tuple(int(n) for n in shape))


def zeros(shape: tuple[int, ...]) -> Node:
    """A structural zero array of `shape`."""
    return broadcast_to(ZERO, shape)


def _object_zeros(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill(ZERO)
    return out


def _scalar_fill(x: Node) -> Node | None:
    """The scalar an array is a broadcast of, if it is one (moving its elements around changes nothing)."""
    if x.op is broadcast_in_dim_p and x.args[0].shape == ():
        return x.args[0]
    return None


def _linear_jvp(node: Node, tangents: Sequence[Node | None]) -> Node | None:
    # A linear operation of one operand: the same operation on the tangent.
    t = tangents[0]
    return None if t is None else node.op.build(node.param, t)


# ----- broadcast_in_dim -----


def broadcast_in_dim(x: Node, shape: Sequence[int], dims: Sequence[int]) -> Node:
    """`x` repeated to `shape`; operand axis j becomes axis `dims[j]` (increasing), size-1 axes expand."""
    shape, dims = tuple(shape), tuple(dims)
    if len(dims) != x.ndim or any(b <= a for a, b in zip(dims, dims[1:])) or \
            any(n not in (1, shape[d]) for n, d in zip(x.shape, dims)):
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape} along axes {dims}")
    if x.shape == shape:
        return x
    if x.op is broadcast_in_dim_p:
        inner, inner_dims = x.args[0], x.param[1]
        return broadcast_in_dim(inner, shape, tuple(dims[d] for d in inner_dims))
    return _make(broadcast_in_dim_p, (x,), (shape, dims), shape)


def broadcast_to(x: Node | float, shape: Sequence[int]) -> Node:
    """`x` broadcast to `shape` as NumPy does (trailing axes aligned)."""
    x = as_node(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    broadcast_shapes("broadcast_to", [x.shape, shape])
    return broadcast_in_dim(x, shape, range(len(shape) - x.ndim, len(shape)))


def _expanded(x: np.ndarray, shape: tuple[int, ...], dims: tuple[int, ...]) -> np.ndarray:
    full = [1] * len(shape)
    for n, d in zip(x.shape, dims):
        full[d] = n
    return np.broadcast_to(x.reshape(full), shape)


def _broadcast_vjp(ct: Node, node: Node, i: int) -> Node:
    x = node.args[0]
    shape, dims = node.param
    summed = sorted({a for a in range(len(shape)) if a not in dims}
                    | {d for n, d in zip(x.shape, dims) if n == 1 and shape[d] != 1})
    return reshape(reduce_sum(ct, summed), x.shape)


def _broadcast_batch(node: Node, args, batched) -> Node:
    (x,) = args
    shape, dims = node.param
    return broadcast_in_dim(x, (x.shape[0], *shape), (0, *(d + 1 for d in dims)))


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim", 1,
    build=lambda param, x: broadcast_in_dim(x, *param),
    impl=lambda node, x: _expanded(np.asarray(x), *node.param),
    jvp=_linear_jvp, vjp=_broadcast_vjp,
    scalarize=lambda node, x: _expanded(x, *node.param),
    batch=_broadcast_batch,
)

# ----- reshape and transpose -----


def reshape(x: Node, shape: Sequence[int]) -> Node:
    """`x` with the same elements in C order and a new shape."""
    shape = tuple(int(n) for n in shape)
    if math.prod(shape) != x.size:
        raise ValueError(f"cannot reshape an array of shape {x.shape} (size {x.size}) to {shape}")
    if x.shape == shape:
        return x
    if x.op is reshape_p:
        return reshape(x.args[0], shape)
    fill = _scalar_fill(x)
    if fill is not None:
        return broadcast_in_dim(fill, shape, ())
    return _make(reshape_p, (x,), shape, shape)


reshape_p = Primitive(
    "reshape", 1,
    build=lambda shape, x: reshape(x, shape),
    impl=lambda node, x: np.reshape(x, node.param),
    jvp=_linear_jvp,
    vjp=lambda ct, node, i: reshape(ct, node.args[0].shape),
    scalarize=lambda node, x: x.reshape(node.param),
    batch=lambda node, args, batched: reshape(args[0], (args[0].shape[0], *node.param)),
)


def transpose(x: Node, perm: Sequence[int]) -> Node:
    """`x` with axis `perm[i]` moved to position i."""
    perm = tuple(int(p) for p in perm)
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"{perm} is not a permutation of the axes of an array of shape {x.shape}")
    if perm == tuple(range(x.ndim)):
        return x
    fill = _scalar_fill(x)
    if fill is not None:
        return broadcast_in_dim(fill, tuple(x.shape[p] for p in perm), ())
    if x.op is transpose_p:
        inner = x.param
        return transpose(x.args[0], tuple(inner[p] for p in perm))
    return _make(transpose_p, (x,), perm, tuple(x.shape[p] for p in perm))


transpose_p = Primitive(
    "transpose", 1,
    build=lambda perm, x: transpose(x, perm),
    impl=lambda node, x: np.transpose(x, node.param),
    jvp=_linear_jvp,
    vjp=lambda ct, node, i: transpose(ct, np.argsort(node.param)),
    scalarize=lambda node, x: x.transpose(node.param),
    batch=lambda node, args, batched: transpose(args[0], (0, *(p + 1 for p in node.param))),
)

# ----- slice and pad -----


def slice_(x: Node, starts: Sequence[int], stops: Sequence[int], steps: Sequence[int] | None = None) -> Node:
    """`x[starts[0]:stops[0]:steps[0], ...]` with positive steps and bounds inside the array."""
    steps = tuple(steps) if steps is not None else (1,) * x.ndim
    starts, stops = tuple(int(s) for s in starts), tuple(int(s) for s in stops)
    if not (len(starts) == len(stops) == len(steps) == x.ndim) or any(
            not (0 <= a <= b <= n) or c < 1 for a, b, c, n in zip(starts, stops, steps, x.shape)):
        raise ValueError(f"bad slice {starts}:{stops}:{steps} of an array of shape {x.shape}")
    shape = tuple(len(range(a, b, c)) for a, b, c in zip(starts, stops, steps))
    # Normalise the stop, so that equal slices are one node.
    stops = tuple(a + (n - 1) * c + 1 if n else a for a, c, n in zip(starts, steps, shape))
    steps = tuple(c if n > 1 else 1 for c, n in zip(steps, shape))
    if shape == x.shape:
        return x
    fill = _scalar_fill(x)
    if fill is not None:
        return broadcast_in_dim(fill, shape, ())
    if x.op is slice_p:
        # x[a0::c0][a::c] is x[a0 + a*c0 :: c0*c]
        inner_starts, _, inner_steps = x.param
        starts = [s + a * c for s, a, c in zip(inner_starts, starts, inner_steps)]
        steps = [c * d for c, d in zip(inner_steps, steps)]
        stops = [a + (n - 1) * c + 1 if n else a for a, c, n in zip(starts, steps, shape)]
        return slice_(x.args[0], starts, stops, steps)
    return _make(slice_p, (x,), (starts, stops, steps), shape)


def _slice_vjp(ct: Node, node: Node, i: int) -> Node:
    x = node.args[0]
    starts, stops, steps = node.param
    if ct.size == 0:
        return zeros(x.shape)
    return pad(ct, starts, [n - b for n, b in zip(x.shape, stops)], [c - 1 for c in steps])


slice_p = Primitive(
    "slice", 1,
    build=lambda param, x: slice_(x, *param),
    impl=lambda node, x: np.asarray(x)[tuple(map(slice, *node.param))],
    jvp=_linear_jvp, vjp=_slice_vjp,
    scalarize=lambda node, x: x[tuple(map(slice, *node.param))],
    batch=lambda node, args, batched: slice_(
        args[0], (0, *node.param[0]), (args[0].shape[0], *node.param[1]), (1, *node.param[2])),
)


def pad(x: Node, lo: Sequence[int], hi: Sequence[int], interior: Sequence[int] | None = None) -> Node:
    """`x` with zeros added: `lo[a]` before, `hi[a]` after and `interior[a]` between elements on axis a."""
    interior = tuple(interior) if interior is not None else (0,) * x.ndim
    lo, hi = tuple(int(n) for n in lo), tuple(int(n) for n in hi)
    if not (len(lo) == len(hi) == len(interior) == x.ndim) or min((*lo, *hi, *interior), default=0) < 0:
        raise ValueError(f"bad padding {lo}, {hi}, {interior} of an array of shape {x.shape}")
    interior = tuple(k if n > 1 else 0 for k, n in zip(interior, x.shape))
    if not any(lo) and not any(hi) and not any(interior):
        return x
    shape = tuple(a + n + max(n - 1, 0) * k + b for a, n, k, b in zip(lo, x.shape, interior, hi))
    return _make(pad_p, (x,), (lo, hi, interior), shape)


def _pad_positions(node: Node) -> tuple[slice, ...]:
    lo, _, interior = node.param
    x = node.args[0]
    return tuple(slice(a, a + max(n - 1, 0) * (k + 1) + 1, k + 1) for a, n, k in zip(lo, x.shape, interior))


def _pad_into(base: np.ndarray, node: Node, x: np.ndarray) -> np.ndarray:
    if node.args[0].size:
        base[_pad_positions(node)] = x
    return base


def _pad_vjp(ct: Node, node: Node, i: int) -> Node | None:
    if node.args[0].size == 0:
        return None
    positions = _pad_positions(node)
    return slice_(ct, [p.start for p in positions], [p.stop for p in positions], [p.step for p in positions])


pad_p = Primitive(
    "pad", 1,
    build=lambda param, x: pad(x, *param),
    impl=lambda node, x: _pad_into(np.zeros(node.shape), node, x),
    jvp=_linear_jvp, vjp=_pad_vjp,
    scalarize=lambda node, x: _pad_into(_object_zeros(node.shape), node, x),
    batch=lambda node, args, batched: pad(args[0], (0, *node.param[0]), (0, *node.param[1]), (0, *node.param[2])),
)

# ----- concatenate -----


def concatenate(xs: Sequence[Node], axis: int) -> Node:
    """The arrays joined along `axis` (their other axes must match)."""
    xs = [x for x in xs]
    if not xs:
        raise ValueError("need at least one array to concatenate")
    ndim = xs[0].ndim
    if not 0 <= axis < ndim or any(x.ndim != ndim or x.shape[:axis] + x.shape[axis + 1:] !=
                                   xs[0].shape[:axis] + xs[0].shape[axis + 1:] for x in xs):
        raise ValueError(f"cannot concatenate arrays of shapes {[x.shape for x in xs]} along axis {axis}")
    xs = [x for x in xs if x.shape[axis]] or xs[:1]
    if len(xs) == 1:
        return xs[0]
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return _make(concatenate_p, xs, axis, shape)


def _concatenate_jvp(node: Node, tangents) -> Node | None:
    if all(t is None for t in tangents):
        return None
    return concatenate([zeros(x.shape) if t is None else t for x, t in zip(node.args, tangents)], node.param)


def _concatenate_vjp(ct: Node, node: Node, i: int) -> Node:
    axis = node.param
    start = sum(x.shape[axis] for x in node.args[:i])
    starts = [0] * ct.ndim
    stops = list(ct.shape)
    starts[axis], stops[axis] = start, start + node.args[i].shape[axis]
    return slice_(ct, starts, stops)


def _concatenate_batch(node: Node, args, batched) -> Node:
    size = next(a.shape[0] for a, b in zip(args, batched) if b)
    args = [a if b else broadcast_to(a, (size, *a.shape)) for a, b in zip(args, batched)]
    return concatenate(args, node.param + 1)


concatenate_p = Primitive(
    "concatenate", -1,
    build=lambda axis, *xs: concatenate(xs, axis),
    impl=lambda node, *xs: np.concatenate(xs, axis=node.param),
    jvp=_concatenate_jvp, vjp=_concatenate_vjp,
    scalarize=lambda node, *xs: np.concatenate(xs, axis=node.param),
    batch=_concatenate_batch,
)

# ----- gather and scatter_add -----


def gather(x: Node, indices: Indices | np.ndarray, axis: int = 0) -> Node:
    """`np.take(x, indices, axis)` with constant indices (in range, non-negative)."""
    indices = indices if isinstance(indices, Indices) else Indices(indices)
    n = x.shape[axis]
    if indices.array.size and (indices.array.min() < 0 or indices.array.max() >= n):
        raise IndexError(f"index out of range for axis {axis} of size {n}")
    if indices.array.ndim == 1 and np.array_equal(indices.array, np.arange(n)):
        return x
    shape = x.shape[:axis] + indices.array.shape + x.shape[axis + 1:]
    return _make(gather_p, (x,), (indices, axis), shape)


def scatter_add(x: Node, indices: Indices, axis: int, size: int) -> Node:
    """Zeros of length `size` on `axis`, with `x[..., p, ...]` added at `indices[p]` (the transpose of gather)."""
    k = indices.array.ndim
    shape = x.shape[:axis] + (size,) + x.shape[axis + k:]
    if indices.array.ndim == 1 and np.array_equal(indices.array, np.arange(size)):
        return x
    return _make(scatter_add_p, (x,), (indices, axis, size), shape)


def _scatter_into(base: np.ndarray, node: Node, x: np.ndarray) -> np.ndarray:
    indices, axis, _ = node.param
    k = indices.array.ndim
    moved = np.moveaxis(base, axis, 0)
    values = np.moveaxis(np.asarray(x), list(range(axis, axis + k)), list(range(k)))
    np.add.at(moved, indices.array, values)
    return base


gather_p = Primitive(
    "gather", 1,
    build=lambda param, x: gather(x, *param),
    impl=lambda node, x: np.take(x, node.param[0].array, axis=node.param[1]),
    jvp=_linear_jvp,
    vjp=lambda ct, node, i: scatter_add(ct, node.param[0], node.param[1], node.args[0].shape[node.param[1]]),
    scalarize=lambda node, x: np.take(x, node.param[0].array, axis=node.param[1]),
    batch=lambda node, args, batched: gather(args[0], node.param[0], node.param[1] + 1),
)

scatter_add_p = Primitive(
    "scatter_add", 1,
    build=lambda param, x: scatter_add(x, *param),
    impl=lambda node, x: _scatter_into(np.zeros(node.shape), node, x),
    jvp=_linear_jvp,
    vjp=lambda ct, node, i: gather(ct, node.param[0], node.param[1]),
    scalarize=lambda node, x: _scatter_into(_object_zeros(node.shape), node, x),
    batch=lambda node, args, batched: scatter_add(args[0], node.param[0], node.param[1] + 1, node.param[2]),
)


def element(x: Node, index: int) -> Node:
    """The scalar `x.flat[index]`."""
    return gather(reshape(x, (x.size,)), Indices(np.int64(index)), 0)


# ----- pack: an array of scalar nodes -----


def pack(scalars: Sequence[Node], shape: Sequence[int]) -> Node:
    """The array of `shape` holding the scalar nodes `scalars` in C order."""
    scalars, shape = tuple(scalars), tuple(shape)
    if len(scalars) != math.prod(shape) or any(s.shape != () for s in scalars):
        raise ValueError(f"pack needs {math.prod(shape)} scalar nodes for shape {shape}")
    if shape == ():
        return scalars[0]
    first = scalars[0]
    if all(s is first for s in scalars):
        return broadcast_to(first, shape)
    return _make(pack_p, scalars, shape, shape)


def _pack_batch(node: Node, args, batched) -> Node:
    size = next(a.shape[0] for a, b in zip(args, batched) if b)
    columns = [reshape(a if b else broadcast_to(a, (size,)), (size, 1)) for a, b in zip(args, batched)]
    return reshape(concatenate(columns, 1), (size, *node.shape))


def _pack_values(node: Node, *xs) -> np.ndarray:
    out = np.empty(len(xs), dtype=object)
    out[:] = [x[()] if isinstance(x, np.ndarray) else x for x in xs]
    return out.reshape(node.shape)


pack_p = Primitive(
    "pack", -1,
    build=lambda shape, *xs: pack(xs, shape),
    impl=lambda node, *xs: np.array([float(x) for x in xs]).reshape(node.shape),
    jvp=lambda node, ts: None if all(t is None for t in ts) else pack([ZERO if t is None else t for t in ts],
                                                                        node.shape),
    vjp=lambda ct, node, i: element(ct, i),
    scalarize=_pack_values,
    batch=_pack_batch,
)


from .reduce import reduce_sum  # noqa: E402  (reduce imports this module's builders)
