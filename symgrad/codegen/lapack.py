"""Linear algebra in the loop lowering: LAPACK calls on contiguous copies (planned and emitted here).

A linear algebra node (`symgrad.primitives.linalg`) becomes, in the plan:
copy loops that put its operands into contiguous temporaries in the layout
the routine wants (LAPACK is column-major: a row-major buffer is read as the
transpose, so A is copied transposed where that matters), one `LapackCall`
step, and copy loops from the routine's outputs into the node's packed
array. The call step is a function of its own that loops over the matrices
of the stack and calls the routine NumPy's own LAPACK provides
(`contract.blas.routine`, 64-bit integers in NumPy's bundled OpenBLAS),
with its workspace in temporaries of the plan; a failure (`info != 0`: not
positive definite, singular, no convergence, or a complex eigenvalue for
`eig`) fills that matrix's results with NaN.

Routines are called by the names `contract.blas` gives them (`Routine.symbol`;
the loop kernel has the engine give each its address before linking:
`symbols`), never by address.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from llvmlite import ir

from ..ir import Node
from ..primitives import const, symbol
from .contract import blas
from .steps import Buffer, Loop, View, whole

DOUBLE = ir.DoubleType()
I64 = ir.IntType(64)
I8 = ir.IntType(8)

# The routines each primitive calls.
ROUTINES = {
    "cholesky": ("dpotrf",), "triangular_solve": ("dtrsm",), "solve": ("dgesv",), "slogdet": ("dgetrf",),
    "eigh": ("dsyevd",), "svd": ("dgesdd",), "eig": ("dgeev",),
}


@dataclass
class LapackCall:
    """One routine called on each matrix of a stack: `batch` matrices, each buffer holding `per[name]`
    doubles per matrix (contiguous), sizes in `sizes`."""

    kind: str
    batch: int
    buffers: dict[str, Buffer]
    per: dict[str, int]
    sizes: dict[str, int] = field(default_factory=dict)
    flags: tuple = ()


def routine(name: str) -> blas.Routine:
    found = blas.routine(name)
    if found is None:
        from ..errors import UnsupportedPrimitiveError

        raise UnsupportedPrimitiveError(
            f"no LAPACK routine `{name}` found in this process (NumPy's bundled OpenBLAS provides it; "
            "so does SciPy): linear algebra cannot be compiled here")
    return found


def symbols(nodes: Iterable[Node]) -> dict[str, int]:
    """`symbol -> address` of the LAPACK routines the loop code of `nodes` calls."""
    found = {}
    for node in nodes:
        for name in ROUTINES.get(node.op.name, ()) if node.op.structural else ():
            r = routine(name)
            found[r.symbol] = r.address
    return found


# ----- planning -----


def _temp(planner, shape) -> Buffer:
    buffer = planner._new("temp", tuple(int(n) for n in shape))
    planner.temps.append(buffer)
    return buffer


def _copy(planner, source: View, target: View, space) -> None:
    leaf = symbol(f"_lapack_copy{len(planner.steps)}", -4, tuple(space))
    planner.steps.append(Loop(tuple(space), leaf, {leaf: source}, target))


def _contiguous(planner, x: Node, transposed: bool = False) -> Buffer:
    """A temporary holding `x` in C order (its last two axes swapped when `transposed`)."""
    shape = x.shape if not transposed else (*x.shape[:-2], x.shape[-1], x.shape[-2])
    buffer = _temp(planner, shape)
    view = planner._plain_view(x)
    if transposed:
        view = view.permuted((*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))
    if view.buffer is None:
        planner.steps.append(Loop(tuple(shape), const(view.value), {}, whole(buffer)))
    else:
        _copy(planner, view, whole(buffer), shape)
    return buffer


def _swap(view: View) -> View:
    n = len(view.strides)
    return view.permuted((*range(n - 2), n - 1, n - 2))


def plan(planner, node: Node) -> None:
    """Append the steps computing `node` to the planner's steps."""
    kind = node.op.name
    a = node.args[0]
    batch_shape = a.shape[:-2]
    batch = math.prod(batch_shape)
    target = planner._target(node)
    if kind == "cholesky":
        n = a.shape[-1]
        out = target.buffer
        _copy(planner, planner._plain_view(a), target, a.shape)
        planner.steps.append(LapackCall(kind, batch, {"a": out}, {"a": n * n}, {"n": n}))
    elif kind == "triangular_solve":
        b = node.args[1]
        n, k = b.shape[-2:]
        matrix = _contiguous(planner, a)
        _copy(planner, planner._plain_view(b), target, b.shape)
        planner.steps.append(LapackCall(kind, batch, {"a": matrix, "b": target.buffer}, {"a": n * n, "b": n * k},
                                        {"n": n, "k": k}, node.param))
    elif kind == "solve":
        b = node.args[1]
        n, k = b.shape[-2:]
        matrix = _contiguous(planner, a, transposed=True)
        rhs = _contiguous(planner, b, transposed=True)
        pivots = _temp(planner, (max(n, 1),))
        planner.steps.append(LapackCall(kind, batch, {"a": matrix, "b": rhs, "ipiv": pivots},
                                        {"a": n * n, "b": n * k, "ipiv": 0}, {"n": n, "k": k}))
        _copy(planner, _swap(whole(rhs)), target, node.shape)
    elif kind == "slogdet":
        n = a.shape[-1]
        lu = _contiguous(planner, a)
        pivots = _temp(planner, (max(n, 1),))
        planner.steps.append(LapackCall(kind, batch, {"a": lu, "ipiv": pivots, "out": target.buffer},
                                        {"a": n * n, "ipiv": 0, "out": 2}, {"n": n}))
    elif kind in ("eigh", "eig"):
        n = a.shape[-1]
        matrix = _contiguous(planner, a, transposed=kind == "eig")
        w = _temp(planner, (*batch_shape, n))
        if kind == "eigh":
            lwork, liwork = 1 + 6 * n + 2 * n * n, 3 + 5 * n
            buffers = {"a": matrix, "w": w, "work": _temp(planner, (lwork,)), "iwork": _temp(planner, (liwork,))}
            sizes = {"n": n, "lwork": lwork, "liwork": liwork}
            per = {"a": n * n, "w": n, "work": 0, "iwork": 0}
        else:
            lwork = max(1, 4 * n + 64 * n)
            vectors = _temp(planner, (*batch_shape, n, n))
            buffers = {"a": matrix, "w": w, "wi": _temp(planner, (max(n, 1),)), "v": vectors,
                       "vl": _temp(planner, (1,)), "work": _temp(planner, (lwork,))}
            sizes = {"n": n, "lwork": lwork}
            per = {"a": n * n, "w": n, "wi": 0, "v": n * n, "vl": 0, "work": 0}
        planner.steps.append(LapackCall(kind, batch, buffers, per, sizes))
        rows = (*batch_shape, n)
        _copy(planner, whole(w), View(target.buffer, target.offset, (*target.strides[:-2], target.strides[-1])),
              rows)
        eigenvectors = whole(buffers["a" if kind == "eigh" else "v"])
        _copy(planner, _swap(eigenvectors), View(target.buffer, target.offset + target.strides[-2], target.strides),
              (*batch_shape, n, n))
    elif kind == "svd":
        m, n = a.shape[-2:]
        k = min(m, n)
        big = max(m, n)
        matrix = _contiguous(planner, a)
        s = _temp(planner, (*batch_shape, k))
        u = _temp(planner, (*batch_shape, k, n))  # LAPACK's U of A^T, n x k column-major: our V^T
        vt = _temp(planner, (*batch_shape, m, k))  # LAPACK's V^T of A^T, k x m column-major: our U
        lwork = max(3 * k + max(big, 5 * k * k + 4 * k), 4 * k * k + 6 * k + big) + 64 * (m + n)
        buffers = {"a": matrix, "s": s, "u": u, "vt": vt, "work": _temp(planner, (lwork,)),
                   "iwork": _temp(planner, (max(8 * k, 1),))}
        planner.steps.append(LapackCall(kind, batch, buffers,
                                        {"a": m * n, "s": k, "u": n * k, "vt": m * k, "work": 0, "iwork": 0},
                                        {"m": m, "n": n, "k": k, "lwork": lwork}))
        inner = target.strides[-2]
        _copy(planner, whole(vt), View(target.buffer, target.offset, target.strides), (*batch_shape, m, k))
        _copy(planner, whole(s), View(target.buffer, target.offset + m * inner,
                                       (*target.strides[:-2], target.strides[-1])), (*batch_shape, k))
        _copy(planner, _swap(whole(u)), View(target.buffer, target.offset + (m + 1) * inner, target.strides),
              (*batch_shape, n, k))
    else:
        raise AssertionError(f"no LAPACK plan for `{kind}`")


