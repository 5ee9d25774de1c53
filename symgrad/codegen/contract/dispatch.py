"""The contraction entries: argument checks, BLAS-or-own dispatch, and the split between threads.

Emits, with `prefix` (`symgrad_` for the process's module):

    void {prefix}gemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k, double alpha,
                      const double *a, i64 lda, const double *b, i64 ldb,
                      double beta, double *c, i64 ldc)
    void {prefix}gemm_batched(<the same>, i64 batch, i64 stride_a, i64 stride_b, i64 stride_c)

and the same two with `_own` (always symgrad's kernels) and, when a BLAS
was found, `_blas` (always the BLAS) appended, for measurement and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ._ir import DOUBLE, DOUBLE_PTR, I8_PTR, I64, at, const, counted_loop, declare, function
from ._threads import emit_task, pack_words, run_tasks
from .blas import Routine
from .gemm import STRIDED_ARGUMENTS, emit_naive, emit_product
from .gemv import emit_axpys, emit_dots
from .micro import Blocking

GEMM_ARGUMENTS = [("trans_a", I64), ("trans_b", I64), ("m", I64), ("n", I64), ("k", I64), ("alpha", DOUBLE),
                  ("a", DOUBLE_PTR), ("lda", I64), ("b", DOUBLE_PTR), ("ldb", I64), ("beta", DOUBLE),
                  ("c", DOUBLE_PTR), ("ldc", I64)]
BATCH_ARGUMENTS = GEMM_ARGUMENTS + [("batch", I64), ("stride_a", I64), ("stride_b", I64), ("stride_c", I64)]
POLICY, OWN, BLAS = 0, 1, 2
# Where the vector case is laid out: output i, step p of the sum read mat[i * s_out + p * s_sum].
_VECTOR_ARGUMENTS = [("outputs", I64), ("k", I64), ("alpha", DOUBLE), ("mat", DOUBLE_PTR), ("s_out", I64),
                     ("s_sum", I64), ("x", DOUBLE_PTR), ("incx", I64), ("beta", DOUBLE), ("y", DOUBLE_PTR),
                     ("incy", I64)]


@dataclass(frozen=True)
class Policy:
    """When the BLAS is called and when symgrad's kernels use threads (see the package docstring)."""

    blas_min_volume: float | None  # m n k from which a matrix product goes to the BLAS (None: never)
    blas_vector_side: int | None  # a matrix-vector product goes to the BLAS when both sides are this long
    parallel_min_flops: float  # 2 m n k from which the own product is split between threads
    parallel_min_vector: float  # m n k from which the own matrix-vector product is split
    threads: int  # threads a product may use (1: never start one)


def emit_entries(module: ir.Module, prefix: str, blocking: Blocking, policy: Policy,
                 gemm: Routine | None, gemv: Routine | None) -> list[str]:
    """Define the entries in `module`; returns their names."""
    product = emit_product(module, prefix, blocking)
    vector = _emit_own_vector(module, prefix, blocking.width, policy)
    matrix = _emit_own_matrix(module, prefix, product, blocking, policy)
    contract = _emit_contract(module, prefix, policy, matrix, vector, gemm, gemv)
    batched = _emit_batched(module, prefix, policy, contract)
    names = []
    modes = [("", POLICY), ("_own", OWN)] + ([("_blas", BLAS)] if gemm is not None else [])
    for suffix, mode in modes:
        for entry, arguments, target in (("gemm", GEMM_ARGUMENTS, contract),
                                         ("gemm_batched", BATCH_ARGUMENTS, batched)):
            fn, b = function(module, f"{prefix}{entry}{suffix}", arguments, internal=False)
            b.call(target, [*fn.args, const(mode), const(policy.threads)])
            b.ret_void()
            names.append(fn.name)
    return names


def _volume(b: ir.IRBuilder, m: ir.Value, n: ir.Value, k: ir.Value) -> ir.Value:
    """m n k as a double (no overflow)."""
    return b.fmul(b.fmul(b.sitofp(m, DOUBLE), b.sitofp(n, DOUBLE)), b.sitofp(k, DOUBLE))


def _at_least(b: ir.IRBuilder, value: ir.Value, threshold: float | None) -> ir.Value:
    if threshold is None:
        return ir.Constant(ir.IntType(1), 0)
    return b.fcmp_ordered(">=", value, ir.Constant(DOUBLE, float(threshold)))


