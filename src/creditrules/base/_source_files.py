"""Reading the files a user names (rulesets, amendments' bases, cases files) as hostile
input: regular files only (a FIFO would hang, ``/dev/zero`` would never end), a bounded
size, UTF-8 checked with the place of the first bad byte, and, for a file another file
refers to (``amends:``, a cases file's ``ruleset:``), inside the referring file's
directory unless the caller allows otherwise. A refused file is never read, so its
content can never be echoed in an error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from creditrules.errors import Location, Problem

__all__ = ["MAX_SOURCE_BYTES", "SourceProblem", "read_source", "referenced_path"]

#: The largest ruleset or cases file read (a 5,000-rule ruleset is about 1 MB).
MAX_SOURCE_BYTES = 16 * 1024 * 1024


class SourceProblem(Exception):
    """A file that cannot be read as a source; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_source(path: Path, what: str, *, refused_at: Location | None = None) -> str:
    """The UTF-8 text of the regular file ``path`` (``what`` names it in messages).

    Problems are located in the file itself, or at ``refused_at`` (the reference that
    named it) when the file cannot be opened as a regular file.
    """
    at = refused_at or Location(str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        # Non-blocking, so opening a FIFO returns at once and fstat can refuse it.
        fd = os.open(path, flags)
    except ValueError:  # an embedded NUL
        raise SourceProblem(
            Problem("unreadable", f"cannot read {what}: the path contains NUL", at)
        ) from None
    except OSError as exc:
        raise SourceProblem(
            Problem("unreadable", f"cannot read {what}: {exc.strerror}", Location(str(path)))
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceProblem(
                Problem("not-a-file", f"{what} {str(path)!r} is not a regular file", at)
            )
        if info.st_size > MAX_SOURCE_BYTES:
            raise SourceProblem(_too_large(what, at))
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise SourceProblem(
            Problem("unreadable", f"cannot read {what}: {exc.strerror}", Location(str(path)))
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:  # grew while being read
        raise SourceProblem(_too_large(what, at))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise SourceProblem(
            Problem("unreadable", f"{what} is not UTF-8 text", Location(str(path), line, column))
        ) from None


def _too_large(what: str, at: Location) -> Problem:
    return Problem("too-large", f"{what} is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB", at)


def referenced_path(
    referrer: Path, name: str, root: Path, *, allow_outside: bool, what: str, at: Location
) -> Path:
    """The file ``name`` written in ``referrer`` (relative to its directory).

    Unless ``allow_outside``, the file, with every symbolic link resolved, must lie inside
    the directory ``root`` (the directory of the file the caller asked for).
    """
    if "\x00" in name:  # no file system takes it (Python raises ValueError)
        raise SourceProblem(Problem("bad-value", f"{what}: a path cannot contain NUL", at))
    target = referrer.parent / name
    if allow_outside:
        return target
    inside = os.path.realpath(root)
    real = os.path.realpath(target)
    if os.path.commonpath([inside, real]) != inside:
        raise SourceProblem(
            Problem(
                "path-outside",
                f"{what} {name!r} leads outside the directory {str(root)!r}; it "
                "was not read (allow it with allow_outside=True, or --allow-outside)",
                at,
            )
        )
    return target
