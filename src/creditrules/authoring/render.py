"""An agreement rendered as a document for people who do not read YAML.

:func:`render_html` gives one self-contained HTML file (inline CSS and SVG, no scripts, no
network), readable on screen and printable (print it to PDF from a browser, or with
``chromium --headless --print-to-pdf``); :func:`render_markdown` gives the same content as
Markdown, pictures left out. Both list, in clause order: the parties and term; each clause
with its text, its condition in plain words and its outcome as a table; which clause
overrides which (a picture and in words); when each clause is in force (a timeline); the
partners' policies side by side with the combination that governs; how expenses are
shared; the fairness exemptions; and the content hash that identifies the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from html import escape
from typing import Any

import attrs

from creditrules.agreement.ruleset import ByContribution, CreditRule, Ruleset
from creditrules.allocation.results import Limit
from creditrules.authoring._render_svg import Bar, Node, precedence_svg, timeline_svg
from creditrules.authoring._render_words import in_words
from creditrules.base._clauses import clause_key
from creditrules.base._money import fraction_text
from creditrules.base._readable import percent_reading

__all__ = ["render_html", "render_markdown"]

Table = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]  # header, rows


@attrs.frozen
class _Section:
    """A part of the document: a heading, paragraphs, tables and (HTML only) a picture."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    picture: str = ""
    level: int = 2


def _name(ruleset: Ruleset, pid: str) -> str:
    name = next((p.name for p in ruleset.partners if p.id == pid), pid)
    return name if name == pid else f"{name} ({pid})"


def _outcome_table(ruleset: Ruleset, rule: CreditRule) -> Table:
    outcome = rule.outcome
    if isinstance(outcome, ByContribution):
        c = outcome.contribution
        rows = [(f"points per {kind}", fraction_text(w)) for kind, w in sorted(c.weights.items())]
        rows += [
            (f"{_name(ruleset, p)}: points multiplied by", fraction_text(c.factor(p)))
            for p in ruleset.partner_ids
        ]
        if outcome.fallback is not None:
            rows += [
                (
                    f"{_name(ruleset, p)} if nothing was recorded",
                    percent_reading(outcome.fallback.get(p, Fraction(0))),
                )
                for p in ruleset.partner_ids
            ]
        rows.append(("shares add up to", percent_reading(outcome.total)))
        return (("credit in proportion to normalised points", "value"), tuple(rows))
    shares = outcome.shares
    return (
        ("partner", "share of the sale"),
        tuple(
            (_name(ruleset, p), percent_reading(shares.get(p, Fraction(0))))
            for p in ruleset.partner_ids
        ),
    )


def _clause_sections(ruleset: Ruleset) -> list[_Section]:
    names = {p.id: p.name for p in ruleset.partners}
    rules = sorted(
        ruleset.rules,
        key=lambda r: (
            clause_key(r.clause),
            r.effective.start or ruleset.effective.start or r.id,
            r.id,
        ),
    )
    clauses = {r.id: r.clause for r in ruleset.rules}
    out = []
    for rule in rules:
        paras = [
            rule.text or "(no text given)",
            _sentence(f"Applies when: {in_words(rule.when, names)}")
            if not rule.default
            else "Applies when no other clause giving this credit applies (a default).",
            f"Credit type: {rule.type} ({_OUTCOME_WORDS[rule.outcome.kind]}); in force "
            f"{rule.effective}; rule id {rule.id}, version {rule.version}.",
        ]
        if rule.overrides:
            paras.append(
                "Prevails over: "
                + ", ".join(f"clause {clauses.get(t, '?')} ({t})" for t in rule.overrides)
                + "."
            )
        out.append(
            _Section(
                f"Clause {rule.clause}", tuple(paras), (_outcome_table(ruleset, rule),), level=3
            )
        )
    return out


_OUTCOME_WORDS = {
    "split": "fixed shares",
    "overlay": "overlay credit, outside the 100%",
    "by_contribution": "by contribution",
}


