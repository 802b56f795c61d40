"""Shared test settings: hypothesis profiles and the engines to run on."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# CI: derandomised and small enough to keep the suite fast; dev: the local default;
# thorough: a randomised long run that keeps the example database.
settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None,
                          database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))


def _engines() -> list[str]:
    from creditrules.engine import _durable

    return ["durable", "reference"] if _durable.available() else ["reference"]


@pytest.fixture(params=_engines())
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine available here: durable_rules (where it installs) and the reference one."""
    return str(request.param)
