"""Accuracy of vector math in batch kernels (libmvec) and of the strict mode (libm per lane)."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import ulp
from symgrad.codegen import llvm as codegen

MAX_ULP = 4  # glibc documents at most 4 ulp for libmvec


def test_ulp_distance_counts_representable_steps():
    x = np.array([1.0, -1.0, 0.0, np.inf, np.nan])
    assert list(ulp.ulp_distance(x, np.nextafter(x, np.inf))[:3]) == [1.0, 1.0, 1.0]
    assert ulp.ulp_distance(np.array([-0.0]), np.array([0.0]))[0] == 0.0
    assert ulp.ulp_distance(np.array([np.nan]), np.array([np.nan]))[0] == 0.0
    assert ulp.ulp_distance(np.array([1.0]), np.array([np.nan]))[0] > 1e15


def test_the_sample_covers_edge_cases_and_every_binade():
    x = ulp.sample(2000)
    assert np.isnan(x).any() and np.isinf(x).sum() >= 2 and (x == 0).sum() >= 2
    assert (np.abs(x[np.isfinite(x)]) < 2.3e-308).any() and (np.abs(x) > 1e300).any()


@pytest.mark.skipif(codegen.strict_math(), reason="libmvec not available: kernels call libm")
def test_vector_math_is_within_a_few_ulp_of_libm_over_the_whole_domain():
    errors = ulp.measure(count=5000)
    assert set(errors) == set(ulp.FUNCTIONS)
    assert {name: e for name, e in errors.items() if e > MAX_ULP} == {}


def test_strict_mode_calls_libm_lane_by_lane():
    previous = codegen._strict_math
    codegen.set_strict_math(True)
    try:
        x = ulp.sample(3000, seed=3)
        for name in ("exp", "log", "sin", "tanh", "erf", "arctan"):
            fn = getattr(sg, name)
            got = sg.vmap(sg.jit(lambda v, fn=fn: fn(v)))(x)
            assert np.max(ulp.ulp_distance(got, ulp._reference(name, x))) == 0, name
    finally:
        codegen.set_strict_math(previous)