def _emit_contract(module, prefix, policy, matrix, vector, gemm, gemv) -> ir.Function:
    fn, b = function(module, f"{prefix}contract", GEMM_ARGUMENTS + [("mode", I64), ("threads", I64)])
    ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, mode, threads = fn.args
    one, zero = const(1), const(0)
    with b.if_then(b.or_(b.icmp_signed("<=", m, zero), b.icmp_signed("<=", n, zero))):
        b.ret_void()
    # BLAS semantics: with k = 0 or alpha = 0, A and B are not read, and C = beta C.
    with b.if_then(b.or_(b.icmp_signed("<=", k, zero), b.fcmp_ordered("==", alpha, ir.Constant(DOUBLE, 0.0)))):
        b.call(_emit_scale(module, prefix), [m, n, beta, c, ldc])
        b.ret_void()
    transposed_a, transposed_b = b.icmp_signed("!=", ta, zero), b.icmp_signed("!=", tb, zero)
    rsa, csa = b.select(transposed_a, one, lda), b.select(transposed_a, lda, one)
    rsb, csb = b.select(transposed_b, one, ldb), b.select(transposed_b, ldb, one)
    is_vector = b.or_(b.icmp_signed("==", m, one), b.icmp_signed("==", n, one))
    # One column of C: y = op(A) x; one row: y = x op(B).
    column = b.icmp_signed("==", n, one)
    shape = [b.select(column, m, n), k, alpha, b.select(column, a, bm), b.select(column, rsa, csb),
             b.select(column, csa, rsb), b.select(column, bm, a), b.select(column, rsb, csa), beta, c,
             b.select(column, ldc, one)]
    if gemm is not None:
        volume = _volume(b, m, n, k)
        side = policy.blas_vector_side
        long_sides = ir.Constant(ir.IntType(1), 0) if side is None else b.and_(
            b.icmp_signed(">=", shape[0], const(side)), b.icmp_signed(">=", k, const(side)))
        chosen = b.select(is_vector, long_sides, _at_least(b, volume, policy.blas_min_volume))
        wanted = b.or_(b.icmp_signed("==", mode, const(BLAS)), b.and_(b.icmp_signed("==", mode, const(POLICY)), chosen))
        with b.if_then(wanted):
            if gemv is not None:
                with b.if_then(b.and_(is_vector, _gemv_takes(b, gemv, shape))):
                    _call_gemv(b, gemv, shape)
                    b.ret_void()
            cols_a, cols_b = b.select(transposed_a, m, k), b.select(transposed_b, k, n)
            with b.if_then(_gemm_takes(b, gemm, [m, n, k], [(lda, cols_a), (ldb, cols_b), (ldc, n)])):
                _call_gemm(b, gemm, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
                b.ret_void()
    with b.if_then(is_vector):
        b.call(vector, [*shape, threads])
        b.ret_void()
    b.call(matrix, [m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc, threads])
    b.ret_void()
    return fn


def _emit_scale(module: ir.Module, prefix: str) -> ir.Function:
    """`void scale(m, n, beta, c, ldc)`: C = beta C (zero when beta is 0, whatever C holds)."""
    fn, b = function(module, f"{prefix}scale", [("m", I64), ("n", I64), ("beta", DOUBLE), ("c", DOUBLE_PTR),
                                                 ("ldc", I64)])
    m, n, beta, c, ldc = fn.args
    beta_zero = b.fcmp_ordered("==", beta, ir.Constant(DOUBLE, 0.0))
    with counted_loop(b, 0, m, 1, "i") as i:
        with counted_loop(b, 0, n, 1, "j") as j:
            where = at(b, c, b.add(b.mul(i, ldc), j))
            b.store(b.select(beta_zero, ir.Constant(DOUBLE, 0.0), b.fmul(beta, b.load(where))), where)
    b.ret_void()
    return fn


def _emit_own_matrix(module, prefix, product, blocking: Blocking, policy: Policy) -> ir.Function:
    """`void matrix(STRIDED_ARGUMENTS, threads)`: the product, split along the longer side of C when large."""
    fn, b = function(module, f"{prefix}matrix", STRIDED_ARGUMENTS + [("threads", I64)])
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc, threads = fn.args
    count = policy.threads
    if count > 1:
        flops = b.fmul(ir.Constant(DOUBLE, 2.0), _volume(b, m, n, k))
        split = b.and_(b.icmp_signed(">", threads, const(1)), _at_least(b, flops, policy.parallel_min_flops))
        with b.if_then(split):
            task = emit_task(module, product)
            by_columns = b.icmp_signed(">=", n, m)
            # Parts start on tile boundaries, so only the last part has edge tiles.
            size, tile = b.select(by_columns, n, m), b.select(by_columns, const(blocking.nr), const(blocking.mr))
            part = b.mul(b.sdiv(b.add(b.sdiv(b.add(size, const(count - 1)), const(count)), b.sub(tile, const(1))),
                                tile), tile)
            words, active = [], []
            for t in range(count):
                start = b.mul(part, const(t))
                length = b.sub(_min(b, b.add(start, part), size), start)
                sub_m, sub_n = b.select(by_columns, m, length), b.select(by_columns, length, n)
                a_part = at(b, a, b.select(by_columns, const(0), b.mul(start, rsa)))
                b_part = at(b, bm, b.select(by_columns, b.mul(start, csb), const(0)))
                c_part = at(b, c, b.select(by_columns, start, b.mul(start, ldc)))
                words.append(pack_words(b, [sub_m, sub_n, k, alpha, a_part, rsa, csa, b_part, rsb, csb, beta,
                                            c_part, ldc]))
                active.append(b.icmp_signed(">", length, const(0)))
            run_tasks(b, task, words, active)
            b.ret_void()
    b.call(product, [m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc])
    b.ret_void()
    return fn


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _emit_own_vector(module, prefix, width: int, policy: Policy) -> ir.Function:
    """`void vector(_VECTOR_ARGUMENTS, threads)`: one output per row of mat (`dots`) or per column (`axpys`)."""
    dots, axpys = emit_dots(module, prefix, width), emit_axpys(module, prefix, width)
    fn, b = function(module, f"{prefix}vector", _VECTOR_ARGUMENTS + [("threads", I64)])
    outputs, k, alpha, mat, s_out, s_sum, x, incx, beta, y, incy, threads = fn.args
    count = policy.threads
    split = b.and_(b.icmp_signed(">", threads, const(1)),
                   _at_least(b, _volume(b, outputs, k, const(1)), policy.parallel_min_vector))
    with b.if_then(b.icmp_signed("==", s_sum, const(1))):
        # dots reads x as a vector: a strided x is copied first.
        contiguous = b.alloca(DOUBLE_PTR, name="contiguous")
        b.store(x, contiguous)
        copy = b.icmp_signed("!=", incx, const(1))
        with b.if_then(copy):
            buffer = b.bitcast(b.call(declare(module, "malloc", I8_PTR, [I64]), [b.mul(k, const(8))]), DOUBLE_PTR)
            with b.if_then(b.icmp_unsigned("==", buffer, ir.Constant(DOUBLE_PTR, None)), likely=False):
                b.call(emit_naive(module, prefix), [outputs, const(1), k, alpha, mat, s_out, s_sum, x, incx,
                                                   const(0), beta, y, incy])
                b.ret_void()
            with counted_loop(b, 0, k, 1, "p") as p:
                b.store(b.load(at(b, x, b.mul(p, incx))), at(b, buffer, p))
            b.store(buffer, contiguous)
        x_row = b.load(contiguous)
        if count > 1:
            with b.if_else(split) as (parallel, serial):
                with parallel:
                    task = emit_task(module, dots)
                    part = b.sdiv(b.add(outputs, const(count - 1)), const(count))
                    words, active = [], []
                    for t in range(count):
                        start = b.mul(part, const(t))
                        length = b.sub(_min(b, b.add(start, part), outputs), start)
                        words.append(pack_words(b, [length, k, at(b, mat, b.mul(start, s_out)), s_out, x_row,
                                                    alpha, beta, at(b, y, b.mul(start, incy)), incy]))
                        active.append(b.icmp_signed(">", length, const(0)))
                    run_tasks(b, task, words, active)
                with serial:
                    b.call(dots, [outputs, k, mat, s_out, x_row, alpha, beta, y, incy])
        else:
            b.call(dots, [outputs, k, mat, s_out, x_row, alpha, beta, y, incy])
        with b.if_then(copy):
            b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(x_row, I8_PTR)])
        b.ret_void()
    if count > 1:
        with b.if_then(split):
            # Each thread sums a range of p; the first adds beta y, the others go to a buffer added after.
            partial = b.bitcast(b.call(declare(module, "malloc", I8_PTR, [I64]),
                                       [b.mul(b.mul(outputs, const(count - 1)), const(8))]), DOUBLE_PTR)
            with b.if_then(b.icmp_unsigned("!=", partial, ir.Constant(DOUBLE_PTR, None))):
                task = emit_task(module, axpys)
                part = b.sdiv(b.add(k, const(count - 1)), const(count))
                words, active = [], []
                for t in range(count):
                    start = b.mul(part, const(t))
                    stop = _min(b, b.add(start, part), k)
                    target, step = (y, incy) if t == 0 else (at(b, partial, b.mul(outputs, const(t - 1))), const(1))
                    words.append(pack_words(b, [outputs, start, stop, x, incx, mat, s_sum, alpha,
                                                beta if t == 0 else ir.Constant(DOUBLE, 0.0), target, step]))
                    active.append(b.icmp_signed("<", start, k))
                run_tasks(b, task, words, active)
                for t in range(1, count):
                    with b.if_then(active[t]):
                        source = at(b, partial, b.mul(outputs, const(t - 1)))
                        with counted_loop(b, 0, outputs, 1, "j") as j:
                            where = at(b, y, b.mul(j, incy))
                            b.store(b.fadd(b.load(where), b.load(at(b, source, j))), where)
                b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(partial, I8_PTR)])
                b.ret_void()
    b.call(axpys, [outputs, const(0), k, x, incx, mat, s_sum, alpha, beta, y, incy])
    b.ret_void()
    return fn


