"""The per-tenant SHA-256 hash chain of audit events (pure; storage lives in each plane).

Each event's hash covers the RFC 8785 canonical JSON of all its fields (event id, tenant,
sequence, time, actor, type, subject, payload) and the previous event's hash, so editing,
dropping, inserting or reordering any event breaks the chain from that point on.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from frostbyte_common.canonical_json import canonical_bytes

GENESIS_HASH = "0" * 64
_sha256 = hashlib.sha256


def uuid7(*, unix_ms: int | None = None) -> uuid.UUID:
    """A UUID version 7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then 74 random bits, so
    ids sort by creation time. (The standard library has ``uuid.uuid7`` only from 3.14.)"""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b (62 bits)
    return uuid.UUID(int=value)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One link of the chain. ``payload`` carries ids and hashes, never document text."""

    tenant: str
    seq: int
    occurred_at: datetime
    actor: str
    event_type: str
    subject_kind: str
    subject_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    event_id: str = ""

    def body(self) -> dict[str, Any]:
        """The hashed fields (everything except ``hash``) as a JSON-ready dict."""
        return _body(event_id=self.event_id, tenant=self.tenant, seq=self.seq,
                     occurred_at=self.occurred_at, actor=self.actor, event_type=self.event_type,
                     subject_kind=self.subject_kind, subject_id=self.subject_id,
                     payload=self.payload, prev_hash=self.prev_hash)

    def to_json(self) -> dict[str, Any]:
        """The event as exported (JSON Lines): the hashed body plus ``hash``."""
        return self.body() | {"hash": self.hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEvent:
        """Parse an exported event; raises ``KeyError``/``TypeError``/``ValueError`` on a
        malformed one."""
        subject = data["subject"]
        occurred_at = datetime.fromisoformat(data["occurred_at"])
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at has no time zone")
        payload = data["payload"]
        if not isinstance(payload, dict) or not isinstance(subject, dict):
            raise TypeError("payload and subject must be objects")
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise TypeError("seq must be an integer")
        return cls(tenant=str(data["tenant"]), seq=seq, occurred_at=occurred_at,
                   actor=str(data["actor"]), event_type=str(data["event_type"]),
                   subject_kind=str(subject["kind"]), subject_id=str(subject["id"]),
                   payload=payload, prev_hash=str(data["prev_hash"]), hash=str(data["hash"]),
                   event_id=str(data["event_id"]))


def _body(*, event_id: str, tenant: str, seq: int, occurred_at: datetime, actor: str,
          event_type: str, subject_kind: str, subject_id: str, payload: dict[str, Any],
          prev_hash: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tenant": tenant,
        "seq": seq,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "actor": actor,
        "event_type": event_type,
        "subject": {"kind": subject_kind, "id": subject_id},
        "payload": payload,
        "prev_hash": prev_hash,
    }


_MAX_SAFE_INT = 2**53 - 1
_JSON_STR: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.encode_basestring)


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)``, built once: ``JSONEncoder.encode`` builds a new C encoder on every
    call, which costs more than encoding a small payload."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
                                separators=(",", ":")).encode
    encoder = make(None, None, _JSON_STR, None, ":", ",", True, False, False)

    def encode(value: Any) -> str:
        if type(value) is str:
            return _JSON_STR(value)
        return "".join(encoder(value, 0))

    return encode


_dumps = _json_encoder()


def _plain(value: Any) -> bool:
    """True when ``json.dumps(sort_keys=True)`` writes exactly RFC 8785 for ``value``: no
    floats (number formatting differs), integers within IEEE-754's exact range, and no key
    with a character from U+D800 up (UTF-16 and code-point key orders agree below it).
    Scalars inside containers are checked inline: this runs once per event in verify."""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or max(k) < "\ud800"):
                return False
            if not _plain_item(v):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain_item(v) for v in value)
    return _plain_item(value)


def _plain_item(v: Any) -> bool:
    kind = type(v)
    if kind is str or v is None or kind is bool:
        return True
    if kind is int:
        return bool(-_MAX_SAFE_INT <= v <= _MAX_SAFE_INT)
    if kind is dict or kind is list or kind is tuple:
        return _plain(v)
    return False


def _canonical_fields(event_id: str, tenant: str, seq: int, occurred_at: str, actor: str,
                      event_type: str, subject_kind: str, subject_id: str,
                      payload: dict[str, Any], prev_hash: str) -> bytes:
    """RFC 8785 bytes of an event body (``_body``), written field by field in RFC 8785's
    key order — the same bytes as encoding the dict, without building or sorting it. The C
    JSON encoder is used where it provably agrees with RFC 8785 (the common case, many times
    faster), the ``rfc8785`` library otherwise. Only the payload and seq vary in type; every
    other field is a string under an ASCII key."""
    if type(seq) is not int or not _plain(payload) or not -_MAX_SAFE_INT <= seq <= _MAX_SAFE_INT:
        return canonical_bytes(_body_of(event_id, tenant, seq, occurred_at, actor, event_type,
                                        subject_kind, subject_id, payload, prev_hash))
    s = _JSON_STR
    return (f'{{"actor":{s(actor)},"event_id":{s(event_id)},"event_type":{s(event_type)},'
            f'"occurred_at":{s(occurred_at)},"payload":{_dumps(payload)},'
            f'"prev_hash":{s(prev_hash)},"seq":{seq},'
            f'"subject":{{"id":{s(subject_id)},"kind":{s(subject_kind)}}},'
            f'"tenant":{s(tenant)}}}').encode()


