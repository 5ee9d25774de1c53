"""The persistent compile cache (symgrad/cache.py, through engine._Engine.add): code compiled
in one process is loaded by the next, damaged entries are rebuilt, concurrent writers are safe,
the size limit holds; and what a build reports (log line, progress on a terminal)."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad import cache, progress
from symgrad.serialize import graph_key

pytest.importorskip("llvmlite")

# Builds a gradient (native entry with arrays and with floats, and a vmap batch) and a sum
# over data, then prints the cache's counts and the results' bytes.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symgrad as sg

    def loss(w):
        return (np.tanh(w[1:] * w[:-1]) ** 2).sum() + np.sin(w).sum() * 0.5

    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    w = np.linspace(-1.0, 2.0, 7)
    data = np.random.default_rng(seed).normal(size=(50, 3))
    fit = sg.grad(lambda p: sg.vmap(lambda row: (row @ p - 1.0) ** 2)(data).mean())
    p = np.array([0.5, -0.25, 2.0])
    # A network over the data: its row expressions use several outer arrays (their order must not
    # follow a hash or an address, which change from one process to the next).
    def net(params, row):
        W1, b1, W2, b2, w3 = params
        h = np.tanh(np.tanh(row @ W1 + b1) @ W2 + b2)
        return (h @ w3) ** 2

    params = (np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0, 1, 4), np.linspace(-1, 1, 16).reshape(4, 4),
              np.linspace(0, 1, 4), np.linspace(-1, 1, 4))
    network = sg.grad(lambda ps: sg.vmap(lambda row: net(ps, row))(data).mean())(params)
    results = [sg.grad(loss)(w), np.array([sg.grad(lambda x: sg.sin(x) * x ** 3)(1.5)]),
               sg.vmap(sg.grad(loss))(np.outer(np.arange(1.0, 4.0), w)),
               np.concatenate([g.ravel() for g in network]), fit(p)]
    expected_fit = 2 * data.T @ (data @ p - 1.0) / len(data)
    info = sg.cache_info()
    print(json.dumps({"hits": info.hits, "misses": info.misses, "entries": info.entries,
                      "fit_error": float(np.abs(results[-1] - expected_fit).max()),
                      "results": [r.tobytes().hex() for r in results]}))
""")


def _run(directory, *args, env=None):
    environment = {**os.environ, "SYMGRAD_CACHE_DIR": str(directory), **(env or {})}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _report(process) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_second_process_builds_the_same_gradient_from_the_cache_with_identical_results(tmp_path):
    first = _report(_run(tmp_path, env={"PYTHONHASHSEED": "1"}))
    second = _report(_run(tmp_path, env={"PYTHONHASHSEED": "2"}))
    assert first["hits"] == 0 and first["misses"] >= 5
    assert second == {**first, "hits": first["misses"], "misses": 0}
    assert first["fit_error"] < 1e-12


def test_a_cached_sum_over_data_reads_the_data_of_the_process_that_loads_it(tmp_path):
    # The data's address is a symbol resolved at load time, not a constant in the code.
    first = _report(_run(tmp_path, "1"))
    second = _report(_run(tmp_path, "2"))
    assert second["misses"] == 0 and second["hits"] == first["misses"]
    assert second["fit_error"] < 1e-12
    assert second["results"][-1] != first["results"][-1]


def test_kernels_of_one_code_over_different_data_each_read_their_own(own_cache):
    # One cached code, two kernels in one process: each links the data symbol to its own array.
    rng = np.random.default_rng(5)
    datasets = [rng.normal(size=(40, 3)) for _ in range(3)]
    fits = [sg.grad(lambda p, data=data: sg.vmap(lambda row: (row @ p - 1.0) ** 2)(data).mean())
            for data in datasets]
    p = np.array([0.5, -0.25, 2.0])
    hits = cache.cache_info().hits
    for fit, data in zip(fits, datasets):
        np.testing.assert_allclose(fit(p), 2 * data.T @ (data @ p - 1.0) / len(data), rtol=1e-13)
    assert cache.cache_info().hits == hits + 2
    for fit, data in zip(fits, datasets):  # and still after the others were linked
        np.testing.assert_allclose(fit(p), 2 * data.T @ (data @ p - 1.0) / len(data), rtol=1e-13)


