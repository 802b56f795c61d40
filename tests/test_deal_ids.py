"""The compact store of deal ids (``creditrules.io._deal_ids.DealIds``): exactly a
``dict[str, int]`` kept through ``setdefault`` (the first line stands), whatever the ids
(empty, NUL, non-ASCII, lone surrogates, 32 KB long) and however badly they hash; a bounded
number of bytes an id; and duplicate ids still rejected, naming the first line, by the
command line in one process or several.
"""

from __future__ import annotations

import json
import pickle
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditrules.io import _deal_ids, _parallel
from creditrules.io._deal_ids import DealIds
from creditrules.io.batch import LedgerRows, run_batch
from test_jobs import _deal, _run, tiny_parts  # noqa: F401 - tiny_parts is a fixture


def _collide(key: str) -> int:
    """Every id in one slot: each lookup must go by the bytes alone."""
    return 12345


def _few(key: str) -> int:
    """Four hash values: long chains, mixed with empty slots."""
    return len(key) % 4


HASHES = {"python": None, "collide": _collide, "few": _few}

ids = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "\x00\x00", "J-1", "j-1", "J-1 ", "Ü", "U\u0308", "配-2",
                     "\ud800", "\udfff\ud800", "\U0001f600", "\ud83d\ude00"]),
    st.text(st.characters(categories=["Cs"]), max_size=3),
    # 32 KB ids, differing in their last character only.
    st.sampled_from(["a", "b", "\x00", "é"]).map(lambda c: "x" * 32768 + c),
)
lines = st.one_of(st.integers(-3, 10**6), st.integers(), st.sampled_from(
    [0, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**100]))
pairs = st.lists(st.tuples(ids, lines), max_size=30)


def _as_dict(pairs: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, line in pairs:
        out.setdefault(key, line)
    return out


def _same(store: DealIds, expected: dict[str, int]) -> None:
    assert len(store) == len(expected)
    assert list(store.items()) == list(expected.items())  # insertion order too
    assert list(store) == list(expected)
    for key, line in expected.items():
        assert store.get(key) == line
        assert store[key] == line
        assert key in store


@pytest.mark.parametrize("hash_name", list(HASHES))
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("get"), ids, lines),
    st.tuples(st.just("setdefault"), ids, lines),
    st.tuples(st.just("get+setdefault"), ids, lines),  # as the batch does: the hint path
    st.tuples(st.just("merge"), pairs, st.sampled_from(list(HASHES))),
    st.tuples(st.just("merge pairs"), pairs, st.none()),
    st.tuples(st.just("merge from"), pairs, st.integers(0, 31)),  # a store's later ids
    st.tuples(st.just("merge packed"), pairs, st.sampled_from(list(HASHES))),
    st.tuples(st.just("pickle"), st.none(), st.none()),
), max_size=40))
def test_the_store_is_a_dict_of_first_lines(hash_name: str, ops: list[Any]) -> None:
    store = DealIds(hash_function=HASHES[hash_name])
    expected: dict[str, int] = {}
    for op, a, b in ops:
        if op == "get":
            assert store.get(a) == expected.get(a)
            assert store.get(a, b) == expected.get(a, b)
            assert (a in store) == (a in expected)
        elif op == "setdefault":
            assert store.setdefault(a, b) == expected.setdefault(a, b)
        elif op == "get+setdefault":
            assert store.get(a) == expected.get(a)
            assert store.setdefault(a, b) == expected.setdefault(a, b)
        elif op == "merge":  # another store, hashed alike or not
            other = DealIds(a, hash_function=HASHES[b])
            _same(other, _as_dict(a))
            store.merge(other)
            for key, line in a:
                expected.setdefault(key, line)
        elif op == "merge pairs":
            store.merge(a)
            for key, line in a:
                expected.setdefault(key, line)
        elif op == "merge packed":  # built at once from a dict
            other = DealIds.packed(_as_dict(a), hash_function=HASHES[b])
            _same(other, _as_dict(a))
            store.merge(other)
            for key, line in a:
                expected.setdefault(key, line)
        elif op == "merge from":
            store.merge(DealIds(a), start=b)
            for key, line in list(_as_dict(a).items())[b:]:
                expected.setdefault(key, line)
        else:
            store = pickle.loads(pickle.dumps(store))
        assert len(store) == len(expected)
    _same(store, expected)
    _same(DealIds(store), expected)
    _same(DealIds(expected, hash_function=HASHES[hash_name]), expected)


