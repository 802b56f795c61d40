"""The fairness axioms, checked exactly on the unrounded shares: symmetry (with the
relabelling of deals and the asymmetries of a ruleset), equal treatment, null player,
monotonicity and scale."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.ruleset import ByContribution, CreditRule, Overlay, Ruleset, Split
from creditrules.allocation.results import Allocation, TypeCredit
from creditrules.fairness._invariant import (
    Invariant,
    _deciding,
    _pct,
    _points,
    _rep_share,
    _rep_shares,
    _rules_of,
    _share,
    _shares,
)
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from creditrules.conditions._ast import Expr
    from creditrules.fairness.strategies import NullParty, OneMore, Twins

# Partner-valued fields: a literal compared with one names a partner (relabelled when
# partners are exchanged). Collection item fields are keyed with their collection.
_PARTNER_FIELDS = frozenset({("account", "owner"), ("lead", "source"), ("activities", "partner"),
                             ("reps", "partner"), ("expense", "paid_by")})


class Symmetry(Invariant):
    """Anonymity, two ways. Relabelling: exchanging two partners' names in the agreement
    and in the deal together (account owner, lead, reps, activities, expenses) exchanges
    their exact credit shares: no result depends on a partner's name. Interchangeability:
    for partners the ruleset declares ``interchangeable`` (``fairness: {interchangeable:
    [[a, b]]}``), exchanging them in the deal alone exchanges their exact credit shares.
    Every other pair is reported as not tested that way, with the clauses that treat the
    two differently."""

    name = "symmetry"
    title = "symmetry: relabelling the partners relabels the result"
    hard = False

    def _modes(self, subject: Subject) -> list[tuple[str, str, str]]:
        partners = subject.partners
        pairs = [(p, q) for i, p in enumerate(partners) for q in partners[i + 1:]]
        modes = []
        if subject.relabelled(*pairs[0]) is not None if pairs else False:
            modes += [("agreement", p, q) for p, q in pairs]
        modes += [("deal", p, q) for p, q in pairs if _interchangeable(subject, p, q)]
        return modes

    def applies(self, subject: Subject) -> str | None:
        if len(subject.partners) < 2:
            return "the ruleset has one partner"
        if not self._modes(subject):
            return ("the ruleset has no file to relabel and declares no interchangeable "
                    "partners")
        return None

    def information(self, subject: Subject) -> tuple[str, ...]:
        lines: list[str] = []
        partners = subject.partners
        for i, p in enumerate(partners):
            for q in partners[i + 1:]:
                if _interchangeable(subject, p, q):
                    lines.append(f"{p} and {q} are declared interchangeable: exchanged in "
                                 "deals alone")
                    continue
                why = asymmetries(subject.ruleset, p, q)
                lines.append(f"{p} and {q} exchanged in the agreement and the deal together "
                             "only: not declared interchangeable"
                             + (f"; the terms treat them differently: {'; '.join(why)}"
                                if why else ""))
        return tuple(lines)

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals

        return st.tuples(st.sampled_from(self._modes(subject)), deals(subject.ruleset))

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        return [(mode, deal) for mode in self._modes(subject)]

    def boundary(self, subject: Subject) -> list[Any]:
        from creditrules.fairness.strategies import space

        return [e for d in space(subject.ruleset).boundary_bases()
                for e in self.from_deal(subject, d)]

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        (mode, p, q), deal = example
        where = " in the agreement and the deal" if mode == "agreement" else ""
        return (("deal", deal), (f"{p} and {q} exchanged{where}",
                                 relabel(deal, {p: q, q: p})))

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        (mode, p, q), deal = example
        sigma = {p: q, q: p}
        mirror = relabel(deal, sigma)
        a = subject.allocate(deal)
        b = subject.allocate(mirror, subject.relabelled(p, q) if mode == "agreement"
                             else None)
        deals = self.deals_of(example)
        allocations = (("deal", a), ("exchanged", b))
        sa, sb = _shares(a), _shares(b)
        where = " in the agreement and the deal" if mode == "agreement" else ""
        if sorted(sa) != sorted(sb):
            return [Finding(f"the deal gets {', '.join(sa) or 'no'} credit, the exchanged "
                            f"deal {', '.join(sb) or 'none'}", deals=deals,
                            allocations=allocations, rules=subject.credit_rules(a, b),
                            partners=(p, q), fields=(mode,))]
        out = []
        for type_name, shares in sa.items():
            for x in subject.partners:
                mine = shares.get(x, Fraction(0))
                y = sigma.get(x, x)
                theirs = sb[type_name].get(y, Fraction(0))
                if mine != theirs:
                    out.append(Finding(
                        f"{x} gets {_pct(mine)} of {type_name} credit, but with {p} and {q} "
                        f"exchanged{where} {y} gets {_pct(theirs)}", deals=deals,
                        allocations=allocations,
                        rules=subject.credit_rules(a, b, types=[type_name]), partners=(p, q),
                        fields=(mode, type_name), magnitude=abs(mine - theirs)))
                    break  # the exchanged partner's difference is the same departure
        return out


def _interchangeable(subject: Subject, p: str, q: str) -> bool:
    return any(p in c and q in c for c in subject.ruleset.interchangeable)


def relabel(deal: Mapping[str, Any], sigma: Mapping[str, str]) -> dict[str, Any]:
    """``deal`` with partners renamed by ``sigma`` everywhere, and the reps named after
    their partner (``acme-1``) renamed with it."""
    reps = deal.get("reps", ())
    rename: dict[str, str] = {}
    for r in reps:
        owner = str(r["partner"])
        rid = str(r["id"])
        if owner in sigma and rid.startswith(owner + "-"):
            rename[rid] = sigma[owner] + rid[len(owner):]

    def partner(v: Any) -> Any:
        return sigma.get(v, v) if isinstance(v, str) else v

    def rep(v: Any) -> Any:
        return rename.get(v, v) if isinstance(v, str) else v

    out: dict[str, Any] = dict(deal)
    if "account" in deal:
        out["account"] = {k: partner(v) if k == "owner" else v
                          for k, v in deal["account"].items()}
    if "lead" in deal:
        out["lead"] = {k: partner(v) if k == "source" else rep(v) if k == "rep" else v
                       for k, v in deal["lead"].items()}
    if reps:
        out["reps"] = [{k: partner(v) if k == "partner" else rep(v) if k == "id" else v
                        for k, v in r.items()} for r in reps]
    if "activities" in deal:
        out["activities"] = [
            {k: partner(v) if k == "partner" else rep(v) if k == "rep"
             else [rep(x) for x in v] if k == "reps" else v for k, v in a.items()}
            for a in deal["activities"]]
    if "expenses" in deal:
        out["expenses"] = [{k: partner(v) if k == "paid_by" else v for k, v in e.items()}
                           for e in deal["expenses"]]
    return out


def asymmetries(ruleset: Ruleset, p: str, q: str) -> list[str]:
    """The clauses of ``ruleset`` that break its symmetry between partners ``p`` and ``q``:
    each rule whose image (``p`` and ``q`` exchanged in its condition and outcome) is not a
    rule of the ruleset, or whose overrides do not map onto its image's; and a declared
    precedence list that does not map onto itself."""
    sigma = {p: q, q: p}
    forms = {r.key: _rule_form(r, {}) for r in ruleset.rules}
    image: dict[str, str] = {}
    out: list[str] = []
    for rule in sorted(ruleset.rules, key=lambda r: (r.clause, r.key)):
        mirrored = _rule_form(rule, sigma)
        matches = [k for k, f in forms.items() if f == mirrored]
        if not matches:
            out.append(f"clause {rule.clause} ({rule.id}): {_asymmetry(rule, p, q)}")
            continue
        image[rule.id] = rule.id if rule.key in matches else \
            next(r.id for r in ruleset.rules if r.key == matches[0])
    by_id = {r.id: r for r in ruleset.rules}
    for rid, other in sorted(image.items()):
        rule = by_id[rid]
        if not all(t in image for t in rule.overrides):
            continue  # a rule without a mirror is reported already
        mapped = {image[t] for t in rule.overrides}
        if mapped != set(by_id[other].overrides):
            theirs = ", ".join(sorted(by_id[other].overrides)) or "nothing"
            out.append(f"clause {rule.clause} ({rid}): overrides "
                       f"{', '.join(sorted(rule.overrides)) or 'nothing'}, but its mirror "
                       f"{other} overrides {theirs}")
    for plist in ruleset.precedence:
        if not all(r in image for r in plist.rules):
            continue  # a rule without a mirror is reported already
        mapped_list = tuple(image[r] for r in plist.rules)
        if mapped_list != plist.rules:
            out.append(f"precedence for {plist.type} ({', '.join(plist.rules)}) does not map "
                       f"onto itself with {p} and {q} exchanged")
    return out


def _asymmetry(rule: CreditRule, p: str, q: str) -> str:
    outcome = rule.outcome
    if isinstance(outcome, ByContribution):
        c = outcome.contribution
        if c.factor(p) != c.factor(q):
            return (f"weighs {p}'s activities by {c.factor(p)} and {q}'s by "
                    f"{c.factor(q)} (normalise)")
        if outcome.fallback is not None and \
                outcome.fallback.get(p, 0) != outcome.fallback.get(q, 0):
            return (f"without contribution, gives {p} {_pct(outcome.fallback.get(p, Fraction(0)))}"
                    f" and {q} {_pct(outcome.fallback.get(q, Fraction(0)))}")
    elif outcome.shares.get(p, 0) != outcome.shares.get(q, 0) and rule.when is None:
        return (f"gives {p} {_pct(outcome.shares.get(p, Fraction(0)))} and {q} "
                f"{_pct(outcome.shares.get(q, Fraction(0)))}")
    return f"has no counterpart with {p} and {q} exchanged"


def _rule_form(rule: CreditRule, sigma: Mapping[str, str]) -> Any:
    outcome = rule.outcome
    form: Any
    if isinstance(outcome, ByContribution):
        c = outcome.contribution
        normalise = frozenset((sigma.get(k, k), v) for k, v in c.normalise.items() if v != 1)
        fallback = None if outcome.fallback is None else frozenset(
            (sigma.get(k, k), v) for k, v in outcome.fallback.items() if v)
        form = ("by", frozenset(c.weights.items()), normalise, outcome.total, fallback)
    else:
        form = (outcome.kind, frozenset((sigma.get(k, k), v)
                                        for k, v in outcome.shares.items() if v))
    when = None if rule.when is None else _expr_form(rule.when, sigma, None)
    return (rule.type, form, when, rule.default, rule.effective, rule.rep_credit)


def _expr_form(expr: Expr, sigma: Mapping[str, str], collection: str | None) -> Any:
    from creditrules.conditions._ast import And, Compare, Count, Field, InList, Literal, Not, Or

    def field_key(node: Any) -> Any:
        if isinstance(node, Field):
            return node.path if collection is None else (collection, *node.path)
        return None

    def operand(node: Any, partner: bool) -> Any:
        if isinstance(node, Literal):
            value = sigma.get(node.value, node.value) if partner and isinstance(
                node.value, str) else node.value
            return ("lit", node.type.value, str(value))
        if isinstance(node, Field):
            return ("field", node.path)
        if isinstance(node, Count):
            return ("count", node.collection, None if node.where is None
                    else _expr_form(node.where, sigma, node.collection))
        raise TypeError(node)

    if isinstance(expr, Compare):
        partner = field_key(expr.left) in _PARTNER_FIELDS
        left, right = operand(expr.left, partner), operand(expr.right, partner)
        if expr.op in ("==", "!=") and not isinstance(expr.right, Literal):
            return ("cmp", expr.op, frozenset((left, right)))
        return ("cmp", expr.op, left, right)
    if isinstance(expr, InList):
        partner = field_key(expr.subject) in _PARTNER_FIELDS
        return ("in", operand(expr.subject, False), expr.negated,
                frozenset(operand(o, partner) for o in expr.options))
    if isinstance(expr, And | Or):
        return (type(expr).__name__, frozenset(_expr_form(x, sigma, collection)
                                                for x in expr.parts))
    if isinstance(expr, Not):
        return ("not", _expr_form(expr.part, sigma, collection))
    raise TypeError(expr)


class EqualTreatment(Invariant):
    """Equal treatment of equals: in a deal where two partners contribute identically
    (mirrored reps, activities and expenses; neither owns the account nor sourced the lead),
    they get identical exact shares of every credit type; two reps of one partner with
    identical activities and owner flags (neither the lead's rep) get identical shares."""

    name = "equal-treatment"
    title = "equal treatment: equivalent payout for equivalent results"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import equal_contributions

        return equal_contributions(subject.ruleset)

    def deals_of(self, example: Twins) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal),)

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        """On the deal's own fields (its date, amount, account, attributes), each pair of
        partners as twins: neither owning the account nor sourcing the lead, with no
        activity, with one activity each of every kind, with one expense of each kind paid
        by each, with each of the deal's own expenses paid by each, and with one joint
        activity of every kind by a rep of each."""
        from creditrules.fairness.strategies import Twins, space

        sp = space(subject.ruleset)
        kinds = sp.kinds
        partners = subject.partners
        out = []
        for i, p in enumerate(partners):
            for q in partners[i + 1:]:
                plain = {k: v for k, v in deal.items()
                         if k not in ("reps", "activities", "expenses", "lead")}
                lead = deal.get("lead", {})
                if lead.get("source") not in (p, q, None):
                    plain["lead"] = {"source": lead["source"]}
                if deal.get("account", {}).get("owner") in (p, q):
                    plain["account"] = {k: v for k, v in deal["account"].items()
                                        if k != "owner"}
                out.append(Twins(plain, "partners", (p, q)))
                out += [Twins({**plain, "activities": [{"kind": k, "partner": p},
                                                       {"kind": k, "partner": q}]},
                              "partners", (p, q)) for k in kinds]
                # Mirrored expenses, one of each kind paid by each twin, on equal effort.
                if sp.with_expenses and kinds:
                    work = [{"kind": kinds[0], "partner": x} for x in (p, q)]
                    out += [Twins(sp.add_expenses({**plain, "activities": work}, [
                        {"id": f"E{n}", "kind": kind, "amount": sp.amount_text(10_000),
                         "paid_by": x, "attendees": 1} for n, x in ((1, p), (2, q))]),
                        "partners", (p, q)) for kind in sp.expense_kinds]
                    # The deal's own expenses too (a boundary deal's sit at a cap or a
                    # threshold), each mirrored (one paid by each twin), on no other effort.
                    out += [Twins(sp.add_expenses({**plain}, [
                        {**e, "id": f"E{n}", "paid_by": x} for n, x in ((1, p), (2, q))]),
                        "partners", (p, q)) for e in deal.get("expenses", ())]
                # A joint activity of both is its own mirror image.
                reps = [{"id": f"{x}-1", "partner": x, "owner": True} for x in (p, q)]
                out += [Twins({**plain, "reps": reps, "activities": [
                    {"kind": k, "reps": [f"{p}-1", f"{q}-1"]}]}, "partners", (p, q))
                    for k in kinds]
        return out

    def findings(self, subject: Subject, example: Twins) -> list[Finding]:
        a = subject.allocate(example.deal)
        x, y = example.pair
        out = []
        for credit in a.credits:
            if example.level == "partners":
                sx, sy = credit.share(x), credit.share(y)
            else:
                reps = {r.rep: r.share for p in credit.partners for r in p.reps}
                sx, sy = reps.get(x, Fraction(0)), reps.get(y, Fraction(0))
            if sx != sy:
                if example.level == "partners":
                    partner, owner = (x if sx > sy else y), ""
                else:
                    partner = next(p.partner for p in credit.partners
                                   if any(r.rep in (x, y) for r in p.reps))
                    owner = f" (reps of {partner})"
                out.append(Finding(
                    f"{x} gets {_pct(sx)} and {y} {_pct(sy)} of {credit.type} credit for "
                    f"identical contributions{owner}", deals=self.deals_of(example),
                    allocations=(("deal", a),), rules=_rules_of(credit),
                    partners=(partner,), fields=(example.level, credit.type),
                    magnitude=abs(sx - sy)))
        if example.level == "partners":
            out += self._expenses(example, a)
        return out


    def _expenses(self, example: Twins, a: Allocation) -> list[Finding]:
        """Mirrored expenses (one paid by each twin) are shared alike: each twin's exact
        share of the one it paid equals the other's of its mirror, and so for the other."""
        x, y = example.pair
        sigma = {x: y, y: x}
        paid = {str(e["id"]): e for e in example.deal.get("expenses", ())}

        def form(e: Mapping[str, Any]) -> str:
            return json.dumps({k: v for k, v in e.items() if k not in ("id", "paid_by")},
                              sort_keys=True)

        out = []
        results = {e.expense: e for e in a.expenses}
        for e in a.expenses:
            raw = paid.get(e.expense)
            if raw is None or raw.get("paid_by") != x:
                continue
            mirror = next((results[i] for i, m in paid.items() if i in results
                           and m.get("paid_by") == y and form(m) == form(raw)), None)
            if mirror is None or (e.covered, e.disallowed) != (mirror.covered,
                                                                 mirror.disallowed):
                continue  # each payer's own policy capped it differently: policy's business
            for z in (x, y):
                mine = next((p.share for p in e.parts if p.partner == z), Fraction(0))
                theirs = next((p.share for p in mirror.parts if p.partner == sigma[z]),
                              Fraction(0))
                if mine != theirs:
                    out.append(Finding(
                        f"{z} bears {_pct(mine)} of expense {e.expense} ({e.kind}, paid by "
                        f"{x}) but {sigma[z]} {_pct(theirs)} of its mirror {mirror.expense} "
                        f"(paid by {y})", deals=self.deals_of(example),
                        allocations=(("deal", a),),
                        rules=tuple(dict.fromkeys(((e.rule, e.clause),
                                                   (mirror.rule, mirror.clause)))),
                        partners=(z if mine < theirs else sigma[z],),
                        fields=("expenses", e.kind), magnitude=abs(mine - theirs)))
                    break
        return out


