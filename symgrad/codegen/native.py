"""Native functions generated code calls by name: SciPy's compiled special functions.

A primitive lowered as `Native("psi")` is a call of `double
symgrad_scipy_psi(double, int)`: SciPy's `scipy.special.cython_special.psi`
(its double version; the `int` is Cython's `__pyx_skip_dispatch`, passed 0).
Its address comes from the module's C API table (`__pyx_capi__`, a
`PyCapsule` per function whose name is the C signature, checked here), and
is given to the name with `llvmlite.binding.add_symbol` before code is
linked (`called`, which reads the names from the object code), so compiled
code, cached on disk, never holds an address. SciPy is imported only when such code is compiled or loaded.
"""

from __future__ import annotations

import ctypes
import functools
import re

from ..errors import UnsupportedPrimitiveError
from ..primitives.registry import REGISTRY, Native

_SKIP_DISPATCH = "int __pyx_skip_dispatch"
def symbol(how: Native) -> str:
    """The name generated code calls `how` by."""
    return f"symgrad_scipy_{how.name}"


def signature(arity: int) -> str:
    return f"double ({', '.join(['double'] * arity + [_SKIP_DISPATCH])})"


@functools.cache
def address(name: str, arity: int) -> int:
    """The address of `scipy.special.cython_special.<name>` taking `arity` doubles, or a clear error."""
    try:
        from scipy.special import cython_special
    except ImportError:
        raise UnsupportedPrimitiveError(
            f"compiling `{name}` needs SciPy, whose compiled special functions symgrad calls: "
            "install it with `pip install scipy` (tracing, derivatives and formulas work without it)") from None

    table = cython_special.__pyx_capi__
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    wanted = signature(arity)
    # Fused functions (double, float, complex versions) are entered as `__pyx_fuse_<k><name>`.
    for key in (name, *(f"__pyx_fuse_{k}{name}" for k in range(4))):
        capsule = table.get(key)
        if capsule is not None and get_name(capsule).decode() == wanted:
            return get_pointer(capsule, get_name(capsule))
    raise UnsupportedPrimitiveError(
        f"this SciPy has no compiled `{name}` with the signature `{wanted}` in `scipy.special.cython_special`; "
        "symgrad needs SciPy 1.11 or later to compile it")


_CALLED = re.compile(rb"symgrad_scipy_([A-Za-z0-9_]+)")


def _arities() -> dict[str, int]:
    """The number of operands of each SciPy function a primitive is lowered to."""
    return {op.llvm.name: op.arity for op in REGISTRY.values() if isinstance(op.llvm, Native)}


def called(code: bytes) -> dict[str, int]:
    """`symbol -> address` of the SciPy functions object code calls: their names are in its symbol
    table, so neither a hit in the compile cache nor a miss needs the graph walked to find them."""
    names = set(_CALLED.findall(code))
    if not names:
        return {}
    arities = _arities()
    return {f"symgrad_scipy_{name}": address(name, arities[name]) for name in map(bytes.decode, names)}
