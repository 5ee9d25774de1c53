"""`scipy.stats` distributions as symgrad expressions: `symgrad.stats.norm.logpdf(x, loc, scale)`, ...

The densities and distribution functions of norm, t, gamma, beta, poisson,
multivariate_normal and dirichlet, with SciPy's names, arguments and
definitions (loc/scale, shape parameters, support), written with traced
NumPy and symgrad's special functions, so they trace, differentiate and
compile. On plain numbers and arrays they evaluate like SciPy's.

Why a module of its own: `scipy.stats.norm.logpdf(x)` converts `x` with
`np.asarray`, and NumPy offers no protocol by which a traced array can
take part (`__array_function__` is not used by `scipy.stats`). Inside a
traced function, use `symgrad.stats` (or `from symgrad import stats` in
place of `from scipy import stats`); SciPy's own functions, given a traced
value, raise an error naming the function here to use instead.

Derivatives along a distribution function's shape parameters (`t.cdf`
along df, `gamma.cdf` along a, `beta.cdf` along a and b) are not
implemented: asking for one raises (see `symgrad.primitives.special`).
Outside the support, densities are 0 (log-densities -inf); a non-positive
scale gives NaN, as in SciPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import functions as F
from .primitives import linalg as L
from .trace import TracedArray, as_array_node, is_traced

__all__ = ["beta", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]

_LOG_2PI = math.log(2.0 * math.pi)


def _value(x: Any) -> Any:
    """A traced array as it is; anything else as a float array."""
    return x if isinstance(x, TracedArray) else np.asarray(x, dtype=np.float64)


def _scalar(result: Any) -> Any:
    if isinstance(result, np.ndarray) and result.ndim == 0:
        return float(result)
    return result


class _Continuous:
    """A univariate continuous distribution with loc and scale: subclasses give the standard form."""

    name = ""
    shapes: tuple[str, ...] = ()

    def __call__(self, *args, **kwargs) -> _Frozen:
        return _Frozen(self, args, kwargs)

    def _parse(self, args, kwargs):
        names = (*self.shapes, "loc", "scale")
        if len(args) > len(names):
            raise TypeError(f"`{self.name}` takes at most {len(names)} parameters ({', '.join(names)})")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"`{self.name}`: unexpected or repeated parameter {key!r}")
            values[key] = value
        missing = [s for s in self.shapes if s not in values]
        if missing:
            raise TypeError(f"`{self.name}` needs the shape parameter(s) {', '.join(missing)}")
        return [_value(values[s]) for s in self.shapes], _value(values.get("loc", 0.0)), \
            _value(values.get("scale", 1.0))

    def _standard(self, x, args, kwargs):
        shapes, loc, scale = self._parse(args, kwargs)
        return (_value(x) - loc) / scale, shapes, scale

    def logpdf(self, x, *args, **kwargs):
        z, shapes, scale = self._standard(x, args, kwargs)
        value = self._logpdf(z, *shapes) - np.log(scale)
        return _scalar(np.where(scale > 0, value, np.nan))

    def pdf(self, x, *args, **kwargs):
        return _scalar(np.exp(self.logpdf(x, *args, **kwargs)))

    def cdf(self, x, *args, **kwargs):
        z, shapes, scale = self._standard(x, args, kwargs)
        return _scalar(np.where(scale > 0, self._cdf(z, *shapes), np.nan))

    def logcdf(self, x, *args, **kwargs):
        z, shapes, scale = self._standard(x, args, kwargs)
        return _scalar(np.where(scale > 0, self._logcdf(z, *shapes), np.nan))

    def sf(self, x, *args, **kwargs):
        return _scalar(1.0 - self.cdf(x, *args, **kwargs))

    def _logcdf(self, z, *shapes):
        return np.log(self._cdf(z, *shapes))


class _Frozen:
    """A distribution with its parameters fixed (`norm(0, 2).logpdf(x)`)."""

    def __init__(self, distribution, args, kwargs):
        self.dist, self.args, self.kwargs = distribution, args, kwargs

    def __getattr__(self, method: str):
        function = getattr(self.dist, method)
        return lambda x: function(x, *self.args, **self.kwargs)


class norm_gen(_Continuous):  # noqa: N801  (SciPy's names)
    name = "norm"

    def _logpdf(self, z):
        return -0.5 * z * z - 0.5 * _LOG_2PI

    def _cdf(self, z):
        return F.ndtr(z)

    def _logcdf(self, z):
        return F.log_ndtr(z)

    def sf(self, x, *args, **kwargs):
        z, _, scale = self._standard(x, args, kwargs)
        return _scalar(np.where(scale > 0, F.ndtr(-z), np.nan))


class t_gen(_Continuous):  # noqa: N801
    name, shapes = "t", ("df",)

    def _logpdf(self, z, df):
        return (F.gammaln((df + 1.0) / 2.0) - F.gammaln(df / 2.0) - 0.5 * np.log(df * math.pi)
                - (df + 1.0) / 2.0 * np.log1p(z * z / df))

    def _cdf(self, z, df):
        # I_{df/(df+z^2)}(df/2, 1/2) is twice the tail beyond |z|. At z = 0 its derivative is inf * 0:
        # there the line 1/2 + pdf(0) z, which has the same value and slope.
        # Near the centre (z^2 < df), the other form, I_{z^2/(df+z^2)}(1/2, df/2), keeps the digits (as cephes).
        squared = z * z
        far = 0.5 * F.betainc(df / 2.0, 0.5, df / (df + squared))
        near = 0.5 - 0.5 * F.betainc(0.5, df / 2.0, squared / (df + squared))
        tail = np.where(squared < df, near, far)
        at_zero = 0.5 + np.exp(self._logpdf(0.0, df)) * z
        return np.where(z == 0, at_zero, np.where(z > 0, 1.0 - tail, tail))


class gamma_gen(_Continuous):  # noqa: N801
    name, shapes = "gamma", ("a",)

    def _logpdf(self, z, a):
        inside = F.xlogy(a - 1.0, np.maximum(z, 0.0)) - z - F.gammaln(a)
        return np.where(z >= 0, inside, -np.inf)

    def _cdf(self, z, a):
        return F.gammainc(a, np.maximum(z, 0.0))


class beta_gen(_Continuous):  # noqa: N801
    name, shapes = "beta", ("a", "b")

    def _logpdf(self, z, a, b):
        inside = np.clip(z, 0.0, 1.0)
        value = F.xlogy(a - 1.0, inside) + F.xlog1py(b - 1.0, -inside) - F.betaln(a, b)
        return np.where((z >= 0) & (z <= 1), value, -np.inf)

    def _cdf(self, z, a, b):
        return F.betainc(a, b, np.clip(z, 0.0, 1.0))


class poisson_gen:  # noqa: N801
    """The Poisson distribution of mean mu (shifted by loc), on the integers."""

    name = "poisson"

    def __call__(self, mu, loc=0.0) -> _Frozen:
        return _Frozen(self, (mu, loc), {})

    def logpmf(self, k, mu, loc=0.0):
        k, mu = _value(k) - _value(loc), _value(mu)
        valid = (k >= 0) & (k == np.floor(k))
        value = F.xlogy(k, mu) - F.gammaln(np.maximum(k, 0.0) + 1.0) - mu
        return _scalar(np.where(mu >= 0, np.where(valid, value, -np.inf), np.nan))

    def pmf(self, k, mu, loc=0.0):
        return _scalar(np.exp(self.logpmf(k, mu, loc)))

    def cdf(self, k, mu, loc=0.0):
        k, mu = np.floor(_value(k) - _value(loc)), _value(mu)
        return _scalar(np.where(k >= 0, F.gammaincc(np.maximum(k, 0.0) + 1.0, mu), 0.0))

    def logcdf(self, k, mu, loc=0.0):
        return _scalar(np.log(self.cdf(k, mu, loc)))

    def sf(self, k, mu, loc=0.0):
        return _scalar(1.0 - self.cdf(k, mu, loc))


class multivariate_normal_gen:  # noqa: N801
    """The multivariate normal distribution: `logpdf(x, mean, cov)` through the Cholesky factor of cov."""

    name = "multivariate_normal"

    def __call__(self, mean=None, cov=1.0) -> _Frozen:
        return _Frozen(self, (mean, cov), {})

    def logpdf(self, x, mean=None, cov=1.0, allow_singular=False):
        if not is_traced((x, mean, cov)):
            import scipy.stats

            return scipy.stats.multivariate_normal.logpdf(x, mean, cov, allow_singular=allow_singular)
        x = as_array_node(x)
        d = x.shape[-1] if x.ndim else 1
        x = TracedArray(x if x.ndim else as_array_node(np.reshape(TracedArray(x), (1,))))
        mean = np.zeros(d) if mean is None else mean
        cov = as_array_node(cov)
        if cov.ndim < 2:  # a variance, or the variances of independent coordinates
            cov = as_array_node(np.eye(d) * TracedArray(cov))
        factor = L.cholesky(cov)
        centred = as_array_node(x - mean)
        rows = centred if centred.ndim > 1 else as_array_node(np.reshape(TracedArray(centred), (1, d)))
        z = TracedArray(L.triangular_solve(factor, L.mT(rows), lower=True))
        log_det = np.sum(np.log(TracedArray(L.diagonal(factor))))
        result = -0.5 * np.sum(z * z, axis=0) - log_det - 0.5 * d * _LOG_2PI
        return result if centred.ndim > 1 else result[0]

    def pdf(self, x, mean=None, cov=1.0, allow_singular=False):
        return np.exp(self.logpdf(x, mean, cov, allow_singular))


class dirichlet_gen:  # noqa: N801
    """The Dirichlet distribution: x holds the components along its first axis (SciPy's layout)."""

    name = "dirichlet"

    def __call__(self, alpha) -> _Frozen:
        return _Frozen(self, (alpha,), {})

    def logpdf(self, x, alpha):
        x, alpha = _value(x), _value(alpha)
        if x.shape[0] + 1 == alpha.shape[0]:  # the last component is 1 - sum of the others
            x = np.concatenate([x, np.reshape(1.0 - np.sum(x, axis=0), (1, *x.shape[1:]))], axis=0)
        log_beta = np.sum(F.gammaln(alpha)) - F.gammaln(np.sum(alpha))
        terms = F.xlogy(np.reshape(alpha, (alpha.shape[0],) + (1,) * (x.ndim - 1)) - 1.0, x)
        return _scalar(np.sum(terms, axis=0) - log_beta)

    def pdf(self, x, alpha):
        return _scalar(np.exp(self.logpdf(x, alpha)))


norm = norm_gen()
t = t_gen()
gamma = gamma_gen()
beta = beta_gen()
poisson = poisson_gen()
multivariate_normal = multivariate_normal_gen()
dirichlet = dirichlet_gen()