class NullPlayer(Invariant):
    """Null player: a partner that takes no part in a deal (no reps, activities, expenses,
    account or lead) gets no credit unless the deciding rule names it (a split or overlay
    share, or declared no-contribution shares); a rep with no activity that is neither the
    lead's rep nor the deal owner gets no credit when another rep of its partner did
    contribute, unless the rule credits its partner's deal owner."""

    name = "null-player"
    title = "null player: no credit for no part"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import null_parties

        return null_parties(subject.ruleset)

    def deals_of(self, example: NullParty) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal),)

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        return []  # a null party is built, not found in a given deal

    def findings(self, subject: Subject, example: NullParty) -> list[Finding]:
        a = subject.allocate(example.deal)
        rs = subject.ruleset
        out = []
        for credit in a.credits:
            rules = _deciding(subject, credit, a.date)
            if example.level == "partners":
                share = credit.share(example.party)
                if share and not any(self._names(rule, example) for rule in rules):
                    out.append(self._finding(example, a, credit, share))
                continue
            share = _rep_share(a, credit.type, example.party)
            if not share:
                continue
            rule = rules[0] if rules else None
            mode = (rule.rep_credit if rule is not None and rule.rep_credit else rs.rep_credit)
            contribution = (rule.outcome.contribution
                            if rule is not None and isinstance(rule.outcome, ByContribution)
                            else rs.contribution)
            _, rep_points = _points(contribution, example.deal)
            team = [str(r["id"]) for r in example.deal.get("reps", ())
                    if r["partner"] == example.partner and r["id"] != example.party]
            if mode != "owner" and any(rep_points.get(r, 0) > 0 for r in team):
                out.append(self._finding(example, a, credit, share))
        return out

    @staticmethod
    def _names(rule: CreditRule, example: NullParty) -> bool:
        outcome = rule.outcome
        if isinstance(outcome, Split | Overlay):
            return outcome.shares.get(example.party, Fraction(0)) > 0
        points, _ = _points(outcome.contribution, example.deal)
        if sum(points.values(), Fraction(0)) == 0:
            # No one contributed: the rule's no-contribution shares decide (all are null).
            return outcome.fallback is None or outcome.fallback.get(example.party, 0) > 0
        return points.get(example.party, Fraction(0)) > 0

    def _finding(self, example: NullParty, a: Allocation, credit: TypeCredit, share: Fraction
                 ) -> Finding:
        what = ("takes no part in the deal" if example.level == "partners" else
                f"did nothing while another {example.partner} rep did")
        return Finding(f"{example.party} {what} but gets {_pct(share)} of {credit.type} credit",
                       deals=self.deals_of(example), allocations=(("deal", a),),
                       rules=_rules_of(credit), partners=(example.partner,),
                       fields=(example.level, credit.type), magnitude=share)


