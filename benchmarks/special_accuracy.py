"""Accuracy of symgrad's compiled special functions against SciPy, in ulp (units in the last place).

    python benchmarks/special_accuracy.py [--points N]

For each function: N points over its range, compiled as a batch kernel (`sg.vmap`), compared with
`scipy.special` (the reference the primitives are defined by); max and median error in ulp of SciPy's
value (points where SciPy's value is 0, inf or NaN are compared for equality and counted apart).
A subsample is also compared with mpmath at 30 digits (values of symgrad and of SciPy, and derivatives),
which says which of the two is off where they differ.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.special as sc

import symgrad as sg


def _cases(n: int, rng: np.random.Generator):
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    return {
        "gamma": (sc.gamma, sg.gamma, (), u(0.01, 170.0)),
        "gammaln": (sc.gammaln, sg.gammaln, (), np.exp(u(-5.0, 300.0 * np.log(10) / 10))),
        "digamma": (sc.psi, sg.digamma, (), u(-20.0, 100.0)),
        "polygamma(1, x)": (lambda x: sc.polygamma(1, x), lambda x: sg.polygamma(1.0, x), (), u(0.01, 100.0)),
        "polygamma(3, x)": (lambda x: sc.polygamma(3, x), lambda x: sg.polygamma(3.0, x), (), u(0.01, 100.0)),
        "polygamma(1, x<0)": (lambda x: sc.polygamma(1, x), lambda x: sg.polygamma(1.0, x), (), u(-8.0, 0.0)),
        "zeta(3.5, q)": (lambda q: sc.zeta(3.5, q), lambda q: sg.zeta(3.5, q), (), u(0.01, 50.0)),
        "erfc": (sc.erfc, sg.erfc, (), u(-6.0, 26.0)),
        "erfinv": (sc.erfinv, sg.erfinv, (), u(-1.0, 1.0)),
        "ndtr": (sc.ndtr, sg.ndtr, (), u(-37.0, 8.0)),
        "log_ndtr": (sc.log_ndtr, sg.log_ndtr, (), u(-1e3, 8.0)),
        "logit": (sc.logit, sg.logit, (), u(0.0, 1.0)),
        "expit": (sc.expit, sg.expit, (), u(-700.0, 700.0)),
        "xlog1py": (lambda y: sc.xlog1py(2.5, y), lambda y: sg.xlog1py(2.5, y), (), u(-0.99, 10.0)),
        "i0": (sc.i0, sg.i0, (), u(-700.0, 700.0)),
        "i1e": (sc.i1e, sg.i1e, (), u(-100.0, 100.0)),
        "jv(2.5, x)": (lambda x: sc.jv(2.5, x), lambda x: sg.jv(2.5, x), (), u(0.0, 50.0)),
        "betaln": (lambda b: sc.betaln(2.5, b), lambda b: sg.betaln(2.5, b), (), u(0.01, 1e3)),
        "gammainc": (lambda x: sc.gammainc(3.5, x), lambda x: sg.gammainc(3.5, x), (), u(0.0, 30.0)),
        "betainc": (lambda x: sc.betainc(2.5, 1.5, x), lambda x: sg.betainc(2.5, 1.5, x), (), u(0.0, 1.0)),
    }


# mpmath's value of each function (for a subsample: the independent reference, to 30 digits)
_MPMATH = {
    "gamma": lambda m, x: m.gamma(x), "gammaln": lambda m, x: m.log(abs(m.gamma(x))),
    "digamma": lambda m, x: m.digamma(x), "polygamma(1, x)": lambda m, x: m.polygamma(1, x),
    "polygamma(3, x)": lambda m, x: m.polygamma(3, x), "polygamma(1, x<0)": lambda m, x: m.polygamma(1, x),
    "zeta(3.5, q)": lambda m, q: m.zeta(3.5, q), "erfc": lambda m, x: m.erfc(x),
    "erfinv": lambda m, x: m.erfinv(x), "ndtr": lambda m, x: m.ncdf(x), "log_ndtr": lambda m, x: m.log(m.ncdf(x)),
    "logit": lambda m, x: m.log(x / (1 - x)), "expit": lambda m, x: 1 / (1 + m.exp(-x)),
    "xlog1py": lambda m, y: 2.5 * m.log1p(y), "i1e": lambda m, x: m.exp(-abs(x)) * m.besseli(1, x),
    "betaln": lambda m, b: m.log(m.beta(2.5, b)),
    "i0": lambda m, x: m.besseli(0, x), "jv(2.5, x)": lambda m, x: m.besselj(2.5, x),
    "gammainc": lambda m, x: m.gammainc(3.5, 0, x, regularized=True),
    "betainc": lambda m, x: m.betainc(2.5, 1.5, 0, x, regularized=True),
}
_MPMATH_SLOPES = {
    "gammaln": lambda m, x: m.digamma(x), "digamma": lambda m, x: m.polygamma(1, x),
    "log_ndtr": lambda m, x: m.npdf(x) / m.ncdf(x), "ndtr": lambda m, x: m.npdf(x),
}

def ulp_errors(got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, int]:
    finite = np.isfinite(want) & (want != 0)
    mismatched = int(np.sum(~finite & ~((got == want) | (np.isnan(got) & np.isnan(want)))))
    return np.abs(got[finite] - want[finite]) / np.spacing(np.abs(want[finite])), mismatched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    n = parser.parse_args().points
    rng = np.random.default_rng(0)
    import mpmath

    mpmath.mp.dps = 30
    sample = slice(0, min(n, 400))
    print(f"{n} points vs SciPy; {sample.stop} of them vs mpmath (30 digits); max (median) error in ulp")
    print(f"{'function':>18}  {'vs SciPy':>16}  {'vs mpmath':>9}  {'SciPy vs mpmath':>15}  "
          f"{'d/dx vs mpmath':>14}  {'mismatched inf/nan/0':>20}")
    for name, (reference, ours, _, x) in _cases(n, rng).items():
        with np.errstate(all="ignore"):
            want = reference(x)
        got = sg.vmap(ours)(x)
        errors, mismatched = ulp_errors(got, want)
        line = f"{name:>18}  {errors.max():8.1f} ({np.median(errors):5.1f})"
        exact = np.array([float(_MPMATH[name](mpmath, mpmath.mpf(v))) for v in x[sample]])
        line += f"  {ulp_errors(got[sample], exact)[0].max():9.1f}  {ulp_errors(want[sample], exact)[0].max():15.1f}"
        if name in _MPMATH_SLOPES:
            slope = np.array([float(_MPMATH_SLOPES[name](mpmath, mpmath.mpf(v))) for v in x[sample]])
            line += f"  {ulp_errors(sg.vmap(sg.grad(ours))(x[sample]), slope)[0].max():14.1f}"
        else:
            line += f"  {'':>14}"
        print(f"{line}  {mismatched:>20}")


if __name__ == "__main__":
    main()
