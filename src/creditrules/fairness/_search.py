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

from creditrules.agreement.ruleset import FairnessExemption
from creditrules.allocation.results import Allocation
from creditrules.errors import AllocationError, DealError
from creditrules.fairness._exemptions import waiver
from creditrules.fairness._invariant import AllocationInvariant, Invariant
from creditrules.fairness._invariants_allocation import Coverage, _undecided
from creditrules.fairness._report import Counterexample, Finding, InvariantResult, Waived
from creditrules.fairness._subject import Subject

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


def finding_key(finding: Finding) -> tuple[Any, ...]:
    """What makes two findings of an invariant distinct: the rules that produced them, the
    partners and the fields they concern (not the deal's particular values)."""
    return (tuple(sorted(r for r, _ in finding.rules)), finding.partners, finding.fields)


def _size(finding: Finding) -> int:
    return len(json.dumps([d for _, d in finding.deals], sort_keys=True, default=str))


@attrs.define
class _Search:
    tried: int = 0
    undecided: int = 0
    finding: Finding | None = None
    # The first example the agreement did not decide (for coverage, as a fallback).
    undecided_deals: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    # Rules whose condition held for some deal (the shared pass only).
    rules: set[tuple[str, str]] = attrs.field(factory=set)
    # Every distinct finding met (accepted or not), the smallest example of each.
    met: dict[tuple[Any, ...], Finding] = attrs.field(factory=dict)

    def meet(self, finding: Finding) -> None:
        key = finding_key(finding)
        known = self.met.get(key)
        if known is None or _size(finding) < _size(known):
            self.met[key] = finding


_REACHED = "\x00reached"


def _derived_seed(seed: int, *parts: str) -> int:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Rejected(Exception):
    """The example is a deal the library refuses: not a case."""


def _try(inv: Invariant, subject: Subject, example: Any, rec: _Search,
         accept: Callable[[Finding], bool]) -> Finding | None:
    """Check one example: record what it meets, return the first finding ``accept`` takes."""
    try:
        found = inv.findings(subject, example)
    except DealError as exc:
        raise _Rejected from exc
    except AllocationError:
        # Undecided deals are coverage's business; here they prove nothing.
        if rec.finding is None:
            rec.undecided += 1
            rec.tried += 1
            if not rec.undecided_deals:
                rec.undecided_deals = inv.deals_of(example)
        return None
    except Exception as exc:
        found = [Finding(f"allocating raised {type(exc).__name__}: {exc}",
                         deals=inv.deals_of(example))]
    for f in found:
        rec.meet(f)
    if rec.finding is None:
        rec.tried += 1
    return next((f for f in found if accept(f)), None)


def _search(inv: Invariant, subject: Subject, cfg: CheckSettings,
            accept: Callable[[Finding], bool], label: str,
            explicit: Sequence[Any] = ()) -> _Search:
    """Run hypothesis over the invariant's examples; the last failure recorded is the
    shrunk one (hypothesis replays the minimal example last). When it finds nothing, the
    ``explicit`` examples (the boundary values and seed deals) are tried, in order."""
    import hypothesis
    from hypothesis.errors import Flaky, Unsatisfiable

    rec = _Search()

    def test(example: Any) -> None:
        try:
            finding = _try(inv, subject, example, rec, accept)
        except _Rejected:
            hypothesis.reject()  # the strategy made a deal the library refuses: not a case
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
    if rec.finding is None:
        # Deterministic examples, whatever the seed: the search above may miss a boundary.
        for example in explicit:
            with contextlib.suppress(_Rejected):
                finding = _try(inv, subject, example, rec, accept)
                if finding is not None:
                    rec.finding = finding
                    break
    else:
        # The shrinker can stop short: a boundary example of the same finding may be smaller.
        found = rec.finding
        scratch = _Search()
        for example in explicit:
            with contextlib.suppress(_Rejected):
                other = _try(inv, subject, example, scratch, accept)
                if other is not None and finding_key(other) == finding_key(found) \
                        and _size(other) < _size(found):
                    found = other
        rec.finding = found
    return rec


