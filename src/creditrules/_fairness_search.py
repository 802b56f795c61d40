"""Running an invariant with hypothesis: the check's settings, the shared pass over deals
for coverage and the single-allocation invariants, the search (and shrink) for a
counterexample, and one invariant's result with its exemptions applied."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from creditrules._fairness_exemptions import waiver
from creditrules._fairness_report import Counterexample, Finding, InvariantResult
from creditrules._fairness_subject import Subject
from creditrules._invariant import AllocationInvariant, Invariant
from creditrules._invariants_allocation import Coverage, _undecided
from creditrules.allocation import Allocation
from creditrules.errors import AllocationError, DealError

if TYPE_CHECKING:
    from hypothesis import settings as Settings

FAST_EXAMPLES = 50
THOROUGH_EXAMPLES = 1000


@attrs.frozen
class CheckSettings:
    """How hypothesis runs the check: derived explicitly (never from whatever profile
    happens to be loaded), see :func:`check_settings`."""

    max_examples: int
    derandomize: bool
    seed: int
    database: bool

    def hypothesis(self) -> Settings:
        from hypothesis import HealthCheck, Phase, Verbosity
        from hypothesis import settings as hsettings
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = (DirectoryBasedExampleDatabase(
            os.environ.get("CREDITRULES_HYPOTHESIS_DB", ".hypothesis/creditrules"))
            if self.database else None)
        return hsettings(
            max_examples=self.max_examples, derandomize=self.derandomize,
            database=database, deadline=None, report_multiple_bugs=False,
            verbosity=Verbosity.quiet, print_blob=False,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink))


def check_settings(*, max_examples: int | None = None, seed: int | None = None,
                   thorough: bool = False, profile: str | None = None) -> CheckSettings:
    """The settings of a check.

    * ``max_examples`` given: that many deals per invariant; else ``thorough``:
      :data:`THOROUGH_EXAMPLES`; else the named hypothesis ``profile`` (default: the
      ``HYPOTHESIS_PROFILE`` environment variable) if registered; else :data:`FAST_EXAMPLES`.
    * Derandomized (reproducible, no example database) under continuous integration (the
      ``ci`` profile, or the ``CI`` environment variable) unless ``thorough``; a thorough
      run is randomised and keeps its example database (``.hypothesis/creditrules``).
    * ``seed``: the given one (then no database is read, so the run is exactly repeatable);
      0 when derandomized; else a fresh random seed, printed in the report.
    """
    from hypothesis import settings as hsettings

    name = profile if profile is not None else os.environ.get("HYPOTHESIS_PROFILE")
    base = None
    if name:
        with contextlib.suppress(Exception):
            base = hsettings.get_profile(name)
    ci = name == "ci" or (base is None and bool(os.environ.get("CI")))
    if base is not None and name != "ci":
        ci = ci or bool(base.derandomize)
    derandomize = ci and not thorough
    if max_examples is None:
        max_examples = (THOROUGH_EXAMPLES if thorough
                        else base.max_examples if base is not None else FAST_EXAMPLES)
    if seed is None:
        seed = 0 if derandomize else random.SystemRandom().getrandbits(32)
        database = thorough
    else:
        database = False
    return CheckSettings(max_examples=max(1, int(max_examples)), derandomize=derandomize,
                         seed=int(seed), database=database)


class _Failed(Exception):
    """Raised inside the hypothesis test to mark an example that breaks the invariant."""


@attrs.define
class _Search:
    tried: int = 0
    undecided: int = 0
    finding: Finding | None = None
    # The first example the agreement did not decide (for coverage, as a fallback).
    undecided_deals: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    # Rules whose condition held for some deal (the shared pass only).
    rules: set[tuple[str, str]] = attrs.field(factory=set)


_REACHED = "\x00reached"


def _derived_seed(seed: int, *parts: str) -> int:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _search(inv: Invariant, subject: Subject, cfg: CheckSettings,
            accept: Callable[[Finding], bool], label: str) -> _Search:
    """Run hypothesis over the invariant's examples; the last failure recorded is the
    shrunk one (hypothesis replays the minimal example last)."""
    import hypothesis
    from hypothesis.errors import Flaky, Unsatisfiable

    rec = _Search()

    def test(example: Any) -> None:
        try:
            finding = inv.check(subject, example)
        except DealError:
            hypothesis.reject()  # the strategy made a deal the library refuses: not a case
        except AllocationError:
            # Undecided deals are coverage's business; here they prove nothing.
            if rec.finding is None:
                rec.undecided += 1
                rec.tried += 1
                if not rec.undecided_deals:
                    rec.undecided_deals = inv.deals_of(example)
            return
        except Exception as exc:
            finding = Finding(f"allocating raised {type(exc).__name__}: {exc}",
                              deals=inv.deals_of(example))
        if finding is not None and not accept(finding):
            finding = None
        if rec.finding is None:
            rec.tried += 1
        if finding is not None:
            rec.finding = finding
            raise _Failed

    wrapped = hypothesis.given(inv.examples(subject))(test)
    wrapped = cfg.hypothesis()(wrapped)
    wrapped = hypothesis.seed(_derived_seed(cfg.seed, inv.name, label))(wrapped)
    # One example-database key per (agreement, invariant, run): closures share a digest.
    key = f"creditrules:{subject.ruleset.content_hash}:{inv.name}:{label}".encode()
    wrapped._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    try:
        wrapped()
    except (_Failed, Flaky):
        pass
    except Unsatisfiable:
        pass
    return rec


def _shared_pass(invariants: Sequence[Invariant], subject: Subject, cfg: CheckSettings
                 ) -> dict[str, _Search]:
    """One run over generated deals for coverage and every single-allocation invariant:
    each deal is allocated once and checked by all; the first finding of each is kept, and
    nothing fails (so nothing shrinks) here."""
    import hypothesis
    from hypothesis import Phase
    from hypothesis import settings as hsettings
    from hypothesis.errors import Unsatisfiable

    from creditrules.strategies import deals, space

    recs = {inv.name: _Search() for inv in invariants}
    reached = recs.setdefault(_REACHED, _Search())
    coverage = [inv for inv in invariants if isinstance(inv, Coverage)]
    checks = [inv for inv in invariants if isinstance(inv, AllocationInvariant)]

    def test(deal: Mapping[str, Any]) -> None:
        try:
            allocation = subject.allocate(deal)
        except DealError:
            hypothesis.reject()
        except AllocationError as exc:
            for cov in coverage:
                rec = recs[cov.name]
                rec.tried += 1
                if rec.finding is None:
                    rec.finding = _undecided(subject, deal, exc)
            for check in checks:
                recs[check.name].tried += 1
                recs[check.name].undecided += 1
            return
        except Exception as exc:
            crash = Finding(f"allocating raised {type(exc).__name__}: {exc}",
                            deals=(("deal", deal),))
            for name, rec in recs.items():
                if name != _REACHED:
                    rec.tried += 1
                    rec.finding = rec.finding or crash
            return
        reached.rules.update((v.rule, v.clause) for v in allocation.verdicts
                             if v.status in ("applied", "overridden"))
        for cov in coverage:
            recs[cov.name].tried += 1
        for check in checks:
            rec = recs[check.name]
            rec.tried += 1
            if rec.finding is None:
                found = check.violations(allocation, subject.ruleset, deal)
                if found:
                    rec.finding = attrs.evolve(
                        found[0], deals=(("deal", deal),),
                        allocations=(("allocation", allocation),),
                        rules=found[0].rules or subject.credit_rules(allocation))

    factor = _COVERAGE_FACTOR if coverage else 1
    inner: Any = test
    # First, one plain deal aimed at each rule, so that every rule is reached at least once.
    for deal in space(subject.ruleset).witnesses():
        inner = hypothesis.example(deal)(inner)
    wrapped = hypothesis.given(deals(subject.ruleset))(inner)
    wrapped = hsettings(cfg.hypothesis(), max_examples=cfg.max_examples * factor,
                        phases=(Phase.explicit, Phase.reuse, Phase.generate))(wrapped)
    wrapped = hypothesis.seed(_derived_seed(cfg.seed, "shared"))(wrapped)
    key = f"creditrules:{subject.ruleset.content_hash}:shared".encode()
    wrapped._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    with contextlib.suppress(Unsatisfiable):
        wrapped()
    return recs


def _counterexample(subject: Subject, finding: Finding) -> Counterexample:
    deals = finding.deals or (("deal", {}),)
    allocations = tuple((label, a.to_dict() if isinstance(a, Allocation) else {"error": a})
                        for label, a in finding.allocations)
    first = deals[0][1]
    replay = (f"echo {shlex.quote(json.dumps(first, ensure_ascii=False))} | creditrules "
              f"explain {shlex.quote(subject.replay_path)} -")
    return Counterexample(finding.message, first, tuple(deals[1:]), allocations,
                          finding.rules, replay)


# Coverage is cheap (one allocation a deal) and its gaps are often narrow: more deals.
_COVERAGE_FACTOR = 2


def _run(inv: Invariant, subject: Subject, cfg: CheckSettings,
         undecided: Sequence[tuple[str, tuple[tuple[str, Mapping[str, Any]], ...]]] = ()
         ) -> tuple[InvariantResult, _Search | None]:
    start = time.perf_counter()
    reason = inv.applies(subject)
    if reason is not None:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason=reason), None
    info = inv.information(subject)
    exemptions = subject.ruleset.fairness
    if isinstance(inv, Coverage):
        cfg = attrs.evolve(cfg, max_examples=cfg.max_examples * _COVERAGE_FACTOR)
    first = _search(inv, subject, cfg, lambda f: True, "all")
    if isinstance(inv, Coverage) and first.finding is None:
        # Another invariant met a deal the agreement does not decide: report it (as found,
        # not shrunk) rather than claim every deal is decided.
        for name, deals in undecided:
            for _, deal in deals:
                finding = inv.check(subject, deal)
                if finding is not None:
                    first.finding = attrs.evolve(
                        finding, message=f"{finding.message} (found while checking {name})")
                    break
            if first.finding is not None:
                break
    if first.tried == 0 and first.finding is None:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason="no valid deal could be generated for it"), first
    result = InvariantResult(inv.name, inv.title, inv.hard, "held", first.tried, info=info,
                             undecided=first.undecided)
    finding = first.finding
    if finding is not None:
        cx = _counterexample(subject, finding)
        if info:
            result = attrs.evolve(result, status="not applicable", counterexample=cx,
                                  reason="the ruleset's terms are asymmetric")
        else:
            exemption = None if inv.hard else waiver(exemptions, inv.name, finding)
            if exemption is None:
                result = attrs.evolve(result, status="violated", counterexample=cx)
            else:
                # Waived: search again for a departure no exemption covers.
                second = _search(inv, subject, cfg,
                                 lambda f: waiver(exemptions, inv.name, f) is None, "unwaived")
                if second.finding is not None:
                    result = attrs.evolve(result, status="violated", tried=second.tried,
                                          counterexample=_counterexample(subject,
                                                                         second.finding))
                else:
                    result = attrs.evolve(result, status="waived", tried=second.tried,
                                          counterexample=cx, exemption=exemption,
                                          undecided=second.undecided)
    return attrs.evolve(result, seconds=time.perf_counter() - start), first
