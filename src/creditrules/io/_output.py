"""Output files replaced atomically, and write errors that name their file.

A batch run's outputs (ledger, rejects) are written to temporary files beside their final
names, ``.NAME.incomplete-PID-XXXXXXXX``, created before the run starts (so an unwritable
path fails before any work); at the end each is flushed, fsynced and renamed over its final
name, and the directory fsynced. A run that fails or is interrupted removes its temporary
files and leaves the previous outputs as they were; a run killed outright (SIGKILL, power
loss) can leave an ``.incomplete-`` file behind, never a partial file under a final name.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
from types import TracebackType
from typing import IO, Any

__all__ = ["AtomicOutputs", "NamedStream", "named_error", "write_text"]


def named_error(exc: OSError, name: str) -> OSError:
    """``exc`` again (same class, so a BrokenPipeError stays one) naming ``name``."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), name)


class _NamedFile(io.FileIO):
    """A file whose write errors name the output they were for (not its temporary name)."""

    final = ""

    def write(self, data: Any, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            raise named_error(exc, self.final) from None


class NamedStream:
    """A text stream (standard output...) whose write errors name it: ``<stdout>``."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream = stream
        self.name = name

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise named_error(exc, self.name) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise named_error(exc, self.name) from None


class _Pending:
    def __init__(self, path: str) -> None:
        self.path = path
        directory, base = os.path.split(os.path.abspath(path))
        self.directory = directory
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        self.temp = os.path.join(
            directory, f".{base}.incomplete-{os.getpid()}-{secrets.token_hex(4)}"
        )
        try:
            # O_EXCL: never write through a file (or link) someone put there; the mode
            # follows the umask, as for any new file.
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
        raw = _NamedFile(fd, "wb", closefd=True)
        raw.final = path
        with contextlib.suppress(OSError):  # keep an existing file's permissions
            os.chmod(self.temp, os.stat(path).st_mode & 0o7777)
        self.binary: io.BufferedWriter = io.BufferedWriter(raw, buffer_size=1 << 16)
        self.text: io.TextIOWrapper | None = None

    def flush_and_sync(self) -> None:
        stream = self.text or self.binary
        stream.flush()
        try:
            os.fsync(self.binary.fileno())
        except OSError as exc:
            raise named_error(exc, self.path) from None
        stream.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            (self.text or self.binary).close()
        with contextlib.suppress(OSError):
            os.remove(self.temp)


class AtomicOutputs:
    """A group of output files that all appear, complete, under their names, or none does.

    ``binary(path)`` and ``text(path)`` create each temporary file now (so a path that
    cannot be written fails before the run); leaving the ``with`` block normally replaces
    every final file (flushed and fsynced first, all of them before any rename); leaving it
    by an exception (or :meth:`discard`) removes the temporary files, the old outputs
    untouched. A second name for the same file is refused.
    """

    def __init__(self) -> None:
        self._pending: list[_Pending] = []

    def binary(self, path: str | os.PathLike[str]) -> IO[bytes]:
        """A binary file to be renamed to ``path``."""
        return self._add(os.fspath(path)).binary

    def text(self, path: str | os.PathLike[str]) -> IO[str]:
        """A UTF-8 text file (LF line ends) to be renamed to ``path``."""
        pending = self._add(os.fspath(path))
        pending.text = io.TextIOWrapper(pending.binary, encoding="utf-8", newline="\n")
        return pending.text

    def _add(self, path: str) -> _Pending:
        for other in self._pending:
            if os.path.abspath(other.path) == os.path.abspath(path) or (
                os.path.exists(path)
                and os.path.exists(other.path)
                and os.path.samefile(path, other.path)
            ):
                raise ValueError(f"{path} is named for two outputs")
        pending = _Pending(path)
        self._pending.append(pending)
        return pending

    def commit(self) -> None:
        """Flush and fsync every file, then rename each over its final name."""
        for pending in self._pending:
            pending.flush_and_sync()
        directories = set()
        for pending in self._pending:
            try:
                os.replace(pending.temp, pending.path)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, pending.path) from None
            directories.add(pending.directory)
        for directory in sorted(directories):  # the renames themselves made durable
            with contextlib.suppress(OSError):
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._pending = []

    def discard(self) -> None:
        """Remove every temporary file; the final files stay as they were."""
        for pending in self._pending:
            pending.discard()
        self._pending = []

    def __enter__(self) -> AtomicOutputs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self.commit()
            finally:
                self.discard()  # whatever a failed commit left
        else:
            self.discard()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """One UTF-8 text file, written whole under its name or not at all."""
    with AtomicOutputs() as outputs:
        outputs.text(path).write(text)