@pytest.mark.parametrize("hash_name", list(HASHES))
@given(a=pairs, b=pairs)
def test_disjointness_is_the_dicts(hash_name: str, a: list[tuple[str, int]],
                                   b: list[tuple[str, int]]) -> None:
    left, right = _as_dict(a), _as_dict(b)
    store = DealIds(a, hash_function=HASHES[hash_name])
    expected = left.keys().isdisjoint(right)
    assert store.isdisjoint(DealIds(b)) is expected
    assert store.isdisjoint(DealIds(b, hash_function=_collide)) is expected
    assert store.isdisjoint(pickle.loads(pickle.dumps(DealIds(b)))) is expected
    assert store.isdisjoint(list(right)) is expected
    assert store.isdisjoint(set(right)) is expected


def test_a_store_from_a_process_that_hashes_otherwise_is_hashed_again() -> None:
    """A spawned worker has another hash key: its hashes mean nothing here, and the store
    works them out again on arrival (a forked worker's are kept)."""
    store = DealIds((f"D-{i}", i) for i in range(100))
    fingerprint, function, arena, ends, line_items, big, hashes = store.__getstate__()
    assert fingerprint == _deal_ids._FINGERPRINT
    assert function is None
    same = DealIds.__new__(DealIds)
    same.__setstate__(store.__getstate__())
    assert same._hashes == store._hashes
    arrived = DealIds.__new__(DealIds)
    arrived.__setstate__(((1, 2), None, arena, ends, line_items, big,
                          type(hashes)(hashes.typecode, [7] * len(hashes))))
    assert arrived._hashes == store._hashes
    assert arrived.get("D-42") == 42
    assert arrived.get("D-100") is None
    seen = DealIds([("D-99", 5)])
    assert not seen.isdisjoint(arrived)
    seen.merge(arrived)
    assert dict(seen.items()) == {"D-99": 5, **{f"D-{i}": i for i in range(99)}}


