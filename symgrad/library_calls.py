"""Which library function a failed conversion came from, and what to use instead.

SciPy's Python functions (`scipy.special.logsumexp`, `scipy.stats.norm.logpdf`,
...) convert their arguments with `np.asarray`, which cannot give a traced
array a concrete value (SciPy's ufuncs, `scipy.special.gammaln`, do dispatch
to symgrad). When such a conversion fails, the error names the SciPy
function the user called (the outermost SciPy frame on the stack) and the
symgrad function to call instead, when there is one.
"""

from __future__ import annotations

import os
import sys

_SCIPY_PART = f"{os.sep}scipy{os.sep}"


def _scipy_entry(frame):
    """The outermost SciPy frame between `frame` and the user's code, or None."""
    from .trace import _NUMPY_DIR, _SYMGRAD_DIR

    entry = None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if _SCIPY_PART in path:
            entry = frame
        elif not path.startswith((_SYMGRAD_DIR, _NUMPY_DIR)):
            break
        frame = frame.f_back
    return entry


def numpy_advice() -> str | None:
    """For a NumPy function that computed with traced values as Python objects (`np.mean([t0, t1])`: NumPy
    made an object array of the list), what to do instead; else None."""
    from .trace import _NUMPY_DIR, _SYMGRAD_DIR

    frame, entry = sys._getframe(1), None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if path.startswith(_NUMPY_DIR):
            entry = frame
        elif not path.startswith(_SYMGRAD_DIR):
            break
        frame = frame.f_back
    if entry is None:
        return None
    name = entry.f_code.co_name
    return (f"`np.{name}` computed with traced values as Python objects (NumPy made an object array of a list "
            f"holding them, and its `{name}` needs concrete numbers); build the array with `np.stack([...])` "
            f"(or `np.concatenate`) first: `np.{name}` of a traced array is traced")


def _public_module(name: str) -> str:
    parts = []
    for part in name.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts)


def scipy_advice() -> str | None:
    """'`scipy.special.logsumexp` converts ...; use `symgrad.logsumexp` instead.' when a SciPy function is on the
    stack, else None."""
    entry = _scipy_entry(sys._getframe(1))
    if entry is None:
        return None
    function = entry.f_code.co_name
    module = _public_module(entry.f_globals.get("__name__", "scipy"))
    owner = entry.f_locals.get("self")
    distribution = getattr(getattr(owner, "dist", owner), "name", None) if owner is not None else None
    if module.startswith("scipy.stats") and isinstance(distribution, str):
        called = f"scipy.stats.{distribution}.{function}"
        replacement = _stats_replacement(distribution, function)
    else:
        called = f"{module}.{function}"
        replacement = _special_replacement(function)
    what = f"`{called}` needs concrete values (SciPy converts its arguments to NumPy arrays), not traced ones"
    if replacement is None:
        return f"{what}; symgrad has no traced version of it: compute it outside the traced function and pass " \
               "the result in, or write it with NumPy functions on the traced values"
    return f"{what}; use `{replacement}` instead (the same function, traced)"


def _special_replacement(function: str) -> str | None:
    from . import functions

    return f"symgrad.{function}" if function in functions.__all__ else None


def _stats_replacement(distribution: str, method: str) -> str | None:
    try:
        from . import stats
    except ImportError:
        return None
    found = getattr(getattr(stats, distribution, None), method, None)
    return f"symgrad.stats.{distribution}.{method}" if found is not None else None