# ----- emission -----


class _Call:
    """The function of one `LapackCall` step: `void name(double **slots)`."""

    def __init__(self, module: ir.Module, name: str, step: LapackCall):
        self.module, self.step = module, step
        slots_type = DOUBLE.as_pointer().as_pointer()
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [slots_type]), name)
        self.fn.linkage = "internal"
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        table = self.fn.args[0]
        self.base = {key: self.b.load(self.b.gep(table, [ir.Constant(I64, buffer.slot)], inbounds=True))
                     for key, buffer in step.buffers.items()}
        self.routine = routine(ROUTINES[step.kind][0])
        self.int = ir.IntType(self.routine.int_bits)
        self.info = self.b.alloca(self.int, name="info")

    def integer(self, value: int) -> ir.Value:
        slot = self.b.alloca(self.int)
        self.b.store(ir.Constant(self.int, int(value)), slot)
        return slot

    def char(self, c: str) -> ir.Value:
        slot = self.b.alloca(I8)
        self.b.store(ir.Constant(I8, ord(c)), slot)
        return slot

    def double(self, value: float) -> ir.Value:
        slot = self.b.alloca(DOUBLE)
        self.b.store(ir.Constant(DOUBLE, value), slot)
        return slot

    def at(self, key: str, index: ir.Value) -> ir.Value:
        """The pointer to matrix `index` of buffer `key` (its `per` doubles each; 0: one shared buffer)."""
        per = self.step.per[key]
        if per == 0:
            return self.base[key]
        return self.b.gep(self.base[key], [self.b.mul(index, ir.Constant(I64, per))], inbounds=True)

    def call(self, arguments: list[ir.Value], chars: int) -> None:
        """The routine with pointer arguments (then the hidden lengths of its `chars` character arguments)."""
        types = [a.type for a in arguments] + [I64] * chars
        function = self.module.globals.get(self.routine.symbol)
        if function is None:
            function = ir.Function(self.module, ir.FunctionType(ir.VoidType(), types), self.routine.symbol)
        wanted = function.function_type.args
        pointers = [self.b.bitcast(a, t) if a.type != t else a for a, t in zip(arguments, wanted)]
        self.b.call(function, [*pointers, *[ir.Constant(I64, 1)] * chars])

    def failed(self) -> ir.Value:
        return self.b.icmp_signed("!=", self.b.load(self.info), ir.Constant(self.int, 0))

    def fill(self, pointer: ir.Value, count: int, value: float) -> None:
        from .loops import _for

        _for(self.b, ir.Constant(I64, 0), ir.Constant(I64, count), 1,
             lambda i: self.b.store(ir.Constant(DOUBLE, value), self.b.gep(pointer, [i], inbounds=True)))

    def on_failure_fill(self, pointers: list[tuple[ir.Value, int]], otherwise=None) -> None:
        with self.b.if_else(self.failed()) as (then, other):
            with then:
                for pointer, count in pointers:
                    self.fill(pointer, count, math.nan)
            with other:
                if otherwise is not None:
                    otherwise()


