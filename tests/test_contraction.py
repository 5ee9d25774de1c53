"""symgrad's contraction ABI (`symgrad_gemm`, `symgrad_gemm_batched`) against NumPy, at every vector width."""

import ctypes
import itertools

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from llvmlite import binding, ir  # noqa: E402

from symgrad import engine as runtime  # noqa: E402  (the engine compiles the contraction entries)
from symgrad.codegen.contract import Policy, blas  # noqa: E402
from symgrad.codegen.contract.gemm import STRIDED_ARGUMENTS, emit_naive  # noqa: E402
from symgrad.codegen.llvm import VECTOR_WIDTH  # noqa: E402

D, P, L = ctypes.c_double, ctypes.c_void_p, ctypes.c_int64
GEMM = ctypes.CFUNCTYPE(None, L, L, L, L, L, D, P, L, P, L, D, P, L)
BATCHED = ctypes.CFUNCTYPE(None, L, L, L, L, L, D, P, L, P, L, D, P, L, L, L, L, L)
# Every product is split between two threads, so that small sizes take the threaded paths too; the
# policy entry sends products from 16^3 and matrix-vector products with both sides >= 16 to the BLAS.
TEST_POLICY = Policy(blas_min_volume=16**3, blas_vector_side=16, parallel_min_flops=0, parallel_min_vector=0,
                     threads=2, min_chunk=1, min_chunk_elements=1)
HAVE_BLAS = blas.routine("dgemm") is not None
# Sizes around the register tile (6 or 12 rows, 2 W columns) and the vector width W = 2, 4, 8.
SMALL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 24, 25, 33, 47, 70]


def _kernels():
    kernels = [pytest.param(("own", 2), id="own-w2"), pytest.param(("own", 4), id="own-w4")]
    # <8 x double> is legal LLVM IR on any CPU, but the kernel is tuned for AVX-512's 32 registers.
    avx512 = binding.get_host_cpu_features().get("avx512f")
    kernels.append(pytest.param(("own", 8), id="own-w8",
                                marks=[] if avx512 else pytest.mark.skip(reason="CPU has no AVX-512")))
    no_blas = pytest.mark.skipif(not HAVE_BLAS, reason="no BLAS found in this process or on this machine")
    kernels.append(pytest.param(("blas", VECTOR_WIDTH), id="blas", marks=no_blas))
    kernels.append(pytest.param(("policy", VECTOR_WIDTH), id="policy"))
    return kernels


@pytest.fixture(scope="module", params=_kernels())
def kernel(request):
    name, width = request.param
    entries = runtime.contraction(width=width, policy=TEST_POLICY)
    suffix = "" if name == "policy" else f"_{name}"
    return GEMM(entries[f"gemm{suffix}"]), BATCHED(entries[f"gemm_batched{suffix}"])


def _problem(rng, m, n, k, ta, tb, pad=0, batch=None):
    """Operands stored with `pad` extra columns (leading dimension > row length), C full of noise."""
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + ((k, m + pad) if ta else (m, k + pad)))
    b = rng.standard_normal(lead + ((n, k + pad) if tb else (k, n + pad)))
    # One row more than C needs: writes past C's last row would show there.
    c = rng.standard_normal(lead + (m + 1, n + pad))
    return a, b, c


def _expected(a, b, c, m, n, k, ta, tb, alpha, beta):
    op_a = np.swapaxes(a[..., :m], -1, -2) if ta else a[..., :k]
    op_b = np.swapaxes(b[..., :k], -1, -2) if tb else b[..., :n]
    old = c[..., :m, :n]
    result = c.copy()
    result[..., :m, :n] = alpha * (op_a @ op_b) + (beta * old if beta else 0.0)
    # A bound on rounding: 1e-12 of the sum of absolute values of the terms.
    scale = abs(alpha) * (np.abs(op_a) @ np.abs(op_b)) + (abs(beta) * np.abs(old) if beta else 0.0)
    tolerance = np.zeros_like(c)
    tolerance[..., :m, :n] = 1e-12 * scale + 1e-300
    return result, tolerance


def _run(fn, m, n, k, ta, tb, alpha, beta, a, b, c):
    fn(ta, tb, m, n, k, alpha, a.ctypes.data, a.shape[-1], b.ctypes.data, b.shape[-1], beta, c.ctypes.data,
       c.shape[-1])


