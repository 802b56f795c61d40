"""Names an agreement file may cite from the checks that run on it: the finding codes of
the static analysis (``analysis: {acknowledge: [...]}``) and the fairness invariants
(``fairness: {exemptions: [...]}``). They belong to the format, so the ruleset reader checks
them without running either check."""

__all__ = ["FINDINGS", "HARD_INVARIANTS", "SEVERITIES", "SOFT_INVARIANTS"]

SEVERITIES = ("error", "warning", "unknown")
# Every finding code and its severity (``undecided`` findings are always ``unknown``).
FINDINGS = {
    "gap": "error",
    "ambiguity": "error",
    "policy-gap": "warning",
    "dead-condition": "warning",
    "dead-alternative": "warning",
    "always-overridden": "warning",
    "override-unused": "warning",
    "never-in-force": "warning",
    "window-gap": "warning",
    "negated-optional": "warning",
    "share-without-percent": "warning",
    "share-above-100": "warning",
    "unused-weight": "warning",
    "near-miss-literal": "warning",
    "unused-partner": "warning",
    "thousands-separator": "warning",
    "governs-text": "warning",
    "category-cap-above-general": "warning",
    "limit-direction": "warning",
    "equally-text": "warning",
    "undecided": "unknown",
}

# Fairness invariants: hard ones cannot be waived, soft ones only by a bound exemption.
HARD_INVARIANTS = ("coverage", "conservation", "declared-totals", "rounding-bound",
                   "determinism", "idempotence", "refund-mirrors-sale", "caps-respected",
                   "forbidden-kinds", "policy-precedence")
SOFT_INVARIANTS = ("non-negativity", "null-player", "equal-treatment", "monotonicity",
                   "scale", "symmetry", "resource-monotonicity", "population-monotonicity",
                   "additivity", "irrelevant-participants", "volume-neutrality",
                   "tie-break-drift")