def test_two_processes_building_into_one_empty_cache_at_once_both_succeed(tmp_path):
    processes = [_run(tmp_path), _run(tmp_path)]
    reports = [_report(p) for p in processes]
    assert reports[0]["results"] == reports[1]["results"]
    names = sorted(os.listdir(tmp_path))
    assert names and all(name.endswith(".sgo") and not name.startswith(".tmp") for name in names)
    assert all(cache._checked((tmp_path / name).read_bytes()) is not None for name in names)
    third = _report(_run(tmp_path))
    assert third["misses"] == 0 and third["results"] == reports[0]["results"]


def test_symgrad_cache_0_writes_nothing(tmp_path):
    report = _report(_run(tmp_path / "cache", env={"SYMGRAD_CACHE": "0"}))
    assert report["hits"] == report["misses"] == report["entries"] == 0
    assert not (tmp_path / "cache").exists()


def _graph(f, *args):
    return f.compile(*args).graph  # traced and differentiated, not compiled


def test_equal_graphs_traced_apart_have_one_cache_key():
    def f(x):
        return (sg.sin(x) * x[::-1]).sum()

    x = np.ones(4)
    assert graph_key(_graph(sg.grad(f), x)) == graph_key(_graph(sg.grad(f), x))
    assert graph_key(_graph(sg.grad(f), x)) != graph_key(_graph(sg.grad(f), np.ones(5)))


def test_the_cache_key_tells_constants_apart_by_their_bits():
    nearest = np.nextafter(2.0, 3.0)
    assert graph_key(_graph(sg.grad(lambda x: sg.sin(x) * 2.0), 1.0)) != \
        graph_key(_graph(sg.grad(lambda x: sg.sin(x) * nearest), 1.0))


def test_the_cache_key_of_a_sum_over_data_holds_its_layout_not_its_values():
    def sum_loss(data):
        return sg.grad(lambda p: sg.vmap(lambda row: (row @ p) ** 2)(data).sum())

    p = np.ones(3)
    rows = np.arange(30.0).reshape(10, 3)
    assert graph_key(_graph(sum_loss(rows), p)) == graph_key(_graph(sum_loss(rows + 1.0), p))
    assert graph_key(_graph(sum_loss(rows), p)) != graph_key(_graph(sum_loss(rows[:9]), p))


@pytest.fixture
def own_cache(tmp_path):
    """This process's cache, moved to an empty directory for one test."""
    previous = cache.configure(directory=tmp_path, enabled=True)
    limit = cache.cache_info().max_bytes
    yield tmp_path
    cache.configure(*previous)
    cache.set_cache_limit(limit)


def _entries(directory) -> dict:
    return {p.name: p for p in directory.iterdir() if p.suffix == ".sgo"}


def _damage_by_truncation(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_by_flipping_a_code_byte(path):
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x10
    path.write_bytes(bytes(data))


def _damage_by_flipping_a_checksum_byte(path):
    data = bytearray(path.read_bytes())
    data[len(cache._MAGIC) + 3] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_by_truncation, _damage_by_flipping_a_code_byte,
                                    _damage_by_flipping_a_checksum_byte])
def test_a_damaged_entry_is_rebuilt_not_loaded(own_cache, damage):
    def f(x):
        return sg.sin(x) * x**3 + sg.exp(x)

    expected = np.cos(1.25) * 1.25**3 + 3 * 1.25**2 * np.sin(1.25) + np.exp(1.25)
    assert sg.grad(f)(1.25) == pytest.approx(expected, rel=1e-14)
    (path,) = _entries(own_cache).values()
    damage(path)
    before = cache.cache_info()
    assert sg.grad(f)(1.25) == pytest.approx(expected, rel=1e-14)  # a fresh callable: compiled again
    after = cache.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses + 1)
    assert cache._checked(path.read_bytes()) is not None  # rewritten whole
    assert sg.grad(f)(1.25) == pytest.approx(expected, rel=1e-14)
    assert cache.cache_info().hits == after.hits + 1


