"""First-call time of each benchmark task with an empty compile cache and with a warm one.

    python benchmarks/cold_warm.py                       # every task, full size, 5 repeats
    python benchmarks/cold_warm.py --only mlp --repeats 3 --quick

Each repeat makes an empty cache directory and runs two fresh processes on
it: the first (cold) compiles and fills the cache, the second (warm) loads
from it. A process times `task.symgrad(data)` plus its first call, as the
suite's "first call" does, and reports the stages of its builds (from the
`symgrad` logger), the cache's hits and misses, and a hash of the result:
cold and warm results must be bit-identical. Prints medians as markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("trace", "key", "lower", "llvm", "load")


def _worker(task_name: str, quick: bool) -> None:
    sys.path.insert(0, ROOT)
    import numpy as np

    from benchmarks.tasks import TASKS

    started = time.perf_counter()
    import symgrad as sg
    from symgrad import progress

    imported = time.perf_counter() - started
    stages = dict.fromkeys(STAGES, 0.0)

    class Stages(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            for name, seconds in record.build.seconds.items():
                stages[name] += seconds

    progress.LOG_MIN_SECONDS = 0.0
    logger = logging.getLogger("symgrad")
    logger.setLevel(logging.INFO)
    logger.addHandler(Stages())
    task = TASKS[task_name]
    data = task.inputs(quick)
    start = time.perf_counter()
    run = task.symgrad(data)
    result = run()
    first_call = time.perf_counter() - start
    info = sg.cache_info()
    flat = np.concatenate([np.ravel(np.asarray(r, dtype=np.float64)) for r in
                           (result if isinstance(result, (tuple, list)) else [result])])
    print(json.dumps({"first_call_s": first_call, "import_s": imported, "stages": stages,
                      "hits": info.hits, "misses": info.misses,
                      "result": hashlib.sha256(flat.tobytes()).hexdigest()}))


def _run(task_name: str, directory: str, quick: bool) -> dict:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": directory, "SYMGRAD_PROGRESS": "0"}
    command = [sys.executable, os.path.abspath(__file__), "--worker", task_name] + (["--quick"] if quick else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{task_name}: worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="run only this task (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the suite's quick sizes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.quick)
        return
    sys.path.insert(0, ROOT)
    from benchmarks.tasks import TASKS

    print("| task | cold first call | warm first call | warm: trace+diff | warm: cache key | warm: cache load "
          "| cold: lower | cold: LLVM | warm hits / misses | same result |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.only or list(TASKS):
        cold, warm = [], []
        for _ in range(args.repeats):
            directory = tempfile.mkdtemp(prefix="symgrad-cold-warm-")
            try:
                cold.append(_run(name, directory, args.quick))
                warm.append(_run(name, directory, args.quick))
            finally:
                shutil.rmtree(directory, ignore_errors=True)

        def median(runs: list[dict], field: str, stage: str | None = None) -> float:
            return statistics.median(r["stages"][stage] if stage else r[field] for r in runs)

        same = all(c["result"] == w["result"] for c, w in zip(cold, warm))
        print(f"| {name} | {_seconds(median(cold, 'first_call_s'))} | {_seconds(median(warm, 'first_call_s'))} "
              f"| {_seconds(median(warm, '', 'trace'))} | {_seconds(median(warm, '', 'key'))} "
              f"| {_seconds(median(warm, '', 'load'))} "
              f"| {_seconds(median(cold, '', 'lower'))} | {_seconds(median(cold, '', 'llvm'))} "
              f"| {warm[0]['hits']} / {warm[0]['misses']} | {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
