"""The benchmark reports: the machine a run was made on, and the markdown tables of a run.

`markdown` renders the main suite (every peer as a ratio to hand-written C);
`arrays.markdown` (in `arrays_report.py`) renders the array suite.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable

from .harness import C_FLAGS, PEER_TITLES, PEERS, have_gcc


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
            f.seek(0)
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    versions = {}
    for name in ["numpy", "llvmlite", "jax", "jaxlib", "torch", "casadi", "symengine", "symgrad"]:
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    gcc = (
        subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        if have_gcc()
        else []
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "gcc": gcc[0] if gcc else None,
        "c_flags": " ".join(C_FLAGS),
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def status_cell(record: dict) -> str | None:
    """The table cell of a peer that was not measured (None when it was)."""
    status = record.get("status")
    if status == "ok":
        return None
    if status == "not installed":
        return "—"
    if status == "n/a":
        return "n/a"
    if status == "timeout":
        return f"timeout ({record.get('phase', 'build')} > {record.get('limit_s', 0):.0f} s)"
    if status == "out of memory":
        return "out of memory"
    return "error"


def _ratio_cell(record: dict, c_time: float | None) -> str:
    cell = status_cell(record)
    if cell is not None:
        return cell
    mark = "" if record["correct"] else "✗ "
    if c_time:
        return f"{mark}{record['time_s'] / c_time:.3g}×"
    return f"{mark}{format_time(record['time_s'])}"


def _size(size: dict) -> str:
    return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in size.items())


def markdown(report: dict) -> str:
    peers = [p for p in PEERS if p != "c"]
    head = ["task", "C -O3 (time)"] + [f"{PEER_TITLES[p]} (×C)" for p in peers] + ["symgrad build"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    build_lines = [
        "| task | " + " | ".join(PEER_TITLES[p] for p in PEERS) + " |",
        "|---|" + "---|" * len(PEERS),
    ]
    for task in report["tasks"].values():
        c = task["peers"].get("c", {})
        c_time = c["time_s"] if c.get("status") == "ok" and c["correct"] else None
        c_cell = (
            (("✗ " if not c["correct"] else "") + format_time(c["time_s"]))
            if c.get("status") == "ok"
            else _ratio_cell(c, None)
        )
        sg = task["peers"].get("symgrad", {})
        sg_build = format_time(sg["build_s"]) if sg.get("status") == "ok" else _ratio_cell(sg, None)
        cells = [f"{task['title']} ({_size(task['size'])})", c_cell] + [
            _ratio_cell(task["peers"].get(p, {}), c_time) for p in peers
        ]
        lines.append("| " + " | ".join(cells + [sg_build]) + " |")
        builds = [
            format_time(r["build_s"]) if r.get("status") == "ok" else _ratio_cell(r, None)
            for r in (task["peers"].get(p, {}) for p in PEERS)
        ]
        build_lines.append(f"| {task['title']} | " + " | ".join(builds) + " |")
    m = report["machine"]
    notes = [
        f"Machine: {m['cpu']}, {m['cores']} cores{' (AVX-512)' if m['avx512'] else ''}; "
        f"{m['gcc']}; mode: {'quick' if report['quick'] else 'full'}; {m['date']}.",
        "",
        "Run time: median per call (≥5 samples after a warm-up), as a ratio to the C column (lower is "
        "better). ✗: the first result disagreed with the reference; —: not installed; n/a: no "
        "implementation of that task for that peer; timeout/error: see the JSON.",
        "",
        "Build: first call − median call (symgrad: trace + differentiate + compile; C: gcc).",
    ]
    paths = [
        f"- {t['title']}: `{t['peers']['symgrad']['path']}`"
        for t in report["tasks"].values()
        if "path" in t["peers"].get("symgrad", {})
    ]
    problems = problem_lines(report)
    return (
        "\n".join(
            [
                "# symgrad benchmarks",
                "",
                *lines,
                "",
                "## Build time (first call − median call)",
                "",
                *build_lines,
                "",
                *notes,
                "",
                "## symgrad paths",
                "",
                *paths,
            ]
            + (["", "## Not measured, failed or disagreed", "", *problems] if problems else [])
        )
        + "\n"
    )


def problem_lines(report: dict, label: Callable[[dict], str] = lambda task: task["title"]) -> list[str]:
    """One line per peer that failed, timed out, was not applicable, or disagreed with the reference."""
    problems = []
    for t in report["tasks"].values():
        for p, r in t["peers"].items():
            if r.get("status") in ("error", "timeout", "n/a", "out of memory") or (
                r.get("status") == "ok" and not r["correct"]
            ):
                why = r.get("error") or r.get("reason") or ""
                if r.get("status") == "ok":
                    why = (
                        f"disagrees with the reference (max error {r['max_rel_error']:.2g} × max |reference|)"
                    )
                if r.get("status") == "timeout":
                    why = f"{r['phase']} did not finish within {r['limit_s']:.0f} s"
                problems.append(f"- {label(t)} / {PEER_TITLES[p]}: {r['status']} {why}".rstrip())
    return problems


def save(report: dict, json_path: str, render: Callable[[dict], str] = markdown) -> str:
    """Write the report as JSON at `json_path` and as markdown (`render`) beside it; returns the markdown's path."""
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1, default=float)
    md_path = os.path.splitext(json_path)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(render(report))
    return md_path
