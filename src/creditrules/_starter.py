"""``creditrules init NAME``: a commented starter agreement, its sample deals and worked
examples, which pass ``validate``, ``check`` and ``test`` as written."""

from __future__ import annotations

import os
import re
import tempfile
from importlib import resources
from pathlib import Path

from creditrules.records import InputError

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
        raise InputError(
            f"name {name!r} must be a short name: lower-case letters, digits, "
            "'-' or '_' (it becomes the ruleset id and the file names)"
        )
    texts = {}
    for template, target in STARTER_FILES.items():
        text = resources.files("creditrules").joinpath("starter", template).read_text("utf-8")
        texts[target.replace("{name}", name)] = text.replace("{name}", name)
    texts.update(extra or {})
    paths = [directory / file for file in texts]
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise InputError(f"not overwriting {', '.join(existing)}: choose another name or directory")
    directory.mkdir(parents=True, exist_ok=True)
    for path in paths:
        write_atomically(path, texts[path.name])
    return paths


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, so a
    reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