def _check(fn, rng, m, n, k, ta, tb, alpha=1.25, beta=0.5, pad=0):
    a, b, c = _problem(rng, m, n, k, ta, tb, pad)
    if beta == 0:
        c[:m, :n] = np.nan  # BLAS semantics: C is not read
    expected, tolerance = _expected(a, b, c, m, n, k, ta, tb, alpha, beta)
    _run(fn, m, n, k, ta, tb, alpha, beta, a, b, c)
    excess = np.abs(c - expected) - tolerance
    assert np.all(excess <= 0), (
        f"m={m} n={n} k={k} trans=({ta},{tb}) pad={pad} alpha={alpha} beta={beta}: error over the tolerance "
        f"by {np.nanmax(excess):.3g} at {np.unravel_index(np.nanargmax(excess), c.shape)}, NaN: {np.isnan(c).sum()}")


@pytest.mark.parametrize("ta, tb", list(itertools.product((0, 1), (0, 1))), ids=lambda t: "T" if t else "N")
def test_small_sizes_around_tile_and_vector_boundaries(kernel, ta, tb):
    rng = np.random.default_rng(1)
    gemm, _ = kernel
    for j, (m, n) in enumerate(itertools.product(SMALL, SMALL)):
        _check(gemm, rng, m, n, SMALL[(3 * j) % len(SMALL)], ta, tb)


@pytest.mark.parametrize("ta, tb", list(itertools.product((0, 1), (0, 1))), ids=lambda t: "T" if t else "N")
def test_cache_block_boundaries_and_leading_dimensions(kernel, ta, tb):
    rng = np.random.default_rng(2)
    gemm, _ = kernel
    # Around the packed panels (120 rows, 256 deep, 4080 columns at width 4), with padded rows.
    for m, n, k in [(119, 9, 255), (120, 17, 256), (121, 8, 257), (250, 33, 513), (3, 4081, 2), (7, 4097, 5)]:
        _check(gemm, rng, m, n, k, ta, tb, pad=3)


@pytest.mark.parametrize("ta, tb", list(itertools.product((0, 1), (0, 1))), ids=lambda t: "T" if t else "N")
def test_matrix_vector_shapes(kernel, ta, tb):
    rng = np.random.default_rng(3)
    gemm, _ = kernel
    for m, n, k in [(1, 1, 1), (1, 1, 37), (1000, 1, 10), (10, 1, 1000), (1, 10, 1000), (1, 1000, 10),
                    (1, 67, 5), (67, 1, 5), (1, 3, 4099), (5, 1, 4099)]:
        for pad in (0, 2):  # a padded single column makes x strided
            _check(gemm, rng, m, n, k, ta, tb, pad=pad)


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-2.0, 1.0), (0.5, -3.0), (1.0, 1.0)])
def test_alpha_and_beta(kernel, alpha, beta):
    rng = np.random.default_rng(4)
    gemm, _ = kernel
    for m, n, k in [(13, 17, 9), (1, 9, 30), (30, 1, 9), (64, 64, 64)]:
        for ta, tb in itertools.product((0, 1), (0, 1)):
            _check(gemm, rng, m, n, k, ta, tb, alpha, beta, pad=1)


def test_beta_zero_overwrites_nan_and_alpha_zero_reads_no_operand(kernel):
    gemm, _ = kernel
    for m, n, k in [(7, 9, 5), (1, 9, 5), (9, 1, 5), (64, 70, 33)]:
        a, b, c = np.full((m, k), np.nan), np.full((k, n), np.inf), np.full((m, n), np.nan)
        _run(gemm, m, n, k, 0, 0, 0.0, 0.0, a, b, c)
        assert np.all(c == 0.0), "alpha = beta = 0 must give zeros whatever A, B and C hold"
        c = np.arange(m * n, dtype=float).reshape(m, n)
        _run(gemm, m, n, k, 0, 0, 0.0, 2.0, a, b, c)
        assert np.array_equal(c, 2.0 * np.arange(m * n).reshape(m, n))
    c = np.full((3, 4), np.nan)
    _run(gemm, 3, 4, 0, 0, 0, 1.0, 0.0, np.zeros((3, 1)), np.zeros((1, 4)), c)
    assert np.all(c == 0.0), "k = 0 with beta = 0 must give zeros"


