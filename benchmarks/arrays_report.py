"""The markdown report of the array suite (`run.py --suite arrays`).

Per call and first call of each peer side by side, the ratio symgrad / JAX,
and, in full mode, each of issue 8's targets with what was measured.
"""

from __future__ import annotations

from .harness import PEER_TITLES
from .report import format_time, problem_lines, status_cell
from .tasks import arrays

TARGET_TEXT = {"first_call_s": "first call ≤ {} s", "per_call_vs_jax": "per call ≤ {}× JAX"}


def _time_cell(record: dict, key: str) -> str:
    cell = status_cell(record)
    if cell is not None:
        return cell
    return ("" if record["correct"] else "✗ ") + format_time(record[key])


def _vs_jax(task: dict, key: str) -> tuple[float | None, str]:
    """symgrad's `key` over JAX's, and its cell (the reason when there is no ratio)."""
    sg, jax = task["peers"].get("symgrad", {}), task["peers"].get("jax", {})
    if sg.get("status") != "ok":
        return None, status_cell(sg) or ""
    if jax.get("status") != "ok":
        return None, f"JAX: {status_cell(jax)}"
    ratio = sg[key] / jax[key]
    wrong = not (sg["correct"] and jax["correct"])
    return ratio, ("✗ " if wrong else "") + f"{ratio:.3g}×"


def _size(size: dict) -> str:
    return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in size.items())


def _table(report: dict, key: str) -> list[str]:
    peers = arrays.PEERS
    head = ["case", *(PEER_TITLES[p] for p in peers), "symgrad / JAX"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in report["tasks"].values():
        cells = [_case(task)]
        cells += [_time_cell(task["peers"].get(p, {}), key) for p in peers]
        cells.append(_vs_jax(task, key)[1])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _judge(task: dict, target: str, bound: float) -> tuple[str, str]:
    """(what was measured, whether the target is met) for one target of one task."""
    sg = task["peers"].get("symgrad", {})
    if target == "first_call_s":
        if sg.get("status") != "ok":
            return status_cell(sg) or "", "no"
        measured = format_time(sg["first_call_s"]) + ("" if sg["correct"] else " ✗")
        return measured, "yes" if sg["correct"] and sg["first_call_s"] <= bound else "no"
    ratio, cell = _vs_jax(task, "time_s")
    if ratio is None:
        return cell, "no" if sg.get("status") != "ok" else "cannot tell"
    return cell, "yes" if sg["correct"] and ratio <= bound else "no"


def _targets(report: dict) -> list[str]:
    if report["quick"]:
        return ["Not judged in quick mode: the targets are for the full sizes."]
    lines = ["| case | target | measured | met |", "|---|---|---|---|"]
    for name, task in report["tasks"].items():
        for target, bound in arrays.TASKS[name].TARGETS.items():
            measured, met = _judge(task, target, bound)
            lines.append(f"| {_case(task)} | {TARGET_TEXT[target].format(bound)} | {measured} | {met} |")
    big, small, factor = arrays.BUILD_FLAT
    if big in report["tasks"] and small in report["tasks"]:
        records = [report["tasks"][n]["peers"].get("symgrad", {}) for n in (big, small)]
        sizes = " vs ".join(_size(report["tasks"][n]["size"]) for n in (big, small))
        if all(r.get("status") == "ok" for r in records):
            ratio = records[0]["build_s"] / max(records[1]["build_s"], 1e-9)
            measured = f"{ratio:.3g}× ({format_time(records[0]['build_s'])} / {format_time(records[1]['build_s'])})"
            met = "yes" if ratio <= factor else "no"
        else:
            measured = " / ".join(status_cell(r) or format_time(r["build_s"]) for r in records)
            met = "no"
        lines.append(f"| tanh(A @ B) build, {sizes} | build within {factor}× | {measured} | {met} |")
    return lines


def _notes(report: dict) -> list[str]:
    m, config = report["machine"], report["config"]
    shown = ("symgrad", "numpy", "llvmlite", "jax", "jaxlib", "torch")
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v and k in shown)
    threads = {
        PEER_TITLES[p]: r["threads"]
        for t in report["tasks"].values()
        for p, r in t["peers"].items()
        if "threads" in r
    }
    loads = [r["load_at_start"] for t in report["tasks"].values() for r in t["peers"].values() if "load_at_start" in r]
    load = f"; 1-min load average at the start of each run {min(loads):.2f}–{max(loads):.2f}" if loads else ""
    busy = (
        [
            "",
            f"**The machine was busy** (load average up to {max(loads):.1f} on {m['cores']} cores): threads "
            "of the multi-threaded peers waited for cores, so their per-call times are inflated; compare runs "
            "made at similar load (recorded per run in the JSON as `load_at_start`).",
        ]
        if loads and max(loads) > m["cores"]
        else []
    )
    limited = config.get("memory_limit_gib") and report.get("isolated")
    memory = f"{config['memory_limit_gib']:g} GiB" if limited else "none"
    return [
        f"Machine: {m['cpu']}, {m['cores']} cores{' (AVX-512)' if m['avx512'] else ''}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'] or [])}; "
        f"mode: {'quick' if report['quick'] else 'full'}; {m['date']}{load}.",
        *busy,
        "",
        f"Versions: {versions}. Threads: "
        + (", ".join(f"{k} {v}" for k, v in threads.items()) or "not recorded")
        + "; NumPy's BLAS and symgrad's loops use their defaults (all cores).",
        "",
        "Per call: median of ≥5 samples after a warm-up. First call: "
        + ("in a fresh process per (case, peer), " if report.get("isolated") else "in one process, ")
        + "the peer's library imported before the clock starts (import time is `import_s` in the JSON); "
        "for symgrad trace + differentiate + compile + one run, for JAX trace + XLA compile + one run, for "
        "PyTorch (eager) the first run. ✗: the result disagreed with the NumPy reference (hand-derived "
        "gradient); —: not installed.",
        "",
        f"Limits per (case, peer): build {config['build_timeout']:.0f} s, run {config['run_timeout']:.0f} s, "
        f"memory (address space) {memory}; beyond them the cell reads timeout or out of memory.",
    ]


def _case(task: dict) -> str:
    return f"{task['title']} ({_size(task['size'])})"


def markdown(report: dict) -> str:
    paths = [f"- {t['title']}: `{arrays.TASKS[name].SYMGRAD_PATH}`" for name, t in report["tasks"].items()]
    problems = problem_lines(report, _case)
    parts = [
        "# symgrad on array programs (issue 8)",
        "",
        "## Per call",
        "",
        *_table(report, "time_s"),
        "",
        "## First call",
        "",
        *_table(report, "first_call_s"),
        "",
        "## Issue 8 targets",
        "",
        *_targets(report),
        "",
        *_notes(report),
        "",
        "## symgrad paths",
        "",
        *dict.fromkeys(paths),
    ]
    if problems:
        parts += ["", "## Not measured, failed or disagreed", "", *problems]
    return "\n".join(parts) + "\n"
