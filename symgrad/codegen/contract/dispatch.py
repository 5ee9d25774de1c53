"""The contraction entries: argument checks and the choice between the BLAS and symgrad's kernels.

Emits, with `prefix` (`symgrad_` for the process's module):

    void {prefix}gemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k, double alpha,
                      const double *a, i64 lda, const double *b, i64 ldb,
                      double beta, double *c, i64 ldc)
    void {prefix}gemm_batched(<the same>, i64 batch, i64 stride_a, i64 stride_b, i64 stride_c)

and the same two with `_own` (always symgrad's kernels) and, when a BLAS
was found, `_blas` (always the BLAS) appended, for measurement and tests;
and `{prefix}parallel_for` (see `_threads`), the pool the products use.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, DOUBLE_PTR, I64, at, const, counted_loop, declare, function
from ._threads import TASK, WORDS, run_chunks
from .blas import Routine
from .gemm import emit_product
from .micro import Blocking
from .parallel import emit_batched, emit_matrix, emit_vector
from .policy import Policy, at_least, volume

GEMM_ARGUMENTS = [("trans_a", I64), ("trans_b", I64), ("m", I64), ("n", I64), ("k", I64), ("alpha", DOUBLE),
                  ("a", DOUBLE_PTR), ("lda", I64), ("b", DOUBLE_PTR), ("ldb", I64), ("beta", DOUBLE),
                  ("c", DOUBLE_PTR), ("ldc", I64)]
BATCH_ARGUMENTS = GEMM_ARGUMENTS + [("batch", I64), ("stride_a", I64), ("stride_b", I64), ("stride_c", I64)]
POLICY, OWN, BLAS = 0, 1, 2


def emit_entries(module: ir.Module, prefix: str, blocking: Blocking, policy: Policy,
                 gemm: Routine | None, gemv: Routine | None) -> list[str]:
    """Define the entries in `module`; returns their names."""
    product = emit_product(module, prefix, blocking)
    vector = emit_vector(module, prefix, blocking.width, policy)
    matrix = emit_matrix(module, prefix, product, blocking, policy)
    contract = _emit_contract(module, prefix, policy, matrix, vector, gemm, gemv)
    batched = emit_batched(module, prefix, policy, contract, BATCH_ARGUMENTS)
    names = []
    modes = [("", POLICY), ("_own", OWN)] + ([("_blas", BLAS)] if gemm is not None else [])
    for suffix, mode in modes:
        for entry, arguments, target in (("gemm", GEMM_ARGUMENTS, contract),
                                         ("gemm_batched", BATCH_ARGUMENTS, batched)):
            fn, b = function(module, f"{prefix}{entry}{suffix}", arguments, internal=False)
            b.call(target, [*fn.args, const(mode), const(policy.threads)])
            b.ret_void()
            names.append(fn.name)
    names.append(_emit_parallel_for(module, prefix, policy).name)
    return names


def _emit_parallel_for(module: ir.Module, prefix: str, policy: Policy) -> ir.Function:
    """`void {prefix}parallel_for(void (*task)(i64 *words, i64 chunk), i64 *words, i64 chunks)`: the
    contraction's thread pool, offered to other generated loops."""
    fn, b = function(module, f"{prefix}parallel_for", [("task", TASK.as_pointer()), ("words", WORDS),
                                                        ("chunks", I64)], internal=False)
    task, words, chunks = fn.args
    if policy.threads > 1:
        with b.if_then(b.icmp_signed(">", chunks, const(1))):
            run_chunks(b, task, words, chunks, policy.threads)
            b.ret_void()
    with counted_loop(b, 0, chunks, 1, "chunk") as chunk:
        b.call(task, [words, chunk])
    b.ret_void()
    return fn


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
        size = volume(b, m, n, k)
        side = policy.blas_vector_side
        long_sides = ir.Constant(ir.IntType(1), 0) if side is None else b.and_(
            b.icmp_signed(">=", shape[0], const(side)), b.icmp_signed(">=", k, const(side)))
        chosen = b.select(is_vector, long_sides, at_least(b, size, policy.blas_min_volume))
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
