"""The small services behind routes that used to reach the database themselves: the key
check (access), the listings and the canonical JSON (catalogue), readiness (health) — on
the in-memory tenant database."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, ParseStatus
from data_plane.domain.intake import DocStatus
from data_plane.domain.intake_scan import ScanVerdict
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import NewDocument
from data_plane.errors import DocumentNotFound
from data_plane.services.access import AccessService, Caller
from data_plane.services.catalogue import CatalogueService
from data_plane.services.health import HealthService
from data_plane.services.reports import ReportService
from frostbyte_common import vendor_keys
from frostbyte_common.errors import Unauthenticated, ValidationFailed
from tests.doubles.persistence import InMemoryTenantDatabase


def test_a_key_is_accepted_only_while_installed_and_only_whole() -> None:
    db = InMemoryTenantDatabase()
    access = AccessService(db)
    key = vendor_keys.generate_key()
    access.install(key.key_id, key.sha256, ["ingest", "read"], "ci")
    assert access.authenticate(key.key) == Caller(key_id=key.key_id,
                                                  scopes=frozenset({"ingest", "read"}))
    for wrong in (key.key[:-1] + ("A" if key.key[-1] != "A" else "B"), "fbk_short_x", "nope"):
        with pytest.raises(Unauthenticated):
            access.authenticate(wrong)
    assert access.revoke(key.key_id) and not access.revoke(key.key_id)
    with pytest.raises(Unauthenticated):
        access.authenticate(key.key)


@pytest.mark.parametrize("scopes", [[], ["write"], ["control", "read"]])
def test_unknown_or_mixed_scopes_are_refused(scopes: list[str]) -> None:
    db = InMemoryTenantDatabase()
    with pytest.raises(ValidationFailed, match="choose from"):
        AccessService(db).install("abcdefabcdef", "0" * 64, scopes, None)
    assert db.vendor_key("abcdefabcdef") is None


def test_the_control_credential_is_installed_alone() -> None:
    db = InMemoryTenantDatabase()
    AccessService(db).install("abcdefabcdef", "0" * 64, ["control"], "control plane")
    record = db.vendor_key("abcdefabcdef")
    assert record is not None and record.scopes == ("control",)


def _doc(name: str, *, stored: bool = True, ordinal: int = 0) -> NewDocument:
    sha = hashlib.sha256(name.encode()).hexdigest()
    return NewDocument(
        document_id=uuid.uuid4(), ordinal=ordinal, name=name, sha256=sha, declared_sha256=sha,
        size=len(name), declared_type=None, mime_type="text/plain", metadata={},
        status=DocStatus.ACCEPTED if stored else DocStatus.REJECTED, reason=None,
        stored=stored, duplicate_of=None, raw_key=f"raw/{sha}" if stored else None)


def _catalogue(db: InMemoryTenantDatabase, tmp_path: Path) -> CatalogueService:
    store = FilesystemObjectStore(tmp_path / "objects")
    return CatalogueService(db, store, ReportService(db, embedding_model={}))


def test_listings_are_newest_first_and_paged(tmp_path: Path) -> None:
    db = InMemoryTenantDatabase()
    catalogue = _catalogue(db, tmp_path)
    batches = []
    for i in range(3):
        batches.append(uuid.uuid4())
        db.record_batch(batch_id=batches[-1], client_ref=f"r{i}", idempotency_key=None,
                        key_id="k", documents=[_doc(f"{i}.txt"),
                                               _doc(f"{i}-bad.txt", stored=False, ordinal=1)])
    listed = catalogue.batches(limit=2, offset=0)
    assert [b["batch_id"] for b in listed] == [str(batches[2]), str(batches[1])]
    assert [d["name"] for d in listed[0]["documents"]] == ["2.txt", "2-bad.txt"]
    assert [b["client_ref"] for b in catalogue.batches(limit=2, offset=2)] == ["r0"]
    documents = catalogue.documents(limit=10, offset=0)
    assert [d["name"] for d in documents] == ["2.txt", "1.txt", "0.txt"]  # stored ones only
    assert set(documents[0]) == {
        "document_id", "batch_id", "parent_document_id", "name", "sha256", "mime_type",
        "status", "reason", "title", "parser", "parse_status", "page_count", "chunk_count",
        "created_at"}


def test_the_canonical_json_is_served_once_parsed(tmp_path: Path) -> None:
    db = InMemoryTenantDatabase()
    catalogue = _catalogue(db, tmp_path)
    new = _doc("a.txt")
    db.record_batch(batch_id=uuid.uuid4(), client_ref="r", idempotency_key=None, key_id="k",
                    documents=[new])
    with pytest.raises(DocumentNotFound):
        catalogue.canonical_json(new.document_id)  # received, not parsed yet
    with pytest.raises(DocumentNotFound):
        catalogue.canonical_json(uuid.uuid4())
    doc = CanonicalDocument(
        document_id=str(new.document_id), tenant="acme", source_sha256="0" * 64,
        source_name="a.txt", mime_type="text/plain", parser="double", parser_version="1",
        status=ParseStatus.SUCCESS, title="A", page_count=1,
        elements=(Element(index=0, type=ElementType.PARAGRAPH, text="hello"),))
    key = f"canonical/{new.document_id}.json"
    FilesystemObjectStore(tmp_path / "objects").put_bytes(key, b'{"parsed": true}')
    db.mark_processing(new.document_id)
    assert db.save_chunks(new.document_id, doc, key, [], [], ModelInfo("m", "1", 3), {})
    assert catalogue.canonical_json(new.document_id) == b'{"parsed": true}'


class _Scanner:
    def __init__(self, up: bool) -> None:
        self.up = up

    def scan(self, path: Path) -> ScanVerdict:
        return ScanVerdict()

    def ping(self) -> bool:
        return self.up


class _Database:
    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer

    def ping(self) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_readiness_names_each_dependency() -> None:
    assert HealthService(_Database(True), None).checks() == {"model": True, "database": True}
    down = HealthService(_Database(OSError("connection refused")), _Scanner(up=False))
    assert down.checks() == {"model": True, "database": False, "scanner": False}
    assert down.scanner_configured
