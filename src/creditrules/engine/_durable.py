"""The only module that talks to durable_rules, through its C core.

``durable.lang`` and ``durable.engine.Host`` are never used: they start timer threads that
never stop, run actions on them, and keep rulesets in global state by name. The C module
is driven synchronously instead: per evaluation a fresh session, one fact, the pending
actions started and completed in this thread, then the session deleted.

Engine facts this relies on (durable_rules 2.0.28, checked by ``tests/test_durable.py``):

* ``assert_fact`` returns ``(code, state)``: 0 accepted, 1 matched no rule, 2 refused as
  "already observed" (messages are keyed by a 32-bit hash of their content within a
  session, so two different facts can collide), 3 deferred;
* deleting a session on which no action ever started can crash the process, hence the
  guard rule every fact matches;
* a ruleset holds at most 1,024 live sessions, so every session is deleted;
* ``delete_ruleset`` is safe (even with live sessions) and handles are eventually reused
  (131,072 at most at once), so a matcher frees its rulesets when garbage collected.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import sys
import weakref
from collections.abc import Iterable
from typing import Any

from creditrules.conditions._ast import Facts
from creditrules.conditions._eval import evaluate
from creditrules.engine._compile import GUARD, SALT_FIELD, Compiled, Key
from creditrules.errors import EngineError

__all__ = ["CACHE_SIZE", "DurableMatcher", "available", "unavailable_reason"]

_engine: Any = None
_REASON = ""
try:
    import durable_rules_engine  # noqa: TID251 - this module is the seam
except Exception as exc:  # ImportError, or a broken build (3.13+: PyEval_CallObject gone)
    _REASON = (
        f"durable_rules does not import on Python {sys.version.split()[0]} "
        f"({type(exc).__name__}: {exc})"
    )
else:
    _engine = durable_rules_engine

#: Cached outcomes per matcher; the cache is emptied when it grows past this, which keeps
#: memory flat however many distinct deals pass.
CACHE_SIZE = 65_536
_ATTEMPTS = 3  # a refused fact is retried in a fresh session, with a different salt
_rulesets = itertools.count(1)


def available() -> bool:
    """Whether durable_rules can be used in this interpreter."""
    return _engine is not None


def unavailable_reason() -> str:
    """Why durable_rules cannot be used here ("" when it can)."""
    return _REASON


def _delete_rulesets(engine: Any, handles: tuple[int, ...]) -> None:
    for handle in handles:
        with contextlib.suppress(Exception):  # at interpreter exit there is nobody to tell
            engine.delete_ruleset(handle)


class DurableMatcher:
    """Matches deals against compiled conditions with durable_rules.

    ``match(facts)`` returns the names of the conditions that hold. Outcomes are cached
    by the encoded deal (``Compiled.key``, snapped to what can change them), on which they
    depend entirely; a deal is asserted only into the engine rulesets its key is routed to
    (``Compiled.route``: the others hold no rule that can match it). Not thread safe: use
    one matcher per thread, or processes (the C core holds the GIL anyway).
    """

    def __init__(self, compiled: Compiled) -> None:
        if _engine is None:
            raise EngineError(_REASON)
        self._compiled = compiled
        self._cache: dict[Key, frozenset[str]] = {}
        self._sessions = itertools.count(1)
        #: Sessions left in the engine because no action started on them (deleting them
        #: could crash); only the engine misbehaving makes this non-zero.
        self.leaked_sessions = 0
        #: Conditions the reference evaluator matches instead of the engine (beyond the
        #: engine's limits), with the reason.
        self.set_aside: dict[str, str] = dict(compiled.set_aside)
        handles: list[int] = []
        refused: dict[str, str] = {}
        # Per engine ruleset of the compiled definitions, the handles it was created as
        # (more than one when the engine refused it whole, none when all its rules).
        per_definition: list[tuple[int, ...]] = []
        try:
            for definition in compiled.definitions():
                first = len(handles)
                self._create(definition, handles, refused)
                per_definition.append(tuple(handles[first:]))
        except Exception:
            _delete_rulesets(_engine, tuple(handles))
            raise
        for rule, reason in refused.items():
            for name in compiled.conditions_of(rule):
                self.set_aside.setdefault(name, reason)
        conditions = {**compiled.aside_conditions, **compiled.conditions_by_name(refused)}
        self._aside = sorted((n, conditions[n]) for n in self.set_aside)
        self._handles = tuple(handles)
        self._per_definition = tuple(per_definition)
        #: The handles a deal is asserted into, by its values of the pivots (see
        #: Compiled.route); emptied past CACHE_SIZE, as combinations of values may be many.
        self._routes: dict[tuple[Any, ...], tuple[int, ...]] = {}
        # delete_ruleset is safe even with live sessions (tested), so garbage collection
        # frees the C rulesets; the engine is bound now, not looked up at exit.
        self._finalizer = weakref.finalize(self, _delete_rulesets, _engine, self._handles)

    def _create(
        self, definition: dict[str, Any], handles: list[int], refused: dict[str, str]
    ) -> None:
        """Create ``definition`` in the engine. If the engine refuses it (shapes it cannot
        build, e.g. "error code 113" for many ``$or`` in one rule), find the rules it
        refuses on their own by halving, record them with the engine's reason, and create
        the rest as one ruleset (each extra ruleset costs every deal one more call)."""
        try:
            handles.append(_create_ruleset(definition))
            return
        except _Refused as refusal:
            exc = refusal
            rules = sorted(r for r in definition if r != GUARD)
            if not rules:
                raise EngineError(f"durable_rules rejected the guard rule: {exc}") from exc
        found: dict[str, str] = {}
        if len(rules) == 1:
            found[rules[0]] = f"durable_rules refused it ({exc})"
        else:  # the whole is known to be refused: try its halves
            for part in (rules[: len(rules) // 2], rules[len(rules) // 2 :]):
                _find_refused(definition, part, found)
        if found:
            refused.update(found)
            rest = [r for r in rules if r not in found]
            parts = [rest] if rest else []
        else:  # refused only together: keep the halves apart
            parts = [rules[: len(rules) // 2], rules[len(rules) // 2 :]]
        for part in parts:
            self._create(_subset(definition, part), handles, refused)

    def __reduce__(self) -> tuple[Any, ...]:
        # Engine handles are only valid in this process: rebuild elsewhere.
        return (DurableMatcher, (self._compiled,))

    @property
    def compiled(self) -> Compiled:
        """The compiled conditions this matcher matches."""
        return self._compiled

    def match(self, facts: Facts) -> frozenset[str]:
        """Names of the conditions that hold for ``facts``."""
        key = self._compiled.key(facts)
        found = self._cache.get(key)
        if found is None:
            found = self._evaluate(key)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        if self._aside:
            # Not in the key (their fields may not be encoded): evaluated every time.
            found = found | {n for n, expr in self._aside if evaluate(expr, facts)}
        return found

    def match_many(self, facts: Iterable[Facts]) -> list[frozenset[str]]:
        """``match`` for each of ``facts``, in order.

        Batching several deals into one engine session was measured at only ~10% faster
        per uncached deal (the per-action calls dominate), and it reopens the content-hash
        collisions a one-fact session cannot have; so this is a plain loop.
        """
        return [self.match(f) for f in facts]

    def _evaluate(self, key: Key) -> frozenset[str]:
        fact = self._compiled.fact(key)
        _check_fact(fact)
        names: set[str] = set()
        for handle in self._route(key):
            for rule in self._fire(handle, fact):
                names |= self._compiled.conditions_of(rule)
        return frozenset(names)

    def _route(self, key: Key) -> tuple[int, ...]:
        """The engine rulesets that can hold a rule ``key`` matches (the others are not
        asked: their rules are pinned to other values of the pivots)."""
        compiled = self._compiled
        values = tuple(key[pos] for pos in compiled.pivots)
        found = self._routes.get(values)
        if found is None:
            if len(self._routes) >= CACHE_SIZE:
                self._routes.clear()
            found = self._routes[values] = tuple(
                h for i in compiled.route(key) for h in self._per_definition[i]
            )
        return found

    def _fire(self, handle: int, fact: dict[str, Any]) -> list[str]:
        """The engine rules ``fact`` fires in ruleset ``handle`` (guard excluded)."""
        code = 0
        for attempt in range(_ATTEMPTS):
            sid = str(next(self._sessions))
            message = {"sid": sid, **fact}
            if attempt:
                message[SALT_FIELD] = attempt  # changes the content hash
            try:
                code, state = _engine.assert_fact(handle, json.dumps(message))
            except Exception as exc:  # durable_rules_engine.error, MemoryError
                raise EngineError(f"durable_rules failed on a deal: {exc}") from exc
            fired = self._drain(handle, state, sid)
            if code == 0 and GUARD in fired:
                fired.remove(GUARD)
                return fired
            # Refused (observed, not handled, deferred) or incomplete: never lose a deal.
        raise EngineError(
            f"durable_rules refused a deal {_ATTEMPTS} times (last code {code}); "
            "its matches would be incomplete"
        )

    def _drain(self, handle: int, state: int, sid: str) -> list[str]:
        """Start and complete every pending action of a session, then delete it."""
        try:
            started = _engine.start_action_for_state(handle, state)
            if not started:
                self.leaked_sessions += 1
                return []
            fired = [_rule_name(started[1])]
            while True:
                message = _engine.complete_and_start_action(handle, state)
                if not message:
                    break
                fired.append(_rule_name(message))
            _engine.delete_state(handle, sid)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"durable_rules failed while running actions: {exc}") from exc
        return fired


#: The longest text and the largest integer a fact may carry: the engine keeps text lengths
#: in 16 bits and numbers as 64-bit values; encoded facts stay far below both.
_MAX_TEXT = 1024
_MAX_INT = 2**31


class _Refused(Exception):
    """durable_rules refused to create a ruleset."""


def _create_ruleset(definition: dict[str, Any]) -> int:
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    # Unique per instance: the same definition may be loaded any number of times.
    name = f"creditrules-{next(_rulesets)}-{digest}"
    try:
        handle: int = _engine.create_ruleset(name, text)
    except Exception as exc:  # durable_rules_engine.error
        raise _Refused(str(exc)) from exc
    return handle


def _subset(definition: dict[str, Any], rules: list[str]) -> dict[str, Any]:
    return {**{r: definition[r] for r in rules}, GUARD: definition[GUARD]}


def _find_refused(definition: dict[str, Any], rules: list[str], found: dict[str, str]) -> None:
    """Add to ``found`` the rules of ``rules`` the engine refuses on their own (trial
    rulesets are deleted at once)."""
    try:
        _delete_rulesets(_engine, (_create_ruleset(_subset(definition, rules)),))
        return
    except _Refused as exc:
        if len(rules) == 1:
            found[rules[0]] = f"durable_rules refused it ({exc})"
            return
    half = len(rules) // 2
    for part in (rules[:half], rules[half:]):
        _find_refused(definition, part, found)


def _check_fact(fact: dict[str, Any]) -> None:
    """Refuse a fact the engine could misread (a compiler bug, never a deal's content)."""
    for name, value in fact.items():
        if isinstance(value, bool) or not (
            (isinstance(value, int) and -_MAX_INT < value < _MAX_INT)
            or (isinstance(value, str) and len(value) <= _MAX_TEXT and value.isascii())
        ):
            raise EngineError(
                f"refusing to send {name}={value!r:.40} to durable_rules: "
                "it could not compare it exactly"
            )


def _rule_name(message: str) -> str:
    # An action message is {"<rule>":{"m":{...}}}; compiled rule names are plain
    # identifiers, so slicing is exact and ~10x cheaper than parsing the JSON.
    if not message.startswith('{"'):
        raise EngineError(f"unexpected action message from durable_rules: {message[:80]!r}")
    return message[2 : message.index('"', 2)]
