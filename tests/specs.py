"""The primitive table of the tests: one row per primitive in `REGISTRY`.

A row says how to call the primitive through the public API (`fn`), where
to sample it (a domain-aware generator, as JAX's `rand_positive` and
autograd's `lims=`), which operands carry a derivative, how many orders to
check against finite differences, the tolerances, and special points with
known values or derivatives. `tests/test_primitives.py` loops over the rows,
so adding a primitive adds a row here and no test code.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import symgrad as sg

Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Special:
    """A point `args`; `grads` are the expected partials there (None: not checked).

    The compiled value is always compared with the primitive's NumPy `impl`.
    """

    args: tuple[float, ...]
    grads: tuple[float | None, ...] | None = None


@dataclass(frozen=True)
class Spec:
    """How to test one primitive.

    Attributes:
        fn: the public spelling that traces to the primitive (`sg.sin`, `operator.add`, ...).
        arity: number of operands.
        sample: `(rng, n) -> one array of n points per operand`, inside the domain and
            away from kinks and jumps, so that central differences are meaningful.
        order: highest derivative order compared with finite differences (0: none).
        smooth: per operand, whether its derivative is checked against finite differences;
            the gradient along the other operands must be exactly 0 (comparisons,
            conditions, `stop_gradient`).
        rtol, atol: tolerances of the finite-difference comparison.
        sympy_oracle: compare the derivatives with `sympy.diff` of the SymPy form.
        special: points with known behaviour (JAX's conventions at kinks).
        fixed: operands without a derivative (orders, shape parameters: `NoDerivative`): held
            constant in the derivative tests, and differentiating along them must raise.
    """

    fn: Callable
    arity: int
    sample: Sampler
    order: int = 2
    smooth: tuple[bool, ...] | None = None
    rtol: float = 1e-6
    atol: float = 1e-6
    sympy_oracle: bool = True
    special: tuple[Special, ...] = ()
    fixed: tuple[int, ...] = ()

    def smooth_operands(self) -> tuple[int, ...]:
        smooth = self.smooth if self.smooth is not None else (True,) * self.arity
        return tuple(i for i, s in enumerate(smooth) if s and i not in self.fixed)

    def differentiable_operands(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.arity) if i not in self.fixed)


# ----- Domain-aware samplers -----


def uniform(lo: float, hi: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    return lambda rng, n: rng.uniform(lo, hi, n)


def nonzero(gap: float, hi: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    """|x| in [gap, hi], either sign: away from a kink or pole at 0."""
    return lambda rng, n: rng.choice([-1.0, 1.0], n) * rng.uniform(gap, hi, n)


def off_integers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Away from the jumps of floor and ceil."""
    return rng.integers(-3, 3, n) + rng.uniform(0.1, 0.9, n)


def off_half_integers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Away from the jumps of rint (at half-integers)."""
    return rng.integers(-3, 3, n) + rng.choice([-1.0, 1.0], n) * rng.uniform(0.05, 0.4, n)


def quotients_off_integers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) with y away from 0 and x/y away from whole numbers: away from the jumps of remainders."""
    y = nonzero(0.5, 3.0)(rng, n)
    return off_integers(rng, n) * y, y


def condition_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Conditions: zero (false) or a nonzero number (true)."""
    return rng.choice([0.0, 1.0, -2.0, 0.5], n)


def each(*operands) -> Sampler:
    """Independent samplers, one per operand."""
    return lambda rng, n: tuple(s(rng, n) for s in operands)


def apart(gap: float = 0.1) -> Sampler:
    """Two operands in [-3, 3] and at least `gap` apart (away from ties of max/min and comparisons)."""

    def sample(rng, n):
        x = rng.uniform(-3.0, 3.0, n)
        return x, x + nonzero(gap, 2.0)(rng, n)

    return sample


REAL = uniform(-3.0, 3.0)
POSITIVE = uniform(0.1, 5.0)
UNIT = uniform(-0.9, 0.9)  # |x| < 1: arcsin, arccos, arctanh

# ----- The table -----

UNARY_SMOOTH = {
    "exp": (sg.exp, REAL),
    "expm1": (sg.expm1, REAL),
    "log": (sg.log, POSITIVE),
    "log1p": (sg.log1p, uniform(-0.9, 5.0)),
    "log2": (sg.log2, POSITIVE),
    "log10": (sg.log10, POSITIVE),
    "sqrt": (sg.sqrt, POSITIVE),
    "cbrt": (sg.cbrt, nonzero(0.2, 5.0)),
    "sin": (sg.sin, uniform(-4.0, 4.0)),
    "cos": (sg.cos, uniform(-4.0, 4.0)),
    "tan": (sg.tan, uniform(-1.3, 1.3)),
    "arcsin": (sg.arcsin, UNIT),
    "arccos": (sg.arccos, UNIT),
    "arctan": (sg.arctan, REAL),
    "sinh": (sg.sinh, REAL),
    "cosh": (sg.cosh, REAL),
    "tanh": (sg.tanh, REAL),
    "arcsinh": (sg.arcsinh, REAL),
    "arccosh": (sg.arccosh, uniform(1.1, 5.0)),
    "arctanh": (sg.arctanh, UNIT),
    "erf": (sg.erf, uniform(-2.5, 2.5)),
    "sigmoid": (sg.sigmoid, uniform(-5.0, 5.0)),
    "softplus": (sg.softplus, uniform(-5.0, 5.0)),
    "neg": (operator.neg, REAL),
    "abs": (sg.abs, nonzero(0.1, 3.0)),
    "sign": (sg.sign, nonzero(0.1, 3.0)),
    "floor": (sg.floor, off_integers),
    "ceil": (sg.ceil, off_integers),
    "relu": (sg.relu, nonzero(0.1, 3.0)),
    "trunc": (np.trunc, off_integers),
    "rint": (np.rint, off_half_integers),
}

SPECIAL: dict[str, tuple[Special, ...]] = {
    "exp": (Special((0.0,), (1.0,)), Special((800.0,)), Special((-800.0,), (0.0,))),
    "expm1": (Special((0.0,), (1.0,)), Special((1e-10,), (1.0000000001,))),
    "log": (Special((1.0,), (1.0,)), Special((0.0,)), Special((-1.0,))),
    "log1p": (Special((0.0,), (1.0,)), Special((-1.0,))),
    "log2": (Special((8.0,), (1.0 / (8.0 * math.log(2.0)),)),),
    "log10": (Special((100.0,), (1.0 / (100.0 * math.log(10.0)),)),),
    "sqrt": (Special((4.0,), (0.25,)), Special((0.0,), (math.inf,)), Special((-1.0,))),
    "cbrt": (Special((-8.0,), (1.0 / 12.0,)), Special((27.0,), (1.0 / 27.0,))),
    "sin": (Special((0.0,), (1.0,)), Special((math.pi,), (-1.0,))),
    "cos": (Special((0.0,), (0.0,)), Special((math.pi / 2,), (-1.0,))),
    "tan": (Special((0.0,), (1.0,)), Special((math.pi / 4,), (2.0,))),
    "arcsin": (Special((0.0,), (1.0,)), Special((2.0,))),
    "arccos": (Special((0.0,), (-1.0,)),),
    "arctan": (Special((1.0,), (0.5,)), Special((1e300,), (0.0,))),
    "sinh": (Special((0.0,), (1.0,)),),
    "cosh": (Special((0.0,), (0.0,)),),
    "tanh": (Special((0.0,), (1.0,)), Special((50.0,), (0.0,))),
    "arcsinh": (Special((0.0,), (1.0,)),),
    "arccosh": (Special((1.0,), (math.inf,)), Special((0.5,))),
    "arctanh": (Special((0.0,), (1.0,)), Special((0.5,), (4.0 / 3.0,))),
    "erf": (Special((0.0,), (2.0 / math.sqrt(math.pi),)), Special((30.0,), (0.0,))),
    "sigmoid": (Special((0.0,), (0.25,)),),
    # softplus neither overflows nor cancels far from 0.
    "softplus": (Special((0.0,), (0.5,)), Special((800.0,), (1.0,)), Special((-800.0,), (0.0,))),
    "neg": (Special((0.0,), (-1.0,)),),
    # JAX's conventions at kinks: abs'(0) = 1 (the x >= 0 branch), relu'(0) = 0.
    "abs": (Special((0.0,), (1.0,)), Special((-2.0,), (-1.0,))),
    "sign": (Special((0.0,), (0.0,)), Special((-0.0,), (0.0,)), Special((math.nan,))),
    "floor": (Special((2.0,), (0.0,)), Special((-1.5,), (0.0,))),
    "ceil": (Special((2.0,), (0.0,)), Special((-1.5,), (0.0,))),
    "relu": (Special((0.0,), (0.0,)), Special((2.0,), (1.0,))),
    "trunc": (Special((-2.5,), (0.0,)), Special((2.5,), (0.0,))),
    # Half to even, as NumPy.
    "rint": (Special((2.5,), (0.0,)), Special((-0.5,), (0.0,)), Special((1.5,), (0.0,))),
}

# SymPy leaves `Derivative(floor(x), x)` (and Mod, rint) unevaluated, so it cannot serve as an oracle there.
NO_SYMPY_ORACLE = {"floor", "ceil", "trunc", "rint"}

PRIMITIVE_SPECS: dict[str, Spec] = {
    name: Spec(fn, 1, each(sampler), special=SPECIAL.get(name, ()),
               sympy_oracle=name not in NO_SYMPY_ORACLE)
    for name, (fn, sampler) in UNARY_SMOOTH.items()
}

PRIMITIVE_SPECS.update(
    # ----- Arithmetic -----
    add=Spec(operator.add, 2, each(REAL, REAL), special=(Special((1.0, 2.0), (1.0, 1.0)),)),
    sub=Spec(operator.sub, 2, each(REAL, REAL), special=(Special((1.0, 2.0), (1.0, -1.0)),)),
    mul=Spec(operator.mul, 2, each(REAL, REAL), special=(Special((3.0, 2.0), (2.0, 3.0)),)),
    div=Spec(operator.truediv, 2, each(REAL, nonzero(0.5, 3.0)),
             special=(Special((1.0, 2.0), (0.5, -0.25)), Special((1.0, 0.0)))),
    pow=Spec(operator.pow, 2, each(uniform(0.5, 2.5), uniform(-2.5, 2.5)),
             special=(Special((2.0, 3.0), (12.0, 8.0 * math.log(2.0))),
                      Special((-2.0, 2.0), (-4.0, None)),
                      Special((0.0, 3.0), (0.0, None)),
                      Special((-8.0, 1.0 / 3.0)))),
    # ----- Remainders: 1 along x, minus the whole quotient along y -----
    fmod=Spec(np.fmod, 2, quotients_off_integers, sympy_oracle=False,
              special=(Special((7.0, 3.0), (1.0, -2.0)), Special((-7.0, 3.0), (1.0, 2.0)),
                       Special((7.0, -3.0), (1.0, 2.0)), Special((1.0, 0.0)), Special((math.inf, 2.0)))),
    remainder=Spec(operator.mod, 2, quotients_off_integers, sympy_oracle=False,
                   special=(Special((7.0, 3.0), (1.0, -2.0)), Special((-7.0, 3.0), (1.0, 3.0)),
                            Special((7.0, -3.0), (1.0, 3.0)), Special((-0.5, 3.0), (1.0, 1.0)),
                            Special((1.0, 0.0)))),
    # ----- Binary elementary functions -----
    logaddexp=Spec(np.logaddexp, 2, each(REAL, REAL),
                   special=(Special((0.0, 0.0), (0.5, 0.5)), Special((800.0, 0.0), (1.0, 0.0)),
                            Special((-800.0, 0.0), (0.0, 1.0)), Special((math.inf, math.inf)),
                            Special((-math.inf, 1.0), (0.0, 1.0)))),
    # x*log(y), 0 where x = 0 (then exactly 0 along y; 0 along x too at x = y = 0, so x**y*log(x) has limits).
    xlogy=Spec(sg.xlogy, 2, each(REAL, POSITIVE),
               special=(Special((2.0, 3.0), (math.log(3.0), 2.0 / 3.0)),
                        Special((0.0, 2.0), (math.log(2.0), 0.0)),
                        Special((0.0, 0.0), (0.0, 0.0)),
                        Special((0.0, math.inf), (math.inf, 0.0)),
                        Special((1.0, -1.0)))),
    arctan2=Spec(sg.arctan2, 2, each(nonzero(0.3, 3.0), REAL),  # y != 0: off the branch cut
                 special=(Special((1.0, 1.0), (0.5, -0.5)), Special((0.0, 0.0)))),
    hypot=Spec(sg.hypot, 2, each(nonzero(0.3, 3.0), nonzero(0.3, 3.0)),
               special=(Special((3.0, 4.0), (0.6, 0.8)), Special((1e300, 1e300)))),
    # Ties split the derivative evenly, as in JAX.
    maximum=Spec(sg.maximum, 2, apart(), special=(Special((1.0, 1.0), (0.5, 0.5)),
                                                  Special((2.0, 1.0), (1.0, 0.0)))),
    minimum=Spec(sg.minimum, 2, apart(), special=(Special((1.0, 1.0), (0.5, 0.5)),
                                                  Special((2.0, 1.0), (0.0, 1.0)))),
    # The value of x with zero derivative: finite differences do not apply.
    stop_gradient=Spec(sg.stop_gradient, 1, each(REAL), order=0, smooth=(False,),
                       special=(Special((3.0,), (0.0,)),)),
    # ----- Comparisons, selection and logic: no derivative along conditions -----
    where=Spec(sg.where, 3, each(condition_values, REAL, REAL), smooth=(False, True, True),
               special=(Special((1.0, 2.0, 3.0), (0.0, 1.0, 0.0)),
                        Special((0.0, 2.0, 3.0), (0.0, 0.0, 1.0)),
                        Special((math.nan, 2.0, 3.0), (None, 1.0, 0.0)))),
    logical_and=Spec(np.logical_and, 2, each(condition_values, condition_values), smooth=(False, False)),
    logical_or=Spec(np.logical_or, 2, each(condition_values, condition_values), smooth=(False, False)),
    logical_not=Spec(np.logical_not, 1, each(condition_values), smooth=(False,)),
)

# ----- Special functions (SciPy's definitions) -----


def _mills(x: float) -> float:
    """d/dx log ndtr(x) = pdf(x)/cdf(x), to double precision (mpmath)."""
    import mpmath

    mpmath.mp.dps = 40
    return float(mpmath.npdf(x) / mpmath.ncdf(x))


def integers(lo: int, hi: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    return lambda rng, n: rng.integers(lo, hi + 1, n).astype(np.float64)


PRIMITIVE_SPECS.update(
    gamma=Spec(sg.gamma, 1, each(uniform(0.2, 5.0)),
               special=(Special((1.0,), (-0.5772156649015329,)), Special((5.0,), (50.0 - 24 * 0.5772156649015329,)),
                        Special((-1.5,)), Special((0.0,)), Special((-2.0,)))),
    gammaln=Spec(sg.gammaln, 1, each(POSITIVE),
                 special=(Special((1.0,), (-0.5772156649015329,)), Special((1e300,)), Special((-2.5,)),
                          Special((0.0,)))),
    digamma=Spec(sg.digamma, 1, each(uniform(0.2, 5.0)),
                 special=(Special((1.0,), (math.pi**2 / 6,)), Special((-0.5,)), Special((0.0,)))),
    polygamma=Spec(sg.polygamma, 2, each(integers(0, 3), uniform(0.3, 5.0)), fixed=(0,),
                   special=(Special((1.0, 1.0), (None, -2.4041138063191885)), Special((0.0, 2.0)),
                            Special((2.0, 0.5)), Special((3.0, 30.0)), Special((1.0, -0.5)), Special((2.0, -1.3)),
                            Special((3.0, -2.7)), Special((4.0, -0.5)))),
    zeta=Spec(sg.zeta, 2, each(uniform(1.5, 5.0), uniform(0.3, 5.0)), fixed=(0,),
              special=(Special((2.0, 1.0), (None, -2.4041138063191885)), Special((3.0, 1e9)),
                       Special((1.0, 2.0)), Special((0.5, 2.0)), Special((2.0, -1.5)))),
    erfc=Spec(sg.erfc, 1, each(uniform(-2.5, 3.0)),
              special=(Special((0.0,), (-2.0 / math.sqrt(math.pi),)), Special((30.0,), (0.0,)),
                       Special((-30.0,), (0.0,)))),
    erfinv=Spec(sg.erfinv, 1, each(uniform(-0.95, 0.95)),
                special=(Special((0.0,), (math.sqrt(math.pi) / 2,)), Special((1.0,)), Special((1.5,)))),
    ndtr=Spec(sg.ndtr, 1, each(uniform(-5.0, 5.0)),
              special=(Special((0.0,), (1 / math.sqrt(2 * math.pi),)), Special((-40.0,)))),
    # exact far into the lower tail, where log(ndtr(x)) is -inf: log_ndtr(x) ~ -x**2/2 and its slope ~ -x
    # (sampled where SymPy's form, which it rewrites as log(1 - erfc(-x/sqrt(2))/2), keeps 30 digits)
    log_ndtr=Spec(sg.log_ndtr, 1, each(uniform(-8.0, 5.0)),
                  special=(Special((0.0,), (2 / math.sqrt(2 * math.pi),)), Special((-40.0,), (_mills(-40.0),)),
                           Special((-1e5,), (_mills(-1e5),)), Special((40.0,)))),
    logit=Spec(sg.logit, 1, each(uniform(0.05, 0.95)),
               special=(Special((0.5,), (4.0,)), Special((0.0,)), Special((1.0,)), Special((0.31,)))),
    xlog1py=Spec(sg.xlog1py, 2, each(REAL, uniform(-0.9, 5.0)),
                 special=(Special((2.0, 1.0), (math.log(2.0), 1.0)), Special((0.0, -1.0), (0.0, 0.0)),
                          Special((0.0, 3.0), (math.log(4.0), 0.0)))),
    i0=Spec(sg.i0, 1, each(REAL), special=(Special((0.0,), (0.0,)), Special((800.0,)))),
    i1=Spec(sg.i1, 1, each(REAL), special=(Special((0.0,), (0.5,)),)),
    i0e=Spec(sg.i0e, 1, each(nonzero(0.1, 5.0)), special=(Special((0.0,), (0.0,)), Special((800.0,)))),
    i1e=Spec(sg.i1e, 1, each(nonzero(0.1, 5.0)), special=(Special((0.0,), (0.5,)),)),
    jv=Spec(sg.jv, 2, each(uniform(0.0, 3.0), uniform(0.5, 10.0)), fixed=(0,),
            special=(Special((0.0, 0.0), (None, 0.0)), Special((1.0, 0.0), (None, 0.5)))),
    yv=Spec(sg.yv, 2, each(uniform(0.0, 3.0), uniform(0.5, 10.0)), fixed=(0,), special=(Special((0.0, 0.0)),)),
    beta=Spec(sg.beta, 2, each(uniform(0.5, 4.0), uniform(0.5, 4.0)),
              special=(Special((1.0, 1.0), (-1.0, -1.0)), Special((0.0, 1.0)))),
    betaln=Spec(sg.betaln, 2, each(uniform(0.5, 4.0), uniform(0.5, 4.0)),
                special=(Special((1.0, 1.0), (-1.0, -1.0)), Special((1e5, 1e5)))),
    gammainc=Spec(sg.gammainc, 2, each(uniform(0.5, 5.0), uniform(0.1, 6.0)), fixed=(0,),
                  special=(Special((1.0, 0.0), (None, 1.0)), Special((2.0, math.inf)))),
    gammaincc=Spec(sg.gammaincc, 2, each(uniform(0.5, 5.0), uniform(0.1, 6.0)), fixed=(0,),
                   special=(Special((1.0, 0.0), (None, -1.0)),)),
    betainc=Spec(sg.betainc, 3, each(uniform(0.5, 4.0), uniform(0.5, 4.0), uniform(0.05, 0.95)), fixed=(0, 1),
                 special=(Special((1.0, 1.0, 0.3), (None, None, 1.0)), Special((2.0, 3.0, 0.0)))),
)

_COMPARISONS = {
    "greater": operator.gt, "greater_equal": operator.ge, "less": operator.lt,
    "less_equal": operator.le, "equal": operator.eq, "not_equal": operator.ne,
}
for _name, _fn in _COMPARISONS.items():
    PRIMITIVE_SPECS[_name] = Spec(
        _fn, 2, apart(), smooth=(False, False),
        special=(Special((1.0, 1.0), (0.0, 0.0)), Special((1.0, 2.0)), Special((math.nan, 1.0))),
    )

DIFFERENTIABLE = {name: spec for name, spec in PRIMITIVE_SPECS.items() if spec.order >= 1}
