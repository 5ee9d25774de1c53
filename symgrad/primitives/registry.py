"""The primitive table: everything symgrad knows about an operation, in one place.

There are two families. An *elementwise* primitive (`symgrad.primitives.
elementwise`) carries its reference evaluation (`impl`, NumPy-vectorised),
its local derivatives (`partials`, written in symgrad operations so they can
be differentiated again, on scalars and arrays alike), its SymPy counterpart
(`sympy`), and its LLVM lowering (`llvm`, as data read by `symgrad.codegen`)
or a decomposition into other primitives (`decompose`); applied to arrays it
broadcasts as NumPy does. A *structural* primitive (`symgrad.primitives.
structural`: reshape, reductions, contractions, slices, ...) has static
parameters (`node.param`) and declares how to build it (`build`), its
derivative as a forward rule (`jvp`) and a reverse rule (`vjp`, the
transpose for linear ones), its expansion into scalar nodes (`scalarize`)
and its batching rule (`batch`). Backends read these facets and keep no
lists of their own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Node

REGISTRY: dict[str, Primitive] = {}


# ----- LLVM lowerings as data (interpreted by symgrad/codegen/llvm.py) -----


@dataclass(frozen=True)
class Instruction:
    """An LLVM IR instruction on doubles: `fadd`, `fsub`, `fmul`, `fdiv`, `fneg`."""

    opcode: str


@dataclass(frozen=True)
class Intrinsic:
    """An LLVM intrinsic such as `llvm.sin` (the `.f64` suffix is added)."""

    name: str


@dataclass(frozen=True)
class Libm:
    """A call to the C math library function of that name."""

    name: str


@dataclass(frozen=True)
class Compare:
    """An ordered (or, for `!=`, unordered) float comparison giving 1.0 or 0.0."""

    op: str


@dataclass(frozen=True)
class Select:
    """`where(c, a, b)`: `a` where `c` is nonzero, else `b`."""


@dataclass(frozen=True)
class Power:
    """`x ** y`, with small integer and half-integer exponents specialised."""


@dataclass(frozen=True)
class Identity:
    """The operand itself (for `stop_gradient`)."""


@dataclass(frozen=True)
class Native:
    """A call of one of SciPy's compiled special functions (`scipy.special.cython_special.<name>`, its
    `double f(double, ...)` version), by the name `symgrad_scipy_<name>`.

    Generated code names the function, never its address (`symgrad.codegen.native` gives the name its
    address in each process before code is linked); SciPy is needed to compile such code, not to trace,
    differentiate or print it.
    """

    name: str


Lowering = Instruction | Intrinsic | Libm | Compare | Select | Power | Identity | Native


class NoDerivative:
    """A partial that is not available (the order of a Bessel function, a shape parameter): `partials` may
    return one for an operand; differentiating along that operand then raises `UnsupportedPrimitiveError`
    with this message, as JAX does, while derivatives along the other operands work."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def error(self, node: Node) -> Exception:
        from ..errors import UnsupportedPrimitiveError

        return UnsupportedPrimitiveError(f"`{node.op.name}`: {self.message}")


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation of the IR and all its facets.

    Attributes:
        name: the NumPy-style name (`sin`, `arctan2`); also the name of the
            method installed on `Node` so NumPy object-array ufuncs find it.
        arity: number of operands.
        impl: reference semantics on NumPy arrays (interpreter, folding, tests).
        partials: operands -> one local derivative per operand (a node, a
            number, or None for a structural zero).
        sympy: SymPy function name, or a callable building the SymPy form.
        llvm: a lowering (see `Lowering`), or None if `decompose` is given.
        decompose: operands -> an equivalent node built from other primitives.
        simplify: operands -> a simpler node, or None (construction-time rules).
        commutative: operands are put in a canonical order when building.
        boolean: the value is always 1.0 or 0.0 (comparisons).
        ufunc: the NumPy ufunc that means this primitive (`np.subtract` for
            `sub`); tracing dispatches `__array_ufunc__` through it.

    Structural primitives (those with `build`) use instead:
        build: (param, *operands) -> node, with the simplifications of the
            primitive (a reshape to the same shape is its operand).
        impl: (node, *operand values) -> value (NumPy).
        jvp: (node, tangents) -> the output tangent, tangents being one node
            or None (zero) per operand; None for a zero result.
        vjp: (ct, node, i) -> the cotangent of operand i, or None.
        scalarize: (node, *operand object arrays) -> object array of scalar
            nodes (see `symgrad.scalarize`).
        batch: (node, operands, batched) -> node: the operation on operands
            some of which (`batched[i]`) carry a new leading batch axis.
    """

    name: str
    arity: int
    impl: Callable[..., Any] | None = None
    partials: Callable[..., tuple] | None = None
    sympy: str | Callable[..., Any] | None = None
    llvm: Lowering | None = None
    decompose: Callable[..., Node] | None = None
    simplify: Callable[..., Node | None] | None = None
    commutative: bool = False
    boolean: bool = False
    ufunc: str | None = None
    build: Callable[..., Node] | None = None
    jvp: Callable[..., Node | None] | None = None
    vjp: Callable[..., Node | None] | None = None
    scalarize: Callable[..., Any] | None = None
    batch: Callable[..., Node] | None = None

    def __str__(self) -> str:
        return self.name

    @property
    def structural(self) -> bool:
        return self.build is not None

    def bind(self, *operands: Any) -> Node:
        """Build `self(*operands)` elementwise with broadcasting, folding constants and applying `simplify`."""
        if len(operands) != self.arity:
            raise TypeError(f"`{self.name}` takes {self.arity} operands, got {len(operands)}")
        args = operands if all(type(x) is Node for x in operands) else tuple(map(as_node, operands))
        shape = args[0].shape
        if any(a.shape != shape for a in args):
            shape = broadcast_shapes(self.name, [a.shape for a in args])
        if shape and any(a.op.name == "broadcast_in_dim" for a in args):
            args = _implicit_broadcasts(args, shape)
            fills = [_fill_value(a) for a in args]
            if self.impl is not None and None not in fills and not any(type(v) is StructuralZero for v in fills):
                # Arrays filled with one constant: one constant, filled.
                from .layout import broadcast_to

                with np.errstate(all="ignore"):
                    return broadcast_to(const(self.impl(*fills)), shape)
        if self.impl is not None and all(a.op is const_p for a in args) and not (
                self.simplify is not None and any(type(a.param) is StructuralZero for a in args)):
            with np.errstate(all="ignore"):
                return const(self.impl(*(a.param for a in args)))
        if self.simplify is not None:
            simpler = self.simplify(*args)
            if simpler is not None:
                if simpler.shape != shape:
                    from .layout import broadcast_to

                    simpler = broadcast_to(simpler, shape)
                return simpler
        if self.impl is not None and all(a.op is const_p for a in args):
            with np.errstate(all="ignore"):
                return const(self.impl(*(a.param for a in args)))
        if self.commutative and _canonical(args[1]) < _canonical(args[0]):
            args = (args[1], args[0])
        return Node.make(self, args, None, shape)

    def rebind(self, node: Node, args: tuple[Node, ...]) -> Node:
        """`node`'s operation applied to new operands (its param kept), simplified as when built."""
        if self.build is not None:
            return self.build(node.param, *args)
        return self.bind(*args)