def emit(module: ir.Module, name: str, step: LapackCall) -> ir.Function:
    """The function of `step` (called with the kernel's slot table)."""
    from .loops import _for

    call = _Call(module, name, step)
    b, s = call.b, step.sizes

    def body(index: ir.Value) -> None:
        _EMITTERS[step.kind](call, index, s)

    if step.batch and min(s.values(), default=1) > 0:
        _for(b, ir.Constant(I64, 0), ir.Constant(I64, step.batch), 1, body)
    elif step.kind == "slogdet" and step.batch:
        _for(b, ir.Constant(I64, 0), ir.Constant(I64, step.batch), 1, lambda i: _empty_slogdet(call, i))
    b.ret_void()
    return call.fn


def _cholesky(call: _Call, i, s) -> None:
    from .loops import _for

    b, n = call.b, s["n"]
    a = call.at("a", i)
    call.call([call.char("U"), call.integer(n), a, call.integer(n), call.info], 1)

    def zero_upper() -> None:
        # LAPACK leaves the other triangle as it was: the strict upper triangle of L (row-major) is cleared.
        def row(r):
            _for(b, b.add(r, ir.Constant(I64, 1)), ir.Constant(I64, n), 1, lambda c: b.store(
                ir.Constant(DOUBLE, 0.0), b.gep(a, [b.add(b.mul(r, ir.Constant(I64, n)), c)], inbounds=True)))

        _for(b, ir.Constant(I64, 0), ir.Constant(I64, n), 1, row)

    call.on_failure_fill([(a, n * n)], zero_upper)