def _emit_batched(module, prefix, policy: Policy, contract: ir.Function) -> ir.Function:
    """`void batched(BATCH_ARGUMENTS, mode, threads)`: a batch of at least one product per thread is
    split between threads (each product on one); a shorter one runs in order, each product split."""
    scalars = GEMM_ARGUMENTS + [("start", I64), ("stop", I64), ("stride_a", I64), ("stride_b", I64),
                                ("stride_c", I64), ("mode", I64), ("threads", I64)]
    span, b = function(module, f"{prefix}batch_span", scalars)
    ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, start, stop, sa, sb, sc, mode, threads = span.args
    with counted_loop(b, start, stop, 1, "item") as item:
        b.call(contract, [ta, tb, m, n, k, alpha, at(b, a, b.mul(item, sa)), lda, at(b, bm, b.mul(item, sb)), ldb,
                          beta, at(b, c, b.mul(item, sc)), ldc, mode, threads])
    b.ret_void()
    fn, b = function(module, f"{prefix}batched", BATCH_ARGUMENTS + [("mode", I64), ("threads", I64)])
    *gemm, batch, sa, sb, sc, mode, threads = fn.args
    m, n, k = gemm[2:5]
    count = policy.threads
    if count > 1:
        flops = b.fmul(ir.Constant(DOUBLE, 2.0), _volume(b, m, n, k))
        total = b.fmul(flops, b.sitofp(batch, DOUBLE))
        # One fork-join for the whole batch rather than one per product: 64 products of 128 x 128
        # split one by one ran 3x slower on a loaded machine.
        split = b.and_(b.and_(b.icmp_signed(">", threads, const(1)), b.icmp_signed(">=", batch, const(count))),
                       _at_least(b, total, policy.parallel_min_flops))
        with b.if_then(split):
            task = emit_task(module, span)
            part = b.sdiv(b.add(batch, const(count - 1)), const(count))
            words, active = [], []
            for t in range(count):
                first = b.mul(part, const(t))
                words.append(pack_words(b, [*gemm, first, _min(b, b.add(first, part), batch), sa, sb, sc, mode,
                                            const(1)]))
                active.append(b.icmp_signed("<", first, batch))
            run_tasks(b, task, words, active)
            b.ret_void()
    b.call(span, [*gemm, const(0), batch, sa, sb, sc, mode, threads])
    b.ret_void()
    return fn


