"""Shared test settings: a fixed Hypothesis profile, so runs are reproducible and quick."""

from hypothesis import HealthCheck, settings

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