def _triangular(call: _Call, i, s) -> None:
    n, k = s["n"], s["k"]
    lower, transpose_a = call.step.flags
    # Row-major X (n x k) is column-major X^T: X^T = B^T op(A)^-T, a right-side solve with op(A)^T.
    call.call([call.char("R"), call.char("U" if lower else "L"), call.char("T" if transpose_a else "N"),
               call.char("N"), call.integer(k), call.integer(n), call.double(1.0), call.at("a", i),
               call.integer(n), call.at("b", i), call.integer(k)], 4)


def _solve(call: _Call, i, s) -> None:
    n, k = s["n"], s["k"]
    rhs = call.at("b", i)
    call.call([call.integer(n), call.integer(k), call.at("a", i), call.integer(n), call.at("ipiv", i), rhs,
               call.integer(n), call.info], 0)
    call.on_failure_fill([(rhs, n * k)])


def _slogdet(call: _Call, i, s) -> None:
    from .loops import _for

    b, n = call.b, s["n"]
    lu, pivots = call.at("a", i), b.bitcast(call.at("ipiv", i), call.int.as_pointer())
    call.call([call.integer(n), call.integer(n), lu, call.integer(n), call.at("ipiv", i), call.info], 0)
    sign, log_abs = b.alloca(DOUBLE), b.alloca(DOUBLE)
    b.store(ir.Constant(DOUBLE, 1.0), sign)
    b.store(ir.Constant(DOUBLE, 0.0), log_abs)
    fabs = _intrinsic(call.module, "llvm.fabs.f64")
    log = _intrinsic(call.module, "llvm.log.f64")

    def step(j):
        u = b.load(b.gep(lu, [b.mul(j, ir.Constant(I64, n + 1))], inbounds=True))
        swapped = b.icmp_signed("!=", b.sext(b.load(b.gep(pivots, [j], inbounds=True)), I64) if call.int != I64
                                else b.load(b.gep(pivots, [j], inbounds=True)), b.add(j, ir.Constant(I64, 1)))
        u_sign = b.select(b.fcmp_ordered(">", u, ir.Constant(DOUBLE, 0.0)), ir.Constant(DOUBLE, 1.0),
                          b.select(b.fcmp_ordered("<", u, ir.Constant(DOUBLE, 0.0)), ir.Constant(DOUBLE, -1.0), u))
        factor = b.select(swapped, b.fneg(u_sign), u_sign)
        b.store(b.fmul(b.load(sign), factor), sign)
        b.store(b.fadd(b.load(log_abs), b.call(log, [b.call(fabs, [u])])), log_abs)

    _for(b, ir.Constant(I64, 0), ir.Constant(I64, n), 1, step)
    out = call.at("out", i)
    b.store(b.load(sign), out)
    b.store(b.load(log_abs), b.gep(out, [ir.Constant(I64, 1)], inbounds=True))