def link_bytes(prev_hash: str, seq: int) -> bytes:
    """The part of an event's canonical form that links it into the chain (RFC 8785 puts
    ``prev_hash`` and ``seq`` next to each other); ``canonical_parts`` gives the rest."""
    return f'"prev_hash":{_JSON_STR(prev_hash)},"seq":{seq}'.encode()


def canonical_parts(*, tenant: str, occurred_at: datetime, actor: str, event_type: str,
                    subject_kind: str, subject_id: str, payload: dict[str, Any],
                    event_id: str) -> tuple[bytes, bytes]:
    """``(before, after)`` such that an event's canonical bytes are ``before +
    link_bytes(prev_hash, seq) + after``: everything but the link can be encoded before
    the chain's head is known, so the link and the hash can be made where the head is read
    (in the database, under the append lock — see ``audit_store.py``)."""
    when = _time_text(occurred_at)
    if _plain(payload):
        s = _JSON_STR
        return (f'{{"actor":{s(actor)},"event_id":{s(event_id)},"event_type":{s(event_type)},'
                f'"occurred_at":{s(when)},"payload":{_dumps(payload)},').encode(), (
                f',"subject":{{"id":{s(subject_id)},"kind":{s(subject_kind)}}},'
                f'"tenant":{s(tenant)}}}').encode()
    # Rare (floats, big integers, exotic keys): let the library encode the whole body with a
    # link no payload can contain, and cut it out (the last occurrence is the top-level one:
    # keys sort, and a string's quotes are escaped).
    marker = uuid.uuid4().hex
    link = link_bytes(marker, 1)
    whole = canonical_bytes(_body_of(event_id, tenant, 1, when, actor, event_type,
                                     subject_kind, subject_id, payload, marker))
    before, found, after = whole.rpartition(link)
    if not found:  # pragma: no cover - RFC 8785 always writes the sorted keys this way
        raise ValueError("cannot split the canonical form of an event around its link")
    return before, after


def _body_of(event_id: str, tenant: str, seq: int, occurred_at: str, actor: str,
             event_type: str, subject_kind: str, subject_id: str, payload: dict[str, Any],
             prev_hash: str) -> dict[str, Any]:
    return {"event_id": event_id, "tenant": tenant, "seq": seq, "occurred_at": occurred_at,
            "actor": actor, "event_type": event_type,
            "subject": {"kind": subject_kind, "id": subject_id}, "payload": payload,
            "prev_hash": prev_hash}


def _canonical(body: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of an event body as ``_body`` builds it."""
    subject = body["subject"]
    return _canonical_fields(body["event_id"], body["tenant"], body["seq"],
                             body["occurred_at"], body["actor"], body["event_type"],
                             subject["kind"], subject["id"], body["payload"],
                             body["prev_hash"])


def _time_text(occurred_at: datetime) -> str:
    if occurred_at.tzinfo is UTC:
        return occurred_at.isoformat()
    return occurred_at.astimezone(UTC).isoformat()


def event_hash(
    *,
    tenant: str,
    seq: int,
    occurred_at: datetime,
    actor: str,
    event_type: str,
    subject_kind: str,
    subject_id: str,
    payload: dict[str, Any],
    prev_hash: str,
    event_id: str = "",
) -> str:
    """The hash of one event over its canonical form."""
    return _sha256(_canonical_fields(
        event_id, tenant, seq, _time_text(occurred_at), actor, event_type, subject_kind,
        subject_id, payload, prev_hash)).hexdigest()


def _hash_of(event: AuditEvent) -> str:
    """``event_hash`` of an event as stored, without building keyword arguments."""
    return _sha256(_canonical_fields(
        event.event_id, event.tenant, event.seq, _time_text(event.occurred_at), event.actor,
        event.event_type, event.subject_kind, event.subject_id, event.payload,
        event.prev_hash)).hexdigest()


def next_event(*, tenant: str, seq: int, prev_hash: str, actor: str, event_type: str,
               subject_kind: str, subject_id: str, payload: dict[str, Any],
               occurred_at: datetime | None = None) -> AuditEvent:
    """Build the event that follows ``(seq - 1, prev_hash)``: a fresh UUIDv7 id, the time
    now (microseconds, which survive ``timestamptz``) and its hash."""
    now = occurred_at or datetime.now(UTC)
    event_id = str(uuid7())
    digest = event_hash(tenant=tenant, seq=seq, occurred_at=now, actor=actor,
                        event_type=event_type, subject_kind=subject_kind,
                        subject_id=subject_id, payload=payload, prev_hash=prev_hash,
                        event_id=event_id)
    return AuditEvent(tenant, seq, now, actor, event_type, subject_kind, subject_id, payload,
                      prev_hash, digest, event_id)


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    events: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(events: Iterable[AuditEvent], *, start_seq: int = 1,
                 start_hash: str = GENESIS_HASH) -> ChainVerdict:
    """Recompute the chain; report the first gap, reorder, insertion or edit.

    ``events`` counts the events that verified before the first problem."""
    prev = start_hash
    count = 0
    for expected_seq, event in enumerate(events, start=start_seq):
        if event.seq != expected_seq:
            what = "missing" if event.seq > expected_seq else "out of order or repeated"
            return ChainVerdict(False, count, prev, event.seq,
                                f"expected seq {expected_seq}, found {event.seq} "
                                f"(events {what})")
        if event.prev_hash != prev:
            return ChainVerdict(False, count, prev, event.seq,
                                "prev_hash does not link to the previous event's hash")
        if event.hash != _hash_of(event):
            return ChainVerdict(False, count, prev, event.seq,
                                "hash does not match the event's content (edited)")
        prev = event.hash
        count += 1
    return ChainVerdict(True, count, prev)
