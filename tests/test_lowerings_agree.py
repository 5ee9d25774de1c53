"""The two lowerings of the same transformed function agree to 1e-12: scalars and loops.

Each function is compiled twice, once forced through each lowering, on
small shapes; values, gradients, Hessians (higher order) and `where`'s
NaN-safety are compared.
"""

import numpy as np
import pytest

import symgrad as sg
import symgrad.lowering as lowering

RNG = np.random.default_rng(21)
B = RNG.normal(size=(4, 3))
DATA = RNG.normal(size=(6, 4))


def _rosen(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _mlp(W, b):
    z = np.tanh(DATA @ W + b)
    return (sg.logsumexp(z, 1) - z[:, 0]).mean()


CASES = {
    "grad_tanh_matmul": (lambda: sg.grad(lambda A: np.tanh(A @ B).sum()), (RNG.normal(size=(5, 4)),)),
    "hessian_rosen": (lambda: sg.hessian(_rosen), (RNG.uniform(-1, 1, 6),)),
    "jacobian_softmax": (lambda: sg.jacobian(lambda x: np.exp(x) / np.exp(x).sum()), (RNG.normal(size=5),)),
    "grad_mlp_logsumexp": (lambda: sg.grad(_mlp, argnums=(0, 1)), (RNG.normal(size=(4, 3)), RNG.normal(size=3))),
    "third_derivative": (lambda: sg.jacfwd(sg.hessian(lambda x: (np.sin(x) * x[::-1] ** 2).sum())),
                         (RNG.normal(size=3),)),
    "grad_where_sqrt": (lambda: sg.grad(lambda x: np.where(x > 0, np.sqrt(x), 0.0).sum()),
                        (np.array([-1.0, 0.0, 4.0, 9.0, -2.0]),)),
    "grad_max_prod": (lambda: sg.grad(lambda x: x.max(axis=0).sum() + x.prod(axis=1).sum()),
                      (RNG.normal(size=(3, 4)),)),
    "vmap_of_grad": (lambda: sg.vmap(sg.grad(lambda v: (np.cos(v) * v).sum())), (RNG.normal(size=(7, 3)),)),
}


def _compute(name, budget, monkeypatch):
    monkeypatch.setattr(lowering, "_FORCED", budget)
    make, args = CASES[name]
    return make()(*args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scalars_and_loops_agree(name, monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN or division warning from the branch not taken
        scalar = _compute(name, "inf", monkeypatch)
        loops = _compute(name, "0", monkeypatch)
    scalar = scalar if isinstance(scalar, tuple) else (scalar,)
    loops = loops if isinstance(loops, tuple) else (loops,)
    assert len(scalar) == len(loops)
    for s, lo in zip(scalar, loops):
        assert np.shape(s) == np.shape(lo)
        assert np.all(np.isfinite(lo)) and np.all(np.isfinite(s))
        np.testing.assert_allclose(lo, s, rtol=1e-12, atol=1e-12)


def test_which_lowering_ran_is_visible(monkeypatch):
    monkeypatch.setattr(lowering, "_FORCED", "0")
    f = sg.grad(lambda x: (x**2).sum())
    assert f.formula(np.ones(3)).lowering == "loops"
    monkeypatch.setattr(lowering, "_FORCED", "inf")
    assert sg.grad(lambda x: (x**2).sum()).formula(np.ones(3)).lowering == "scalar"