def test_nan_in_operands_propagates(kernel):
    gemm, _ = kernel
    a, b, c = np.ones((9, 5)), np.ones((5, 11)), np.zeros((9, 11))
    a[4, 2] = np.nan
    _run(gemm, 9, 11, 5, 0, 0, 1.0, 0.0, a, b, c)
    assert np.all(np.isnan(c[4])) and not np.any(np.isnan(np.delete(c, 4, axis=0)))


@pytest.mark.parametrize("ta, tb", list(itertools.product((0, 1), (0, 1))), ids=lambda t: "T" if t else "N")
def test_batched_with_strides_larger_than_operands(kernel, ta, tb):
    rng = np.random.default_rng(5)
    _, batched = kernel
    for m, n, k, count in [(5, 7, 3, 9), (1, 6, 8, 4), (6, 1, 8, 4), (33, 17, 9, 3), (4, 4, 4, 1)]:
        a, b, c = _problem(rng, m, n, k, ta, tb, pad=1, batch=count)
        expected, tolerance = _expected(a, b, c, m, n, k, ta, tb, 0.75, 0.25)
        batched(ta, tb, m, n, k, 0.75, a.ctypes.data, a.shape[-1], b.ctypes.data, b.shape[-1], 0.25, c.ctypes.data,
                c.shape[-1], count, a[0].size, b[0].size, c[0].size)
        assert np.all(np.abs(c - expected) <= tolerance), f"batch of {count} ({m}x{k} @ {k}x{n})"


def test_empty_products_write_nothing(kernel):
    gemm, batched = kernel
    c = np.full((3, 3), 7.0)
    _run(gemm, 0, 3, 3, 0, 0, 1.0, 0.0, np.ones((3, 3)), np.ones((3, 3)), c)
    _run(gemm, 3, 0, 3, 0, 0, 1.0, 0.0, np.ones((3, 3)), np.ones((3, 3)), c)
    batched(0, 0, 3, 3, 3, 1.0, c.ctypes.data, 3, c.ctypes.data, 3, 0.0, c.ctypes.data, 3, 0, 9, 9, 9)
    assert np.all(c == 7.0)


def test_process_entries_follow_the_policy_and_are_callable_by_name():
    entries = runtime.contraction()
    rng = np.random.default_rng(6)
    gemm = GEMM(entries["gemm"])
    for m, n, k in [(3, 5, 7), (200, 190, 180), (1, 300, 40), (300, 1, 40)]:
        _check(gemm, rng, m, n, k, 1, 0)
    # A module that only declares `symgrad_gemm` links against the process's entry.
    module = ir.Module("calls_gemm")
    i64, double = ir.IntType(64), ir.DoubleType()
    pointer = double.as_pointer()
    callee = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64] * 5 + [double, pointer, i64, pointer, i64,
                                                                         double, pointer, i64]), "symgrad_gemm")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [pointer, pointer, pointer]), "square_by_name")
    builder = ir.IRBuilder(fn.append_basic_block())
    a, _, c = fn.args
    two, one = ir.Constant(i64, 2), ir.Constant(i64, 1)
    builder.call(callee, [ir.Constant(i64, 0), ir.Constant(i64, 0), two, two, two, ir.Constant(double, 1.0), a, two,
                          a, two, ir.Constant(double, 0.0), c, two])
    builder.call(callee, [one, ir.Constant(i64, 0), two, two, two, ir.Constant(double, 1.0), a, two,
                          a, two, ir.Constant(double, 1.0), c, two])
    builder.ret_void()
    address = runtime._get_engine().add(str(module), ["square_by_name"])["square_by_name"]
    x, out = np.array([[1.0, 2.0], [3.0, 4.0]]), np.full((2, 2), np.nan)
    ctypes.CFUNCTYPE(None, P, P, P)(address)(x.ctypes.data, 0, out.ctypes.data)
    np.testing.assert_allclose(out, x @ x + x.T @ x, rtol=1e-15)


def test_naive_fallback_product():
    module = ir.Module("naive")
    fn = emit_naive(module, "test_fallback_")
    fn.linkage = ""
    address = runtime._get_engine().add(str(module), [fn.name])[fn.name]
    types = [P if isinstance(t, ir.PointerType) else (D if t == ir.DoubleType() else L) for _, t in STRIDED_ARGUMENTS]
    naive = ctypes.CFUNCTYPE(None, *types)(address)
    rng = np.random.default_rng(7)
    a, b, c = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), np.full((5, 3), np.nan)
    naive(5, 3, 4, 2.0, a.ctypes.data, 4, 1, b.ctypes.data, 1, 4, 0.0, c.ctypes.data, 3)
    np.testing.assert_allclose(c, 2.0 * a @ b.T, rtol=1e-14)


