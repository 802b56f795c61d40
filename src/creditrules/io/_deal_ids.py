"""A compact, exact map of deal id -> the line it was first allocated from.

A batch under ``duplicates="reject"`` keeps every deal id it allocated for the whole run. A
``dict[str, int]`` costs about 135 bytes an id (the string object, the int, the dict's
entry and spare room); :class:`DealIds` keeps the same map in 31 to 37 for an id of 11
characters (spare room included):

* the ids' UTF-8 bytes one after another in one ``bytearray`` (the *arena*), with an
  ``array`` of where each one ends;
* the lines and a 32-bit hash of each id in two more arrays, by insertion order;
* an open-addressing table of entry numbers (4 bytes a slot, at most two thirds full).

It is exact: a hash only says where to look, and an id is found only when its bytes equal
the stored ones. There is no deletion, so entries keep their insertion order (a part's own
ids are the ones after a given count).

The hash is Python's own hash of the id: fast (a string keeps its hash once worked out, and
an id found missing at its first slot is never encoded), and keyed per process, so that ids
chosen to collide cannot slow a run down. A store pickled in one process and read in
another with a different hash key has its hashes worked out again on arrival (forked
workers share their parent's key, so theirs never need it). Pickles hold the arena and the
arrays as bytes, not a Python object per id; the table is rebuilt when first needed.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import accumulate
from typing import Any

__all__ = ["DealIds"]

#: Hash bits kept per entry: enough to spread ids over tables of up to 2**32 slots (beyond,
#: probing still finds every id), and to make comparing bytes with the wrong id rare.
_HASH_MASK = 0xFFFFFFFF
#: The table grows when more than ``_LOAD_NUM / _LOAD_DEN`` of its slots are used.
_LOAD_NUM, _LOAD_DEN = 2, 3
_MIN_SIZE = 8


#: The default hash: Python's (keyed per process).
_python_hash: Callable[[str], int] = hash

#: Tells whether two processes hash alike (forked: yes; spawned: not unless PYTHONHASHSEED
#: is set). Two values: two hash keys that agree on both by chance are out of reach.
_FINGERPRINT = (hash("creditrules.io._deal_ids"), hash("DealIds"))


def _encode(key: str) -> bytes:
    # surrogatepass: a JSON string may hold a lone surrogate ("\ud800"), which strict UTF-8
    # refuses. Still one-to-one: valid UTF-8 never holds the bytes of a surrogate.
    return key.encode("utf-8", "surrogatepass")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def _widened(values: array[int]) -> array[int]:
    """``values`` in 8-byte items (a value overflowed the 4-byte ones)."""
    return array("q" if values.typecode == "i" else "Q", values)


class DealIds:
    """Deal id -> first line, as a ``dict[str, int]`` used only through ``get`` and
    ``setdefault`` would keep it, in far less memory (31 to 37 bytes an id of 11
    characters, spare room included, where a dict takes about 135).

    ``items`` (a mapping, a store, or (id, line) pairs) fill it, the first line of an id
    kept. ``hash_function`` replaces Python's hash of an id (tests use a poor one to check
    that collisions change nothing); it must be a module-level function to be pickled.
    """

    __slots__ = ("_arena", "_big", "_ends", "_hash", "_hashes", "_hint", "_lines",
                 "_table", "_used")

    def __init__(self, items: Mapping[str, int] | Iterable[tuple[str, int]] = (), *,
                 hash_function: Callable[[str], int] | None = None) -> None:
        self._hash: Callable[[str], int] = hash_function or _python_hash
        self._arena = bytearray()
        #: Where each id's bytes end in the arena (entry ``i`` starts where ``i - 1`` ends).
        self._ends: array[int] = array("I")
        self._lines: array[int] = array("i")
        #: Lines beyond 8 bytes (entry -> line): Python ints have no bound.
        self._big: dict[int, int] = {}
        self._hashes: array[int] = array("I")
        #: Entry number + 1 per slot (0: empty); None until first needed.
        self._table: array[int] | None = None
        #: Slots in use before the table grows.
        self._used = 0
        #: The last id looked up: (id, hash, entry or -1, slot), until anything is added:
        #: inserting the id just found missing costs no second hash and search.
        self._hint: tuple[str, int, int, int] | None = None
        if isinstance(items, DealIds):
            self.merge(items)
        else:
            pairs = items.items() if isinstance(items, Mapping) else items
            for key, line in pairs:
                self.setdefault(key, line)

    @classmethod
    def packed(cls, items: Mapping[str, int], *,
               hash_function: Callable[[str], int] | None = None) -> DealIds:
        """A store of ``items`` built at once, without a search per id (the keys of a
        mapping are distinct): how a process hands over ids it kept in a dict."""
        store = cls(hash_function=hash_function)
        keys = list(items)
        encoded = [key.encode("utf-8", "surrogatepass") for key in keys]  # see _encode
        try:
            ends = array("I", accumulate(map(len, encoded)))
            line_items = array("i", items.values())
        except OverflowError:  # over 4 GiB of ids, or lines past 4 bytes: one at a time
            return cls(items, hash_function=hash_function)
        store._arena = bytearray(b"".join(encoded))
        store._ends, store._lines = ends, line_items
        function = store._hash
        store._hashes = array("I", [function(key) & _HASH_MASK for key in keys])
        return store  # the table is built when first needed

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._hashes)

    def __repr__(self) -> str:
        return f"<DealIds: {len(self)} ids, {self.__sizeof__():,} bytes>"

    def _key(self, index: int) -> bytes:
        ends = self._ends
        return bytes(self._arena[ends[index - 1] if index else 0:ends[index]])

    def _line(self, index: int) -> int:
        line: int = self._lines[index]
        if self._big and index in self._big:
            return self._big[index]
        return line

    def __iter__(self) -> Iterator[str]:
        """The ids, in insertion order."""
        for index in range(len(self)):
            yield _decode(self._key(index))

    def items(self) -> Iterator[tuple[str, int]]:
        """(id, first line) pairs, in insertion order."""
        for index in range(len(self)):
            yield _decode(self._key(index)), self._line(index)

    def _find(self, data: bytes, h: int) -> tuple[int, int]:
        """(entry, slot) of the id ``data`` with hash ``h``, or (-1, the empty slot where it
        would go)."""
        table = self._table
        if table is None:
            table = self._rebuild(len(self))
        mask = len(table) - 1
        hashes, ends, arena = self._hashes, self._ends, self._arena
        slot = h & mask
        perturb = h
        while True:
            entry = table[slot]
            if not entry:
                return -1, slot
            entry -= 1
            if hashes[entry] == h and arena[
                    ends[entry - 1] if entry else 0:ends[entry]] == data:
                return entry, slot
            # CPython's dict probing: every bit of the hash takes part, then every slot.
            perturb >>= 5
            slot = (slot * 5 + perturb + 1) & mask

    def get(self, key: str, default: int | None = None) -> int | None:
        """The first line of ``key``, or ``default``."""
        h = self._hash(key) & _HASH_MASK
        # _find, written out (this runs once a record), and the id encoded only when a slot
        # holds an entry of its hash.
        table = self._table
        if table is None:
            table = self._rebuild(len(self))
        mask = len(table) - 1
        slot = h & mask
        entry = table[slot]
        if entry:
            hashes, ends, arena = self._hashes, self._ends, self._arena
            data = None
            perturb = h
            while entry:
                entry -= 1
                if hashes[entry] == h:
                    if data is None:
                        data = _encode(key)
                    if arena[ends[entry - 1] if entry else 0:ends[entry]] == data:
                        self._hint = (key, h, entry, slot)
                        return self._line(entry)
                perturb >>= 5
                slot = (slot * 5 + perturb + 1) & mask
                entry = table[slot]
        self._hint = (key, h, -1, slot)
        return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __getitem__(self, key: str) -> int:
        line = self.get(key)
        if line is None:
            raise KeyError(key)
        return line

    def isdisjoint(self, other: DealIds | Iterable[str]) -> bool:
        """Whether no id of ``other`` is here."""
        if not isinstance(other, DealIds):
            return all(self.get(key) is None for key in other)
        if not len(self) or not len(other):
            return True
        table = self._table
        if table is None:
            table = self._rebuild(len(self))
        # _find, written out: the main process of a parallel run checks every id of every
        # part here. Bytes are compared only for an entry of the same hash.
        mask = len(table) - 1
        hashes, ends, arena = self._hashes, self._ends, self._arena
        other_hashes, same = other._hashes, other._hash is self._hash
        for index in range(len(other)):
            h = (other_hashes[index] if same
                 else self._hash(_decode(other._key(index))) & _HASH_MASK)
            slot = h & mask
            entry = table[slot]
            perturb = h
            while entry:
                entry -= 1
                if hashes[entry] == h and arena[
                        ends[entry - 1] if entry else 0:ends[entry]] == other._key(index):
                    return False
                perturb >>= 5
                slot = (slot * 5 + perturb + 1) & mask
                entry = table[slot]
        return True

    # -- writing -----------------------------------------------------------------------

    def setdefault(self, key: str, line: int) -> int:
        """The first line of ``key``; ``line`` (stored) if there was none."""
        hint = self._hint
        if hint is not None and hint[0] == key:
            # Looked up just before, with nothing added since (that clears the hint): its
            # search stands.
            _, h, entry, slot = hint
            if entry >= 0:
                return self._line(entry)
            data = key.encode("utf-8", "surrogatepass")  # see _encode
        else:
            h = self._hash(key) & _HASH_MASK
            data = _encode(key)
            entry, slot = self._find(data, h)
            if entry >= 0:
                return self._line(entry)
        self._insert(data, h, line, slot)
        return line

    def merge(self, other: DealIds | Mapping[str, int] | Iterable[tuple[str, int]], *,
              start: int = 0) -> None:
        """Add the ids of ``other`` that are not here, with their lines (an id already here
        keeps its own line). ``start``, for a store: only its ids after the first ``start``
        (in insertion order)."""
        if not isinstance(other, DealIds):
            pairs = other.items() if isinstance(other, Mapping) else other
            for key, line in pairs:
                self.setdefault(key, line)
            return
        count = len(other) - start
        if count <= 0:
            return
        if self._table is None or len(self) + count > self._used:
            self._rebuild(len(self) + count)  # room for all of them: no growing midway
        if (other._hash is not self._hash or other._big
                or other._lines.itemsize > self._lines.itemsize
                or (len(self._arena) + len(other._arena) > 0xFFFFFFFF
                    and self._ends.itemsize < 8)):
            # Hashed otherwise, or values that may not fit: one id at a time.
            for index in range(start, len(other)):
                data = other._key(index)
                h = (other._hashes[index] if other._hash is self._hash
                     else self._hash(_decode(data)) & _HASH_MASK)
                entry, slot = self._find(data, h)
                if entry < 0:
                    self._insert(data, h, other._line(index), slot)
            return
        # _find and _insert written out: the main process of a parallel run adds every id
        # of every part here, and every value fits (checked above).
        table = self._table
        assert table is not None
        mask = len(table) - 1
        hashes, ends, arena, lines = self._hashes, self._ends, self._arena, self._lines
        other_hashes, other_ends, other_arena = other._hashes, other._ends, other._arena
        other_lines = other._lines
        begin = other_ends[start - 1] if start else 0
        for index in range(start, len(other)):
            h = other_hashes[index]
            end = other_ends[index]
            slot = h & mask
            entry = table[slot]
            found = False
            perturb = h
            while entry:
                entry -= 1
                if hashes[entry] == h and arena[
                        ends[entry - 1] if entry else 0:ends[entry]] == other_arena[begin:end]:
                    found = True
                    break
                perturb >>= 5
                slot = (slot * 5 + perturb + 1) & mask
                entry = table[slot]
            if not found:
                arena += other_arena[begin:end]
                ends.append(len(arena))
                lines.append(other_lines[index])
                hashes.append(h)
                table[slot] = len(hashes)
            begin = end
        self._hint = None

    def _insert(self, data: bytes, h: int, line: int, slot: int) -> None:
        """Add a new id at ``slot`` (empty, found by :meth:`_find` with nothing added
        since)."""
        table = self._table
        assert table is not None
        index = len(self._hashes)
        arena = self._arena
        arena += data
        try:
            self._ends.append(len(arena))
        except OverflowError:  # an arena past 4 GiB
            self._ends = _widened(self._ends)
            self._ends.append(len(arena))
        try:
            self._lines.append(line)
        except OverflowError:
            self._append_line(index, line)
        self._hashes.append(h)
        table[slot] = index + 1
        self._hint = None
        if index >= self._used:
            self._rebuild(index + 1)

    def _append_line(self, index: int, line: int) -> None:
        """Store a line that 4-byte items cannot hold."""
        if self._lines.typecode == "i":
            self._lines = _widened(self._lines)
        try:
            self._lines.append(line)
        except OverflowError:  # beyond 8 bytes: kept aside
            self._lines.append(0)
            self._big[index] = line

    def _rebuild(self, count: int) -> array[int]:
        """A table for the ``count`` entries (all of them) and more to come (power-of-two
        size, at most two thirds full), filled from the stored hashes."""
        size = _MIN_SIZE
        while count * _LOAD_DEN >= size * _LOAD_NUM:
            size *= 2
        # Entry numbers fit 4 bytes until a table of 2**32 slots.
        table = array("I" if size <= 1 << 32 else "Q", [0]) * size
        mask = size - 1
        for number, h in enumerate(self._hashes, start=1):
            slot = h & mask
            perturb = h
            while table[slot]:
                perturb >>= 5
                slot = (slot * 5 + perturb + 1) & mask
            table[slot] = number
        self._table = table
        self._used = size * _LOAD_NUM // _LOAD_DEN
        self._hint = None
        return table

    # -- size and transfer -------------------------------------------------------------

    def __sizeof__(self) -> int:
        """Bytes held, spare capacity included (the table too)."""
        parts: list[Any] = [self._arena, self._ends, self._lines, self._hashes, self._big]
        if self._table is not None:
            parts.append(self._table)
        return object.__sizeof__(self) + sum(sys.getsizeof(p) for p in parts)

    def __getstate__(self) -> tuple[Any, ...]:
        # Bytes and arrays (pickled as their bytes), not an object per id; no table (rebuilt
        # where needed) and no hint.
        default = self._hash is _python_hash
        return (_FINGERPRINT if default else None, None if default else self._hash,
                self._arena, self._ends, self._lines, self._big, self._hashes)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        fingerprint, function, arena, ends, lines, big, hashes = state
        self._hash = function or _python_hash
        self._arena, self._ends, self._lines, self._big = arena, ends, lines, big
        self._hashes = hashes
        self._table, self._used, self._hint = None, 0, None
        if function is None and fingerprint != _FINGERPRINT:
            # Hashed in a process with another hash key: hashed again with this one.
            self._hashes = array("I", (self._hash(_decode(self._key(i))) & _HASH_MASK
                                       for i in range(len(hashes))))