# ----- Calls to a BLAS (Fortran ABI: every argument by reference, column-major) -----


def _fits(b: ir.IRBuilder, routine: Routine, values: list[ir.Value]) -> ir.Value:
    """Whether the integers fit the routine's integer width."""
    fits = ir.Constant(ir.IntType(1), 1)
    if routine.int_bits == 32:
        for value in values:
            fits = b.and_(fits, b.icmp_signed("<=", value, const(2**31 - 1)))
    return fits


def _gemm_takes(b, gemm: Routine, sizes: list[ir.Value], leading: list[tuple[ir.Value, ir.Value]]) -> ir.Value:
    """Whether dgemm accepts these leading dimensions (each at least max(1, its row length))."""
    ok = _fits(b, gemm, sizes + [ld for ld, _ in leading])
    for ld, length in leading:
        ok = b.and_(ok, b.icmp_signed(">=", ld, _max1(b, length)))
    return ok


def _gemv_takes(b, gemv: Routine, shape: list[ir.Value]) -> ir.Value:
    outputs, k, _, _, s_out, s_sum, _, incx, _, _, incy = shape
    dots = b.icmp_signed("==", s_sum, const(1))
    ld, length = b.select(dots, s_out, s_sum), b.select(dots, k, outputs)
    ok = b.and_(b.icmp_signed(">=", ld, _max1(b, length)),
                b.and_(b.icmp_signed(">=", incx, const(1)), b.icmp_signed(">=", incy, const(1))))
    # Either layout of mat must be one dgemv reads: contiguous along p (dots) or along outputs.
    ok = b.and_(ok, b.or_(dots, b.icmp_signed("==", s_out, const(1))))
    return b.and_(ok, _fits(b, gemv, [outputs, k, ld, incx, incy]))


