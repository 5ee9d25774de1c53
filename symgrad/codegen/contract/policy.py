"""When the BLAS is called and when symgrad's kernels use threads, and the IR to test it."""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ._ir import DOUBLE


@dataclass(frozen=True)
class Policy:
    """Thresholds of the dispatch (the measured values are `contract.POLICY`)."""

    blas_min_volume: float | None  # m n k from which a matrix product goes to the BLAS (None: never)
    blas_vector_side: int | None  # a matrix-vector product goes to the BLAS when both sides are this long
    parallel_min_flops: float  # 2 m n k from which the own product (or a batch) is shared between threads
    parallel_min_vector: float  # m n k from which the own matrix-vector product is shared
    threads: int  # threads a product may use (1: never start one)
    # Shared work is cut into chunks of at least this many rows or columns of C (each chunk packs
    # its own copy of the other operand), and matrix-vector chunks read at least this many elements.
    min_chunk: int = 128
    min_chunk_elements: int = 1 << 16


def volume(b: ir.IRBuilder, *sizes: ir.Value) -> ir.Value:
    """The product of the sizes as a double (no overflow)."""
    total = b.sitofp(sizes[0], DOUBLE)
    for size in sizes[1:]:
        total = b.fmul(total, b.sitofp(size, DOUBLE))
    return total


def at_least(b: ir.IRBuilder, value: ir.Value, threshold: float | None) -> ir.Value:
    """`value >= threshold` (false for a threshold of None)."""
    if threshold is None:
        return ir.Constant(ir.IntType(1), 0)
    return b.fcmp_ordered(">=", value, ir.Constant(DOUBLE, float(threshold)))
