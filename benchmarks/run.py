"""Run the symgrad benchmark suite: prints a markdown table and writes JSON + markdown.

    python benchmarks/run.py                 # full suite -> benchmarks/results/latest.{json,md}
    python benchmarks/run.py --quick         # small sizes, in one process, < ~1 min
    python benchmarks/run.py --only rosen_grad --peers c,numpy,symgrad --json /tmp/out.json

In full mode every (task, peer) runs in its own subprocess, so a build that
does not finish within `--build-timeout` seconds is recorded as a timeout and
the suite goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402
from benchmarks.tasks import TASKS  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


def _isolated(task_name: str, peer: str, config: harness.Config) -> dict:
    """Run one peer in a subprocess with a build and a run time limit."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", task_name, peer]
    if config.quick:
        command.append("--quick")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
            process.kill()
            process.wait()
            limit = config.build_timeout if phase == "build" else config.run_timeout
            return {
                "status": "timeout",
                "phase": phase,
                "limit_s": limit,
                **({"built": built} if built else {}),
            }
        if line is None:
            process.wait()
            tail = "".join(stderr)[-500:]
            return {"status": "error", "error": f"worker exited with code {process.returncode}: {tail}"}
        message = json.loads(line) if line.startswith("{") else None
        if message is None:
            continue
        if message.get("event") == "built":
            built, phase, deadline = message["record"], "run", time.monotonic() + config.run_timeout
        elif message.get("event") == "done":
            process.wait()
            return message["record"]


def _worker(task_name: str, peer: str, quick: bool) -> None:
    config = harness.Config.make(quick)

    def emit(event: str, record: dict) -> None:
        print(json.dumps({"event": event, "record": record}, default=float), flush=True)

    record = harness.run_peer(TASKS[task_name], peer, config, on_built=lambda r: emit("built", r))
    emit("done", record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (< ~1 min)")
    parser.add_argument(
        "--only", action="append", metavar="TASK", help=f"run only this task (repeatable): {', '.join(TASKS)}"
    )
    parser.add_argument("--peers", help=f"comma-separated subset of {','.join(harness.PEERS)}")
    parser.add_argument("--json", metavar="PATH", help="where to write the JSON (markdown goes beside it)")
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one subprocess per (task, peer) with time limits (default: on unless --quick)",
    )
    parser.add_argument("--build-timeout", type=float, help="seconds allowed for a build (default 120)")
    parser.add_argument("--worker", nargs=2, metavar=("TASK", "PEER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        _worker(*args.worker, args.quick)
        return 0
    config = harness.Config.make(args.quick)
    if args.build_timeout:
        config = harness.Config(**{**config.__dict__, "build_timeout": args.build_timeout})
    isolate = (not args.quick) if args.isolate is None else args.isolate
    names = args.only or list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    peers = args.peers.split(",") if args.peers else harness.PEERS
    json_path = args.json or os.path.join(RESULTS, "quick.json" if args.quick else "latest.json")

    report = {
        "quick": config.quick,
        "config": config.__dict__,
        "machine": harness.machine_info(),
        "tasks": {},
    }
    for name in names:
        task = TASKS[name]
        entry = report["tasks"][name] = {"title": task.TITLE, "size": task.size(config.quick), "peers": {}}
        for peer in harness.PEERS:
            if peer not in peers:
                entry["peers"][peer] = {"status": "n/a", "reason": "not selected (--peers)"}
                continue
            t0 = time.perf_counter()
            if isolate and harness.installed(peer):
                record = _isolated(name, peer, config)
            else:
                record = harness.run_peer(task, peer, config)
            entry["peers"][peer] = record
            status = (
                record["status"]
                if record["status"] != "ok"
                else f"{'ok' if record['correct'] else 'WRONG'} {harness.format_time(record['time_s'])}"
            )
            print(
                f"[{name}] {peer:9s} {status}  ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    md_path = harness.save(report, json_path)
    print(harness.markdown(report))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
