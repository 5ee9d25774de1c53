"""Special functions, as SciPy defines them (`scipy.special`): gamma, digamma, Bessel, error and beta functions.

One `defprimitive` each, with `ufunc=` set to SciPy's ufunc name, so that
`scipy.special.gammaln(x)` on a traced array becomes the primitive (SciPy's
special functions are NumPy ufuncs and dispatch through `__array_ufunc__`).

Lowering, in order of preference: the C math library (lgamma, tgamma, erfc);
a decomposition into other primitives where it is as accurate (logit,
xlog1py, ndtr, and the Hurwitz zeta and polygamma functions by cephes'
Euler-Maclaurin sum); otherwise SciPy's own compiled functions, called
through `scipy.special.cython_special`'s C API (`Native`). SciPy is then
needed to compile (not to trace, differentiate or print): without it,
compiling raises an error naming the function and what to install.
`impl` (the NumPy reference) uses SciPy where it has to.

Orders and shape parameters (the `v` of a Bessel function, `n` of
polygamma, `a` of the incomplete gamma function) have no derivative here
(`NoDerivative`): differentiating along them raises, as in JAX; they are
usually integers or fixed.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Node
from .elementwise import (
    add,
    cos,
    div,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal_p,
    log,
    log1p,
    logical_and_p,
    mul,
    neg,
    power,
    sign,
    sin,
    sub,
    where,
    xlogy,
)
from .registry import Libm, Native, NoDerivative, const, defprimitive
from .rounding import rint

SQRT_PI = math.sqrt(math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def scipy_special(name: str = "this special function"):
    """`scipy.special`, or an error naming the function and saying how to install SciPy."""
    try:
        import scipy.special
    except ImportError:
        from ..errors import UnsupportedPrimitiveError

        raise UnsupportedPrimitiveError(
            f"`{name}` is evaluated by SciPy, which is not installed: `pip install scipy`") from None
    return scipy.special


def _scipy(name: str, fallback=None):
    """The reference evaluation of `scipy.special.<name>` (`fallback` without SciPy, when there is one)."""

    def impl(*args):
        if fallback is not None:
            try:
                import scipy.special  # noqa: F401
            except ImportError:
                return fallback(*args)
        return getattr(scipy_special(name), name)(*args)

    return impl


def _order(name: str, what: str) -> NoDerivative:
    return NoDerivative(f"no derivative with respect to {what} (it is treated as a constant: pass it as a "
                        f"number, or `symgrad.stop_gradient` it)")


# ----- Gamma and related functions -----

gamma_p = defprimitive(
    "gamma", 1, impl=_scipy("gamma", np.vectorize(math.gamma, otypes=[np.float64])),
    partials=lambda x: (mul(gamma(x), digamma(x)),), sympy="gamma", llvm=Libm("tgamma"), ufunc="gamma",
)
# log|Γ(x)|, as SciPy's gammaln and C's lgamma.
gammaln_p = defprimitive(
    "gammaln", 1, impl=_scipy("gammaln", np.vectorize(math.lgamma, otypes=[np.float64])),
    partials=lambda x: (digamma(x),), sympy="loggamma", llvm=Libm("lgamma"), ufunc="gammaln",
)
digamma_p = defprimitive(
    "digamma", 1, impl=_scipy("psi"), partials=lambda x: (polygamma(1.0, x),), sympy="digamma",
    llvm=Native("psi"), ufunc="psi",
)

# cephes' Euler-Maclaurin sum for the Hurwitz zeta function (zeta.c): ten terms, then the tail from
# w = q + 9 with twelve Bernoulli corrections; its coefficients (2k)!/B_2k:
_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18)


def _zeta_decompose(s: Node, q: Node) -> Node:
    total = None
    for k in range(10):
        term = power(add(q, float(k)), neg(s))
        total = term if total is None else add(total, term)
    w = add(q, 9.0)
    b = power(w, neg(s))
    total = add(total, sub(div(mul(b, w), sub(s, 1.0)), mul(0.5, b)))
    rising = None  # s (s+1) ... (s+2i), the Pochhammer factor of each correction
    k = 0.0
    for coefficient in _ZETA_A:
        rising = add(s, k) if rising is None else mul(rising, add(s, k))
        b = div(b, w)
        total = add(total, div(mul(rising, b), coefficient))
        rising = mul(rising, add(s, k + 1.0))
        b = div(b, w)
        k += 2.0
    defined = logical_and_p.bind(greater(q, 0.0), greater(s, 1.0))
    return where(defined, total, where(equal(s, 1.0), math.inf, math.nan))


def _zeta_impl(s, q):
    s, q = np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(all="ignore"):
        value = scipy_special("zeta").zeta(s, np.where(q > 0, q, 1.0))
    return np.where(q > 0, np.where(s > 1, value, np.where(s == 1, np.inf, np.nan)), np.nan)


# The Hurwitz zeta function sum_k (k + q)^-s, for s > 1 and q > 0 (inf at s = 1; NaN elsewhere, where SciPy
# also gives values at integer s and negative q).
zeta_p = defprimitive(
    "zeta", 2, impl=_zeta_impl,
    partials=lambda s, q: (_order("zeta", "the exponent s"), neg(mul(s, zeta(add(s, 1.0), q)))),
    sympy="zeta", decompose=_zeta_decompose,
)

# psi^(n)(x) for x <= 0, by the reflection formula psi^(n)(1 - x) + (-1)^(n+1) psi^(n)(x) = (-1)^n pi cot^(n)(pi x):
# per order n, the coefficient of psi^(n)(1 - x) and the trigonometric term, in c = cos(pi x), s = sin(pi x).
_REFLECTION = {
    1: (-1.0, lambda c, s: div(math.pi**2, power(s, 2.0))),
    2: (1.0, lambda c, s: div(mul(-2.0 * math.pi**3, c), power(s, 3.0))),
    3: (-1.0, lambda c, s: div(mul(2.0 * math.pi**4, add(1.0, mul(2.0, mul(c, c)))), power(s, 4.0))),
}


def _polygamma_higher(n: Node, x: Node) -> Node:
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 1 and x > 0 (NaN for a fractional n, as in SciPy).
    return mul(mul(power(-1.0, add(n, 1.0)), gamma(add(n, 1.0))), zeta(add(n, 1.0), x))


def _polygamma_decompose(n: Node, x: Node) -> Node:
    higher = _polygamma_higher(n, x)
    # cot(pi x) and its derivatives have period 1: reduced to [-1/2, 1/2] exactly, pi*x does not lose the
    # digits of x near the poles at the integers.
    u = mul(math.pi, sub(x, rint(x)))
    mirrored = const(math.nan)
    for order, (sign_of_mirror, trigonometric) in _REFLECTION.items():
        order_n = mul(sign_of_mirror, _polygamma_higher(const(float(order)), sub(1.0, x)))
        mirrored = where(equal(n, float(order)), add(order_n, trigonometric(cos(u), sin(u))), mirrored)
    return where(equal(n, 0.0), digamma(x), where(greater(x, 0.0), higher, mirrored))


def _polygamma_impl(n, x):
    n, x = np.asarray(n, dtype=np.float64), np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        value = scipy_special("polygamma").polygamma(n, x)
    return np.where((x > 0) | (n == 0) | np.isin(n, list(_REFLECTION)), value, np.nan)


# The n-th derivative of the digamma function (SciPy's `polygamma`); for x <= 0 only n <= 3 (NaN beyond).
polygamma_p = defprimitive(
    "polygamma", 2, impl=_polygamma_impl,
    partials=lambda n, x: (_order("polygamma", "the order n"), polygamma(add(n, 1.0), x)),
    sympy="polygamma", decompose=_polygamma_decompose,
)

# ----- Error functions -----

erfc_p = defprimitive(
    "erfc", 1, impl=_scipy("erfc", np.vectorize(math.erfc, otypes=[np.float64])),
    partials=lambda x: (mul(-2.0 / SQRT_PI, exp(neg(mul(x, x)))),), sympy="erfc", llvm=Libm("erfc"),
    ufunc="erfc",
)
erfinv_p = defprimitive(
    "erfinv", 1, impl=_scipy("erfinv"), partials=lambda x: (mul(SQRT_PI / 2.0, exp(power(erfinv(x), 2.0))),),
    sympy="erfinv", llvm=Native("erfinv"), ufunc="erfinv",
)
# The standard normal distribution function, 0.5*erfc(-x/sqrt(2)) (exact in the lower tail, unlike 1 + erf).
ndtr_p = defprimitive(
    "ndtr", 1, impl=_scipy("ndtr", lambda x: 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-x / math.sqrt(2))),
    partials=lambda x: (mul(INV_SQRT_2PI, exp(mul(-0.5, mul(x, x)))),),
    sympy=lambda sp, x: sp.erfc(-x / sp.sqrt(2)) / 2, decompose=lambda x: mul(0.5, erfc(mul(-1 / math.sqrt(2), x))),
    ufunc="ndtr",
)


def _log_ndtr_slope(x: Node) -> Node:
    # pdf(x)/cdf(x) = exp(-x^2/2 - log_ndtr(x))/sqrt(2 pi), whose exponent cancels for large -x; there, the
    # inverse of the asymptotic series of Mills' ratio cdf/pdf = (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...)/(-x).
    inverse_square = div(1.0, mul(x, x))
    series, term = const(1.0), 1.0
    for k in range(1, 12):
        term *= -(2 * k - 1)
        series = add(series, mul(term, power(inverse_square, float(k))))
    tail = div(neg(x), series)
    return where(less(x, -20.0), tail, mul(INV_SQRT_2PI, exp(sub(mul(-0.5, mul(x, x)), log_ndtr(x)))))


# log(ndtr(x)), accurate far into the lower tail.
log_ndtr_p = defprimitive(
    "log_ndtr", 1, impl=_scipy("log_ndtr"),
    partials=lambda x: (_log_ndtr_slope(x),),
    sympy=lambda sp, x: sp.log(sp.erfc(-x / sp.sqrt(2)) / 2), llvm=Native("log_ndtr"),
    ufunc="log_ndtr",
)

# ----- Logistic and logarithms -----


def _logit_decompose(x: Node) -> Node:
    # SciPy's formula: log(x/(1-x)) loses digits near 1/2, where log1p(2(x-1/2)) - log1p(-2(x-1/2)) does not.
    s = mul(2.0, sub(x, 0.5))
    near_half = logical_and_p.bind(greater_equal(x, 0.3), less_equal_p.bind(x, 0.65))
    return where(near_half, sub(log1p(s), log1p(neg(s))), log(div(x, sub(1.0, x))))


logit_p = defprimitive(
    "logit", 1, impl=_scipy("logit", lambda x: np.log(x / (1.0 - x))),
    partials=lambda x: (div(1.0, mul(x, sub(1.0, x))),), sympy=lambda sp, x: sp.log(x / (1 - x)),
    decompose=_logit_decompose, ufunc="logit",
)


def _xlog1py_partials(x: Node, y: Node):
    # As xlogy: d/dx = log1p(y), taken as 0 at x = 0, y = -1; d/dy = x/(1+y), exactly 0 where x = 0.
    x_is_zero = equal(x, 0.0)
    dx = where(logical_and_p.bind(x_is_zero, equal(y, -1.0)), 0.0, log1p(y))
    return dx, where(x_is_zero, 0.0, div(x, add(1.0, y)))


# x*log1p(y), and 0 where x = 0 whatever y is (SciPy's `xlog1py`).
xlog1py_p = defprimitive(
    "xlog1py", 2, impl=_scipy("xlog1py", lambda x, y: np.where(np.asarray(x) == 0, 0.0, x * np.log1p(y))),
    partials=_xlog1py_partials, sympy=lambda sp, x, y: x * sp.log(1 + y),
    decompose=lambda x, y: where(equal(x, 0.0), 0.0, mul(x, log1p(y))), ufunc="xlog1py",
)

# ----- Bessel functions -----

i0_p = defprimitive(
    "i0", 1, impl=_scipy("i0", np.i0), partials=lambda x: (i1(x),), sympy=lambda sp, x: sp.besseli(0, x),
    llvm=Native("i0"), ufunc="i0",
)
# I1'(x) = I0(x) - I1(x)/x, which is 1/2 at 0.
i1_p = defprimitive(
    "i1", 1, impl=_scipy("i1"), partials=lambda x: (where(equal(x, 0.0), 0.5, sub(i0(x), div(i1(x), x))),),
    sympy=lambda sp, x: sp.besseli(1, x), llvm=Native("i1"), ufunc="i1",
)
# The exponentially scaled e^-|x| I0(x) and e^-|x| I1(x); at the kink 0 the derivative is taken as JAX does.
i0e_p = defprimitive(
    "i0e", 1, impl=_scipy("i0e"), partials=lambda x: (sub(i1e(x), mul(sign(x), i0e(x))),),
    sympy=lambda sp, x: sp.exp(-sp.Abs(x)) * sp.besseli(0, x), llvm=Native("i0e"), ufunc="i0e",
)
i1e_p = defprimitive(
    "i1e", 1, impl=_scipy("i1e"),
    partials=lambda x: (where(equal(x, 0.0), 0.5, sub(sub(i0e(x), div(i1e(x), x)), mul(sign(x), i1e(x)))),),
    sympy=lambda sp, x: sp.exp(-sp.Abs(x)) * sp.besseli(1, x), llvm=Native("i1e"), ufunc="i1e",
)
# Bessel functions of real order v: d/dx J_v(x) = (J_{v-1}(x) - J_{v+1}(x))/2, and likewise for Y_v.
jv_p = defprimitive(
    "jv", 2, impl=_scipy("jv"),
    partials=lambda v, x: (_order("jv", "the order v"), mul(0.5, sub(jv(sub(v, 1.0), x), jv(add(v, 1.0), x)))),
    sympy="besselj", llvm=Native("jv"), ufunc="jv",
)
yv_p = defprimitive(
    "yv", 2, impl=_scipy("yv"),
    partials=lambda v, x: (_order("yv", "the order v"), mul(0.5, sub(yv(sub(v, 1.0), x), yv(add(v, 1.0), x)))),
    sympy="bessely", llvm=Native("yv"), ufunc="yv",
)

# ----- Beta and incomplete gamma and beta functions -----


def _beta_partials(a: Node, b: Node):
    both = digamma(add(a, b))
    return mul(beta(a, b), sub(digamma(a), both)), mul(beta(a, b), sub(digamma(b), both))


beta_p = defprimitive(
    "beta", 2, impl=_scipy("beta"), partials=_beta_partials, sympy="beta", llvm=Native("beta"),
    ufunc="beta",
)
# log|B(a, b)|
betaln_p = defprimitive(
    "betaln", 2, impl=_scipy("betaln"),
    partials=lambda a, b: (sub(digamma(a), digamma(add(a, b))), sub(digamma(b), digamma(add(a, b)))),
    sympy=lambda sp, a, b: sp.log(sp.beta(a, b)), llvm=Native("betaln"), ufunc="betaln",
)


def _gamma_density(a: Node, x: Node) -> Node:
    # x^(a-1) e^-x / Γ(a), the derivative of the regularized incomplete gamma function along x.
    return exp(sub(sub(xlogy(sub(a, 1.0), x), x), gammaln(a)))


# The regularized lower and upper incomplete gamma functions P(a, x) and Q(a, x) = 1 - P(a, x).
gammainc_p = defprimitive(
    "gammainc", 2, impl=_scipy("gammainc"),
    partials=lambda a, x: (_order("gammainc", "the shape a"), _gamma_density(a, x)),
    sympy=lambda sp, a, x: sp.lowergamma(a, x) / sp.gamma(a), llvm=Native("gammainc"),
    ufunc="gammainc",
)
gammaincc_p = defprimitive(
    "gammaincc", 2, impl=_scipy("gammaincc"),
    partials=lambda a, x: (_order("gammaincc", "the shape a"), neg(_gamma_density(a, x))),
    sympy=lambda sp, a, x: sp.uppergamma(a, x) / sp.gamma(a), llvm=Native("gammaincc"),
    ufunc="gammaincc",
)
# The regularized incomplete beta function I_x(a, b); along x, the beta density x^(a-1) (1-x)^(b-1) / B(a, b).
betainc_p = defprimitive(
    "betainc", 3, impl=_scipy("betainc"),
    partials=lambda a, b, x: (
        _order("betainc", "the shape a"), _order("betainc", "the shape b"),
        exp(sub(add(xlogy(sub(a, 1.0), x), xlog1py(sub(b, 1.0), neg(x))), betaln(a, b)))),
    sympy=lambda sp, a, b, x: sp.betainc_regularized(a, b, 0, x), llvm=Native("betainc"),
    ufunc="betainc",
)

gamma = gamma_p.bind
gammaln = gammaln_p.bind
digamma = digamma_p.bind
zeta = zeta_p.bind
polygamma = polygamma_p.bind
erfc = erfc_p.bind
erfinv = erfinv_p.bind
ndtr = ndtr_p.bind
log_ndtr = log_ndtr_p.bind
logit = logit_p.bind
xlog1py = xlog1py_p.bind
i0 = i0_p.bind
i1 = i1_p.bind
i0e = i0e_p.bind
i1e = i1e_p.bind
jv = jv_p.bind
yv = yv_p.bind
beta = beta_p.bind
betaln = betaln_p.bind
gammainc = gammainc_p.bind
gammaincc = gammaincc_p.bind
betainc = betainc_p.bind

__all__ = [
    "beta", "beta_p", "betainc", "betainc_p", "betaln", "betaln_p", "digamma", "digamma_p", "erfc", "erfc_p",
    "erfinv", "erfinv_p", "gamma", "gamma_p", "gammainc", "gammainc_p", "gammaincc", "gammaincc_p", "gammaln",
    "gammaln_p", "i0", "i0_p", "i0e", "i0e_p", "i1", "i1_p", "i1e", "i1e_p", "jv", "jv_p", "log_ndtr",
    "log_ndtr_p", "logit", "logit_p", "ndtr", "ndtr_p", "polygamma", "polygamma_p", "xlog1py", "xlog1py_p", "yv",
    "yv_p", "zeta", "zeta_p",
]