def test_the_least_recently_used_entries_are_evicted_to_stay_under_the_limit(own_cache):
    functions = [lambda x, k=k: sg.sin(x * (k + 1.0)) * x**2 for k in range(5)]
    sg.grad(functions[0])(1.0)
    (kept,) = _entries(own_cache)
    limit = int(_entries(own_cache)[kept].stat().st_size * 2.5)  # room for two entries
    sg.set_cache_limit(limit)
    sg.grad(functions[1])(1.0)
    for k in range(2, 5):
        time.sleep(0.01)
        hits = cache.cache_info().hits
        sg.grad(functions[0])(1.0)  # used again: the most recent, so kept
        assert cache.cache_info().hits == hits + 1
        time.sleep(0.01)
        sg.grad(functions[k])(1.0)
        entries = _entries(own_cache)
        assert len(entries) == 2 and kept in entries
        assert sum(p.stat().st_size for p in entries.values()) <= limit


def test_what_a_killed_writer_leaves_is_never_an_entry_and_is_removed_once_stale(own_cache):
    stale, fresh = own_cache / ".tmp-killed.sgo", own_cache / ".tmp-writing.sgo"
    for path in (stale, fresh):
        path.write_bytes(cache._MAGIC + b"half an entr")
    os.utime(stale, (time.time() - 2 * cache._STALE_SECONDS,) * 2)
    assert sg.cache_info().entries == 0
    sg.grad(lambda x: sg.tan(x) * x)(0.25)  # stores an entry, then tidies the directory
    assert not stale.exists() and fresh.exists()
    assert sg.cache_info().entries == 1


def test_clear_cache_deletes_the_entries_and_resets_the_counts(own_cache):
    sg.grad(lambda x: sg.cos(x) * x)(0.5)
    assert _entries(own_cache) and cache.cache_info().misses > 0
    sg.clear_cache(disk=True)
    info = sg.cache_info()
    assert (info.entries, info.hits, info.misses) == (0, 0, 0)
    assert not _entries(own_cache)


def test_an_unwritable_cache_directory_warns_once_and_builds_go_on(own_cache):
    blocked = own_cache / "a file, not a directory"
    blocked.write_text("")
    cache.configure(directory=blocked)
    with pytest.warns(RuntimeWarning, match="cannot write its compile cache"):
        assert sg.grad(lambda x: x**3)(2.0) == 12.0
    assert not sg.cache_info().enabled
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would fail here
        assert sg.grad(lambda x: x**4)(2.0) == 32.0


def test_set_cache_limit_refuses_what_is_not_a_size():
    with pytest.raises(ValueError, match="500M"):
        sg.set_cache_limit("a lot")
    with pytest.raises(ValueError, match="-1"):
        sg.set_cache_limit(-1)


def test_a_slow_build_logs_its_stages(own_cache, monkeypatch, caplog):
    monkeypatch.setattr(progress, "LOG_MIN_SECONDS", 0.0)

    def energy(x):
        return (sg.sin(x) ** 2).sum()

    with caplog.at_level(logging.INFO, logger="symgrad"):
        sg.grad(energy)(np.ones(3))
        sg.grad(energy)(np.ones(3))
    compiled, loaded = [r for r in caplog.records if r.name == "symgrad"]
    assert "grad(energy)" in compiled.getMessage() and "point kernel" in compiled.getMessage()
    assert "LLVM optimise+codegen" in compiled.getMessage() and "compile cache: miss" in compiled.getMessage()
    assert set(compiled.build.seconds) == {"trace", "key", "lower", "llvm", "load"}
    assert "compile cache: hit" in loaded.getMessage() and "llvm" not in loaded.build.seconds