class Monotonicity(Invariant):
    """Monotonicity: one more collaborative activity by a party (a partner, or one of its
    reps) never lowers that party's exact share of any credit type, whichever rule decides
    the deal before and after (a threshold that lowers credit is a violation)."""

    name = "monotonicity"
    title = "monotonicity: more work never means less credit"
    hard = False

    def applies(self, subject: Subject) -> str | None:
        rs = subject.ruleset
        reads = (any(isinstance(r.outcome, ByContribution) for r in rs.rules)
                 or any(_counts(r.when, "activities") for r in rs.rules if r.when is not None)
                 or "by_contribution" in {rs.rep_credit, *(r.rep_credit for r in rs.rules)})
        return None if reads else "no rule reads activities"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import one_more_activity

        return one_more_activity(subject.ruleset)

    def deals_of(self, example: OneMore) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal), ("with one more activity", example.more))

    def boundary(self, subject: Subject) -> list[Any]:
        from creditrules.fairness.strategies import one_more_at_bounds

        return one_more_at_bounds(subject.ruleset)

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        from creditrules.fairness.strategies import one_more_of

        return one_more_of(subject.ruleset, deal)

    def findings(self, subject: Subject, example: OneMore) -> list[Finding]:
        a = subject.allocate(example.deal)
        b = subject.allocate(example.more)
        who = example.rep or example.partner
        types = list(dict.fromkeys([c.type for c in a.credits] + [c.type for c in b.credits]))
        out = []
        for type_name in types:
            checks = [("partners", example.partner, _share(a, type_name, example.partner),
                       _share(b, type_name, example.partner))]
            if example.rep is not None:
                checks.append(("reps", example.rep, _rep_share(a, type_name, example.rep),
                               _rep_share(b, type_name, example.rep)))
            for level, party, before, after in checks:
                if after < before:
                    out.append(Finding(
                        f"one more {example.kind} by {who} lowers {party}'s {type_name} "
                        f"credit from {_pct(before)} to {_pct(after)}",
                        deals=self.deals_of(example), allocations=(("deal", a), ("more", b)),
                        rules=subject.credit_rules(a, b, types=[type_name]),
                        partners=(example.partner,),
                        fields=(example.kind, level, type_name), magnitude=before - after))
        return out