def _precedence(ruleset: Ruleset) -> list[_Section]:
    out = []
    for ctype in ruleset.credit_types:
        rules = [r for r in ruleset.rules if r.type == ctype.name]
        if not rules:
            continue
        ordered: dict[str, list[str]] = {}
        words = []
        for plist in ruleset.precedence:
            if plist.type != ctype.name:
                continue
            for a, b in zip(plist.rules, plist.rules[1:], strict=False):
                ordered.setdefault(a, []).append(b)
            words.append(
                f"Declared order (in force {plist.effective}): "
                + " before ".join(f"clause {_clause(ruleset, r)} ({r})" for r in plist.rules)
                + "."
            )
        nodes, seen = [], set()
        for rule in sorted(rules, key=lambda r: (clause_key(r.clause), r.id)):
            if rule.id in seen:
                continue  # an amended rule: one box, its overrides as last amended
            seen.add(rule.id)
            current = max(
                (r for r in rules if r.id == rule.id),
                key=lambda r: r.effective.start or ruleset.effective.start or rule.id,
            )
            nodes.append(
                Node(
                    rule.id,
                    rule.clause,
                    current.overrides,
                    current.default,
                    tuple(ordered.get(rule.id, ())),
                )
            )
            for target in current.overrides:
                words.append(
                    f"Clause {rule.clause} ({rule.id}) prevails over clause "
                    f"{_clause(ruleset, target)} ({target})."
                )
            if current.default:
                words.append(
                    f"Clause {rule.clause} ({rule.id}) applies only when no other "
                    f"{ctype.name} clause does."
                )
        if not any(n.beats or n.ordered for n in nodes):
            words.append(
                "No clause overrides another: two clauses that both apply and "
                "disagree are an error, never a silent choice."
            )
        out.append(
            _Section(
                f"Which clause prevails: {ctype.name} credit",
                tuple(words),
                picture=precedence_svg(
                    nodes, f"{ctype.name}: which clause overrides which", ctype.name
                ),
                level=3,
            )
        )
    return out


def _clause(ruleset: Ruleset, rule_id: str) -> str:
    return next((r.clause for r in ruleset.rules if r.id == rule_id), "?")


def _limit_value(limit: Limit | None) -> str:
    if limit is None or limit.value is None:
        return "no limit"
    if limit.value is True:
        return "forbidden"
    if isinstance(limit.value, Fraction):
        return percent_reading(limit.value)
    return str(limit.value)


def _policies(ruleset: Ruleset) -> list[_Section]:
    evaluator = ruleset._evaluator
    assert evaluator is not None
    names = {p.id: p.name for p in ruleset.partners}
    topics = sorted(
        {t for policies in ruleset.policies.values() for t in policies}
        | {r.topic for r in ruleset.policy_rules}
    )
    out = []
    for topic in topics:
        holders = [p for p in ruleset.partner_ids if topic in ruleset.policies.get(p, {})]
        combined = evaluator.policy.limits(topic, None)
        own = {p: {lim.name: lim for lim in evaluator.policy.limits(topic, p)} for p in holders}
        header = (
            "limit",
            *(_name(ruleset, p) for p in holders),
            "stricter of the two" if len(holders) == 2 else "strictest",
        )
        rows = tuple(
            (
                lim.name.replace("cap.", "cap per attendee: ").replace(
                    "forbidden.", "cap per attendee: "
                ),
                *(_limit_value(own[p].get(lim.name)) for p in holders),
                f"{_limit_value(lim)} ({', '.join(lim.source)})",
            )
            for lim in combined
        )
        governing = []
        for rule in sorted(
            (r for r in ruleset.policy_rules if r.topic == topic),
            key=lambda r: (clause_key(r.clause), r.id),
        ):
            who = {
                "stricter": "the stricter policy, limit by limit",
                "account_owner": "the policy of the partner that owns the account",
                "lead_partner": "the policy of the partner that sourced the lead",
                "payer": "the policy of the partner that paid the expense",
            }.get(rule.governs, f"{_name(ruleset, rule.partner or rule.governs)}'s policy")
            when = (
                "when no other clause of this topic applies"
                if rule.default
                else f"when {in_words(rule.when, names)}"
            )
            beats = f"; prevails over {', '.join(rule.overrides)}" if rule.overrides else ""
            governing.append(
                _sentence(f"Clause {rule.clause} ({rule.id}): {who}, {when}{beats}")
                + f" {rule.text}"
            )
        out.append(_Section(f"Policies: {topic}", tuple(governing), ((header, rows),), level=3))
    if ruleset.expense_rules:
        sharing: list[tuple[str, ...]] = []
        for er in sorted(ruleset.expense_rules, key=lambda r: (clause_key(r.clause), r.id)):
            how = er.method.replace("_", " ")
            if er.method == "split":
                how = ", ".join(
                    f"{_name(ruleset, p)} {percent_reading(s)}"
                    for p, s in sorted(er.shares.items())
                )
            sharing.append(
                (
                    er.clause,
                    "default" if er.default else in_words(er.when, names),
                    how,
                    er.excess,
                    er.text,
                )
            )
        out.append(
            _Section(
                "Who bears entertainment expenses",
                (),
                (
                    (
                        ("clause", "applies when", "shared", "excess above the cap", "text"),
                        tuple(sharing),
                    ),
                ),
                level=3,
            )
        )
    return out


