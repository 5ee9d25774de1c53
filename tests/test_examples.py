"""Every script in examples/ runs to the end in fast mode and prints what it builds."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))

# What each example must print (one line it cannot do without).
EXPECTED = {
    "gradients.py": "d(sin(x)*x**3)/dx = x**3*cos(x) + 3*x**2*sin(x)",
    "gradient_descent.py": "dy/dx = 2*x",
    "linear_regression.py": "after 5 epochs: w = ",
    "custom_rule.py": "the custom rule gives dw = x, dx = w, db = 1",
    "hessian_and_vjp.py": "H(1, 2) =",
    "scipy_rosenbrock.py": (
        "minimum at [1. 1. 1. 1. 1.]" if importlib.util.find_spec("scipy") else "scipy is not installed"
    ),
    "maximum_likelihood.py": (
        "same maximum as scipy.stats.t.fit: True" if importlib.util.find_spec("scipy") else "scipy is not installed"
    ),
    "gaussian_process.py": (
        "the gradient agrees with finite differences: True" if importlib.util.find_spec("scipy")
        else "scipy is not installed"
    ),
}


def test_every_example_is_listed():
    assert sorted(EXPECTED) == [p.name for p in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_in_fast_mode(script, tmp_path):
    env = dict(os.environ, SYMGRAD_FAST="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(script), "--fast"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert EXPECTED[script.name] in done.stdout
    for line in done.stdout.splitlines():
        if line.startswith("saved "):
            picture = tmp_path / line.removeprefix("saved ")
            assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