def _counts(expr: Expr, collection: str) -> bool:
    """Whether ``expr`` counts items of ``collection``."""
    from creditrules.conditions._ast import Count
    from creditrules.conditions._conditions import comparisons

    return any(isinstance(side, Count) and side.collection == collection
               for left, _, right in comparisons(expr) for side in (left, right))


class Scale(Invariant):
    """Scale invariance: multiplying the deal amount by k (2, 3, 10, 100, 1000) leaves every
    exact share unchanged (so every exact entitlement is multiplied by k) and the expenses'
    results unchanged; each rounded amount stays within k + 1 units of k times the
    original (rounding only)."""

    name = "scale"
    title = "scale: a bigger deal, the same shares"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals, space

        sp = space(subject.ruleset)

        @st.composite
        def scaled(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
            # k first, so the smallest counterexample has the smallest k.
            k = draw(st.sampled_from(_FACTORS))
            deal = draw(deals(subject.ruleset))
            # Often, aim at a rule with an amount threshold, just below it: k times the
            # amount crosses it.
            aim = draw(st.sampled_from((None, *crossings)))
            if aim is not None:
                deal = json.loads(json.dumps(deal))
                sp.aim(deal, aim, owners=(None, *sp.partners))
                threshold = aim.values[("amount",)]
                assert isinstance(threshold, Decimal)
                units = -(-Fraction(threshold) // Fraction(sp.unit) // k)
                deal["amount"] = sp.amount_text(max(1, int(units)))
            return k, deal

        crossings = [t for t in sp.targets if _positive(t.values.get(("amount",)))]

        return scaled()

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        k, deal = example
        return (("deal", deal), (f"amount x {k}", _scaled(deal, k)))

    def boundary(self, subject: Subject) -> list[Any]:
        from creditrules.fairness.strategies import space

        sp = space(subject.ruleset)
        # Half of each amount threshold, rounded up: doubled, the deal reaches it.
        return [(2, {**d, "amount": sp.amount_text(-(-u // 2))})
                for d in sp.boundary_bases() for u in sp.thresholds if u > 1]

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        return [(k, deal) for k in _FACTORS]

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        k, deal = example
        a = subject.allocate(deal)
        big = _scaled(deal, k)
        b = subject.allocate(big)
        deals = self.deals_of(example)
        allocations = (("deal", a), (f"x {k}", b))
        sa, sb = _shares(a), _shares(b)
        ra, rb = _rep_shares(a), _rep_shares(b)
        out = []
        for type_name in dict.fromkeys([*sa, *sb]):
            x, y = sa.get(type_name, {}), sb.get(type_name, {})
            changed = sorted(p for p in set(x) | set(y)
                             if x.get(p, Fraction(0)) != y.get(p, Fraction(0)))
            rep_changed = sorted(r for r in set(ra.get(type_name, {})) | set(rb.get(type_name,
                                                                                    {}))
                                 if ra.get(type_name, {}).get(r, 0)
                                 != rb.get(type_name, {}).get(r, 0))
            if changed or rep_changed:
                who = changed[0] if changed else rep_changed[0]
                before = x.get(who, ra.get(type_name, {}).get(who, Fraction(0)))
                after = y.get(who, rb.get(type_name, {}).get(who, Fraction(0)))
                out.append(Finding(
                    f"multiplying the amount {deal['amount']} by {k} changes {who}'s "
                    f"{type_name} share from {_pct(before)} to {_pct(after)}", deals=deals,
                    allocations=allocations,
                    rules=subject.credit_rules(a, b, types=[type_name]),
                    partners=tuple(changed), fields=("amount", type_name),
                    magnitude=max((abs(x.get(p, Fraction(0)) - y.get(p, Fraction(0)))
                                   for p in changed), default=abs(before - after))))
        unit = Fraction(subject.unit)
        for credit in a.credits:
            other = b.credit(credit.type)
            if other is None or _shares(a)[credit.type] != _shares(b)[credit.type]:
                continue  # reported above: the type's shares changed
            for p in credit.partners:
                got = Fraction(other.amount_of(p.partner))
                if abs(got - k * Fraction(p.amount)) >= (k + 1) * unit:
                    out.append(Finding(f"{p.partner}'s {credit.type} amount {p.amount} becomes "
                                       f"{other.amount_of(p.partner)} when the deal is {k} "
                                       "times larger", deals=deals, allocations=allocations,
                                       rules=_rules_of(credit), partners=(p.partner,),
                                       fields=("amount", credit.type)))
        # Expenses shared by credit follow a change of shares (reported above).
        if not out and [e.to_dict() for e in a.expenses] != [e.to_dict() for e in b.expenses]:
            out.append(Finding(f"multiplying the amount by {k} changes how the expenses are "
                               "borne", deals=deals, allocations=allocations,
                               rules=tuple(dict.fromkeys((e.rule, e.clause)
                                                         for e in a.expenses)),
                               fields=("amount", "expenses")))
        return out


_FACTORS = (2, 3, 10, 100, 1000)


def _positive(value: object) -> bool:
    return isinstance(value, Decimal) and value > 0


def _scaled(deal: Mapping[str, Any], k: int) -> dict[str, Any]:
    return {**deal, "amount": str(Decimal(str(deal["amount"])) * k)}
