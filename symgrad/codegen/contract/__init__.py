"""Contractions for compiled array code: one native matrix-product ABI, BLAS or symgrad's own kernels.

Generated code calls (row-major, BLAS semantics, no alias between C and A or B):

    void symgrad_gemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k, double alpha,
                      const double *a, i64 lda, const double *b, i64 ldb,
                      double beta, double *c, i64 ldc)
        C = alpha op(A) op(B) + beta C, C m x n; op(A) is m x k: A (lda >= k) or,
        with trans_a != 0, the transpose of A stored k x m (lda >= m); likewise B.
        beta = 0 does not read C (NaN there does not propagate); alpha = 0 or
        k = 0 does not read A or B.
    void symgrad_gemm_batched(<the same>, i64 batch, i64 stride_a, i64 stride_b, i64 stride_c)
        the same for batch products, operand t at a + t stride_a (likewise b, c).

`runtime.contraction()` compiles this module once per process and names
its entries with `llvmlite.binding.add_symbol`, so modules (and cached
object files) declare and call them by name.

Dispatch policy (measured, see `benchmarks/contraction.py`): filled in below.
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
    blas_min_volume=64**3,
    blas_vector_side=None,
    parallel_min_flops=4e6,
    parallel_min_vector=1e6,
    threads=ROW_THREADS,
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
