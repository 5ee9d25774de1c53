"""Shared test settings: a compile cache of the suite's own, and a fixed Hypothesis profile,
so runs are reproducible and quick."""

import atexit
import os
import shutil
import tempfile

# Before symgrad is imported: the suite never reads or writes the developer's compile cache.
os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")
atexit.register(shutil.rmtree, os.environ["SYMGRAD_CACHE_DIR"], ignore_errors=True)

from hypothesis import HealthCheck, settings  # noqa: E402

# Tests that compile take tens of milliseconds per example: no deadline, few examples,
# and derandomized so that CI and local runs draw the same cases.
settings.register_profile(
    "symgrad",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("symgrad")
