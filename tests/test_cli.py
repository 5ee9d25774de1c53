"""The command line, run as users run it: `python -m symgrad ...` in a fresh process."""

import subprocess
import sys

import pytest

from symgrad.__main__ import main


def symgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True, text=True,
                          timeout=120)


def test_demo_prints_formulas_and_values_of_the_tutorial_examples():
    done = symgrad("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "dy/dx = 4*x\nvalue: 40.0" in out
    assert "dx[0] = 4*x[0]\ndx[1] = 4*x[1]\nvalue: [40. 80.]" in out
    assert "dx1 = 1\ndx2 = 2\nvalue: (1.0, 2.0)" in out
    assert "dy/dx = x**3*cos(x) + 3*x**2*sin(x)" in out
    assert "dy/dx = 2*x" in out and "step    1: x = 9.800000  y = 120.000000" in out
    assert "step 1000: x = 0.000000  y = 20.000000" in out
    assert "db[2] = " in out and "dw =" in out
    assert done.stderr == ""


@pytest.mark.parametrize("args, expected", [
    (["sin(x)*y", "--wrt", "x"], "y*cos(x)"),
    (["2*x**2"], "4*x"),
    (["sin(x)*x**3", "--wrt", "x"], "x**3*cos(x) + 3*x**2*sin(x)"),
    (["x**4", "--wrt", "x", "--order", "3"], "24*x"),
    (["x*y", "--wrt", "x", "--order", "2"], "0"),
    (["sin(x)*y", "--wrt", "x", "--latex"], r"y \cos{\left(x \right)}"),
])
def test_diff_prints_the_derivative(args, expected):
    done = symgrad("diff", *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_diff_prints_c_that_names_the_inputs():
    done = symgrad("diff", "log(x**2 + y**2)", "--wrt", "y", "--c")
    assert done.returncode == 0, done.stderr
    assert "#include <math.h>" in done.stdout
    assert "void derivative(const double *x, const double *y, double *dy)" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["diff", "sin(x", "--wrt", "x"], "cannot parse"),
    (["diff", "x*y"], "--wrt"),
    (["diff", "x", "--order", "0"], "--order"),
    (["diff", "x", "--order", "two"], "invalid int value"),
    (["diff", "x", "--latex", "--c"], "not allowed"),
    (["diff", "I*x", "--wrt", "x"], "cannot differentiate"),
    (["diff", "x < y", "--wrt", "x"], "not an expression"),
    (["diff", "x", "--wrt", "2x"], "--wrt"),
    (["diff", "x", "--bogus"], "unrecognized"),
    (["frobnicate"], "invalid choice"),
    ([], "choose a command"),
])
def test_mistakes_give_one_line_on_stderr_and_exit_status_2(args, message):
    done = symgrad(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("symgrad: error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_main_can_be_called_in_process(capsys):
    assert main(["diff", "exp(2*x)", "--wrt", "x"]) == 0
    assert capsys.readouterr().out.strip() == "2*exp(2*x)"
    assert main(["diff", "x +"]) == 2
    assert capsys.readouterr().err.startswith("symgrad: error: cannot parse")


def test_derivative_of_a_power_by_its_exponent_prints_without_an_internal_safe_log():
    done = symgrad("diff", "x**y", "--wrt", "y")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "x**y*log(x)"