def test_pickles_hold_bytes_not_an_object_per_id() -> None:
    store = DealIds((f"BM-{i:08d}", i) for i in range(10_000))
    data = pickle.dumps(store, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < 10_000 * 25  # 11 bytes of id, 4 of end, line and hash each
    assert data.count(b"BM-00000042") == 1
    assert pickle.loads(data).get("BM-00009999") == 9999


def test_lines_past_four_and_eight_bytes_are_kept() -> None:
    store = DealIds()
    values = [1, 2**31 - 1, 2**31, -(2**63), 2**63, -(2**200), 7]
    for i, line in enumerate(values):
        assert store.setdefault(f"L-{i}", line) == line
    assert [store[f"L-{i}"] for i in range(len(values))] == values
    assert [store[f"L-{i}"] for i in range(len(values))] == [
        line for _, line in pickle.loads(pickle.dumps(store)).items()]


# -- memory -------------------------------------------------------------------------------

#: The bound per id of ``BM-00000001`` (11 bytes), spare capacity included; a dict takes
#: about 135.
BYTES_PER_ID = 50


def _benchmark_ids(n: int) -> DealIds:
    store = DealIds()
    for i in range(n):
        key = f"BM-{i:08d}"
        if store.get(key) is None:  # as the batch does: look up, then insert
            store.setdefault(key, i + 1)
    return store


def test_an_id_costs_fewer_than_50_bytes() -> None:
    n = 200_000
    store = _benchmark_ids(n)
    # The arrays' and the arena's own sizes count their spare capacity.
    assert sys.getsizeof(store) / n < BYTES_PER_ID
    parts = (store._arena, store._ends, store._lines, store._hashes, store._table)
    assert sum(sys.getsizeof(p) for p in parts) <= sys.getsizeof(store)


def test_the_size_reported_is_all_the_memory_held() -> None:
    """What tracemalloc sees allocated and kept by a store is what ``sys.getsizeof``
    reports (so the bound above counts everything)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = _benchmark_ids(20_000)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= sys.getsizeof(store) + 4096  # the hint
    assert held / 20_000 < BYTES_PER_ID


# -- the batch and the command line --------------------------------------------------------


def test_run_batch_still_takes_a_dict_of_seen_ids() -> None:
    import creditrules

    ruleset = creditrules.load(Path(__file__).resolve().parent.parent / "rulesets"
                               / "cardiozen.yaml")
    seen = {"E-1": 7}
    checked: set[str] = set()
    rejected: list[Any] = []
    summary = run_batch(ruleset, [_deal(0, "E-1"), _deal(1, "E-2"), _deal(2, "E-2")],
                        LedgerRows(), rejected.append, seen=seen, checked=checked)
    assert summary.allocated == 1
    assert [r.reason for r in rejected] == ["deal 'E-1' was already allocated from line 7",
                                           "deal 'E-2' was already allocated from line 2"]
    assert seen == {"E-1": 7, "E-2": 2}
    assert checked == {"E-1", "E-2"}


LONG = "L" * 32768


@pytest.mark.parametrize("jobs", ["1", "2", "2-spawn"])
def test_the_command_rejects_duplicate_ids_naming_the_first_line(
        tmp_path: Path, tiny_parts: None, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    if jobs == "2-spawn":  # workers hash with another key than this process
        monkeypatch.setattr(_parallel, "START_METHOD", "spawn")
    odd = ["Ü-1", "配-2", "\x00", "D\x00E", LONG + "a", LONG + "b", "J-1", "j-1"]
    records = [_deal(i, deal_id) for i, deal_id in enumerate(odd)]
    records += [_deal(i) for i in range(10, 20)]  # ids J-10 ... J-19
    first = {deal_id: line for line, deal_id in enumerate(odd, start=1)}
    repeats = [LONG + "b", "\x00", "J-1", "Ü-1", "J-15", LONG + "a", "配-2"]
    records += [_deal(30 + i, deal_id) for i, deal_id in enumerate(repeats)]
    first["J-15"] = len(odd) + 6
    deals = tmp_path / "deals.jsonl"
    deals.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert len(list(_parallel.spans(str(deals), "jsonl", 1500))) >= 10
    status, ledger, rejects, err = _run(tmp_path, deals, int(jobs[0]), capsys=capsys)
    assert status == 1
    rejected = [json.loads(line) for line in rejects.decode().splitlines()]
    start = len(odd) + 10 + 1
    assert [(r["line"], r["code"], r["deal"]) for r in rejected] == [
        (start + i, "duplicate-id", deal_id) for i, deal_id in enumerate(repeats)]
    assert [r["reason"] for r in rejected] == [
        f"deal {deal_id!r} was already allocated from line {first[deal_id]}"
        for deal_id in repeats]
    assert f"{len(records)} read, {len(odd) + 10} allocated, {len(repeats)} rejected" in err
    if jobs != "1":
        assert (status, ledger, rejects, err) == _run(tmp_path, deals, 1, capsys=capsys)


@pytest.mark.parametrize("kind", [DealIds, dict])
def test_a_dask_chunk_sends_back_its_own_ids(tmp_path: Path, kind: type) -> None:
    """A chunk allocated with the ids of earlier chunks (as the caller does again for a
    chunk that met one of them) adds its own to them and sends back only those; a caller's
    dict still serves."""
    pytest.importorskip("dask.dataframe")
    import creditrules
    from creditrules.integrations import dask as cr_dask

    path = tmp_path / "deals.jsonl"
    records = [_deal(0, "C-1"), _deal(1, "C-2"), _deal(2, "C-1"), _deal(3, "C-3")]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    ruleset_path = str(Path(__file__).resolve().parent.parent / "rulesets" / "cardiozen.yaml")
    content_hash = creditrules.load(ruleset_path).content_hash
    (chunk,) = cr_dask.chunks(str(path), lines=10)
    seen = kind([("C-3", 9), ("E-0", 1)])
    result = cr_dask.allocate_chunk(ruleset_path, None, content_hash, chunk, "jsonl",
                                    str(tmp_path / "part"), seen)
    assert dict(result.ids.items()) == {"C-1": 1, "C-2": 2}
    assert dict(result.checked.items()) == {"C-1": 1, "C-2": 2, "C-3": 4}
    assert dict(seen.items()) == {"C-3": 9, "E-0": 1, "C-1": 1, "C-2": 2}
    assert [json.loads(line)["line"] for line in Path(result.rejects).read_text().splitlines()
            ] == [3, 4]
    fresh = cr_dask.allocate_chunk(ruleset_path, None, content_hash, chunk, "jsonl",
                                   str(tmp_path / "again"))
    assert dict(fresh.ids.items()) == {"C-1": 1, "C-2": 2, "C-3": 4}
