"""Find BLAS and LAPACK routines that native code can call, and name them for generated code.

`routine("dgemm")` looks for the routine, in this order:

1. in the shared objects already loaded in the process (read from
   `/proc/self/maps`, plus the main program): NumPy's wheels bundle
   OpenBLAS (`numpy.libs/libscipy_openblas64_-*.so`, routines named
   `scipy_dgemm_64_`, `scipy_cblas_dgemm64_`);
2. in SciPy's `scipy.linalg.cython_blas` / `cython_lapack` capsules, when
   SciPy is installed (its documented, build-independent way to reach the
   BLAS it was built with);
3. in the libraries `ctypes.util.find_library` finds for `openblas`,
   `flexiblas`, `blas`, `lapack` and `mkl_rt`.

Names are tried in the conventions of OpenBLAS builds (`scipy_` prefix or
none; `64_` suffix for 64-bit integers, `_` for 32-bit). A library without
a suffix is taken as 32-bit integers (the LP64 convention) unless it is an
OpenBLAS whose `openblas_get_config()` says `USE64BITINT`. Not searched:
Accelerate's `$NEWLAPACK$ILP64` names (macOS) and MKL's ILP64 `_64` names.

The ABI of a found routine is in its `Routine`: `abi` is `"fortran"`
(every argument by pointer, column-major, character arguments followed by
hidden `size_t` lengths at the end, which C implementations ignore) or
`"cblas"` (C ABI, by value, order and transpose as C `int` enums), and
`int_bits` is the width of every integer argument (32 or 64).

Generated code never holds a process address: `register(routine)` gives
the routine a name built from its ABI (`symgrad_f77_dgemm_i64`,
`symgrad_cblas_dgemm_i64`) through `llvmlite.binding.add_symbol`, and
modules declare and call that name. A cached object file compiled against
an i64 routine therefore fails to link, instead of passing wrong integers,
in a process where only an i32 one was found.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import os
from dataclasses import dataclass

from llvmlite import binding

FORTRAN, CBLAS = "fortran", "cblas"
# (prefix, suffix of Fortran names, suffix of C names, integer bits); a None width means
# "32 unless the library is an OpenBLAS built with 64-bit integers".
_CONVENTIONS = (
    ("scipy_", "_64_", "64_", 64),
    ("", "_64_", "64_", 64),
    ("scipy_", "_", "", 32),
    ("", "_", "", None),
)
_LIBRARY_NAMES = ("openblas", "openblas64", "flexiblas", "blas", "lapack", "mkl_rt")


@dataclass(frozen=True)
class Routine:
    """A BLAS or LAPACK routine native code can call.

    Attributes:
        name: the routine as BLAS names it (`"dgemm"`, `"cblas_dgemm"`, `"dpotrf"`).
        abi: `"fortran"` or `"cblas"` (see the module docstring).
        int_bits: width of the integer arguments, 32 or 64.
        address: where it is in this process.
        origin: the library file (and the exported name) or the SciPy capsule it came from.
    """

    name: str
    abi: str
    int_bits: int
    address: int
    origin: str

    @property
    def symbol(self) -> str:
        """The name generated code calls it by (after `register`)."""
        kind = "cblas" if self.abi == CBLAS else "f77"
        return f"symgrad_{kind}_{self.name.removeprefix('cblas_')}_i{self.int_bits}"


@functools.cache
def routine(name: str) -> Routine | None:
    """The routine `name` (`"dgemm"`, `"dgemv"`, `"dpotrf"`, `"cblas_dgemm"`, ...), or None if none is found.

    >>> r = routine("dgemm")
    >>> r is None or (r.abi, r.int_bits in (32, 64)) == ("fortran", True)
    True
    """
    if not name.isidentifier():
        raise ValueError(f"routine name {name!r} is not a BLAS/LAPACK name; pass e.g. 'dgemm' or 'dpotrf'")
    found = _in_libraries(name, _loaded_libraries())
    if found is None and not name.startswith("cblas_"):
        found = _in_scipy(name)
    if found is None:
        found = _in_libraries(name, _system_libraries())
    return found


def register(found: Routine) -> str:
    """Make `found.symbol` resolvable by JIT-compiled code; returns the symbol."""
    binding.add_symbol(found.symbol, found.address)
    return found.symbol


def _exported_name(name: str, prefix: str, fortran_suffix: str, c_suffix: str) -> str:
    return prefix + name + (c_suffix if name.startswith("cblas_") else fortran_suffix)


def _in_libraries(name: str, libraries: list[str]) -> Routine | None:
    for prefix, fortran_suffix, c_suffix, bits in _CONVENTIONS:
        exported = _exported_name(name, prefix, fortran_suffix, c_suffix)
        for path in libraries:
            library = _open(path)
            if library is None:
                continue
            address = _address(library, exported)
            if address:
                width = bits or _openblas_int_bits(library, prefix, c_suffix)
                abi = CBLAS if name.startswith("cblas_") else FORTRAN
                return Routine(name, abi, width, address, f"{_library_of(address) or path}:{exported}")
    return None


def _openblas_int_bits(library: ctypes.CDLL, prefix: str, c_suffix: str) -> int:
    address = _address(library, f"{prefix}openblas_get_config{c_suffix}")
    if not address:
        return 32
    config = ctypes.CFUNCTYPE(ctypes.c_char_p)(address)() or b""
    return 64 if b"USE64BITINT" in config else 32


class _DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]


def _library_of(address: int) -> str:
    """The file of the shared object holding `address` (a lookup through a library also
    searches the libraries it depends on), or "" where `dladdr` is not available."""
    dladdr = getattr(_open(""), "dladdr", None)
    info = _DlInfo()
    if dladdr is None or not dladdr(ctypes.c_void_p(address), ctypes.byref(info)):
        return ""
    return os.path.normpath((info.fname or b"").decode(errors="replace"))


def _address(library: ctypes.CDLL, exported: str) -> int:
    try:
        return ctypes.cast(getattr(library, exported), ctypes.c_void_p).value or 0
    except AttributeError:
        return 0


@functools.cache
def _open(path: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(path or None)
    except OSError:
        return None


def _loaded_libraries() -> list[str]:
    """The main program and the shared objects mapped into this process, in load order."""
    paths = [""]
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and ".so" in fields[-1] and fields[-1] not in paths:
                    paths.append(fields[-1])
    except OSError:  # not Linux: only the main program's global namespace
        pass
    return paths


def _system_libraries() -> list[str]:
    return [path for path in map(ctypes.util.find_library, _LIBRARY_NAMES) if path]


def _in_scipy(name: str) -> Routine | None:
    """A routine from SciPy's Cython BLAS/LAPACK tables (Fortran ABI, 32-bit integers)."""
    if importlib.util.find_spec("scipy") is None:
        return None
    from scipy.linalg import cython_blas, cython_lapack

    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    for table in (cython_blas, cython_lapack):
        capsule = table.__pyx_capi__.get(name)
        if capsule is not None:
            address = get_pointer(capsule, get_name(capsule))
            return Routine(name, FORTRAN, 32, address, f"{table.__name__}.__pyx_capi__[{name!r}]")
    return None
