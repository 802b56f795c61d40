"""``creditrules init NAME``: a commented starter agreement, its sample deals and worked
examples, which pass ``validate``, ``check`` and ``test`` as written."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from creditrules.errors import UsageError
from creditrules.io._output import AtomicOutputs

__all__ = ["STARTER_FILES", "write_starter"]

# Template (package data under starter/) -> file written, ``{name}`` replaced by the name.
STARTER_FILES = {
    "agreement.yaml": "{name}.yaml",
    "deals.jsonl": "{name}-deals.jsonl",
    "cases.yaml": "{name}-cases.yaml",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def write_starter(name: str, directory: Path, extra: dict[str, str] | None = None) -> list[Path]:
    """Write the starter files for ``name`` into ``directory`` (plus ``extra``: file name ->
    text); refuses to overwrite any file. Returns the paths written."""
    if not _NAME.match(name):
        raise UsageError(
            f"name {name!r} must be a short name: lower-case letters, digits, "
            "'-' or '_' (it becomes the ruleset id and the file names)"
        )
    texts = {}
    for template, target in STARTER_FILES.items():
        starter = resources.files("creditrules.authoring").joinpath("starter")
        text = starter.joinpath(template).read_text("utf-8")
        texts[target.replace("{name}", name)] = text.replace("{name}", name)
    texts.update(extra or {})
    paths = [directory / file for file in texts]
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise UsageError(f"not overwriting {', '.join(existing)}: choose another name or directory")
    directory.mkdir(parents=True, exist_ok=True)
    with AtomicOutputs() as outputs:  # all the files, or none
        for path in paths:
            outputs.text(path).write(texts[path.name])
    return paths
