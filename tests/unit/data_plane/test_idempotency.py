"""The pure rules of ``Idempotency-Key`` (``data_plane/domain/idempotency.py``): what a key
may be (checked before a byte of the body is read), the manifest hash a key is bound to,
and when a second request under a key is a replay or a conflict."""

from __future__ import annotations

import json
import uuid

import pytest

from data_plane.domain.idempotency import (
    IdempotentBatch,
    checked_key,
    is_replay,
    manifest_sha256,
)
from data_plane.domain.intake import Manifest
from data_plane.errors import IdempotencyKeyInvalid, IdempotencyKeyReused

SHA = "a" * 64


@pytest.mark.parametrize("key", [
    "idem-1", str(uuid.uuid4()), "k" * 255, '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    "01HZX3V1QK9D8W6Y2N4T5R7B0C", "dGVzdA==/+_~.:@!"])
def test_usable_keys_pass(key: str) -> None:
    assert checked_key(key) == key


def test_no_header_is_no_key() -> None:
    assert checked_key(None) is None


@pytest.mark.parametrize(("key", "why"), [
    ("k" * 256, "256 characters long; the limit is 255"),
    ("k" * 8192, "8192 characters long"),
    ("", "1 to 255 visible ASCII"),
    ("two words", "visible ASCII"),
    ("nul\x00", "visible ASCII"),
    ("tab\tkey", "visible ASCII"),
    ("clé", "visible ASCII"),  # latin-1 bytes as Starlette decodes a header
    ("zero\u200bwidth", "visible ASCII"),
])
def test_unusable_keys_are_a_400_with_a_reason(key: str, why: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid) as refused:
        checked_key(key)
    assert refused.value.status_code == 400
    assert refused.value.code == "INVALID_IDEMPOTENCY_KEY"
    assert why in refused.value.message
    assert refused.value.message.isascii() and len(refused.value.message) < 300


def _manifest(text: str) -> Manifest:
    return Manifest.model_validate_json(text)


def test_the_same_manifest_spelt_otherwise_has_the_same_hash() -> None:
    compact = json.dumps({"client_ref": "r", "files": [
        {"name": "a.pdf", "sha256": SHA, "size": 3, "metadata": {"b": 1, "a": 2}}]})
    spaced = ('{ "files": [ {"size": 3, "metadata": {"a": 2, "b": 1}, "name": "a.pdf",'
              f' "sha256": "{SHA.upper()}"}} ],  "client_ref": "r" }}')
    assert manifest_sha256(_manifest(compact)) == manifest_sha256(_manifest(spaced))


@pytest.mark.parametrize("change", [
    {"name": "b.pdf"}, {"sha256": "b" * 64}, {"size": 4}, {"metadata": {"k": "v"}},
    {"declared_type": "application/pdf"}])
def test_any_change_to_a_file_changes_the_hash(change: dict[str, object]) -> None:
    entry: dict[str, object] = {"name": "a.pdf", "sha256": SHA, "size": 3}
    first = _manifest(json.dumps({"client_ref": "r", "files": [entry]}))
    other = _manifest(json.dumps({"client_ref": "r", "files": [entry | change]}))
    assert manifest_sha256(first) != manifest_sha256(other)


def test_a_replay_needs_a_live_key_and_the_same_manifest() -> None:
    batch = uuid.uuid4()
    assert is_replay(None, "h1") is False
    assert is_replay(IdempotentBatch(batch, "h1"), "h1") is True
    # a key recorded before keys were bound replays whatever comes under it
    assert is_replay(IdempotentBatch(batch, None), "h2") is True
    with pytest.raises(IdempotencyKeyReused) as refused:
        is_replay(IdempotentBatch(batch, "h1"), "h2")
    assert refused.value.status_code == 409 and str(batch) in refused.value.message
