"""SciPy's special functions on traced arrays (the primitives are checked row by row in `tests/specs.py`).

Here: `scipy.special.<ufunc>` on a traced array becomes the primitive; compiled values agree with SciPy
in every lowering (scalar kernels, SIMD batches, loops); SciPy's Python functions are refused with the
symgrad function to use instead; without SciPy, symgrad imports, traces and differentiates, and compiling
a function SciPy computes says what to install; formulas use the usual notation.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
import symgrad.lowering as lowering

sc = pytest.importorskip("scipy.special")

X = np.array([0.35, 1.2, 2.5, 4.0, 7.5])
# (SciPy function, symgrad function, arguments before x, x)
UFUNCS = {
    "gamma": (sc.gamma, sg.gamma, (), X),
    "gammaln": (sc.gammaln, sg.gammaln, (), X),
    "psi": (sc.psi, sg.digamma, (), X),
    "digamma": (sc.digamma, sg.psi, (), -X),
    "erf": (sc.erf, sg.erf, (), X - 2),
    "erfc": (sc.erfc, sg.erfc, (), X - 2),
    "erfinv": (sc.erfinv, sg.erfinv, (), X / 8),
    "expit": (sc.expit, sg.expit, (), X - 2),
    "logit": (sc.logit, sg.logit, (), X / 8),
    "xlogy": (sc.xlogy, sg.xlogy, (X - 1,), X),
    "xlog1py": (sc.xlog1py, sg.xlog1py, (X - 1,), X - 0.3),
    "i0": (sc.i0, sg.i0, (), X - 2),
    "i1": (sc.i1, sg.i1, (), X - 2),
    "i0e": (sc.i0e, sg.i0e, (), X - 2),
    "i1e": (sc.i1e, sg.i1e, (), X - 2),
    "jv": (sc.jv, sg.jv, (1.5,), X),
    "yv": (sc.yv, sg.yv, (0.0,), X),
    "beta": (sc.beta, sg.beta, (1.5,), X),
    "betaln": (sc.betaln, sg.betaln, (1.5,), X),
    "ndtr": (sc.ndtr, sg.ndtr, (), X - 4),
    "log_ndtr": (sc.log_ndtr, sg.log_ndtr, (), 8 * (X - 4)),
    "gammainc": (sc.gammainc, sg.gammainc, (2.5,), X),
    "gammaincc": (sc.gammaincc, sg.gammaincc, (2.5,), X),
    "betainc": (sc.betainc, sg.betainc, (1.5, 2.0), X / 8),
}


@pytest.mark.parametrize("name", sorted(UFUNCS))
@pytest.mark.parametrize("budget", ["inf", "0"], ids=["scalars", "loops"])
def test_scipy_ufunc_on_a_traced_array_is_the_primitive(name, budget, monkeypatch):
    monkeypatch.setattr(lowering, "_FORCED", budget)
    scipy_f, symgrad_f, before, x = UFUNCS[name]
    np.testing.assert_allclose(sg.jit(lambda x: scipy_f(*before, x))(x), scipy_f(*before, x), rtol=1e-13)
    # The same graph whichever spelling was used: the same gradient.
    np.testing.assert_array_equal(sg.grad(lambda x: scipy_f(*before, x).sum())(x),
                                  sg.grad(lambda x: symgrad_f(*before, x).sum())(x))


@pytest.mark.parametrize("name", ["gammaln", "psi", "jv", "betainc", "log_ndtr"])
def test_batches_run_the_native_functions_lane_by_lane(name):
    scipy_f, _, before, x = UFUNCS[name]
    batch = np.linspace(1.0, 2.0, 19)[:, None] * x
    got = sg.vmap(lambda x: scipy_f(*before, x))(batch)
    np.testing.assert_allclose(got, scipy_f(*before, batch), rtol=1e-13, atol=1e-15)


def test_polygamma_and_zeta_agree_with_scipy_to_a_few_ulp():
    x = np.concatenate([np.linspace(0.05, 40.0, 40), -np.linspace(0.05, 6.0, 15) - 1e-3])
    for n in (0, 1, 2, 3):
        got = sg.jit(lambda x, n=n: sg.polygamma(float(n), x))(x)
        np.testing.assert_allclose(got, sc.polygamma(n, x), rtol=1e-12, err_msg=f"polygamma({n}, x)")
    q = np.linspace(0.05, 40.0, 40)
    np.testing.assert_allclose(sg.jit(lambda q: sg.zeta(3.5, q))(q), sc.zeta(3.5, q), rtol=1e-14)


def test_multigammaln_matches_scipy_and_its_derivative_is_a_sum_of_digammas():
    a = 4.3
    assert sg.multigammaln(a, 3) == pytest.approx(sc.multigammaln(a, 3), rel=1e-14)
    assert sg.jit(lambda a: sg.multigammaln(a, 3))(a) == pytest.approx(sc.multigammaln(a, 3), rel=1e-14)
    assert sg.grad(lambda a: sg.multigammaln(a, 3))(a) == pytest.approx(sum(sc.psi(a - j / 2) for j in range(3)))
    with pytest.raises(ValueError, match="larger than"):
        sg.multigammaln(0.9, 3)


def test_scipy_python_functions_name_the_symgrad_function_to_use():
    with pytest.raises(sg.TracingError, match=r"`scipy\.special\.logsumexp` needs concrete values.*\n.*"
                                              r"Use `symgrad\.logsumexp` instead"):
        sg.jit(lambda x: sc.logsumexp(x))(X)
    with pytest.raises(sg.TracingError, match=r"`scipy\.special\.polygamma`.*\n.*`symgrad\.polygamma`"):
        sg.jit(lambda x: sc.polygamma(1, x))(X)
    with pytest.raises(sg.TracingError, match=r"`scipy\.special\.multigammaln`.*\n.*`symgrad\.multigammaln`"):
        sg.jit(lambda x: sc.multigammaln(x[0], 2))(X)


def test_logsumexp_takes_scipys_weights():
    b = X[::-1].copy()
    assert sg.jit(lambda x: sg.logsumexp(x, b=b))(X) == pytest.approx(sc.logsumexp(X, b=b), rel=1e-14)
    np.testing.assert_allclose(sg.jit(lambda x: sg.softmax(x))(X), sc.softmax(X), rtol=1e-14)


def test_derivative_along_an_order_is_refused_as_in_jax():
    with pytest.raises(sg.UnsupportedPrimitiveError, match="`jv`: no derivative with respect to the order v"):
        sg.grad(lambda v: sg.jv(v, 2.0))(1.0)
    # along x it works, with the order a traced argument held fixed
    assert sg.grad(lambda v, x: sg.jv(v, x), argnums=1)(1.0, 2.0) == pytest.approx(
        0.5 * (sc.jv(0, 2.0) - sc.jv(2, 2.0)), rel=1e-14)


def test_formulas_write_gamma_and_psi_in_the_usual_notation():
    assert sg.grad(lambda x: sg.gammaln(x)).formula(1.0).latex() == r"\psi\left(x\right)"
    assert sg.jit(lambda x: sg.gamma(x) + sg.gammaln(x)).formula(1.0).latex() == \
        r"\Gamma\left(x\right) + \log \Gamma\left(x\right)"
    assert r"\psi^{\left(1\right)}\left(x\right)" in sg.grad(lambda x: sg.digamma(x)).formula(1.0).latex()


def test_c_export_of_a_scipy_function_is_refused_by_name():
    with pytest.raises(sg.UnsupportedPrimitiveError, match="`digamma` is computed by SciPy"):
        sg.grad(sg.gammaln).formula(1.0).c()
    assert "lgamma(x[0])" in sg.jit(lambda x: sg.gammaln(x)).formula(1.0).c()


_WITHOUT_SCIPY = """
import sys
sys.path.insert(0, {hidden!r})
import symgrad as sg
assert "scipy" not in sys.modules, "import symgrad imported scipy"
import math
assert abs(sg.jit(lambda x: sg.gammaln(x) + sg.erfc(x))(2.5) - math.lgamma(2.5) - math.erfc(2.5)) < 1e-15  # libm
print(sg.grad(sg.gammaln).formula(2.0))
try:
    sg.grad(sg.gammaln)(2.0)
except sg.UnsupportedPrimitiveError as e:
    print("ERROR", e)
"""


def test_without_scipy_symgrad_traces_and_compiling_says_what_to_install(tmp_path):
    hidden = tmp_path / "scipy"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('SciPy is hidden by this test')\n")
    script = _WITHOUT_SCIPY.format(hidden=str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    formula, error = done.stdout.strip().splitlines()
    assert formula == "polygamma(0, operands[0])"
    assert "compiling `psi` needs SciPy" in error and "pip install scipy" in error