def _fill_value(node: Node) -> float | None:
    """The constant an array is filled with (a constant, or a broadcast of one), else None."""
    if node.op is const_p:
        return node.param
    if node.op.name == "broadcast_in_dim" and node.args[0].op is const_p:
        return node.args[0].param
    return None


def _implicit_broadcasts(args: tuple[Node, ...], shape: tuple[int, ...]) -> tuple[Node, ...]:
    """Operands with explicit broadcasts that NumPy's implicit broadcasting does anyway removed.

    `mul(broadcast(c), z)` is `mul(c, z)` when z has the full shape: so a
    scalar factor stays a scalar, folds with others and prints as `c*z`.
    """
    out = list(args)
    for k, a in enumerate(args):
        if a.op.name == "broadcast_in_dim" and a.shape == shape:
            inner = a.args[0]
            if a.param[1] == tuple(range(len(shape) - inner.ndim, len(shape))):
                trial = [*out[:k], inner, *out[k + 1:]]
                if tuple(np.broadcast_shapes(*(t.shape for t in trial))) == shape:
                    out = trial
    return tuple(out)


@functools.cache
def object_ufunc(builder: Callable[..., Node], arity: int) -> np.ufunc:
    """A NumPy ufunc applying `builder` to object arrays of nodes, with broadcasting."""
    return np.frompyfunc(builder, arity, 1)


def broadcast_shapes(name: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape NumPy broadcasting gives operands of `shapes`, or a ValueError naming the operation."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"`{name}`: operands of shapes {', '.join(map(str, shapes))} do not broadcast together"
        ) from None


def _canonical(node: Node) -> tuple[bool, int]:
    # Operands of a commutative primitive: constants first, then in order of creation.
    return (node.op is not const_p, node.id)


def defprimitive(name: str, arity: int, **facets: Any) -> Primitive:
    """Declare a primitive and enter it in `REGISTRY`."""
    if name in REGISTRY:
        raise ValueError(f"primitive `{name}` is declared twice")
    prim = Primitive(name, arity, **facets)
    REGISTRY[name] = prim
    return prim


# ----- Leaves -----

const_p = Primitive("const", 0, sympy="Float")
symbol_p = Primitive("symbol", 0, sympy="Symbol")


class StructuralZero(float):
    """The value 0.0 of a derivative that is zero by structure, not by arithmetic.

    `x * 0.0` is not folded (it is NaN for an infinite `x`), but a product
    with a structural zero is that zero: a one-hot tangent of a Jacobian
    column, expanded into scalars, then only builds the nonzero paths (as
    if the zero entries were never built, which they would not be if each
    column were differentiated on its own).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "StructuralZero()"

    def __reduce__(self):
        return (StructuralZero, ())


def const(value: float) -> Node:
    """The constant node of a float value."""
    return Node.make(const_p, (), float(value))


ZERO = Node.make(const_p, (), StructuralZero(0.0))


def is_structural_zero(node: Node) -> bool:
    return node.op is const_p and type(node.param) is StructuralZero


def symbol(name: str, tag: int = 0, shape: tuple[int, ...] = ()) -> Node:
    """The symbol `name` of `shape`; symbols with different tags are different variables."""
    return Node.make(symbol_p, (), (name, tag), tuple(shape))


def const_value(node: Node) -> float:
    """The float of a constant node."""
    return node.param


def as_node(x: Any) -> Node:
    """A node for a node or a real number; a TypeError for anything else."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (bool, int, float, np.integer, np.floating, np.bool_)):
        return const(float(x))
    raise TypeError(
        f"expected a number or a symgrad expression, got {type(x).__name__}: {x!r:.80}"
    )


def is_const(node: Node, value: float | None = None) -> bool:
    """Whether `node` is a constant (equal to `value`, when given)."""
    if node.op is not const_p:
        return False
    return value is None or const_value(node) == value


def is_integer_const(node: Node) -> bool:
    if node.op is not const_p:
        return False
    v = const_value(node)
    return math.isfinite(v) and v == int(v)
