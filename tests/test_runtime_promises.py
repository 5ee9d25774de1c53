"""What API.md §4 promises about compiled callables: thread safety, inputs never modified,
fresh results, and pickling into a fresh process."""

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import symgrad as sg

pytest.importorskip("llvmlite")


def loss(w, x):
    """A module-level function, so that transformations of it can be pickled by reference."""
    return (np.tanh(x @ w) ** 2).sum() + np.sin(w).sum() * 0.1


def _point(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=3), rng.normal(size=(4, 3))


def test_eight_threads_calling_one_kernel_agree_with_a_single_thread():
    g = sg.grad(loss, argnums=(0, 1))
    rng = np.random.default_rng(1)
    inputs = [(rng.normal(size=3), rng.normal(size=(4, 3))) for _ in range(40)]
    g(*inputs[0])  # compile once up front; the threads then share the kernel
    expected = [g(w, x) for w, x in inputs]
    results: dict[int, list] = {}
    errors = []
    start = threading.Barrier(8)

    def work(k):
        try:
            start.wait()
            results[k] = [g(w, x) for _ in range(5) for w, x in inputs]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    _run_in_threads(work, 8)
    assert not errors
    assert len(results) == 8
    for per_thread in results.values():
        for got, want in zip(per_thread, expected * 5, strict=True):
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_eight_threads_compiling_and_batching_at_once_agree():
    # first calls race to compile the same signature; vmap batches run side by side
    f = sg.vmap(sg.grad(lambda x: (np.sin(x) * x).sum()))
    xs = np.random.default_rng(2).normal(size=(5000, 2))  # long enough to use the parallel split
    expected = np.cos(xs) * xs + np.sin(xs)
    results, errors = [None] * 8, []
    start = threading.Barrier(8)

    def work(k):
        try:
            start.wait()
            results[k] = f(xs)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    _run_in_threads(work, 8)
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-13, atol=1e-15)


