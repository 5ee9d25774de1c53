"""Run a symgrad benchmark suite: prints a markdown table and writes JSON + markdown.

    python benchmarks/run.py                 # full suite -> benchmarks/results/latest.{json,md}
    python benchmarks/run.py --quick         # small sizes, in one process, < ~1 min
    python benchmarks/run.py --only rosen_grad --peers c,numpy,symgrad --json /tmp/out.json
    python benchmarks/run.py --suite arrays  # array programs vs JAX, PyTorch -> results/arrays.{json,md}

In full mode every (task, peer) runs in its own subprocess, so a build that
does not finish within `--build-timeout` seconds is recorded as a timeout and
the suite goes on; the array suite also caps each subprocess's memory
(`--memory-limit`) and records a build that exceeds it as out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import arrays_report, harness, report  # noqa: E402
from benchmarks.tasks import TASKS, arrays  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


@dataclass(frozen=True)
class Suite:
    tasks: dict
    peers: list[str]
    results: str  # file name of the full run's results (the quick run's: `results` + "_quick")
    render: Callable[[dict], str]
    config: dict = field(default_factory=dict)  # changes to `harness.Config`'s defaults


SUITES = {
    "main": Suite(TASKS, harness.PEERS, "latest", report.markdown),
    "arrays": Suite(arrays.TASKS, arrays.PEERS, "arrays", arrays_report.markdown, arrays.CONFIG),
}


def _isolated(suite: str, task_name: str, peer: str, config: harness.Config) -> dict:
    """Run one peer in a subprocess with a build and a run time limit (and a memory limit, if set)."""
    command = [sys.executable, os.path.abspath(__file__), "--suite", suite, "--worker", task_name, peer]
    if config.quick:
        command.append("--quick")
    if config.memory_limit_gib:
        command += ["--memory-limit", str(config.memory_limit_gib)]
    # A first call measures a build: each worker gets an empty symgrad compile cache (issue 10),
    # unless SYMGRAD_CACHE_DIR is set, to measure with the cache the user gives.
    cache = None if "SYMGRAD_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="symgrad-bench-cache-")
    env = {**os.environ, **({"SYMGRAD_CACHE_DIR": cache} if cache else {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        return _watch(process, config)
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)


def _watch(process: subprocess.Popen, config: harness.Config) -> dict:
    """The worker's record, or a timeout/out-of-memory/error record if it does not deliver one."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)], daemon=True
    ).start()
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True).start()
    phase, deadline, built = "build", time.monotonic() + config.build_timeout, None
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            peak = _peak_rss_mib(process.pid)
            process.kill()
            process.wait()
            limit = config.build_timeout if phase == "build" else config.run_timeout
            return {
                "status": "timeout",
                "phase": phase,
                "limit_s": limit,
                **({"max_rss_mib": peak} if peak else {}),
                **({"built": built} if built else {}),
            }
        if line is None:
            process.wait()
            tail = "".join(stderr)[-500:]
            status = "out of memory" if any(s in tail for s in harness.OUT_OF_MEMORY_SIGNS) else "error"
            return {
                "status": status,
                "error": f"worker exited with code {process.returncode}: {tail}",
                **({"built": built} if built else {}),
            }
        message = json.loads(line) if line.startswith("{") else None
        if message is None:
            continue
        if message.get("event") == "built":
            built, phase, deadline = message["record"], "run", time.monotonic() + config.run_timeout
        elif message.get("event") == "done":
            process.wait()
            return message["record"]


def _peak_rss_mib(pid: int) -> float | None:
    """The peak resident memory of a live process (Linux), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return None


def _worker(suite: str, task_name: str, peer: str, config: harness.Config) -> None:
    if config.memory_limit_gib:
        harness.limit_memory(config.memory_limit_gib)
    load = os.getloadavg()[0]  # the machine is shared: a busy one explains slow outliers

    def emit(event: str, record: dict) -> None:
        print(json.dumps({"event": event, "record": record}, default=float), flush=True)

    task = SUITES[suite].tasks[task_name]
    record = harness.run_peer(task, peer, config, on_built=lambda r: emit("built", r))
    record["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["load_at_start"] = load
    emit("done", record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (< ~1 min)")
    parser.add_argument("--suite", choices=list(SUITES), default="main", help="which suite (default: main)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TASK",
        help="run only this task (repeatable): "
        + "; ".join(f"{name}: {', '.join(suite.tasks)}" for name, suite in SUITES.items()),
    )
    parser.add_argument("--peers", help="comma-separated subset of the suite's peers: " + ", ".join(
        f"{name}: {','.join(suite.peers)}" for name, suite in SUITES.items()
    ))
    parser.add_argument("--json", metavar="PATH", help="where to write the JSON (markdown goes beside it)")
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one subprocess per (task, peer) with time limits (default: on unless --quick)",
    )
    parser.add_argument("--build-timeout", type=float, help="seconds allowed for a build (default 120)")
    parser.add_argument(
        "--memory-limit",
        type=float,
        metavar="GIB",
        help="address-space limit of each isolated run, GiB (default: 8 for --suite arrays, none for main)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("TASK", "PEER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    suite = SUITES[args.suite]
    changes = dict(suite.config)
    if args.build_timeout:
        changes["build_timeout"] = args.build_timeout
    if args.memory_limit:
        changes["memory_limit_gib"] = args.memory_limit
    config = harness.Config.make(args.quick, **changes)
    if args.worker:
        _worker(args.suite, *args.worker, config)
        return 0
    isolate = (not args.quick) if args.isolate is None else args.isolate
    names = args.only or list(suite.tasks)
    unknown = [n for n in names if n not in suite.tasks]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(suite.tasks)}")
    peers = args.peers.split(",") if args.peers else suite.peers
    # The main suite's quick results have always been quick.{json,md}.
    results = ("quick" if args.suite == "main" else suite.results + "_quick") if args.quick else suite.results
    json_path = args.json or os.path.join(RESULTS, results + ".json")

    run = {
        "suite": args.suite,
        "quick": config.quick,
        "isolated": isolate,
        "config": config.__dict__,
        "machine": report.machine_info(),
        "tasks": {},
    }
    for name in names:
        task = suite.tasks[name]
        entry = run["tasks"][name] = {"title": task.TITLE, "size": task.size(config.quick), "peers": {}}
        for peer in suite.peers:
            if peer not in peers:
                entry["peers"][peer] = {"status": "n/a", "reason": "not selected (--peers)"}
                continue
            t0 = time.perf_counter()
            if isolate and harness.installed(peer):
                record = _isolated(args.suite, name, peer, config)
            else:
                record = harness.run_peer(task, peer, config)
            entry["peers"][peer] = record
            status = (
                record["status"]
                if record["status"] != "ok"
                else f"{'ok' if record['correct'] else 'WRONG'} {report.format_time(record['time_s'])}"
            )
            print(
                f"[{name}] {peer:9s} {status}  ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    md_path = report.save(run, json_path, suite.render)
    print(suite.render(run))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
