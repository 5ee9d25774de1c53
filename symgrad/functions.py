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
    # SciPy's special functions (`scipy.special`), with SciPy's definitions.
    "gamma": "The gamma function Γ(x)", "gammaln": "log|Γ(x)|, without overflow",
    "digamma": "The digamma function ψ(x) = Γ'(x)/Γ(x) (SciPy's `psi`)",
    "polygamma": "The polygamma function ψ⁽ⁿ⁾(x), the n-th derivative of ψ (no derivative along n)",
    "zeta": "The Hurwitz zeta function Σ (k + q)^-s, for s > 1 and q > 0 (no derivative along s)",
    "erfc": "Complementary error function 1 - erf(x), exact for large x",
    "erfinv": "Inverse error function", "ndtr": "Standard normal distribution function",
    "log_ndtr": "log of the standard normal distribution function, exact in the lower tail",
    "logit": "log(p/(1-p)), the inverse of `sigmoid` (SciPy's `logit`)",
    "xlog1py": "x*log1p(y), and 0 where x is 0 (SciPy's `xlog1py`)",
    "i0": "Modified Bessel function of the first kind of order 0",
    "i1": "Modified Bessel function of the first kind of order 1",
    "i0e": "Exponentially scaled modified Bessel function exp(-|x|) I0(x)",
    "i1e": "Exponentially scaled modified Bessel function exp(-|x|) I1(x)",
    "jv": "Bessel function of the first kind J_v(x) of real order v (no derivative along v)",
    "yv": "Bessel function of the second kind Y_v(x) of real order v (no derivative along v)",
    "beta": "The beta function B(a, b) = Γ(a)Γ(b)/Γ(a+b)", "betaln": "log|B(a, b)|",
    "gammainc": "Regularized lower incomplete gamma function P(a, x) (no derivative along a)",
    "gammaincc": "Regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (no derivative along a)",
    "betainc": "Regularized incomplete beta function I_x(a, b) (no derivative along a and b)",
}

def _public(name: str):
    """The public function of the primitive `name`, documented by its summary."""
    return _elementwise(REGISTRY[name], name, _SUMMARIES[name])


sin = _public("sin")
cos = _public("cos")
tan = _public("tan")
arcsin = _public("arcsin")
arccos = _public("arccos")
arctan = _public("arctan")
arctan2 = _public("arctan2")
sinh = _public("sinh")
cosh = _public("cosh")
tanh = _public("tanh")
arcsinh = _public("arcsinh")
arccosh = _public("arccosh")
arctanh = _public("arctanh")
exp = _public("exp")
expm1 = _public("expm1")
log = _public("log")
xlogy = _public("xlogy")
log1p = _public("log1p")
log2 = _public("log2")
log10 = _public("log10")
sqrt = _public("sqrt")
cbrt = _public("cbrt")
abs = _elementwise(REGISTRY["abs"], "abs", _SUMMARIES["abs"])  # noqa: A001  (NumPy's name)
sign = _public("sign")
floor = _public("floor")
ceil = _public("ceil")
maximum = _public("maximum")
minimum = _public("minimum")
hypot = _public("hypot")
erf = _public("erf")
sigmoid = _public("sigmoid")
softplus = _public("softplus")
relu = _public("relu")
stop_gradient = _public("stop_gradient")
_where = _elementwise(REGISTRY["where"], "where", "Select")
gamma = _public("gamma")
gammaln = _public("gammaln")
digamma = _public("digamma")
psi = digamma
polygamma = _public("polygamma")
zeta = _public("zeta")
erfc = _public("erfc")
erfinv = _public("erfinv")
ndtr = _public("ndtr")
log_ndtr = _public("log_ndtr")
logit = _public("logit")
expit = sigmoid
xlog1py = _public("xlog1py")
i0 = _public("i0")
i1 = _public("i1")
i0e = _public("i0e")
i1e = _public("i1e")
jv = _public("jv")
yv = _public("yv")
beta = _public("beta")
betaln = _public("betaln")
gammainc = _public("gammainc")
gammaincc = _public("gammaincc")
betainc = _public("betainc")


