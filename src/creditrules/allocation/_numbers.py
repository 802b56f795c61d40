"""A computed deal's numbers and what is written of them: credit in integers (largest
remainder at partner, then rep level), amount and share texts, ledger rows, and its
:class:`~creditrules.allocation.results.Allocation`."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.allocation._decisions import ComputedDeal, TypePlan, ambiguity, rep_points_of
from creditrules.allocation._deferred import Deferred, deferred_reasons
from creditrules.allocation._reading import BoundedCache
from creditrules.allocation._workings import work_out
from creditrules.allocation.ledger import Row, expense_rows
from creditrules.allocation.results import (
    Allocation,
    PartnerCredit,
    RepCredit,
    RuleVerdict,
    TypeCredit,
)
from creditrules.base._money import TieBreak, fraction_text, from_units, round_scaled
from creditrules.conditions._ast import Expr
from creditrules.errors import DealError

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset
    from creditrules.allocation._evaluate import Evaluator

__all__ = ["Numbers"]


class Numbers:
    """The arithmetic and output half of :class:`~creditrules.allocation._pipeline.Pipeline`
    (a mixin: the attributes below are set by its constructor)."""

    partners: tuple[str, ...]
    index: dict[str, int]
    tie_break: TieBreak
    unit: Decimal
    places: int | None
    texts: BoundedCache[tuple[int, int], str]
    fractions: BoundedCache[tuple[int, int], Fraction]
    rs: Ruleset
    ev: Evaluator
    tail: tuple[str, str, str]
    whens: dict[tuple[str, str, str], Expr]
    out_of_force: dict[int, tuple[RuleVerdict, ...]]
    verdicts: BoundedCache[tuple[Any, ...], tuple[RuleVerdict, ...]]

    # -- numbers --------------------------------------------------------------------------
    def _credit(self, tp: TypePlan, deal_id: str, units: int,
                acts: list[tuple[str, frozenset[str], tuple[str, ...]]],
                by_partner: dict[str, list[str]], owners: set[str]
                ) -> tuple[list[Any], bool]:
        partners = self.partners
        nums, den, contributed = self._shares(tp, acts)
        for alt in tp.alternatives:
            # Another prevailing rule: the deal is ambiguous unless its shares are the same.
            other, oden, _ = self._shares(alt, acts)
            if any(a * oden != b * den for a, b in zip(nums, other, strict=True)):
                raise ambiguity(tp.ctype, tp.winners[0], alt.winners[0],
                                self._fractions(nums, den), self._fractions(other, oden),
                                deal_id)
        negative = units < 0
        size = -units if negative else units
        target, rest = divmod(size * sum(nums), den)
        # Round half to even, as Fraction's round() does.
        if rest and (2 * rest > den or (2 * rest == den and target % 2)):
            target += 1
        salt = f"{deal_id}\x1f{tp.name}"
        got = round_scaled([size * n for n in nums], den, target, partners, self.tie_break, salt)
        out = []
        rep_points: dict[str, int] | None = None
        for i, pid in enumerate(partners):
            num = nums[i]
            if num == 0:
                continue  # a zero share always rounds to zero: no line
            pu = got[i]
            signed = -pu if negative else pu
            reps: list[tuple[str, int, int, int]] = []
            mine = by_partner.get(pid)
            if mine:
                if len(mine) > 1:
                    mine = sorted(mine)
                if tp.mode == "owner":
                    chosen = [r for r in mine if r in owners]
                    if len(chosen) != 1:
                        found = "none is" if not chosen else f"{len(chosen)} are"
                        raise DealError(f"rep credit goes to {pid}'s deal owner, but {found} "
                                        "marked owner", deal_id=deal_id, field="reps",
                                        code="no-owner")
                    reps = [(chosen[0], num, den, signed)]
                elif len(mine) == 1:
                    # A partner's only rep gets its whole share: by contribution or equally.
                    reps = [(mine[0], num, den, signed)]
                else:
                    weights_r: list[int] | None = None
                    total_r = 0
                    if tp.contribution:
                        if rep_points is None:
                            rep_points = rep_points_of(tp.rep_points, acts)
                        weights_r = [rep_points.get(r, 0) for r in mine]
                        total_r = sum(weights_r)
                    if not total_r:
                        weights_r = [1] * len(mine)
                        total_r = len(mine)
                    assert weights_r is not None
                    rden = den * total_r
                    rnums = [num * rw for rw in weights_r]
                    rep_units = round_scaled([size * n for n in rnums], rden, pu, mine,
                                            self.tie_break, f"{salt}\x1f{pid}")
                    reps = [(r, rnums[j], rden, -rep_units[j] if negative else rep_units[j])
                            for j, r in enumerate(mine)]
            out.append((pid, num, den, signed, reps))
        return out, contributed

    def _shares(self, tp: TypePlan, acts: list[tuple[str, frozenset[str], tuple[str, ...]]]
                ) -> tuple[tuple[int, ...], int, bool]:
        """The rule's shares of the deal as integer numerators over one denominator, in
        partner order, and whether contribution was recorded (False: the fallback shares).
        By contribution: the total times each partner's points (each activity's weight for
        its kind, times the partner's normalisation) over all the points."""
        if tp.fixed is not None:
            return (*tp.fixed, True)
        points = [0] * len(self.partners)
        weights = tp.points
        index = self.index
        for kind, who, _ in acts:
            w = weights.get(kind)
            if w is not None:
                for p in who:
                    i = index[p]
                    points[i] += w[i]
        total = sum(points)
        if total:
            a, b = tp.total_num
            return tuple(a * p for p in points), b * total, True
        assert tp.empty is not None
        nums, den, _ = tp.empty
        return nums, den, False

    def _fractions(self, nums: tuple[int, ...], den: int) -> dict[str, Fraction]:
        return {p: Fraction(n, den) for p, n in zip(self.partners, nums, strict=True)}

    # -- output -----------------------------------------------------------------------------
    def share_text(self, num: int, den: int) -> str:
        key = (num, den)
        text = self.texts.get(key)
        if text is None:
            text = self.texts.put(key, fraction_text(Fraction(num, den)))
        return text

    def fraction(self, num: int, den: int) -> Fraction:
        """``Fraction(num, den)``, cached: shares repeat from deal to deal."""
        found = self.fractions.get((num, den))
        if found is None:
            found = self.fractions.put((num, den), Fraction(num, den))
        return found

    def decimal(self, units: int) -> Decimal:
        """``from_units(units, unit)``: from its text for usual units (exact whatever the
        decimal context, with the unit's exponent)."""
        if self.places is None:
            return from_units(units, self.unit)
        return Decimal(self.money(units))

    def money(self, units: int) -> str:
        """``str(from_units(units, unit))``, without building a Decimal for usual units."""
        places = self.places
        if places is None:
            return str(from_units(units, self.unit))
        if not places:
            return str(units)
        # String surgery is about half the cost of divmod and a nested format spec.
        if units < 0:
            digits = str(-units).rjust(places + 1, "0")
            return f"-{digits[:-places]}.{digits[-places:]}"
        digits = str(units).rjust(places + 1, "0")
        return f"{digits[:-places]}.{digits[-places:]}"

    def rows(self, fd: ComputedDeal) -> list[Row]:
        """The ledger rows, as :func:`creditrules.io.batch.ledger_rows` gives for the plain
        allocation."""
        tail = self.tail
        ruleset, version, content_hash = tail  # named, not unpacked: one tuple per row
        deal, date, currency = fd.id, fd.date, self.rs.currency
        policy = fd.policy.text
        share_text, money = self.share_text, self.money
        out: list[Row] = []
        append = out.append
        for tp, partners, contributed in fd.credits:
            name, rules = tp.name, tp.rules_text
            note = None if contributed or tp.empty is None else tp.empty[2]
            for pid, num, den, units, reps in partners:
                share, amount = share_text(num, den), money(units)
                if not reps:
                    append((deal, date, "credit", name, pid, None, share, amount, share,
                            amount, currency, rules, None, note, policy, ruleset, version,
                            content_hash))
                for rep, rnum, rden, runits in reps:
                    append((deal, date, "credit", name, pid, rep, share_text(rnum, rden),
                            money(runits), share, amount, currency, rules, None, note,
                            policy, ruleset, version, content_hash))
        for expense, _ in fd.expenses:
            out.extend(expense_rows(expense, deal, date, currency, tail))
        return out

    def allocation(self, fd: ComputedDeal, *, explain: bool = False) -> Allocation:
        """The deal's :class:`Allocation`, its verdicts and reasons listed when first read."""
        fraction, decimal = self.fraction, self.decimal
        credits = []
        for tp, partners, contributed in fd.credits:
            lines = []
            amount = 0
            for pid, num, den, pu, reps in partners:
                amount += pu
                lines.append(PartnerCredit(pid, fraction(num, den), decimal(pu), tuple(
                    RepCredit(r, fraction(n, d), decimal(u)) for r, n, d, u in reps)))
            total, note = tp.total, ""
            if tp.fixed is None:
                # The shares add up to the rule's total, or the fallback's.
                assert tp.empty is not None
                nums, den, empty_note = tp.empty
                total, note = ((Fraction(*tp.total_num), "") if contributed
                               else (Fraction(sum(nums), den), empty_note))
            credits.append(TypeCredit(
                type=tp.name, total=total, declared=tp.declared, rules=tp.rules,
                clauses=tp.clauses, outcome=tp.outcome, amount=decimal(amount),
                partners=tuple(lines), note=note))
        # The verdicts are listed when first read: most callers never do.
        verdicts = Deferred(self._explained if explain else self._verdicts, fd)
        return Allocation(fd.id, fd.day, decimal(fd.units), self.rs.currency,
                          self.ev.ref, tuple(credits), verdicts, fd.policy.policies,
                          tuple(e for e, _ in fd.expenses),
                          Deferred(work_out, self.rs, fd.id, fd.day, fd.units, credits,
                                   fd.acts))

    def _explained(self, fd: ComputedDeal) -> tuple[RuleVerdict, ...]:
        """The verdicts with the reasons of each unmatched condition, deferred as
        ``rule_verdicts`` defers them (the cached verdicts are shared: copies)."""
        verdicts = self._verdicts(fd)
        whens = self.whens
        expense_facts = {share.expense: facts
                         for (share, _), facts in zip(fd.expenses, fd.expense_facts,
                                                      strict=True)} if fd.expenses else {}
        out = []
        for v in verdicts:
            if v.status == "not-matched":
                if v.type.startswith("expense:"):
                    when = whens.get(("expense", v.rule, v.version))
                    facts = expense_facts[v.type[len("expense:"):]]
                else:
                    when, facts = whens.get((v.type, v.rule, v.version)), fd.facts
                if when is not None:
                    v = RuleVerdict(v.rule, v.version, v.clause, v.type, v.status, v.text,
                                    v.by, deferred_reasons(when, facts))
            out.append(v)
        return tuple(out)

    def _verdicts(self, fd: ComputedDeal) -> tuple[RuleVerdict, ...]:
        ev = self.ev
        outside = self.out_of_force.get(fd.segment)
        if outside is None:
            outside = self.out_of_force[fd.segment] = tuple(
                ev.verdict(rule, "not-in-force",
                           reasons=(f"it is in force {rule.effective} only",))
                for rule in self.rs.rules if not rule.effective.contains(fd.day))
        # Keyed by the plan objects themselves (held, so never confused with a later one).
        key = (fd.segment, *fd.types, fd.policy)
        found = self.verdicts.get(key)
        if found is None:
            found = tuple(sorted((*outside, *(v for t in fd.types for v in t.verdicts),
                                  *fd.policy.verdicts), key=ev.verdict_order))
            self.verdicts.put(key, found)
        if fd.expenses:
            # Expense verdicts sort after all others (Evaluator.verdict_order), by expense,
            # clause, rule and version.
            more = [RuleVerdict(v.rule, v.version, v.clause, f"expense:{share.expense}",
                                v.status, v.text, v.by, v.reasons)
                    for share, vs in fd.expenses for v in vs]
            more.sort(key=ev.verdict_order)
            found = (*found, *more)
        return found
