"""The command line, run as users run it: `python -m symgrad ...` in a fresh process."""

import math
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


# ----- Untrusted input: nothing runs, nothing hangs, exit status 2 -----

INJECTIONS = [
    "__import__('os').system('touch pwned')",
    "open('pwned', 'w').write('x')",
    "exec(\"open('pwned', 'w')\")",
    "eval('1')",
    "x.__class__.__bases__",
    "().__class__.__base__.__subclasses__()",
    "(lambda: open('pwned', 'w'))()",
    "__builtins__",
    "x.real",
    "[c for c in ().__class__.__mro__]",
    "getattr(x, 'y')",
    "sin.__globals__",
    "x if open('pwned', 'w') else x",
    "(x := 3)",
    "f'{x}'",
    "'abc'",
    "b'x'",
    "1j*x",
    "True*x",
    "x[0]",
    "{x: 1}",
    "x @ x",
    "x % 2",
    "9**9**9**9",
    "x**9**9**9",
    "2**10**6*x",
    "x**1e400",
    "(" * 5000 + "x" + ")" * 5000,
    "(" * 150 + "x" + ")" * 150,
    "sin(" * 150 + "x" + ")" * 150,
    "x**" * 150 + "x",
    "x+" * 5000 + "x",
    "x" * 100_000,
    "sin(x, x)",
    "sin",
    "x\x00",
]


def _attempts_in_a_child(attempts: list[list[str]], cwd) -> list[tuple[int, str]]:
    """Exit status and stderr of `main(argv)` for each argv, run in one fresh process under a timeout."""
    program = (
        "import contextlib, io, json, sys\n"
        "from symgrad.__main__ import main\n"
        "for argv in json.loads(sys.stdin.read()):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
        "        code = main(argv)\n"
        "    print(json.dumps([code, err.getvalue()]), flush=True)\n"
    )
    import json

    done = subprocess.run([sys.executable, "-c", program], input=json.dumps(attempts), capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return [tuple(json.loads(line)) for line in done.stdout.splitlines()]


def test_untrusted_expressions_are_refused_with_status_2_and_never_run(tmp_path):
    attempts = [["diff", text, "--wrt", "x"] for text in INJECTIONS]
    results = _attempts_in_a_child(attempts, tmp_path)
    assert len(results) == len(attempts)
    for text, (code, err) in zip(INJECTIONS, results):
        assert code == 2, (text[:80], err)
        assert err.startswith("symgrad: error: ") and err.count("\n") == 1, (text[:80], err)
    assert list(tmp_path.iterdir()) == []


def test_wrt_must_be_a_plain_variable_name(tmp_path):
    names = ["__import__", "__class__", "lambda", "import", "sin", "x.y", "x" * 200, "I", "1x", ""]
    results = _attempts_in_a_child([["diff", "x*y", "--wrt", name] for name in names], tmp_path)
    for name, (code, err) in zip(names, results):
        assert code == 2, (name, err)
        assert err.startswith("symgrad: error: --wrt"), (name, err)


def test_command_line_injection_writes_no_file_and_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "symgrad", "diff", "__import__('os').system('echo hi > f')",
                           "--wrt", "x"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_huge_orders_are_refused_before_any_work(tmp_path):
    orders = ["99999999999999999", "11", "0", "-1"]
    results = _attempts_in_a_child([["diff", "sin(x)", "--wrt", "x", "--order", order] for order in orders], tmp_path)
    for order, (code, err) in zip(orders, results):
        assert code == 2, (order, err)
        assert "--order must be an integer from 1 to 10" in err, (order, err)


def test_derivatives_that_grow_too_large_are_refused_not_printed(capsys):
    assert main(["diff", "sin(x*y)*exp(x/y)**x", "--wrt", "x", "--order", "10"]) == 2
    err = capsys.readouterr().err
    assert "grows to" in err and "--order" in err


@pytest.mark.parametrize("args, expected", [
    (["asin(x) + Abs(y)", "--wrt", "x"], "1/sqrt(1 - x**2)"),
    (["E**x + pi*y", "--wrt", "y"], repr(math.pi)),
    (["atan2(y, x)", "--wrt", "y"], "x/(x**2 + y**2)"),
    (["x + y + " + " + ".join(["x"] * 300), "--wrt", "y"], "1"),
    (["--wrt", "x", "--", "-x"], "-1"),
    (["2**-1*x", "--wrt", "x"], "1/2"),
])
def test_formulas_of_numbers_variables_operators_and_function_names_are_read(args, expected, capsys):
    assert main(["diff", *args]) == 0
    assert capsys.readouterr().out.strip() == expected