@pytest.mark.skipif(not HAVE_BLAS, reason="no BLAS found in this process or on this machine")
def test_found_lapack_routine_has_the_documented_abi():
    found = blas.routine("dpotrf")
    if found is None:
        pytest.skip("the BLAS found has no LAPACK")
    assert found.abi == blas.FORTRAN and found.int_bits in (32, 64)
    assert found.symbol == f"symgrad_f77_dpotrf_i{found.int_bits}"
    integer = ctypes.c_int64 if found.int_bits == 64 else ctypes.c_int32
    dpotrf = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.POINTER(integer), P, ctypes.POINTER(integer),
                              ctypes.POINTER(integer), ctypes.c_size_t)(found.address)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 6))
    spd = x @ x.T + 6 * np.eye(6)
    work = np.asfortranarray(spd)
    info = integer(-1)
    dpotrf(b"L", ctypes.byref(integer(6)), work.ctypes.data, ctypes.byref(integer(6)), ctypes.byref(info), 1)
    assert info.value == 0
    np.testing.assert_allclose(np.tril(work), np.linalg.cholesky(spd), rtol=1e-12)


def test_routine_lookup_refuses_names_that_are_not_identifiers():
    assert blas.routine("no_such_routine_anywhere") is None
    with pytest.raises(ValueError, match="not a BLAS/LAPACK name"):
        blas.routine("dgemm; rm")



def test_leading_dimension_zero_repeats_one_row(kernel):
    # No BLAS takes lda = 0; the BLAS entry must hand such operands to symgrad's kernels.
    gemm, _ = kernel
    rng = np.random.default_rng(9)
    for m, n, k in [(5, 7, 3), (1, 9, 4), (9, 1, 4), (70, 65, 33)]:
        row, b, c = rng.standard_normal((1, k)), rng.standard_normal((k, n)), np.full((m, n), np.nan)
        gemm(0, 0, m, n, k, 1.0, row.ctypes.data, 0, b.ctypes.data, n, 0.0, c.ctypes.data, n)
        np.testing.assert_allclose(c, np.repeat(row, m, axis=0) @ b, rtol=1e-12, atol=1e-300)


def test_module_without_blas_dispatches_to_own_kernels():
    entries = runtime.contraction(use_blas=False)
    assert "gemm_blas" not in entries
    rng = np.random.default_rng(10)
    for m, n, k in [(3, 5, 7), (200, 190, 180), (1, 300, 40), (300, 1, 40)]:
        _check(GEMM(entries["gemm"]), rng, m, n, k, 0, 1, pad=1)


def test_parallel_for_runs_every_chunk_once():
    runtime.contraction()
    module = ir.Module("uses_pool")
    i64 = ir.IntType(64)
    words_type = i64.as_pointer()
    task_type = ir.FunctionType(ir.VoidType(), [words_type, i64])
    task = ir.Function(module, task_type, "count_chunk")
    builder = ir.IRBuilder(task.append_basic_block())
    counts = builder.inttoptr(builder.load(task.args[0]), words_type)
    builder.atomic_rmw("add", builder.gep(counts, [task.args[1]]), ir.Constant(i64, 1), "seq_cst")
    builder.ret_void()
    pool = ir.Function(module, ir.FunctionType(ir.VoidType(), [task_type.as_pointer(), words_type, i64]),
                       "symgrad_parallel_for")
    run = ir.Function(module, ir.FunctionType(ir.VoidType(), [words_type, i64]), "count_chunks")
    builder = ir.IRBuilder(run.append_basic_block())
    words = builder.alloca(i64)
    builder.store(builder.ptrtoint(run.args[0], i64), words)
    builder.call(pool, [task, words, run.args[1]])
    builder.ret_void()
    address = runtime._get_engine().add(str(module), ["count_chunks"])["count_chunks"]
    count_chunks = ctypes.CFUNCTYPE(None, P, L)(address)
    for chunks in (0, 1, 2, 7, 1000):
        counts = np.zeros(max(chunks, 1), dtype=np.int64)
        count_chunks(counts.ctypes.data, chunks)
        assert np.all(counts[:chunks] == 1), f"{chunks} chunks ran {counts.tolist()[:20]} times"