def test_engine_modules_given_as_ir_text_are_cached_by_their_text(own_cache):
    # The path other backends take: no graph key, the IR text (kernel ids made canonical) is the key.
    import ctypes

    from symgrad.engine import _get_engine, unique_symbol

    before = cache.cache_info()
    results = []
    for _ in range(2):
        name = unique_symbol("twice")
        text = f"define double @{name}(double %x) {{\n  %y = fmul double %x, 2.0\n  ret double %y\n}}\n"
        address = _get_engine().add(text, [name])[name]
        results.append(ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(address)(21.0))
    assert results == [42.0, 42.0]
    after = cache.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses, after.entries) == (1, 1, 1)


def test_import_symgrad_does_not_import_sympy():
    code = ("import sys, symgrad as sg\n"
            "assert 'sympy' not in sys.modules, 'sympy imported by import symgrad'\n"
            "print(sg.grad(lambda x: 2 * x**2).formula(1.0))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4*x"


PROGRESS_SCRIPT = textwrap.dedent("""
    import numpy as np
    import symgrad as sg
    from symgrad import progress
    progress.PROGRESS_LATE_SECONDS = 0.0  # show it for this short build
    progress._REDRAW_SECONDS = 0.01
    sg.grad(lambda x: (np.tanh(np.outer(x, x)) ** 3).sum())(np.linspace(0, 1, 12))
""")


@pytest.mark.parametrize("setting", ["1", "0"])
def test_a_long_build_shows_progress_on_a_terminal_unless_turned_off(tmp_path, setting):
    pty = pytest.importorskip("pty")
    leader, follower = pty.openpty()
    env = {**os.environ, "SYMGRAD_CACHE": "0", "SYMGRAD_PROGRESS": setting}
    done = subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT], stderr=follower, env=env, timeout=120)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert done.returncode == 0, shown
    if setting == "1":
        assert b"symgrad: compiling grad(<lambda>)" in shown and b"symgrad: compiled grad(<lambda>)" in shown
    else:
        assert shown == b""


def test_a_cache_hit_compiles_a_small_gradient_without_expanding_it_into_scalars(own_cache):
    # The key of a scalarised kernel is its array graph's: a hit needs neither the scalar graph nor
    # its code; the scalar graph is made when something asks for it (here, the formula).
    def f(x):
        return (np.tanh(x[1:] * x[:-1]) ** 2).sum() + np.sin(x).sum()

    x = np.linspace(-1.0, 1.0, 6)
    first = sg.grad(f)
    expected = first(x)
    assert first.compile(x)._graph is not None  # built: expanded to generate its code
    hits = sg.cache_info().hits
    again = sg.grad(f)  # traced again, its code from the cache
    np.testing.assert_array_equal(again(x), expected)
    assert sg.cache_info().hits == hits + 1
    kernel = again.compile(x)
    assert kernel._graph is None
    assert str(again.formula(x)) == str(first.formula(x))
    assert kernel._graph is not None


@pytest.mark.parametrize("size", [4, 120], ids=["scalar code holds the array", "loop code reads it"])
def test_functions_closing_over_different_arrays_of_one_shape_give_their_own_results(own_cache, size):
    # One code for every array of the shape would be keyed by the shape alone: a small kernel's code
    # holds the array's values, so its key must hold them too.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(size, size))
    for _ in range(3):
        a = rng.normal(size=(size, size))
        mapped = sg.vmap(lambda row: np.tanh(row @ a).sum())(X)  # noqa: B023  (called in this iteration)
        np.testing.assert_allclose(mapped, np.tanh(X @ a).sum(axis=1), rtol=1e-12)
        gradient = sg.grad(lambda x: np.tanh(x @ a).sum())(X)  # noqa: B023
        np.testing.assert_allclose(gradient, (1 - np.tanh(X @ a) ** 2) @ a.T, rtol=1e-12, atol=1e-14)
