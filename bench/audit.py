"""Audit-stream benchmark (see bench/README.md): appends/s with concurrent writers on a real
PostgreSQL, and verified events/s.

Uses ``--database-url`` (or ``$BENCH_DATABASE_URL``), a superuser conninfo on which it creates
and drops a scratch database; without one it starts a throwaway socket-only cluster with the
project's own code (as the test suite does) and removes it afterwards. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from data_plane.adapters.audit_store import (  # noqa: E402
    AuditStore,
    NewEvent,
    connect_rows,
    verify_in_processes,
)
from data_plane.adapters.postgres import TenantDatabase  # noqa: E402
from frostbyte_common import merkle  # noqa: E402
from frostbyte_common.audit_chain import verify_chain  # noqa: E402
from frostbyte_common.audit_export import merkle_leaves  # noqa: E402

BENCH_PG_PORT = 54337


@contextmanager
def _server(url: str | None, durable: bool) -> Iterator[str]:
    if url:
        yield url
        return
    from control_plane.local_runtime.pg_cluster import PgCluster

    root = Path(tempfile.mkdtemp(prefix="fb-pgbench-"))
    os.chmod(root, 0o755)  # noqa: PTH101 - the postgres user must reach it
    settings = {} if durable else {"fsync": "off", "synchronous_commit": "off"}
    cluster = PgCluster(root=root / "pg", socket_dir=root / "run", port=BENCH_PG_PORT,
                        settings=settings)
    try:
        cluster.init()
        cluster.start()
        yield cluster.conninfo()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _scratch_database(admin: str) -> Iterator[str]:
    name = f"fbbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = {k: str(v) for k, v in conninfo_to_dict(admin).items() if v is not None}
    params["dbname"] = name
    try:
        yield make_conninfo("", **params)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _append(conninfo: str, writers: int, per_writer: int, per_tx: int,
            how: str = "append") -> float:
    """Seconds for ``writers`` threads, each its own connection, to append ``per_writer``
    events in transactions of ``per_tx`` events: ``append`` calls inside the writer's
    transaction, one ``append_many`` call inside it, or ``append_committed`` (a transaction
    of the events' own, committed in the same round trip)."""
    store = AuditStore("bench", lambda: connect_rows(conninfo))
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with psycopg.connect(conninfo, row_factory=dict_row) as conn:
                barrier.wait()
                for start in range(0, per_writer, per_tx):
                    new = [NewEvent(actor=f"writer-{n}", event_type="document.indexed",
                                    subject_kind="document", subject_id=str(uuid.uuid4()),
                                    payload={"points": i, "batch_id": f"b{n}",
                                             "supersedes": []})
                           for i in range(start, min(start + per_tx, per_writer))]
                    if how == "append_committed":
                        store.append_committed(conn, new)
                        continue
                    with conn.transaction():
                        if how == "append_many":
                            store.append_many(conn, new)
                            continue
                        for e in new:
                            store.append(conn, actor=e.actor, event_type=e.event_type,
                                         subject_kind=e.subject_kind, subject_id=e.subject_id,
                                         payload=e.payload)
        except BaseException as exc:  # reported after the run
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events", type=int, default=2000, help="events per writer")
    parser.add_argument("--verify-workers", type=int, default=os.cpu_count() or 2,
                        help="processes for the parallel verify (default: one per CPU)")
    parser.add_argument("--durable", action="store_true",
                        help="keep fsync and synchronous_commit on in the throwaway cluster")
    args = parser.parse_args(argv)

    with _server(args.database_url, args.durable) as admin, _scratch_database(admin) as url:
        db = TenantDatabase(url, "bench", max_size=1)
        db.open()
        db.migrate()
        db.close()
        store = AuditStore("bench", lambda: connect_rows(url))
        total = args.writers * args.events
        print(f"audit append: {args.writers} concurrent writers x {args.events} events "
              f"({'durable' if args.durable else 'fsync off'} cluster unless --database-url)")
        for per_tx, how in ((1, "append"), (1, "append_committed"), (10, "append"),
                            (10, "append_many"), (10, "append_committed")):
            before = store.head()[0]
            seconds = _append(url, args.writers, args.events, per_tx, how)
            assert store.head()[0] == before + total
            print(f"  {per_tx:>2} event(s) per transaction, {how:<16}: "
                  f"{total / seconds:>10,.0f} appends/s  ({total} in {seconds:.2f} s)")

        t0 = time.perf_counter()
        streamed = verify_chain(store.iter_events())
        stream_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        events = store.events()
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        verdict = verify_chain(events)
        verify_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        root = merkle.root(merkle_leaves(e.hash for e in events))
        merkle_s = time.perf_counter() - t0
        n = len(events)
        print(f"verify: {n:,} events, chain ok={verdict.ok}, Merkle root {root.hex()[:16]}…")
        print(f"  chain recomputed (RFC 8785 + SHA-256): {n / verify_s:>10,.0f} events/s")
        print(f"  Merkle root (RFC 6962):                {n / merkle_s:>10,.0f} events/s")
        print(f"  read from PostgreSQL:                  {n / read_s:>10,.0f} events/s")
        print(f"  end to end (read + chain + Merkle):    "
              f"{n / (read_s + verify_s + merkle_s):>10,.0f} events/s")
        print(f"  streamed (read and chain in one pass): {streamed.events / stream_s:>10,.0f}"
              f" events/s (ok={streamed.ok})")
        workers = args.verify_workers
        t0 = time.perf_counter()
        parallel = verify_in_processes(url, "bench", n, workers)
        parallel_s = time.perf_counter() - t0
        print(f"  streamed in {workers} processes:            "
              f"{parallel.events / parallel_s:>10,.0f} events/s (ok={parallel.ok}, "
              f"same head: {parallel.head_hash == verdict.head_hash})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
