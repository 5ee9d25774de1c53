"""`symgrad_gemm` through NumPy's bundled OpenBLAS (stand-in until the contraction kernels land).

TODO(issue 8): replaced by `symgrad.codegen.blas` (BLAS discovery, own blocked kernel, dispatch policy).
"""

from __future__ import annotations

import glob
import os
import threading

import numpy as np
from llvmlite import binding, ir

_done = False
_lock = threading.Lock()


def ensure_gemm() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        from ..runtime import _get_engine

        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"))
        if not libs:
            raise RuntimeError("no BLAS found for matrix products")
        binding.load_library_permanently(libs[0])
        module = ir.Module(name="symgrad_gemm")
        i64, double = ir.IntType(64), ir.DoubleType()
        ptr = double.as_pointer()
        cblas = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64, i64, i64, i64, i64, i64, double, ptr, i64,
                                                                     ptr, i64, double, ptr, i64]),
                            "scipy_cblas_dgemm64_")
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64, i64, i64, i64, i64, double, ptr, i64, ptr, i64,
                                                                  double, ptr, i64]), "symgrad_gemm")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ta, tb, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc = fn.args
        to_cblas = lambda t: b.add(t, ir.Constant(i64, 111))  # noqa: E731  (CblasNoTrans = 111, CblasTrans = 112)
        b.call(cblas, [ir.Constant(i64, 101), to_cblas(ta), to_cblas(tb), m, n, k, alpha, a, lda, bb, ldb, beta, c,
                       ldc])
        b.ret_void()
        address = _get_engine().add(str(module), ["symgrad_gemm"])["symgrad_gemm"]
        # Registered process-wide: kernels in later engine generations link to it by name.
        binding.add_symbol("symgrad_gemm", address)
        _done = True
