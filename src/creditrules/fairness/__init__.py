"""Fairness checks: a catalogue of invariants, checked over deals generated from the ruleset.

"Is our payout equivalent for equivalent results?" :func:`check_fairness` answers it for any
ruleset, mechanically. Each :class:`Invariant` is run with hypothesis over deals derived from
the ruleset itself (:mod:`creditrules.fairness.strategies`), and reported as held, violated,
waived or not applicable, with the number of deals tried. A violation carries the *shrunk*
counterexample: the smallest deal found, in the JSON shape :meth:`Ruleset.allocate` reads
(replayable with ``creditrules explain``), the allocations that break the invariant and the
rules and clauses that produced them.

Two layers. The fairness axioms (symmetry, equal treatment, null player, monotonicity,
scale) are checked exactly, on the unrounded shares; the rounding layer has its own bounded
invariants (conservation, one-unit bound, determinism). Rounded cents cannot be exactly
monotone (Balinski-Young), so no invariant asks them to be.

Hard invariants (:data:`HARD_INVARIANTS`) cannot be waived. Soft ones
(:data:`SOFT_INVARIANTS`) may be waived, finding by finding, by a declared exemption in the
ruleset: bound to the rules that depart, citing the clause that permits it, with a reason
and a bound (the partners it may concern, how far, on which deals); a waived finding is
still shown, under its exemption, and one outside every bound is a violation. Besides the
generated deals, every invariant tries deterministic boundary deals (each threshold one
below, at and one above, the expense side's included: each cap under each policy that can
govern) and any ``seeds`` given, and reports every distinct finding.
``docs/explanation/fairness.md`` defines each invariant precisely.

hypothesis is imported only when a check runs, so ``import creditrules`` stays light.

This module holds the catalogue (:data:`INVARIANTS`) and :func:`check_fairness`, and
re-exports the rest: the invariants are defined in ``_invariant`` (base classes) and the
``_invariants_*`` modules, the findings and reports in ``_fairness_report``, exemptions in
``_fairness_exemptions``, the ruleset under check in ``_fairness_subject`` and the
hypothesis runs in ``_fairness_search``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from creditrules.agreement._fairness_reading import read_exemptions as read_exemptions
from creditrules.agreement._fairness_reading import read_fairness as read_fairness
from creditrules.agreement.ruleset import Ruleset
from creditrules.fairness._exemptions import waiver as waiver
from creditrules.fairness._invariant import HARD_INVARIANTS as HARD_INVARIANTS
from creditrules.fairness._invariant import SOFT_INVARIANTS as SOFT_INVARIANTS
from creditrules.fairness._invariant import AllocationInvariant as AllocationInvariant
from creditrules.fairness._invariant import Invariant as Invariant
from creditrules.fairness._invariants_allocation import Conservation as Conservation
from creditrules.fairness._invariants_allocation import Coverage as Coverage
from creditrules.fairness._invariants_allocation import DeclaredTotals as DeclaredTotals
from creditrules.fairness._invariants_allocation import NonNegativity as NonNegativity
from creditrules.fairness._invariants_allocation import RoundingBound as RoundingBound
from creditrules.fairness._invariants_axioms import EqualTreatment as EqualTreatment
from creditrules.fairness._invariants_axioms import Monotonicity as Monotonicity
from creditrules.fairness._invariants_axioms import NullPlayer as NullPlayer
from creditrules.fairness._invariants_axioms import Scale as Scale
from creditrules.fairness._invariants_axioms import Symmetry as Symmetry
from creditrules.fairness._invariants_axioms import asymmetries as asymmetries
from creditrules.fairness._invariants_axioms import relabel as relabel
from creditrules.fairness._invariants_consistency import Determinism as Determinism
from creditrules.fairness._invariants_consistency import Idempotence as Idempotence
from creditrules.fairness._invariants_consistency import RefundMirrorsSale as RefundMirrorsSale
from creditrules.fairness._invariants_money import Additivity as Additivity
from creditrules.fairness._invariants_money import ResourceMonotonicity as ResourceMonotonicity
from creditrules.fairness._invariants_money import TieBreakDrift as TieBreakDrift
from creditrules.fairness._invariants_policies import CapsRespected as CapsRespected
from creditrules.fairness._invariants_policies import ForbiddenKinds as ForbiddenKinds
from creditrules.fairness._invariants_policies import PolicyPrecedence as PolicyPrecedence
from creditrules.fairness._invariants_population import (
    IrrelevantParticipants as IrrelevantParticipants,
)
from creditrules.fairness._invariants_population import (
    PopulationMonotonicity as PopulationMonotonicity,
)
from creditrules.fairness._invariants_population import VolumeNeutrality as VolumeNeutrality
from creditrules.fairness._report import STATUSES as STATUSES
from creditrules.fairness._report import Counterexample as Counterexample
from creditrules.fairness._report import FairnessReport as FairnessReport
from creditrules.fairness._report import Finding as Finding
from creditrules.fairness._report import InvariantResult as InvariantResult
from creditrules.fairness._report import Waived as Waived
from creditrules.fairness._search import _REACHED, _shared_pass
from creditrules.fairness._search import FAST_EXAMPLES as FAST_EXAMPLES
from creditrules.fairness._search import THOROUGH_EXAMPLES as THOROUGH_EXAMPLES
from creditrules.fairness._search import CheckSettings as CheckSettings
from creditrules.fairness._search import _run as _run
from creditrules.fairness._search import check_settings as check_settings
from creditrules.fairness._subject import Subject as Subject

__all__ = [
    "FAST_EXAMPLES",
    "HARD_INVARIANTS",
    "INVARIANTS",
    "SOFT_INVARIANTS",
    "THOROUGH_EXAMPLES",
    "CheckSettings",
    "Counterexample",
    "FairnessReport",
    "Finding",
    "Invariant",
    "InvariantResult",
    "Waived",
    "check_fairness",
    "check_settings",
    "invariant",
]


INVARIANTS: tuple[Invariant, ...] = (
    Coverage(), Conservation(), DeclaredTotals(), RoundingBound(), Determinism(),
    Idempotence(), RefundMirrorsSale(), CapsRespected(), ForbiddenKinds(), PolicyPrecedence(),
    NonNegativity(), NullPlayer(), EqualTreatment(), Monotonicity(), Scale(), Symmetry(),
    ResourceMonotonicity(), PopulationMonotonicity(), Additivity(), IrrelevantParticipants(),
    VolumeNeutrality(), TieBreakDrift(),
)
assert tuple(i.name for i in INVARIANTS if i.hard) == HARD_INVARIANTS
assert tuple(i.name for i in INVARIANTS if not i.hard) == SOFT_INVARIANTS


def invariant(name: str) -> Invariant:
    """The invariant called ``name``."""
    for inv in INVARIANTS:
        if inv.name == name:
            return inv
    raise KeyError(name)


def check_fairness(ruleset: Ruleset | str | os.PathLike[str], *,
                   max_examples: int | None = None, seed: int | None = None,
                   thorough: bool = False, invariants: Sequence[str] | None = None,
                   profile: str | None = None,
                   path: str | os.PathLike[str] | None = None,
                   seeds: Sequence[Mapping[str, Any]] = ()) -> FairnessReport:
    """Check a ruleset against the fairness invariants (all, or those named).

    ``ruleset`` is a loaded :class:`~creditrules.Ruleset` or the path of a ruleset file;
    ``path`` names the file a loaded ruleset came from (with a path, the rule-order check
    also reorders an amendment and its base, and replay commands name it). See
    :func:`check_settings` for ``max_examples``, ``seed``, ``thorough`` and ``profile``.
    ``seeds`` are deals (in the JSON shape :meth:`Ruleset.allocate` reads) tried by every
    invariant, deterministically, besides the boundary deals, the witness deals of
    :func:`creditrules.analyse` (a deal at a gap, in an overlap...) and the generated ones:
    a deal that once went wrong, say.
    Returns a :class:`FairnessReport`; a violation is data in it, never an exception.
    """
    from creditrules.allocation.loading import load

    if not isinstance(ruleset, Ruleset):
        path = ruleset
        ruleset = load(path)
    path = None if path is None else Path(path)
    cfg = check_settings(max_examples=max_examples, seed=seed, thorough=thorough,
                         profile=profile)
    chosen = INVARIANTS if invariants is None else tuple(invariant(n) for n in invariants)
    subject = Subject(ruleset, path)
    # The static analysis's witnesses (a deal at a gap, in an overlap, on a negated optional
    # field) are tried by every invariant too: what the solver found is not left to chance.
    from creditrules.analysis import analyse

    found = analyse(ruleset)
    witnesses = [f.witness for f in (*found.findings, *found.acknowledged)
                 if f.witness is not None]
    seeds = [*(dict(d) for d in witnesses), *(dict(d) for d in seeds)]
    start = time.perf_counter()
    done: dict[str, InvariantResult] = {}
    undecided: list[tuple[str, tuple[tuple[str, Mapping[str, Any]], ...]]] = []
    # Coverage and the invariants of single allocations share one pass over the same deals
    # (each allocated once); only those that found something search again, to shrink.
    shared = [inv for inv in chosen if isinstance(inv, Coverage | AllocationInvariant)
              and inv.applies(subject) is None]
    passed = _shared_pass(shared, subject, cfg, seeds) if shared else {}
    for inv in chosen:
        if inv.name in passed and passed[inv.name].finding is None:
            rec = passed[inv.name]
            done[inv.name] = InvariantResult(inv.name, inv.title, inv.hard, "held", rec.tried,
                                             undecided=rec.undecided)
    # Coverage last (it can use the undecided deals the others met); reported first.
    for inv in sorted(chosen, key=lambda i: isinstance(i, Coverage)):
        if inv.name in done:
            continue
        result, search = _run(inv, subject, cfg, undecided, seeds, passed.get(inv.name))
        done[inv.name] = result
        if search is not None and search.undecided_deals:
            undecided.append((inv.name, search.undecided_deals))
    results = tuple(done[inv.name] for inv in chosen)
    unreached: tuple[tuple[str, str], ...] = ()
    if _REACHED in passed:
        every = dict.fromkeys((r.id, r.clause) for group in (
            ruleset.rules, ruleset.policy_rules, ruleset.expense_rules) for r in group)
        unreached = tuple(r for r in every if r not in passed[_REACHED].rules)
    used = {w.exemption for r in results for w in r.waived}
    ran = {r.name for r in results if r.status != "not applicable"}
    stale = tuple(e for e in ruleset.fairness if e.invariant in ran and e not in used)
    return FairnessReport(ruleset.id, ruleset.version, ruleset.content_hash,
                          subject.replay_path, cfg.seed, cfg.max_examples, cfg.derandomize,
                          results, unreached=unreached, stale=stale,
                          seconds=time.perf_counter() - start)
