"""The ruleset under a fairness check (:class:`Subject`), and the same agreement loaded
differently (its file's rules and keys reordered, the other engine) for determinism."""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from creditrules.agreement.ruleset import CreditRule, Ruleset
from creditrules.allocation.results import Allocation


class Subject:
    """A ruleset under check, with what the invariants need about it."""

    def __init__(self, ruleset: Ruleset, path: Path | None = None) -> None:
        self.ruleset = ruleset
        self.path = path
        self.partners = ruleset.partner_ids
        self.unit = ruleset.unit
        self._variants: list[tuple[str, Ruleset]] | None = None
        self._spaces: Any = None
        self._relabelled: dict[tuple[str, str], Ruleset | None] = {}

    @property
    def replay_path(self) -> str:
        return str(self.path) if self.path is not None else self.ruleset.source

    def allocate(self, deal: Mapping[str, Any], ruleset: Ruleset | None = None) -> Allocation:
        return (ruleset or self.ruleset).allocate(deal, explain=False)

    def rule(self, rule_id: str, type_name: str, day: Any) -> CreditRule | None:
        """The credit rule of that id and type in force on ``day``."""
        for rule in self.ruleset.rules:
            if rule.id == rule_id and rule.type == type_name and rule.effective.contains(day):
                return rule
        return None

    def clause(self, rule_id: str) -> str:
        for group in (self.ruleset.rules, self.ruleset.policy_rules, self.ruleset.expense_rules):
            for rule in group:
                if rule.id == rule_id:
                    return rule.clause
        return "?"

    def credit_rules(self, *allocations: Allocation | str | None,
                     types: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
        """The (rule, clause) pairs that decided the allocations' credit (of ``types``)."""
        out: dict[tuple[str, str], None] = {}
        for a in allocations:
            if not isinstance(a, Allocation):
                continue
            for credit in a.credits:
                if types is None or credit.type in types:
                    out.update(dict.fromkeys(zip(credit.rules, credit.clauses, strict=True)))
        return tuple(out)

    def variants(self) -> list[tuple[str, Ruleset]]:
        """The same agreement loaded differently: rules and mapping keys of its file(s)
        reordered (twice), and with the other matching engine."""
        key = (str(self.path), self.ruleset.content_hash, self.ruleset.engine)
        if self._variants is None and key in _VARIANTS:
            self._variants = _VARIANTS[key]
        if self._variants is None:
            self._variants = _VARIANTS[key] = []
            path = self.path or _reloadable(self.ruleset)
            if path is not None:
                for n in (1, 2):
                    rnd = random.Random(n)  # noqa: S311 - a reproducible shuffle, not a secret
                    self._variants.append((f"rules and keys of the file reordered ({n})",
                                           _rewritten(path, rnd, self.ruleset.engine)))
            if self.ruleset.engine != "reference" and path is not None:
                from creditrules.allocation.loading import load

                self._variants.append(("reference engine", load(path, engine="reference")))
        return self._variants


    def relabelled(self, p: str, q: str) -> Ruleset | None:
        """The same agreement with partners ``p`` and ``q`` exchanged throughout its file(s)
        (partner keys and values, and partner literals in conditions); ``None`` when the
        ruleset has no file to rewrite."""
        if (p, q) not in self._relabelled:
            path = self.path or _reloadable(self.ruleset)
            self._relabelled[(p, q)] = None if path is None else _rewritten(
                path, None, self.ruleset.engine, _renamer({p: q, q: p}))
        return self._relabelled[(p, q)]


def _renamer(sigma: Mapping[str, str]) -> Any:
    import re

    names = "|".join(re.escape(k) for k in sorted(sigma))
    literal = re.compile(rf"""(["'])({names})\1""")

    def rename(text: str, condition: bool) -> str:
        if condition:
            return literal.sub(lambda m: m.group(1) + sigma[m.group(2)] + m.group(1), text)
        return sigma.get(text, text)

    return rename


# Loading the reordered files is the slow part of determinism: once per agreement.
_VARIANTS: dict[tuple[str, str, str], list[tuple[str, Ruleset]]] = {}


def _reloadable(ruleset: Ruleset) -> Path | None:
    """The ruleset's own file, when reloading it gives the same agreement (an amendment's
    source is its base file: the amendment itself cannot be found from it)."""
    from creditrules.allocation.loading import load

    path = Path(ruleset.source)
    if not path.is_file():
        return None
    try:
        again = load(path, engine="reference")
    except Exception:
        return None
    return path if again.content_hash == ruleset.content_hash else None


# Orders that mean something: precedence lists, the tie-break priority, and the credit
# types (declared order is the order of credits in results).
def _keep_order(path: tuple[str, ...]) -> bool:
    return (len(path) == 2 and path[0] == "precedence") or path in (
        ("rounding", "tie_break"), ("credit_types",))


def _rewritten(path: Path, rnd: random.Random | None, engine: str, rename: Any = None
               ) -> Ruleset:
    """Load ``path`` after rewriting it (and its base, for an amendment) with every mapping's
    keys and every unordered list shuffled by ``rnd`` (when given), and every scalar passed
    through ``rename(text, in_a_condition)`` (when given)."""
    from creditrules.agreement._yaml import MapNode, compose
    from creditrules.allocation.loading import load

    with tempfile.TemporaryDirectory(prefix="creditrules-order-") as name:
        tmp = Path(name)
        current: Path | None = path
        first: Path | None = None
        while current is not None:
            root = compose(current.read_text(encoding="utf-8"), str(current))
            target = tmp / current.name
            target.write_text("".join(_emit(root, 0, rnd, (), rename)), encoding="utf-8")
            first = first or target
            base = root.get("amends") if isinstance(root, MapNode) else None
            current = (current.parent / base.text
                       if base is not None and hasattr(base, "text") else None)
        assert first is not None
        return load(first, engine=engine)


def _scalar(node: Any, rename: Any = None, path: tuple[str, ...] = ()) -> str:
    text = node.text
    if rename is not None and text:
        text = rename(text, bool(path) and path[-1] == "when")
    if node.quoted:
        return json.dumps(text, ensure_ascii=False)
    return text if text else "~"


def _emit(node: Any, indent: int, rnd: random.Random | None, path: tuple[str, ...],
          rename: Any = None) -> Iterator[str]:
    """Block-style YAML for a composed node, shuffling keys and unordered lists."""
    from creditrules.agreement._yaml import MapNode, SeqNode

    pad = " " * indent
    if isinstance(node, MapNode):
        items = list(node.items)
        if rnd is not None and not _keep_order(path):
            rnd.shuffle(items)
        for key, value in items:
            name = _scalar(key, rename)
            yield from _emit_entry(f"{pad}{name}:", value, indent, rnd, (*path, key.text),
                                   rename)
    elif isinstance(node, SeqNode):
        elements = list(node.items)
        if rnd is not None and not _keep_order(path):
            rnd.shuffle(elements)
        for item in elements:
            yield from _emit_entry(f"{pad}-", item, indent, rnd, path, rename)
    else:
        yield f"{pad}{_scalar(node, rename, path)}\n"


def _emit_entry(head: str, value: Any, indent: int, rnd: random.Random | None,
                path: tuple[str, ...], rename: Any = None) -> Iterator[str]:
    from creditrules.agreement._yaml import MapNode, SeqNode

    if isinstance(value, MapNode):
        if not value.items:
            yield f"{head} {{}}\n"
        else:
            yield f"{head}\n"
            yield from _emit(value, indent + 2, rnd, path, rename)
    elif isinstance(value, SeqNode):
        if not value.items:
            yield f"{head} []\n"
        else:
            yield f"{head}\n"
            yield from _emit(value, indent + 2, rnd, path, rename)
    else:
        yield f"{head} {_scalar(value, rename, path)}\n"
