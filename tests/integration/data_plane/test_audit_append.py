"""The fast append paths on a real PostgreSQL: the database fills in each event's link and
hash (``audit_store.py``), and the chain it builds must be exactly the one
``verify_chain`` recomputes in Python — for any payload, any number of events per call,
with writers of several processes' worth of stores racing, and with rolled-back
transactions in between."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from data_plane.adapters.audit_store import AuditStore, NewEvent, connect_rows, verify_in_processes
from data_plane.adapters.postgres import TenantDatabase
from frostbyte_common.audit_chain import GENESIS_HASH, event_hash, verify_chain


@pytest.fixture
def url(fresh_database: str) -> Iterator[str]:
    db = TenantDatabase(fresh_database, "acme", max_size=1)
    db.open()
    db.migrate()
    db.close()
    yield fresh_database


def _store(url: str, tenant: str = "acme") -> AuditStore:
    return AuditStore(tenant, lambda: connect_rows(url))


PAYLOADS = [
    {},
    {"n": 1, "ids": ["a", "b"], "nested": {"z": None, "a": True}},
    {"quote\"and\\slash": "line\nbreak\ttab\u0001\u2028", "emoji": "\U0001f600"},
    {"float": 1.5, "small": 2.5e-7, "neg": -0.0, "\U0001f600key": 1},  # the library path
    {"é": "ü", "k": [1, [2, [3]]]},
]


def test_the_database_hashes_exactly_what_python_verifies(url: str) -> None:
    store = _store(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            one = store.append(conn, actor="w\u00e9", event_type="t", subject_kind="k",
                               subject_id="s\"1", payload=PAYLOADS[1])
            many = store.append_many(conn, [NewEvent("w", f"t{i}", "k", f"s{i}", p)
                                            for i, p in enumerate(PAYLOADS)])
        committed = store.append_committed(conn, [NewEvent("r", "retrieval.performed",
                                                           "query", "q", PAYLOADS[3])])
    returned = [one, *many, *committed]
    assert [e.seq for e in returned] == list(range(1, len(PAYLOADS) + 3))
    assert returned[0].prev_hash == GENESIS_HASH
    stored = store.events()
    assert [(e.seq, e.prev_hash, e.hash) for e in stored] == [
        (e.seq, e.prev_hash, e.hash) for e in returned]
    for e in stored:
        assert e.hash == event_hash(tenant=e.tenant, seq=e.seq, occurred_at=e.occurred_at,
                                    actor=e.actor, event_type=e.event_type,
                                    subject_kind=e.subject_kind, subject_id=e.subject_id,
                                    payload=e.payload, prev_hash=e.prev_hash,
                                    event_id=e.event_id)
    assert verify_chain(stored).ok


def test_a_rolled_back_append_leaves_no_gap(url: str) -> None:
    store = _store(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction():
            store.append(conn, actor="a", event_type="t", subject_kind="k", subject_id="1",
                         payload={})
        with pytest.raises(RuntimeError), conn.transaction():
            store.append_many(conn, [NewEvent("a", "t", "k", "2", {})] * 3)
            raise RuntimeError("the caller's change failed")
        with conn.transaction():
            last = store.append(conn, actor="a", event_type="t", subject_kind="k",
                                subject_id="3", payload={})
    assert last.seq == 2
    assert verify_chain(store.events()).ok


def test_append_committed_refuses_a_connection_inside_a_transaction(url: str) -> None:
    store = _store(url)
    with psycopg.connect(url, row_factory=dict_row) as conn, conn.transaction():
        conn.execute("SELECT 1")
        with pytest.raises(ValueError, match="outside any transaction"):
            store.append_committed(conn, [NewEvent("a", "t", "k", "1", {})])


def test_tenants_keep_separate_chains(url: str) -> None:
    acme, other = _store(url), _store(url, "other")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for i in range(3):
            acme.append_committed(conn, [NewEvent("a", "t", "k", str(i), {"i": i})])
            other.append_committed(conn, [NewEvent("a", "t", "k", str(i), {"i": i})] * 2)
    assert [e.seq for e in acme.events()] == [1, 2, 3]
    assert [e.seq for e in other.events()] == list(range(1, 7))
    assert verify_chain(acme.events()).ok and verify_chain(other.events()).ok


def test_racing_writers_of_every_kind_build_one_intact_chain(url: str) -> None:
    """Writers with stores of their own (as separate processes have), each appending in its
    own way, with some of their transactions rolled back."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = _store(url)
        try:
            with psycopg.connect(url, row_factory=dict_row) as conn:
                for i in range(25):
                    batch = [NewEvent(f"w{n}", "t", "k", f"{n}-{i}-{j}", {"n": n, "j": j})
                             for j in range(1 + i % 3)]
                    if n % 3 == 0:
                        store.append_committed(conn, batch)
                        continue
                    try:
                        with conn.transaction():
                            if n % 3 == 1:
                                store.append_many(conn, batch)
                            else:
                                for e in batch:
                                    store.append(conn, actor=e.actor, event_type=e.event_type,
                                                 subject_kind=e.subject_kind,
                                                 subject_id=e.subject_id, payload=e.payload)
                            if i % 7 == 6:
                                raise LookupError("roll back")
                    except LookupError:
                        pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = _store(url).events()
    verdict = verify_chain(events)
    assert verdict.ok, verdict
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    rolled_back = {f"{n}-{i}-{j}" for n in range(6) if n % 3 for i in range(25) if i % 7 == 6
                   for j in range(1 + i % 3)}
    assert not rolled_back & {e.subject_id for e in events}
    expected = sum(1 + i % 3 for _ in range(6) for i in range(25)) - len(rolled_back)
    assert len(events) == expected


def test_a_failed_append_committed_leaves_the_connection_usable(url: str) -> None:
    store = _store(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with pytest.raises(psycopg.DataError):  # PostgreSQL text cannot hold NUL
            store.append_committed(conn, [NewEvent("a", "t", "k", "nul\x00", {})])
        assert conn.autocommit is False
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        [event] = store.append_committed(conn, [NewEvent("a", "t", "k", "ok", {})])
    assert event.seq == 1 and verify_chain(store.events()).ok


def _damage(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET frostbyte.audit_break_glass = 'on'")
        conn.execute(statement)


@pytest.mark.parametrize(
    ("harm", "bad_seq"),
    [
        (None, None),
        ("UPDATE audit.events SET payload = '{\"i\": -1}' WHERE seq = 150", 150),
        ("UPDATE audit.events SET hash = repeat('0', 64) WHERE seq = 66", 66),  # a boundary
        ("DELETE FROM audit.events WHERE seq = 67", 68),  # first of the second range
        ("DELETE FROM audit.events WHERE seq > 190", 191),  # the tail
    ],
)
def test_verify_in_processes_agrees_with_one_pass(url: str, harm: str | None,
                                                  bad_seq: int | None) -> None:
    store = _store(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for i in range(20):
            store.append_committed(conn, [NewEvent("w", "t", "k", f"{i}-{j}", {"i": i, "j": j})
                                          for j in range(10)])
    if harm:
        _damage(url, harm)
    one_pass = verify_chain(store.events())
    # Told the size (a checkpoint's, say), it also notices a cut tail that one pass cannot.
    parallel = verify_in_processes(url, "acme", 200, workers=3)
    assert parallel.ok is (harm is None)
    assert one_pass.ok is (harm is None or bad_seq == 191)
    if harm is None:
        assert (parallel.events, parallel.head_hash) == (200, one_pass.head_hash)
    else:
        assert parallel.first_bad_seq == bad_seq, parallel
