"""Static analysis of a ruleset: is the agreement complete and unambiguous, before any deal?

:func:`analyse` decides, over the condition language, the effective dates and the
precedence, which deals no rule decides (gaps), which get two disagreeing answers
(ambiguity), which rules can never apply or never prevail, and which values look like
slips (a share written without ``%``, a weight key no activity uses...). Each
:class:`Finding` is located at ``file:line:column`` with its clause and, where a deal shows
it, carries a **witness deal** in the deal JSON shape: the solver proposes it and
:meth:`Ruleset.allocate <creditrules.Ruleset.allocate>` confirms it before it is reported.
What cannot be decided exactly is reported with severity ``unknown`` and the reason, never
as fine.

>>> import creditrules
>>> ruleset = creditrules.load("tests/analysis/tier-gap.yaml", engine="reference")
>>> analysis = creditrules.analyse(ruleset)
>>> [(f.code, f.witness.get("attributes")) for f in analysis.errors]
[('gap', {'units': '99'}), ('gap', None), ('gap', {'units': '5000'})]
"""

from __future__ import annotations

from creditrules.agreement.ruleset import Ruleset
from creditrules.analysis._findings import FINDINGS as FINDINGS
from creditrules.analysis._findings import SEVERITIES as SEVERITIES
from creditrules.analysis._findings import Analysis as Analysis
from creditrules.analysis._findings import Finding as Finding
from creditrules.analysis._findings import reproduce as reproduce

__all__ = ["FINDINGS", "SEVERITIES", "Analysis", "Finding", "analyse", "reproduce"]


def analyse(ruleset: Ruleset) -> Analysis:
    """Analyse ``ruleset`` (with the amendments it was loaded with): see the module doc.

    Findings come sorted by location, then code. Warnings that the ruleset acknowledges
    (``analysis: {acknowledge: [...]}``, each citing a clause) are moved to
    :attr:`Analysis.acknowledged`.
    """
    # Imported here: the solver and the deal space are heavy, and only analysis needs them.
    from creditrules.analysis._checks import decide
    from creditrules.analysis._lints import lint

    found = decide(ruleset) + lint(ruleset)
    unique: dict[tuple[str, str, tuple[str, ...], str], Finding] = {}
    for f in found:
        unique.setdefault((f.code, str(f.location), f.rules, f.message), f)
    ordered = sorted(unique.values(), key=lambda f: (f.location, f.code, f.message))
    acks = ruleset.acknowledgements
    kept, silenced = [], []
    for f in ordered:
        if f.severity == "warning" and any(a.covers(f) for a in acks):
            silenced.append(f)
        else:
            kept.append(f)
    return Analysis(ruleset.id, ruleset.version, tuple(kept), tuple(silenced))
