"""The elementary functions users call: `sg.sin`, `sg.where`, `sg.logsumexp`, ...

Each works on every kind of value: traced arrays inside a transformed
function, symbolic expressions and object arrays of them (the symbolic
layer), and plain floats and NumPy arrays (evaluated with the primitive's
reference implementation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ir import Node
from .primitives import REGISTRY
from .primitives.registry import Primitive, object_ufunc
from .trace import TracedArray, apply, wrap


def _is_symbolic(x: Any) -> bool:
    return isinstance(x, Node) or (isinstance(x, np.ndarray) and x.dtype == object)


def _elementwise(prim: Primitive, name: str, summary: str):
    def function(*operands: Any) -> Any:
        if len(operands) != prim.arity:
            raise TypeError(f"`symgrad.{name}` takes {prim.arity} argument(s), got {len(operands)}")
        if any(isinstance(x, TracedArray) for x in operands):
            return apply(prim, *operands)
        if any(_is_symbolic(x) for x in operands):
            return object_ufunc(prim.bind, prim.arity)(*operands)
        with np.errstate(all="ignore"):
            result = prim.impl(*(np.asarray(x, dtype=np.float64) for x in operands))
        return float(result) if np.ndim(result) == 0 else result

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (
        f"{summary}, elementwise: on traced arrays, on symbolic expressions (and object "
        f"arrays of them), or on floats and NumPy arrays.\n\n"
        f"Args:\n    {', '.join('xy'[:prim.arity]) if prim.arity < 3 else 'c, x, y'}: the operands "
        f"(broadcast together).\n\nReturns:\n    `{name}` of the operands, of the same kind."
    )
    return function


_SUMMARIES = {
    "sin": "Sine", "cos": "Cosine", "tan": "Tangent", "arcsin": "Inverse sine",
    "arccos": "Inverse cosine", "arctan": "Inverse tangent", "arctan2": "Angle of the point (x, y): arctan2(y, x)",
    "sinh": "Hyperbolic sine", "cosh": "Hyperbolic cosine", "tanh": "Hyperbolic tangent",
    "arcsinh": "Inverse hyperbolic sine", "arccosh": "Inverse hyperbolic cosine",
    "arctanh": "Inverse hyperbolic tangent", "exp": "Exponential", "expm1": "exp(x) - 1, accurate near 0",
    "log": "Natural logarithm", "log1p": "log(1 + x), accurate near 0", "log2": "Base-2 logarithm",
    "xlogy": "x*log(y), and 0 where x is 0 (SciPy's `xlogy`)",
    "log10": "Base-10 logarithm", "sqrt": "Square root", "cbrt": "Cube root",
    "abs": "Absolute value (derivative 1 at 0, the x >= 0 branch, as in JAX)",
    "sign": "Sign: -1, 0 or 1 (derivative 0)",
    "floor": "Floor (derivative 0)", "ceil": "Ceiling (derivative 0)",
    "maximum": "Larger of two values (ties split the derivative evenly)",
    "minimum": "Smaller of two values (ties split the derivative evenly)",
    "hypot": "sqrt(x**2 + y**2) without overflow", "erf": "Error function",
    "sigmoid": "Logistic sigmoid 1 / (1 + exp(-x))", "softplus": "log(1 + exp(x)), computed stably",
    "relu": "max(x, 0) (derivative 0 at 0, as in JAX)",
    "stop_gradient": "The value of x with zero derivative (PyTorch's `detach`)",
}

sin = _elementwise(REGISTRY["sin"], "sin", _SUMMARIES["sin"])
cos = _elementwise(REGISTRY["cos"], "cos", _SUMMARIES["cos"])
tan = _elementwise(REGISTRY["tan"], "tan", _SUMMARIES["tan"])
arcsin = _elementwise(REGISTRY["arcsin"], "arcsin", _SUMMARIES["arcsin"])
arccos = _elementwise(REGISTRY["arccos"], "arccos", _SUMMARIES["arccos"])
arctan = _elementwise(REGISTRY["arctan"], "arctan", _SUMMARIES["arctan"])
arctan2 = _elementwise(REGISTRY["arctan2"], "arctan2", _SUMMARIES["arctan2"])
sinh = _elementwise(REGISTRY["sinh"], "sinh", _SUMMARIES["sinh"])
cosh = _elementwise(REGISTRY["cosh"], "cosh", _SUMMARIES["cosh"])
tanh = _elementwise(REGISTRY["tanh"], "tanh", _SUMMARIES["tanh"])
arcsinh = _elementwise(REGISTRY["arcsinh"], "arcsinh", _SUMMARIES["arcsinh"])
arccosh = _elementwise(REGISTRY["arccosh"], "arccosh", _SUMMARIES["arccosh"])
arctanh = _elementwise(REGISTRY["arctanh"], "arctanh", _SUMMARIES["arctanh"])
exp = _elementwise(REGISTRY["exp"], "exp", _SUMMARIES["exp"])
expm1 = _elementwise(REGISTRY["expm1"], "expm1", _SUMMARIES["expm1"])
log = _elementwise(REGISTRY["log"], "log", _SUMMARIES["log"])
xlogy = _elementwise(REGISTRY["xlogy"], "xlogy", _SUMMARIES["xlogy"])
log1p = _elementwise(REGISTRY["log1p"], "log1p", _SUMMARIES["log1p"])
log2 = _elementwise(REGISTRY["log2"], "log2", _SUMMARIES["log2"])
log10 = _elementwise(REGISTRY["log10"], "log10", _SUMMARIES["log10"])
sqrt = _elementwise(REGISTRY["sqrt"], "sqrt", _SUMMARIES["sqrt"])
cbrt = _elementwise(REGISTRY["cbrt"], "cbrt", _SUMMARIES["cbrt"])
abs = _elementwise(REGISTRY["abs"], "abs", _SUMMARIES["abs"])  # noqa: A001  (NumPy's name)
sign = _elementwise(REGISTRY["sign"], "sign", _SUMMARIES["sign"])
floor = _elementwise(REGISTRY["floor"], "floor", _SUMMARIES["floor"])
ceil = _elementwise(REGISTRY["ceil"], "ceil", _SUMMARIES["ceil"])
maximum = _elementwise(REGISTRY["maximum"], "maximum", _SUMMARIES["maximum"])
minimum = _elementwise(REGISTRY["minimum"], "minimum", _SUMMARIES["minimum"])
hypot = _elementwise(REGISTRY["hypot"], "hypot", _SUMMARIES["hypot"])
erf = _elementwise(REGISTRY["erf"], "erf", _SUMMARIES["erf"])
sigmoid = _elementwise(REGISTRY["sigmoid"], "sigmoid", _SUMMARIES["sigmoid"])
softplus = _elementwise(REGISTRY["softplus"], "softplus", _SUMMARIES["softplus"])
relu = _elementwise(REGISTRY["relu"], "relu", _SUMMARIES["relu"])
stop_gradient = _elementwise(REGISTRY["stop_gradient"], "stop_gradient", _SUMMARIES["stop_gradient"])
_where = _elementwise(REGISTRY["where"], "where", "Select")


def where(condition: Any, x: Any, y: Any) -> Any:
    """`x` where `condition` holds, else `y`, elementwise.

    The derivative takes the derivative of the branch selected at each point;
    a NaN or infinity in the branch not taken never leaks into it, so the
    gradient of `where(x > 0, sqrt(x), 0)` at -1 is exactly 0.

    >>> import symgrad as sg
    >>> sg.where(1.0 > 0, 2.0, 3.0)
    2.0
    """
    return _where(condition, x, y)


def logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """`log(sum(exp(x)))` along `axis`, computed without overflow.

    >>> import symgrad as sg
    >>> round(sg.logsumexp([1000.0, 1000.0]), 6)
    1000.693147
    """
    symbolic = isinstance(x, TracedArray) or _is_symbolic(x)
    t = x if isinstance(x, TracedArray) else wrap(x) if symbolic else None
    if t is None:
        values = np.asarray(x, dtype=np.float64)
        top = np.max(values, axis=axis, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        result = np.log(np.sum(np.exp(values - top), axis=axis, keepdims=True)) + top
        result = result if keepdims else np.squeeze(result, axis=axis)
        return float(result) if np.ndim(result) == 0 else result
    top = stop_gradient(t.max(axis=axis, keepdims=True))
    result = log(exp(t - top).sum(axis=axis, keepdims=True)) + top
    if not keepdims:
        result = result.squeeze(axis)
    if isinstance(x, TracedArray):
        return result
    from .scalarize import scalarize

    (elements,) = scalarize([result.node])
    return elements[()] if elements.shape == () else elements


__all__ = [
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt",
    "ceil", "cos", "cosh", "erf", "exp", "expm1", "floor", "hypot", "log", "log10", "log1p",
    "log2", "logsumexp", "maximum", "minimum", "relu", "sigmoid", "sign", "sin", "sinh",
    "softplus", "sqrt", "stop_gradient", "tan", "tanh", "where", "xlogy",
]
