"""The ruleset and cases file formats as JSON Schema (2020-12), for YAML editors.

The keys come from the loader's own key lists wherever it names them (``_TOP_KEYS``,
``_RULE_KEYS``...), so a key the loader learns and the schema lacks fails here at once: each
must have a description below, and a description without a key is an error too.
``tests/test_schema_json.py`` checks the remaining places against the loader's own
"unknown key" messages. Scalars are loosely typed: a YAML editor reads ``2026-01-01`` as
text and ``0.7`` as a number, and the loader reads both from their text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from creditrules.agreement._builder import _RULE_KEYS
from creditrules.agreement._policy_schema import (
    _ENTERTAINMENT_KEYS,
    _EXPENSE_RULE_KEYS,
    _POLICY_RULE_KEYS,
)
from creditrules.agreement._schema import _AMENDMENT_KEYS, _TOP_KEYS
from creditrules.authoring.cases import _CASE_KEYS, _EXPENSE_KEYS

__all__ = ["cases_schema", "ruleset_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REFERENCE = "see docs/reference/ruleset-format.md"

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string"}
_SCALAR: Schema = {"type": ["string", "number", "boolean"]}
_NUMBER: Schema = {"type": ["string", "number"]}
_BOOL: Schema = {"type": "boolean"}
_DATE: Schema = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}$",
    "description": "a date, YYYY-MM-DD, written without quotes",
}
_NAME: Schema = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"}
_SHARE: Schema = {
    "type": ["string", "number"],
    "description": "a percentage (70%) or a fraction of one (0.7)",
}
_IDS: Schema = {"type": "array", "items": _NAME}
_REP_CREDIT: Schema = {"enum": ["equal", "by_contribution", "owner"]}


def _object(
    what: str,
    keys: Sequence[str],
    fields: Mapping[str, tuple[Schema, str]],
    required: Sequence[str] = (),
) -> Schema:
    """An object with exactly ``keys``, each described from ``fields`` (key -> (value
    schema, description)); a key without a description, or the reverse, is a bug here."""
    missing = [k for k in keys if k not in fields]
    extra = [k for k in fields if k not in keys]
    if missing or extra:
        raise AssertionError(
            f"{what}: keys without a description {missing}, descriptions without a key {extra}"
        )
    return {
        "type": "object",
        "description": what,
        "properties": {k: {**fields[k][0], "description": fields[k][1]} for k in keys},
        "required": list(required),
        "additionalProperties": False,
    }


def _map_of(what: str, value: Schema) -> Schema:
    return {"type": "object", "description": what, "additionalProperties": value}


def _effective(what: str) -> Schema:
    return _object(
        what,
        ("from", "to"),
        {
            "from": (_DATE, "the first day in force (inclusive); left out: open"),
            "to": (_DATE, "the last day in force (inclusive); left out: open"),
        },
    )


_SHARES = _map_of("partner id -> share", _SHARE)
_CONTRIBUTION_FIELDS = {
    "weights": (
        _map_of("activity kind -> points", _NUMBER),
        "points per activity kind (lead_sourced: the deal's lead)",
    ),
    "normalise": (
        _map_of("partner id -> factor", _NUMBER),
        "a factor per partner that normalises for selling cultures (default 1)",
    ),
}

_RULE = _object(
    "a credit rule: one clause of the agreement that gives credit",
    _RULE_KEYS,
    {
        "id": (_NAME, "unique rule id; overrides, precedence, retire and amendments refer to it"),
        "clause": (
            _TEXT,
            'the clause this rule implements, shown in every result; quote it ("4.2(a)")',
        ),
        "text": (_TEXT, "the clause's wording, shown by explain when the rule applies"),
        "type": (
            _TEXT,
            "the credit type this rule gives (default: the first type that takes "
            "its kind of outcome)",
        ),
        "when": (
            _TEXT,
            "the condition: the rule applies only to deals for which it is true (default: always)",
        ),
        "split": (
            {"anyOf": [_SHARES, {"enum": ["equal", "by_contribution"]}]},
            "fixed shares per partner ({acme: 70%, beta: 30%}), equal, or by_contribution",
        ),
        "overlay": (_SHARES, "declared credit in a 'total: declared' type, each share up to 1000%"),
        "weights": (
            _CONTRIBUTION_FIELDS["weights"][0],
            "by_contribution only: this rule's own points per activity kind",
        ),
        "normalise": (
            _CONTRIBUTION_FIELDS["normalise"][0],
            "by_contribution only: this rule's own factors (they replace the ruleset's)",
        ),
        "total": (_SHARE, "by_contribution only: what the shares add up to (default 100%)"),
        "if_no_contribution": (
            {"anyOf": [_SHARES, {"const": "equal"}]},
            "by_contribution only: the shares when no partner recorded any "
            "weighted activity (default: equal)",
        ),
        "overrides": (
            _IDS,
            "ids of the rules this one prevails over ('notwithstanding'); rule "
            "ids, not clause numbers",
        ),
        "default": (_BOOL, "a fallback: applies only if no non-default rule of its type applies"),
        "effective": (
            _effective("when the rule is in force (within the agreement's term)"),
            "when the rule is in force (within the agreement's term)",
        ),
        "rep_credit": (_REP_CREDIT, "how each partner's credit from this rule goes to its reps"),
    },
    required=("id", "clause"),
)

# The clause and its wording, described alike for policy and sharing rules.
_CLAUSE: tuple[Schema, str] = (_TEXT, "the clause this rule implements")
_WORDING: tuple[Schema, str] = (_TEXT, "the clause's wording")

_POLICY_RULE = _object(
    "a policy precedence rule: whose policy governs a topic",
    _POLICY_RULE_KEYS,
    {
        "id": (_NAME, "unique id among the topic's rules"),
        "clause": _CLAUSE,
        "text": _WORDING,
        "topic": (_TEXT, "entertainment, or a topic declared under topics"),
        "when": (_TEXT, "the condition (default: always)"),
        "governs": (
            _TEXT,
            "stricter (limit by limit), account_owner, lead_partner, payer "
            "(entertainment only) or a partner id",
        ),
        "overrides": (_IDS, "ids of the policy rules of the same topic this one prevails over"),
        "default": (_BOOL, "a fallback: applies only if no other rule of the topic applies"),
    },
    required=("id", "clause", "topic", "governs"),
)

_EXPENSE_RULE = _object(
    "an expense sharing rule: how entertainment expenses are borne",
    _EXPENSE_RULE_KEYS,
    {
        "id": (_NAME, "unique id among the sharing rules"),
        "clause": _CLAUSE,
        "text": _WORDING,
        "when": (
            _TEXT,
            "the condition, which may read expense.kind, expense.amount... (default: always)",
        ),
        "share": (
            {"anyOf": [_SHARES, {"enum": ["equal", "by_credit", "payer"]}]},
            "how the covered amount is shared: partner shares, equal, by_credit or payer",
        ),
        "excess": (_TEXT, "who bears the amount above the cap: payer, disallowed or a partner id"),
        "overrides": (_IDS, "ids of the sharing rules this one prevails over"),
        "default": (_BOOL, "a fallback: applies only if no other sharing rule applies"),
    },
    required=("id", "clause", "share"),
)

_CAP: Schema = {
    "type": ["string", "number"],
    "description": 'an amount per attendee ("150.00") or forbidden',
}
_ENTERTAINMENT = _object(
    "a partner's entertainment policy",
    _ENTERTAINMENT_KEYS,
    {
        "caps": (
            _map_of("expense kind -> cap", _CAP),
            "caps per attendee by expense kind; a kind not listed is not allowed",
        ),
        "categories": (
            _map_of("attendee category -> caps", _map_of("expense kind -> cap", _CAP)),
            "stricter caps for attendees of a category (hcp, government...)",
        ),
        "forbidden": ({"type": "array", "items": _TEXT}, "expense kinds never allowed"),
        "preapproval_above": (_NUMBER, "amount above which an expense needs pre-approval"),
        "annual_cap_per_attendee": (_NUMBER, "yearly cap per attendee"),
    },
)

_EXEMPTION_BOUND = _object(
    "how far a waived departure may go: a finding outside the bound is a violation",
    ("partners", "at_most", "when"),
    {
        "partners": (_IDS, "the partners the departure may favour"),
        "at_most": (_SHARE, "the largest departure waived, as a share of the deal"),
        "when": (_TEXT, "a condition: only departures on deals it holds for"),
    },
    required=("partners", "at_most"),
)
_EXEMPTION = _object(
    "a declared departure from a soft fairness invariant, bound to the rules that make it",
    ("invariant", "clause", "rules", "bound", "reason", "field"),
    {
        "invariant": (_TEXT, "the invariant waived (equal-treatment, scale, monotonicity...)"),
        "clause": (_TEXT, "the clause that permits the departure (one of the rules cites it)"),
        "rules": (_IDS, "the ids of the rules whose departures are waived, and only theirs"),
        "bound": (_EXEMPTION_BOUND, "which partners, how far, and on which deals"),
        "reason": (_TEXT, "why the agreement departs from it"),
        "field": (_TEXT, "only departures on this deal field"),
    },
    required=("invariant", "clause", "rules", "bound", "reason"),
)
_FAIRNESS = _object(
    "fairness exemptions and partners treated alike",
    ("exemptions", "interchangeable"),
    {
        "exemptions": (
            {"type": "array", "items": _EXEMPTION},
            "where the agreement departs on purpose from a soft invariant",
        ),
        "interchangeable": (
            {"type": "array", "items": _IDS},
            "classes of partners the agreement treats alike (symmetry is checked within each)",
        ),
    },
)
_ACKNOWLEDGEMENT = _object(
    "an analysis warning the parties mean",
    ("finding", "clause", "rule", "reason"),
    {
        "finding": (_TEXT, "the warning's code (share-without-percent, unused-weight...)"),
        "clause": (_TEXT, "the clause that makes it right"),
        "rule": (_NAME, "only the warning about this rule"),
        "reason": (_TEXT, "why it is meant"),
    },
    required=("finding", "clause", "reason"),
)
_ANALYSIS = _object(
    "acknowledged analysis warnings",
    ("acknowledge",),
    {"acknowledge": ({"type": "array", "items": _ACKNOWLEDGEMENT}, "warnings the parties mean")},
)
_PRECEDENCE = _map_of("credit type -> rule ids, earlier prevails", _IDS)

_TOP_FIELDS: dict[str, tuple[Schema, str]] = {
    "ruleset": (_NAME, "identifier of the agreement, e.g. acme-beta-cardiozen"),
    "version": (_TEXT, 'version of this text of the agreement; quote it ("2026.1")'),
    "title": (_TEXT, "human title (default: the ruleset id)"),
    "effective": (_effective("the term"), "the term: deals dated outside it are refused"),
    "currency": (_TEXT, "ISO 4217 code; every deal must be in it"),
    "rounding": (
        _object(
            "rounding",
            ("unit", "tie_break"),
            {
                "unit": (
                    _NUMBER,
                    'the smallest amount credited ("0.01"); default from the currency',
                ),
                "tie_break": (
                    {"anyOf": [{"const": "hashed"}, _IDS]},
                    "who gets a leftover unit on equal remainders: hashed, or partner ids",
                ),
            },
        ),
        "the rounding unit and tie-break",
    ),
    "partners": (
        _map_of(
            "partner id -> {name}",
            {
                "anyOf": [
                    {"type": "null"},
                    _object(
                        "a party",
                        ("name",),
                        {"name": (_TEXT, "the party's name (default: its id)")},
                    ),
                ]
            },
        ),
        "the parties (at least two): a short id and the name the agreement gives",
    ),
    "attributes": (
        _map_of("attribute -> type", {"enum": ["text", "number", "bool", "date"]}),
        "custom deal fields that conditions may read, with their types",
    ),
    "credit_types": (
        _map_of(
            "credit type -> {total, required}",
            _object(
                "a credit type",
                ("total", "required"),
                {
                    "total": (
                        _SHARE,
                        "the exact total of every allocation of this type, or declared",
                    ),
                    "required": (_BOOL, "every deal must get credit of this type"),
                },
            ),
        ),
        "kinds of credit (default: revenue 100% and overlay declared)",
    ),
    "contribution": (
        _object("contribution", ("weights", "normalise"), _CONTRIBUTION_FIELDS),
        "the default schedule for credit by contribution",
    ),
    "rep_credit": (_REP_CREDIT, "how a partner's credit goes to its reps (default equal)"),
    "precedence": (_PRECEDENCE, "declared order among rules of one credit type"),
    "credit": ({"type": "array", "items": _RULE}, "the clauses that give credit"),
    "topics": (
        _map_of(
            "topic -> {limits}",
            _object(
                "a policy topic",
                ("limits",),
                {
                    "limits": (
                        _map_of("limit -> lower | higher", {"enum": ["lower", "higher"]}),
                        "each limit and which way is stricter",
                    ),
                },
            ),
        ),
        "policy topics other than entertainment",
    ),
    "policies": (
        _map_of(
            "partner id -> topic -> policy",
            {
                "type": "object",
                "properties": {"entertainment": _ENTERTAINMENT},
                "additionalProperties": _map_of("limit -> value", _SCALAR),
            },
        ),
        "each partner's compliance policy per topic",
    ),
    "policy_precedence": (
        {"type": "array", "items": _POLICY_RULE},
        "the clauses that say whose policy governs each topic",
    ),
    "expense_sharing": (
        {"type": "array", "items": _EXPENSE_RULE},
        "the clauses that say how entertainment expenses are shared",
    ),
    "fairness": (_FAIRNESS, "declared departures from soft fairness invariants"),
    "analysis": (_ANALYSIS, "analysis warnings acknowledged, each with its clause"),
}

_AMENDMENT_FIELDS: dict[str, tuple[Schema, str]] = {
    **{k: v for k, v in _TOP_FIELDS.items() if k in _AMENDMENT_KEYS},
    "amends": (_TEXT, "path of the file amended, relative to this one"),
    "effective": (
        _effective("from: the day the changes take effect; to: a new end date"),
        "from: the day the changes take effect; to: the agreement's new end",
    ),
    "retire": (_IDS, "ids of rules that end the day before the amendment's 'from'"),
    "credit": (
        {"type": "array", "items": _RULE},
        "new rules, and rules replacing those of the same id from 'from'",
    ),
}


def ruleset_schema() -> Schema:
    """JSON Schema (2020-12) of a ruleset file, base agreement or amendment."""
    return {
        "$schema": _DIALECT,
        "$id": "https://creditrules.invalid/schema/ruleset.json",
        "title": "creditrules ruleset",
        "description": "An alliance agreement as a creditrules ruleset (an amendment when it "
        f"has 'amends'); {_REFERENCE}.",
        "if": {"type": "object", "required": ["amends"]},
        "then": _object(
            "an amendment",
            _AMENDMENT_KEYS,
            _AMENDMENT_FIELDS,
            required=("amends", "version", "effective"),
        ),
        "else": _object(
            "an agreement",
            _TOP_KEYS,
            _TOP_FIELDS,
            required=("ruleset", "version", "effective", "currency", "partners", "credit"),
        ),
    }


_CASE_EXPENSE = _object(
    "what one expense of the case should give",
    _EXPENSE_KEYS,
    {
        "covered": (_NUMBER, "the covered (within-cap) amount"),
        "excess": (_NUMBER, "the amount above the cap"),
        "cap": ({"type": ["string", "number", "null"]}, "the expense's total cap (null: none)"),
        "parts": (
            _map_of("partner id -> amount", _NUMBER),
            "each partner's part of the covered amount",
        ),
        "excess_bearer": (_TEXT, "the partner that bears the excess"),
        "disallowed": ({"type": ["boolean", "string"]}, "the alliance does not accept the excess"),
    },
)
_CASE = _object(
    "a worked example: a deal and what the agreement gives for it",
    _CASE_KEYS,
    {
        "name": (_TEXT, "a unique name, shown when the case fails (default: case N)"),
        "deal": ({"type": "object"}, "the deal, as in a deals file (id, currency optional)"),
        "credit": (
            _map_of(
                "partner -> share, or credit type -> partner -> share", {"anyOf": [_SHARE, _SHARES]}
            ),
            "the expected shares",
        ),
        "amounts": (
            _map_of(
                "partner -> amount, or credit type -> partner -> amount",
                {"anyOf": [_NUMBER, _map_of("partner -> amount", _NUMBER)]},
            ),
            "the expected rounded amounts",
        ),
        "reps": (
            _map_of(
                "rep id -> share, or credit type -> rep id -> share",
                {"anyOf": [_SHARE, _map_of("rep id -> share", _SHARE)]},
            ),
            "the expected shares of reps (of the whole deal)",
        ),
        "rules": (
            {"anyOf": [_IDS, _map_of("credit type -> rule ids", _IDS)]},
            "the rules expected to decide the credit (of the main type, or per type)",
        ),
        "expenses": (
            _map_of("expense id -> expected", _CASE_EXPENSE),
            "what each expense should give",
        ),
        "error": (_TEXT, "the problem code the deal is expected to fail with"),
    },
    required=("deal",),
)


def cases_schema() -> Schema:
    """JSON Schema (2020-12) of a cases file (worked examples)."""
    return {
        "$schema": _DIALECT,
        "$id": "https://creditrules.invalid/schema/cases.json",
        "title": "creditrules cases file",
        "description": f"Worked examples for a ruleset; {_REFERENCE}, 'the cases file'.",
        **_object(
            "a cases file",
            ("ruleset", "cases"),
            {
                "ruleset": (_TEXT, "the ruleset, relative to this file"),
                "cases": ({"type": "array", "items": _CASE}, "the worked examples"),
            },
            required=("cases",),
        ),
    }