def multigammaln(a: Any, d: int) -> Any:
    """The log of the multivariate gamma function of dimension `d` (SciPy's `multigammaln`):
    d(d-1)/4 log(pi) + sum_{j=1..d} gammaln(a + (1 - j)/2), for a > (d - 1)/2.

    >>> import symgrad as sg
    >>> round(sg.multigammaln(3.0, 2), 12)
    1.265512123484
    """
    d = int(d)
    if d < 1:
        raise ValueError(f"`multigammaln`: the dimension d must be a positive integer, got {d}")
    if not isinstance(a, TracedArray) and not _is_symbolic(a) and np.any(np.asarray(a) <= 0.5 * (d - 1)):
        raise ValueError(f"`multigammaln`: a must be larger than (d - 1)/2 = {0.5 * (d - 1)}, got {a}")
    total = d * (d - 1) / 4.0 * np.log(np.pi)
    for j in range(1, d + 1):
        total = total + gammaln(a + (1.0 - j) / 2.0)
    return total


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


def logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, b: Any = None, keepdims: bool = False) -> Any:
    """`log(sum(b * exp(x)))` along `axis` (`b` = 1 by default), computed without overflow (SciPy's signature).

    >>> import symgrad as sg
    >>> round(sg.logsumexp([1000.0, 1000.0]), 6)
    1000.693147
    """
    symbolic = isinstance(x, TracedArray) or _is_symbolic(x) or isinstance(b, TracedArray) or _is_symbolic(b)
    t = x if isinstance(x, TracedArray) else wrap(x) if symbolic else None
    if t is None:
        values = np.asarray(x, dtype=np.float64)
        top = np.max(values, axis=axis, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        terms = np.exp(values - top) if b is None else np.asarray(b, dtype=np.float64) * np.exp(values - top)
        result = np.log(np.sum(terms, axis=axis, keepdims=True)) + top
        result = result if keepdims else np.squeeze(result, axis=axis)
        return float(result) if np.ndim(result) == 0 else result
    top = stop_gradient(t.max(axis=axis, keepdims=True))
    terms = exp(t - top) if b is None else wrap(b) * exp(t - top)
    result = log(terms.sum(axis=axis, keepdims=True)) + top
    if not keepdims:
        result = result.squeeze(axis)
    if isinstance(x, TracedArray) or isinstance(b, TracedArray):
        return result
    from .scalarize import scalarize

    (elements,) = scalarize([result.node])
    return elements[()] if elements.shape == () else elements


def softmax(x: Any, axis: int | tuple[int, ...] | None = None) -> Any:
    """`exp(x) / sum(exp(x))` along `axis` (SciPy's `softmax`), computed without overflow.

    >>> import symgrad as sg
    >>> [round(v, 6) for v in sg.softmax([0.0, 1000.0])]
    [0.0, 1.0]
    """
    return exp(log_softmax(x, axis))


def log_softmax(x: Any, axis: int | tuple[int, ...] | None = None) -> Any:
    """`x - logsumexp(x)` along `axis` (SciPy's `log_softmax`)."""
    t = x if isinstance(x, TracedArray) else np.asarray(x, dtype=np.float64) if not _is_symbolic(x) else wrap(x)
    return t - logsumexp(t, axis=axis, keepdims=True)


__all__ = [
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt",
    "ceil", "cos", "cosh", "erf", "exp", "expm1", "floor", "hypot", "log", "log10", "log1p",
    "log2", "logsumexp", "maximum", "minimum", "relu", "sigmoid", "sign", "sin", "sinh",
    "softplus", "sqrt", "stop_gradient", "tan", "tanh", "where", "xlogy",
    "beta", "betainc", "betaln", "digamma", "erfc", "erfinv", "expit", "gamma", "gammainc", "gammaincc", "gammaln",
    "i0", "i0e", "i1", "i1e", "jv", "log_ndtr", "logit", "multigammaln", "ndtr", "polygamma", "psi", "xlog1py",
    "yv", "zeta", "softmax", "log_softmax",
]