def _max1(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", value, const(1)), value, const(1))


def _call_gemm(b, gemm: Routine, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc) -> None:
    # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    chars = [_transpose_char(b, tb), _transpose_char(b, ta)]
    integers = [_by_reference(b, gemm, v) for v in (n, m, k)]
    scalars = [_double_by_reference(b, v) for v in (alpha, beta)]
    arguments = [*chars, *integers, scalars[0], bm, _by_reference(b, gemm, ldb), a, _by_reference(b, gemm, lda),
                 scalars[1], c, _by_reference(b, gemm, ldc), const(1), const(1)]
    b.call(_declare_routine(b.module, gemm, arguments), arguments)


def _call_gemv(b, gemv: Routine, shape: list[ir.Value]) -> None:
    outputs, k, alpha, mat, s_out, s_sum, x, incx, beta, y, incy = shape
    # dots: y = M x with M (outputs x k) row-major = dgemv('T') of its column-major transpose;
    # axpys: y = M^T x with M (k x outputs) row-major = dgemv('N').
    dots = b.icmp_signed("==", s_sum, const(1))
    rows, cols, ld = b.select(dots, k, outputs), b.select(dots, outputs, k), b.select(dots, s_out, s_sum)
    arguments = [_transpose_char(b, b.zext(dots, I64)), _by_reference(b, gemv, rows), _by_reference(b, gemv, cols),
                 _double_by_reference(b, alpha), mat, _by_reference(b, gemv, ld), x, _by_reference(b, gemv, incx),
                 _double_by_reference(b, beta), y, _by_reference(b, gemv, incy), const(1)]
    b.call(_declare_routine(b.module, gemv, arguments), arguments)


def _declare_routine(module: ir.Module, routine: Routine, arguments: list[ir.Value]) -> ir.Function:
    return declare(module, routine.symbol, ir.VoidType(), [value.type for value in arguments])


def _transpose_char(b: ir.IRBuilder, transposed: ir.Value) -> ir.Value:
    character = b.alloca(ir.IntType(8))
    flag = b.icmp_signed("!=", transposed, const(0))
    b.store(b.select(flag, ir.Constant(ir.IntType(8), ord("T")), ir.Constant(ir.IntType(8), ord("N"))), character)
    return character


def _by_reference(b: ir.IRBuilder, routine: Routine, value: ir.Value) -> ir.Value:
    kind = ir.IntType(routine.int_bits)
    slot = b.alloca(kind)
    b.store(value if routine.int_bits == 64 else b.trunc(value, kind), slot)
    return slot


def _double_by_reference(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    slot = b.alloca(DOUBLE)
    b.store(value, slot)
    return slot