def _check_unchanged(call, *args):
    before = [np.array(a, copy=True) for a in args]
    flags = [a.flags.writeable for a in args]
    call(*args)
    call(*args)
    for a, b, writeable in zip(args, before, flags, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable == writeable


def test_inputs_are_never_modified():
    w, x = _point(3)
    _check_unchanged(sg.grad(loss, argnums=(0, 1)), w, x)
    _check_unchanged(sg.value_and_grad(loss), w, x)
    _check_unchanged(sg.jit(loss), w, x)
    _check_unchanged(sg.jacobian(lambda w, x: np.tanh(x @ w)), w, x)
    _check_unchanged(sg.hessian(loss), w, x)
    _check_unchanged(lambda w, x: sg.jvp(loss, (w, x), (w, x)), w, x)
    _check_unchanged(lambda w, x: sg.vjp(lambda w, x: x @ w, w, x)[1](np.ones(4)), w, x)
    # vmap, including strided views into a larger array and a shared argument
    big = np.random.default_rng(4).normal(size=(10, 8))
    view = big[::2, 1:4]
    _check_unchanged(sg.vmap(sg.grad(loss), in_axes=(0, None)), view, x)
    _check_unchanged(lambda b: sg.vmap(lambda r: np.exp(r) * 2)(b[:, ::3]), big)
    _check_unchanged(sg.vmap(lambda a, b: a * b, in_axes=(1, 0)), big[:3].T.T, big[:8, 5])
    # a compiled symbolic expression
    xs = sg.symbols("x", shape=(3,))
    k = sg.compile([xs], [sg.diff((xs**3).sum(), xs)])
    _check_unchanged(k, w)


def test_read_only_inputs_are_accepted():
    w, x = _point(5)
    w.flags.writeable = False
    x.flags.writeable = False
    np.testing.assert_allclose(sg.grad(loss)(w, x), sg.grad(loss)(w.copy(), x.copy()), rtol=0, atol=0)
    xs = x[:, :2]
    out = sg.vmap(lambda r: r**2)(xs)
    np.testing.assert_array_equal(out, xs**2)


def test_results_are_fresh_arrays():
    w, x = _point(6)
    g = sg.grad(loss, argnums=(0, 1))
    first = g(w, x)
    second = g(w, x)
    for a, b in zip(first, second, strict=True):
        assert a is not b and not np.shares_memory(a, b)
        assert a.flags.writeable
        assert not np.shares_memory(a, w) and not np.shares_memory(a, x)
    saved = second[0].copy()
    first[0][:] = 1e300  # scribbling on one result changes no later result
    first[1][:] = np.nan
    np.testing.assert_array_equal(g(w, x)[0], saved)
    # vmap results, identity functions and scalar outputs too
    xs = np.arange(6.0).reshape(3, 2)
    ident = sg.vmap(lambda r: r)
    out = ident(xs)
    assert not np.shares_memory(out, xs)
    out[:] = -1
    np.testing.assert_array_equal(xs, np.arange(6.0).reshape(3, 2))
    assert not np.shares_memory(sg.jit(lambda v: v)(w), w)
    assert type(sg.jit(loss)(w, x)) is float


def _in_fresh_process(payload: bytes, call: str) -> list:
    """Unpickle `payload` in a new interpreter, evaluate `call` on it (as `f`), return the result."""
    script = (
        "import pickle, sys, numpy as np\n"
        f"f = pickle.loads({payload!r})\n"
        f"result = {call}\n"
        "sys.stdout.write(repr([np.asarray(r).tolist() for r in result]))\n"
    )
    # this test module on the path, so functions pickled by reference can be found
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return eval(done.stdout)  # a list of lists of floats


def test_a_pickled_kernel_gives_the_same_numbers_in_a_fresh_process():
    w, x = _point(7)
    g = sg.grad(loss, argnums=(0, 1))
    kernel = g.compile(w, x)
    here = [np.asarray(r).tolist() for r in kernel(w, x)]
    there = _in_fresh_process(pickle.dumps(kernel), f"f(np.array({w.tolist()}), np.array({x.tolist()}))")
    np.testing.assert_array_equal(np.asarray(there[0]), here[0])
    np.testing.assert_array_equal(np.asarray(there[1]), here[1])
    # and in this process
    again = pickle.loads(pickle.dumps(kernel))(w, x)
    np.testing.assert_array_equal(again[0], here[0])


def test_a_pickled_symbolic_compile_gives_the_same_numbers_in_a_fresh_process():
    x, y = sg.symbols("x y")
    e = sg.exp(sg.sin(x) * y)
    k = sg.compile([x, y], [e, sg.diff(e, x), sg.diff(e, y, 2)])
    here = list(k(0.3, 1.7))
    there = _in_fresh_process(pickle.dumps(k), "f(0.3, 1.7)")
    assert there == here


def test_a_pickled_gradient_gives_the_same_numbers_in_a_fresh_process():
    w, x = _point(8)
    g = sg.grad(loss, argnums=(0, 1))
    here = [r.tolist() for r in g(w, x)]
    payload = pickle.dumps(g)  # fails today: AttributeError, can't pickle local object
    there = _in_fresh_process(payload, f"f(np.array({w.tolist()}), np.array({x.tolist()}))")
    assert there == here


def rosen(x):
    """Rosenbrock's function, at module level so that its transformations pickle by reference."""
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def test_a_vmap_of_a_gradient_of_a_module_level_function_pickles_before_and_after_a_call():
    xs = np.random.default_rng(9).normal(size=(5, 4))
    batched = sg.vmap(sg.grad(rosen))
    fresh = pickle.loads(pickle.dumps(batched))  # never called: pickled as the call that made it
    here = batched(xs)
    np.testing.assert_array_equal(fresh(xs), here)
    there = _in_fresh_process(pickle.dumps(batched), f"[f(np.array({xs.tolist()}))]")
    np.testing.assert_array_equal(np.asarray(there[0]), here)
    # and it still compiles new signatures after unpickling (the function came along)
    assert fresh(np.ones((2, 3))).shape == (2, 3)


def test_a_gradient_of_a_lambda_pickles_as_its_compiled_graph_and_runs_in_a_fresh_process():
    g = sg.grad(lambda w, x: (np.tanh(x @ w) ** 2).sum() + np.sin(w).sum() * 0.1, argnums=(0, 1))
    w, x = _point(10)
    here = [r.tolist() for r in g(w, x)]
    payload = pickle.dumps(g)
    there = _in_fresh_process(payload, f"f(np.array({w.tolist()}), np.array({x.tolist()}))")
    assert there == here
    batched = sg.vmap(sg.grad(lambda v: (v ** 3).sum()))
    assert batched(np.ones((2, 3))).shape == (2, 3)
    there = _in_fresh_process(pickle.dumps(batched), "[f(np.full((4, 3), 2.0))]")
    assert there == [np.full((4, 3), 12.0).tolist()]


def test_an_unpickled_lambda_gradient_refuses_a_signature_it_was_not_compiled_for():
    g = sg.grad(lambda v: (v ** 3).sum())
    g(np.ones(3))
    script = (
        "import pickle, numpy as np\n"
        f"f = pickle.loads({pickle.dumps(g)!r})\n"
        "print(f(np.full(3, 2.0)).tolist())\n"
        "try:\n"
        "    f(np.ones(2))\n"
        "except TypeError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    values, message = done.stdout.splitlines()
    assert values == "[12.0, 12.0, 12.0]"
    assert "without its Python function" in message and "float64 (3,)" in message
    assert "module level" in message


def test_a_lambda_gradient_never_called_cannot_be_pickled_and_says_why():
    with pytest.raises(TypeError, match="call it once first"):
        pickle.dumps(sg.grad(lambda v: v ** 2))


def test_a_graph_larger_than_one_function_is_split_into_parts_with_the_same_results(monkeypatch):
    from symgrad.codegen import llvm as codegen
    from symgrad.evaluate import evaluate

    def energy(p):
        d = p[:, None, :] - p[None, :, :]
        r2 = (d * d).sum(axis=2) + np.eye(len(p))
        return (1.0 / r2).sum()

    points = np.random.default_rng(5).uniform(0, 4, size=(6, 8, 3))
    monkeypatch.setattr(codegen, "CHUNK_SIZE", 200)  # a few hundred operations: several parts
    gradient = sg.grad(energy)
    graph = gradient.formula(points[0]).graph
    assert sum(1 for n in graph.order() if n.args) > 3 * 200
    expected = [np.array(evaluate(list(graph.outputs), dict(zip(graph.inputs, p.ravel())))).reshape(8, 3)
                for p in points]
    np.testing.assert_allclose(gradient(points[0]), expected[0], rtol=1e-12)
    np.testing.assert_allclose(sg.vmap(gradient)(points), expected, rtol=1e-12)


def _run_in_threads(work, count: int) -> None:
    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
