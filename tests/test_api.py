"""The public surface: a sorted __all__ that names what the package really exports."""

from __future__ import annotations

import subprocess
import sys

import creditrules


def test_all_is_sorted_and_importable() -> None:
    assert creditrules.__all__ == sorted(creditrules.__all__)
    for name in creditrules.__all__:
        assert getattr(creditrules, name) is not None, name


def test_importing_the_library_does_not_import_hypothesis_or_durable_rules() -> None:
    """Hypothesis is only for the fairness checks, durable_rules only once a ruleset loads."""
    code = ("import sys, creditrules; "
            "print(sorted(m for m in ('hypothesis', 'durable_rules_engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
