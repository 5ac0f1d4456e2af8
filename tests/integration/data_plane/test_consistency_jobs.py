"""What the consistency check asks PostgreSQL's job tables (procrastinate, in the tenant
database): which documents have a job that will still run — waiting or running, on either
queue — and which have none any more (done or failed for good: stuck if still in the
pipeline)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from data_plane.adapters import jobs
from data_plane.adapters.postgres import TenantDatabase


@pytest.fixture
def db(fresh_database: str) -> Iterator[TenantDatabase]:
    database = TenantDatabase(fresh_database, "acme", max_size=2)
    database.open()
    database.migrate()
    jobs.apply_schema(fresh_database)
    try:
        yield database
    finally:
        database.close()


def test_documents_with_a_job_to_do_or_running_are_waiting(db: TenantDatabase,
                                                            fresh_database: str) -> None:
    app = jobs.build_app(fresh_database)
    processing, indexing, finished = (uuid.uuid4() for _ in range(3))
    with app.open():
        queue = jobs.ProcrastinateJobQueue(app)
        queue.enqueue_process(str(processing))
        queue.enqueue_index(str(indexing))
        queue.enqueue_process(str(finished))
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing'"
                     " WHERE args->>'document_id' = %s", (str(indexing),))
        conn.execute("UPDATE procrastinate_jobs SET status = 'failed'"
                     " WHERE args->>'document_id' = %s", (str(finished),))

    assert db.documents_with_waiting_jobs() == {processing, indexing}