def _empty_slogdet(call: _Call, i) -> None:
    out = call.at("out", i)
    call.b.store(ir.Constant(DOUBLE, 1.0), out)
    call.b.store(ir.Constant(DOUBLE, 0.0), call.b.gep(out, [ir.Constant(I64, 1)], inbounds=True))


def _eigh(call: _Call, i, s) -> None:
    n = s["n"]
    a, w = call.at("a", i), call.at("w", i)
    # The row-major lower triangle is the column-major upper one (NumPy's eigh reads the lower triangle).
    call.call([call.char("V"), call.char("U"), call.integer(n), a, call.integer(n), w, call.at("work", i),
               call.integer(s["lwork"]), call.at("iwork", i), call.integer(s["liwork"]), call.info], 2)
    call.on_failure_fill([(a, n * n), (w, n)])


def _svd(call: _Call, i, s) -> None:
    m, n, k = s["m"], s["n"], s["k"]
    # The row-major m x n matrix is the column-major n x m A^T = U' S V'^T: A = V' S U'^T.
    sv, u, vt = call.at("s", i), call.at("u", i), call.at("vt", i)
    call.call([call.char("S"), call.integer(n), call.integer(m), call.at("a", i), call.integer(n), sv, u,
               call.integer(n), vt, call.integer(k), call.at("work", i), call.integer(s["lwork"]),
               call.at("iwork", i), call.info], 1)
    call.on_failure_fill([(sv, k), (u, n * k), (vt, m * k)])


def _eig(call: _Call, i, s) -> None:
    from .loops import _for

    b, n = call.b, s["n"]
    w, wi, v = call.at("w", i), call.at("wi", i), call.at("v", i)
    call.call([call.char("N"), call.char("V"), call.integer(n), call.at("a", i), call.integer(n), w, wi,
               call.at("vl", i), call.integer(1), v, call.integer(n), call.at("work", i),
               call.integer(s["lwork"]), call.info], 2)
    # A complex eigenvalue counts as a failure: only real spectra are supported.
    complex_found = b.alloca(ir.IntType(1))
    b.store(ir.Constant(ir.IntType(1), 0), complex_found)
    _for(b, ir.Constant(I64, 0), ir.Constant(I64, n), 1, lambda j: b.store(
        b.or_(b.load(complex_found), b.fcmp_unordered("!=", b.load(b.gep(wi, [j], inbounds=True)),
                                                      ir.Constant(DOUBLE, 0.0))), complex_found))
    with b.if_then(b.load(complex_found)):
        b.store(ir.Constant(call.int, 1), call.info)
    call.on_failure_fill([(w, n), (v, n * n)])


def _intrinsic(module: ir.Module, name: str) -> ir.Function:
    found = module.globals.get(name)
    if found is None:
        found = ir.Function(module, ir.FunctionType(DOUBLE, [DOUBLE]), name)
    return found


_EMITTERS = {"cholesky": _cholesky, "triangular_solve": _triangular, "solve": _solve, "slogdet": _slogdet,
             "eigh": _eigh, "svd": _svd, "eig": _eig}
