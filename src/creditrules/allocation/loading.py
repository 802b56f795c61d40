"""Loading an agreement, ready to allocate: :func:`load` and :func:`loads` read the ruleset
and choose the matching engine."""

from __future__ import annotations

import os
from pathlib import Path

from creditrules.agreement._schema import read_ruleset
from creditrules.agreement.ruleset import ENGINES, Ruleset, provide
from creditrules.allocation._evaluate import Evaluator
from creditrules.errors import EngineError

__all__ = ["choose_engine", "load", "loads"]

provide("evaluator", Evaluator)


def choose_engine(requested: str | None) -> str:
    """The engine to use: the one asked for (argument, else ``CREDITRULES_ENGINE``), else
    durable_rules where it is installed, else the reference evaluator."""
    name = requested or os.environ.get("CREDITRULES_ENGINE") or ""
    if name == "reference":
        return name
    # Imported here: durable_rules loads only when a ruleset does.
    from creditrules.engine import _durable

    if not name:
        return "durable" if _durable.available() else "reference"
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    if name == "durable" and not _durable.available():
        raise EngineError("the durable engine is not available here: "
                          + _durable.unavailable_reason())
    return name


def load(path: str | os.PathLike[str], *, engine: str | None = None,
         allow_outside: bool = False) -> Ruleset:
    """Load a ruleset file (YAML), with the base agreement if it is an amendment.

    Raises :class:`~creditrules.errors.RulesetError` listing every problem found, each
    located as ``file:line:column``. The file must be a regular file of at most 16 MB; the
    base an amendment names (``amends:``) must lie in the same directory or below it, with
    symbolic links resolved, unless ``allow_outside`` is true.
    """
    return read_ruleset(Path(path), None, engine=choose_engine(engine),
                        allow_outside=allow_outside)


def loads(text: str, *, source: str = "<string>", engine: str | None = None,
          allow_outside: bool = False) -> Ruleset:
    """Load a ruleset from YAML text; ``source`` names it in error locations (and its
    directory is where an ``amends:`` base is looked for, as for :func:`load`)."""
    return read_ruleset(Path(source), text, engine=choose_engine(engine),
                        allow_outside=allow_outside)

