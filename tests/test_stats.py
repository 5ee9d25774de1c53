"""`symgrad.stats`: SciPy's distributions as symgrad expressions.

Values against `scipy.stats` (on floats and compiled), first and second derivatives against central
differences, and SciPy's own functions on traced values naming the function to use instead.
"""

import numpy as np
import pytest

import symgrad as sg
from symgrad.testing import check_grads

st = pytest.importorskip("scipy.stats")

X = np.array([-1.3, 0.2, 0.7, 2.5])
COV = np.array([[2.0, 0.3], [0.3, 1.0]])
K = np.array([0.0, 1.0, 3.0, 7.0])

# name: (symgrad, scipy) functions of the varying argument (the quantile, or a parameter), and its value
CASES = {
    "norm": (lambda m: (sg.stats.norm.logpdf(X, m, 2.0) + sg.stats.norm.pdf(X, m, 2.0) + sg.stats.norm.cdf(X, m, 2.0)
                        + sg.stats.norm.logcdf(20 * X, m, 2.0) + sg.stats.norm.sf(X, loc=m)),
             lambda m: (st.norm.logpdf(X, m, 2.0) + st.norm.pdf(X, m, 2.0) + st.norm.cdf(X, m, 2.0)
                        + st.norm.logcdf(20 * X, m, 2.0) + st.norm.sf(X, loc=m)), 0.5),
    "norm_frozen": (lambda s: sg.stats.norm(0.3, s).logpdf(X), lambda s: st.norm(0.3, s).logpdf(X), 1.7),
    "t": (lambda x: sg.stats.t.logpdf(x, 3.5, 0.2, 1.5) + sg.stats.t.cdf(x, 3.5, 0.2, 1.5)
          + sg.stats.t.logcdf(x, df=2.5),
          lambda x: st.t.logpdf(x, 3.5, 0.2, 1.5) + st.t.cdf(x, 3.5, 0.2, 1.5) + st.t.logcdf(x, df=2.5), X),
    "t_df": (lambda df: sg.stats.t.logpdf(X, df), lambda df: st.t.logpdf(X, df), 4.5),
    "gamma": (lambda x: sg.stats.gamma.logpdf(x, 2.5, -2.0, 1.5) + sg.stats.gamma.cdf(x, 2.5, -2.0, 1.5),
              lambda x: st.gamma.logpdf(x, 2.5, -2.0, 1.5) + st.gamma.cdf(x, 2.5, -2.0, 1.5), X),
    "gamma_shape": (lambda a: sg.stats.gamma.logpdf(X + 2, a, scale=0.5),
                    lambda a: st.gamma.logpdf(X + 2, a, scale=0.5), 2.2),
    "beta": (lambda x: sg.stats.beta.logpdf(x, 2.5, 1.5, -2.0, 5.0) + sg.stats.beta.cdf(x, 2.5, 1.5, -2.0, 5.0),
             lambda x: st.beta.logpdf(x, 2.5, 1.5, -2.0, 5.0) + st.beta.cdf(x, 2.5, 1.5, -2.0, 5.0), X),
    "beta_shapes": (lambda a: sg.stats.beta.pdf((X + 2) / 5, a, 2 * a), lambda a: st.beta.pdf((X + 2) / 5, a, 2 * a),
                    1.3),
    "poisson": (lambda mu: sg.stats.poisson.logpmf(K, mu) + sg.stats.poisson.pmf(K, mu) + sg.stats.poisson.cdf(K, mu)
                + sg.stats.poisson.logcdf(K, mu),
                lambda mu: st.poisson.logpmf(K, mu) + st.poisson.pmf(K, mu) + st.poisson.cdf(K, mu)
                + st.poisson.logcdf(K, mu), 3.2),
    "multivariate_normal": (lambda x: sg.stats.multivariate_normal.logpdf(x.reshape(2, 2), [0.1, -0.2], COV),
                            lambda x: st.multivariate_normal.logpdf(x.reshape(2, 2), [0.1, -0.2], COV), X),
    "multivariate_normal_cov": (lambda c: sg.stats.multivariate_normal.pdf(X[:2], None, c @ c.T + np.eye(2)),
                                lambda c: st.multivariate_normal.pdf(X[:2], None, c @ c.T + np.eye(2)), COV),
    "dirichlet": (lambda a: sg.stats.dirichlet.logpdf(np.array([0.2, 0.5, 0.3]), a),
                  lambda a: st.dirichlet.logpdf(np.array([0.2, 0.5, 0.3]), a), np.array([1.5, 2.0, 3.0])),
    "dirichlet_columns": (lambda x: sg.stats.dirichlet.pdf(np.stack([x[:2] ** 2, 1 - x[:2] ** 2]) / 1.0, [1.5, 2.5]),
                          lambda x: st.dirichlet.pdf(np.stack([x[:2] ** 2, 1 - x[:2] ** 2]), [1.5, 2.5]),
                          np.array([0.3, 0.8, 0.1, 0.2])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_scipy_on_floats_and_compiled(name):
    ours, scipys, point = CASES[name]
    expected = scipys(point)
    np.testing.assert_allclose(ours(point), expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(sg.jit(ours)(point), expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivatives_match_finite_differences(name):
    ours, _, point = CASES[name]
    check_grads(lambda p: np.sum(ours(p)), (point,), order=2, modes=("rev",), atol=1e-6, rtol=1e-5)


def test_t_cdf_has_the_density_as_its_slope_at_the_centre():
    assert sg.grad(lambda x: sg.stats.t.cdf(x, 3.0))(0.0) == pytest.approx(st.t.pdf(0.0, 3.0), rel=1e-14)


def test_outside_the_support_and_bad_scales_follow_scipy():
    assert sg.jit(lambda x: sg.stats.gamma.logpdf(x, 2.0))(-1.0) == -np.inf
    assert sg.jit(lambda x: sg.stats.beta.pdf(x, 2.0, 3.0))(1.5) == 0.0
    assert np.isnan(sg.jit(lambda s: sg.stats.norm.logpdf(0.0, 0.0, s))(-1.0))
    assert sg.jit(lambda mu: sg.stats.poisson.pmf(2.5, mu))(1.0) == 0.0


def test_scipy_stats_on_a_traced_value_names_the_symgrad_function():
    with pytest.raises(sg.TracingError, match=r"`scipy\.stats\.norm\.logpdf`.*\n.*`symgrad\.stats\.norm\.logpdf`"):
        sg.jit(lambda x: st.norm.logpdf(x).sum())(X)
    with pytest.raises(sg.TracingError, match=r"`scipy\.stats\.gamma\.cdf`.*\n.*`symgrad\.stats\.gamma\.cdf`"):
        sg.jit(lambda x: st.gamma(2.0).cdf(x).sum())(X)


def test_a_shape_derivative_of_a_distribution_function_is_refused():
    with pytest.raises(sg.UnsupportedPrimitiveError, match="`gammainc`: no derivative with respect to the shape a"):
        sg.grad(lambda a: sg.stats.gamma.cdf(1.0, a))(2.0)
