"""Contractions for compiled array code: one native matrix-product ABI, BLAS or symgrad's own kernels.

Generated code calls (row-major, BLAS semantics, no alias between C and A or B):

    void symgrad_gemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k, double alpha,
                      const double *a, i64 lda, const double *b, i64 ldb,
                      double beta, double *c, i64 ldc)
        C = alpha op(A) op(B) + beta C, C m x n; op(A) is m x k: A (lda >= k) or,
        with trans_a != 0, the transpose of A stored k x m (lda >= m); likewise B.
        beta = 0 does not read C (NaN there does not propagate); alpha = 0 or
        k = 0 does not read A or B. Any leading dimension >= 0 works (0 repeats
        one row); the BLAS is only given ones it accepts.
    void symgrad_gemm_batched(<the same>, i64 batch, i64 stride_a, i64 stride_b, i64 stride_c)
        the same for batch products, operand t at a + t stride_a (likewise b, c).
    void symgrad_parallel_for(void (*task)(i64 *words, i64 chunk), i64 *words, i64 chunks)
        task(words, c) for every c < chunks, shared with the pool of sleeping
        workers the products use (see `_threads`): any generated loop may use it.

`engine.contraction()` compiles this module once per process and names
its entries with `llvmlite.binding.add_symbol`, so modules (and cached
object files) declare and call them by name; it must run before such a
module is added. The entries may be called from several threads at once;
large products start their own threads (`Policy.threads`), also when the
caller is itself one of several threads.

Dispatch policy, measured with `python benchmarks/contraction.py` (results
in `benchmarks/results/contraction*.md`; `--threads 1`, `--sweep`) on this
2-core AMD EPYC (AVX2, shared with other jobs) with NumPy 2.4's OpenBLAS
0.3.31 (Haswell kernels, 2 threads): symgrad_gemm calls symgrad's own
kernels at every size. The BLAS is found and callable
(`symgrad_gemm_blas`, `blas.routine`) but not chosen. Why (GFLOP/s):

- The kernels are within a few percent. On one thread (thread CPU time, which
  load blurs less), own / OpenBLAS: 1000^2 31.5 / 33.3, 2000^2 31.3 / 33.9,
  MLP (128x784)@(784x256) 34.0 / 34.3, its A.T case 33.8 / 32.8, its B.T
  case 29.0 / 32.0 (the one layout where packing op(B) costs symgrad
  ~10%), 512^2 31.5 / 31.6. Small products skip packing and the library
  call: 8^2 6.6 / 4.0, 32^2 23.6 / 18.2, 10^4 products of 8x8 10.2 / 6.4.
  Matrix-vector: X @ w with X 10^6 x 10 2.3 / 1.3, X.T @ r 1.7 / 1.5;
  square ones even (sweep, 64..2000); (10^5 x 32) @ v is the exception,
  1.7 / 2.5.
- OpenBLAS's thread pool breaks down when the other core is busy, the
  usual state of this machine. With one other process running, own /
  OpenBLAS on both cores: MLP 21.7 / 4.4, its A.T and B.T cases 29.6 / 9.5
  and 24.2 / 3.5, 512^2 23.3 / 12.1, 64 products of 128^2 24.4 / 0.5;
  1000^2 27.8 / 29.0 and 2000^2 34.5 / 32.7 are even. (Another run: 128^2
  29.1 / 1.4.) symgrad's threads take chunks dynamically and the caller
  never waits for a worker to wake, so a busy core costs speed, not a
  collapse. On an idle machine OpenBLAS is ~15% ahead on large products
  (1000^2: 64-68 against 56-59).
- OpenBLAS's idle threads spin for ~0.1 s after each call: symgrad's 500^2
  product right after a BLAS call ran at 15.7 against 22.3 alone (21.6
  after a 0.3 s pause; 12.5 / 24.4 in another run), so a BLAS call would
  slow down the fused loops that follow it in a compiled gradient.

Threads: a product is shared from 2 m n k >= 1.8e6 flops (2 x 96^3), in
chunks of at least 64 rows or columns; on an idle machine, one thread /
two: 96^3 28 / 31, 128^3 28 / 38, 512^3 31 / 51, 1000^3 38 / 56, MLP 30 /
53 (chunks of 32 lost to packing, 64^3 did not gain). A matrix-vector
product is shared from m n k >= 10^6 (X @ w: 11.6 ms on one thread, 7.6
ms on two). On another machine (more cores, MKL) rerun the benchmark:
`Policy.blas_min_volume` sends matrix products to the BLAS from a size
on, `blas_vector_side` matrix-vector products.
"""

from __future__ import annotations

import re

from llvmlite import ir

from ..llvm import ROW_THREADS, VECTOR_WIDTH
from . import blas
from .dispatch import BATCH_ARGUMENTS, GEMM_ARGUMENTS, emit_entries
from .micro import blocking_for
from .policy import Policy

__all__ = ["BATCH_ARGUMENTS", "GEMM_ARGUMENTS", "POLICY", "Policy", "emit_module", "module_source"]

POLICY = Policy(
    blas_min_volume=None,
    blas_vector_side=None,
    parallel_min_flops=2 * 96**3,
    parallel_min_vector=1e6,
    threads=ROW_THREADS,
    min_chunk=64,
)


def emit_module(prefix: str = "symgrad_", width: int | None = None, policy: Policy = POLICY,
                use_blas: bool = True) -> tuple[ir.Module, list[str]]:
    """The contraction module and the names of its entries (see the module docstring).

    Args:
        prefix: prefix of every function name (one module per prefix per process).
        width: doubles per vector in symgrad's kernels (2, 4 or 8); the host's by default.
        policy: when the BLAS is called and when threads are started.
        use_blas: look for a BLAS (and register it, see `blas.register`); False: own kernels only.
    """
    width = VECTOR_WIDTH if width is None else width
    gemm = blas.routine("dgemm") if use_blas else None
    gemv = blas.routine("dgemv") if gemm is not None else None
    for routine in (gemm, gemv):
        if routine is not None:
            blas.register(routine)
    module = ir.Module(name=f"{prefix}contraction")
    names = emit_entries(module, prefix, blocking_for(width), policy, gemm, gemv)
    return module, names


def module_source(module: ir.Module, width: int | None = None) -> str:
    """LLVM IR text of the module, its functions allowed vector registers of `width` doubles."""
    bits = 64 * (VECTOR_WIDTH if width is None else width)
    source = re.sub(r"^(define [^\n]*\))", r"\1 #9", str(module), flags=re.M)
    return source + f'\nattributes #9 = {{ "min-legal-vector-width"="{bits}" "prefer-vector-width"="{bits}" }}\n'