def _model(ruleset: Ruleset) -> tuple[str, list[_Section], str]:
    parties = (("party", "id"), tuple((p.name, p.id) for p in ruleset.partners))
    facts = (
        ("", ""),
        (
            ("agreement", ruleset.id),
            ("version", ", ".join(ruleset.versions) or ruleset.version),
            ("term", str(ruleset.effective)),
            ("currency", ruleset.currency),
            (
                "rounding",
                f"to {ruleset.unit}, largest remainder, tie-break "
                f"{_show(ruleset.tie_break.describe())}",
            ),
            ("content hash", ruleset.content_hash),
        ),
    )
    sections = [_Section("Parties and term", (), (parties, facts))]
    sections.append(
        _Section(
            "Clauses",
            (
                "Each clause in order, with its text, when it "
                "applies in plain words, and what it gives.",
            ),
        )
    )
    sections += _clause_sections(ruleset)
    sections.append(
        _Section(
            "Precedence",
            (
                "An arrow runs from a clause to a clause it "
                "overrides ('notwithstanding'); dashed arrows "
                "follow a declared order; dashed boxes are "
                "defaults.",
            ),
        )
    )
    sections += _precedence(ruleset)
    term = Bar("the agreement's term", ruleset.effective.start, ruleset.effective.end)
    bars = [
        Bar(f"{r.clause} {r.id}", r.effective.start, r.effective.end)
        for r in sorted(ruleset.rules, key=lambda r: (clause_key(r.clause), str(r.effective.start)))
    ]
    sections.append(
        _Section(
            "Effective dates",
            tuple(
                f"Clause {r.clause} ({r.id}, version {r.version}): in force {r.effective}."
                for r in sorted(
                    ruleset.rules, key=lambda r: (clause_key(r.clause), str(r.effective.start))
                )
            ),
            picture=timeline_svg(bars, term, "when each clause is in force"),
        )
    )
    if ruleset.policies or ruleset.policy_rules or ruleset.expense_rules:
        sections.append(
            _Section(
                "Policies and expenses",
                (
                    "Each partner's limits side by "
                    "side, with the combination under the stricter policy; the "
                    "clauses that say whose policy governs.",
                ),
            )
        )
        sections += _policies(ruleset)
    if ruleset.fairness:
        sections.append(
            _Section(
                "Fairness exemptions",
                (
                    "Where the agreement treats the parties differently on purpose, the "
                    "clause that says so, the rules it covers, how far the departure may go, "
                    "and why.",
                ),
                (
                    (
                        ("invariant", "clause", "rules", "in favour of", "at most", "reason"),
                        tuple(
                            (
                                e.invariant + (f" ({e.field})" if e.field else ""),
                                e.clause,
                                ", ".join(e.rules),
                                ", ".join(_name(ruleset, p) for p in e.partners),
                                percent_reading(e.at_most)
                                + (f", when {e.when_text}" if e.when_text else ""),
                                e.reason,
                            )
                            for e in sorted(
                                ruleset.fairness, key=lambda e: (clause_key(e.clause), e.invariant)
                            )
                        ),
                    ),
                ),
            )
        )
    footer = (
        f"Rendered from ruleset {ruleset.id} version {ruleset.version}, {ruleset.content_hash}."
    )
    return ruleset.title, sections, footer


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _show(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 56rem; margin: 2rem auto;
  padding: 0 1rem; color: #111; line-height: 1.45; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #345; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; color: #234; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #bbb; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #eef1f6; }
svg { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
footer { margin-top: 2rem; font-size: .8rem; color: #555; word-break: break-all; }
section { page-break-inside: avoid; break-inside: avoid; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { page-break-after: avoid; break-after: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render_html(ruleset: Ruleset) -> str:
    """The agreement as one self-contained, printable HTML document."""
    title, sections, footer = _model(ruleset)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<section><h{section.level}>{escape(section.heading)}</h{section.level}>")
        out.extend(f"<p>{escape(p)}</p>" for p in section.paragraphs)
        if section.picture:
            out.append(f"<figure>{section.picture}</figure>")
        for header, rows in section.tables:
            out.append("<table>")
            if any(header):
                out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
            out.extend(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
            )
            out.append("</table>")
        out.append("</section>")
    out.append(f"<footer>{escape(footer)}</footer></body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    head = [h or " " for h in header]
    lines = [
        "| " + " | ".join(_md_cell(h) for h in head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(ruleset: Ruleset) -> str:
    """The agreement as Markdown: the HTML document's content, without the pictures."""
    title, sections, footer = _model(ruleset)
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"{'#' * section.level} {section.heading}", ""]
        for p in section.paragraphs:
            out += [p, ""]
        for header, rows in section.tables:
            out += _md_table(header, rows)
    out += [f"_{footer}_", ""]
    return "\n".join(out)