def _shared_pass(invariants: Sequence[Invariant], subject: Subject, cfg: CheckSettings,
                 seeds: Sequence[Mapping[str, Any]] = ()) -> dict[str, _Search]:
    """One run over generated deals for coverage and every single-allocation invariant:
    each deal is allocated once and checked by all; every distinct finding of each is kept,
    and nothing fails (so nothing shrinks) here. The boundary deals and ``seeds`` run
    first, as explicit examples."""
    import hypothesis
    from hypothesis import Phase
    from hypothesis import settings as hsettings
    from hypothesis.errors import Unsatisfiable

    from creditrules.fairness.strategies import deals, space

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
                found = _undecided(subject, deal, exc)
                rec.meet(found)
                if rec.finding is None:
                    rec.finding = found
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
                    rec.meet(crash)
                    rec.finding = rec.finding or crash
            return
        reached.rules.update((v.rule, v.clause) for v in allocation.verdicts
                             if v.status in ("applied", "overridden"))
        for cov in coverage:
            recs[cov.name].tried += 1
        for check in checks:
            rec = recs[check.name]
            rec.tried += 1
            for found in check.violations(allocation, subject.ruleset, deal):
                found = attrs.evolve(found, deals=(("deal", deal),),
                                     allocations=(("allocation", allocation),),
                                     rules=found.rules or subject.credit_rules(allocation))
                rec.meet(found)
                if rec.finding is None:
                    rec.finding = found

    factor = _COVERAGE_FACTOR if coverage else 1
    inner: Any = test
    # First, one plain deal aimed at each rule, so that every rule is reached at least once,
    # then every boundary deal and seed (hypothesis runs explicit examples last-added first).
    sp = space(subject.ruleset)
    explicit = [*sp.witnesses(), *sp.boundary_deals(), *seeds]
    for deal in reversed(list(_unique(explicit))):
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


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        text = json.dumps(item, sort_keys=True, default=str)
        if text not in seen:
            seen.add(text)
            out.append(item)
    return out


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
# Searches for further distinct violations after the first (each a full search).
_ROUNDS = 3


def _run(inv: Invariant, subject: Subject, cfg: CheckSettings,
         undecided: Sequence[tuple[str, tuple[tuple[str, Mapping[str, Any]], ...]]] = (),
         seeds: Sequence[Mapping[str, Any]] = (), shared: _Search | None = None
         ) -> tuple[InvariantResult, _Search | None]:
    """One invariant's result: every distinct violation (the first shrunk), and every
    distinct finding a declared exemption waives, with that exemption."""
    start = time.perf_counter()
    reason = inv.applies(subject)
    if reason is not None:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason=reason), None
    info = inv.information(subject)
    ruleset = subject.ruleset

    def covered(f: Finding) -> FairnessExemption | None:
        return None if inv.hard else waiver(ruleset.fairness, inv.name, f, ruleset)

    if isinstance(inv, Coverage):
        cfg = attrs.evolve(cfg, max_examples=cfg.max_examples * _COVERAGE_FACTOR)
    # Boundary deals that differ only in what an invariant's examples leave out (twins drop
    # the deal's activities) make the same example: each is tried once.
    explicit = list({repr(e): e for e in [
        *inv.boundary(subject), *(e for d in seeds for e in inv.from_deal(subject, d))]
    }.values())
    violations: list[Finding] = []
    keys: set[tuple[Any, ...]] = set()
    met: dict[tuple[Any, ...], Finding] = dict(shared.met) if shared is not None else {}
    first: _Search | None = None
    tried = undecided_n = 0
    whole = inv.once(subject)
    if whole is not None:
        # A report over a fixed run of deals (the tie-break drift), not a search.
        found, tried, info = whole
        first = _Search(tried=tried)
        for f in found:
            first.meet(f)
        met.update(first.met)
    for n in range(_ROUNDS if whole is None else 0):
        rec = _search(inv, subject, cfg,
                      lambda f: finding_key(f) not in keys and covered(f) is None,
                      "all" if n == 0 else f"round-{n}", explicit)
        first = first or rec
        tried, undecided_n = max(tried, rec.tried), max(undecided_n, rec.undecided)
        for k, f in rec.met.items():
            if k not in met or _size(f) < _size(met[k]):
                met[k] = f
        if rec.finding is None:
            break
        violations.append(rec.finding)
        keys.add(finding_key(rec.finding))
    assert first is not None
    if isinstance(inv, Coverage) and not violations:
        # Another invariant met a deal the agreement does not decide: report it (as found,
        # not shrunk) rather than claim every deal is decided.
        for name, deals in undecided:
            gap = next((g for _, deal in deals if (g := inv.check(subject, deal)) is not None),
                       None)
            if gap is not None:
                violations.append(attrs.evolve(
                    gap, message=f"{gap.message} (found while checking {name})"))
                break
    # Distinct findings met on the way (not shrunk): violations unless waived.
    waived: list[Waived] = []
    for k, f in sorted(met.items(), key=lambda kv: repr(kv[0])):
        if k in keys:
            continue
        exemption = covered(f)
        if exemption is None:
            violations.append(f)
            keys.add(k)
        else:
            waived.append(Waived(exemption, _counterexample(subject, f)))
    if tried == 0 and not violations and not waived:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason="no valid deal could be generated for it"), first
    shown = tuple(_counterexample(subject, f) for f in violations)
    status = "violated" if shown else "waived" if waived else "held"
    result = InvariantResult(
        inv.name, inv.title, inv.hard, status, tried, info=info, undecided=undecided_n,
        counterexample=shown[0] if shown else waived[0].counterexample if waived else None,
        exemption=None if shown or not waived else waived[0].exemption,
        findings=shown, waived=tuple(waived))
    return attrs.evolve(result, seconds=time.perf_counter() - start), first
