"""The audit hash chain detects every edit, gap and reorder."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785

from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, event_hash, verify_chain


def _chain(n: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev = GENESIS_HASH
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        fields = dict(tenant="acme", seq=seq, occurred_at=t0 + timedelta(seconds=seq),
                      actor="worker", event_type="document.indexed", subject_kind="document",
                      subject_id=f"d{seq}", payload={"points": seq}, prev_hash=prev)
        digest = event_hash(**fields)  # type: ignore[arg-type]
        events.append(AuditEvent(**fields, hash=digest))  # type: ignore[arg-type]
        prev = digest
    return events


def test_intact_chain_verifies_and_reports_head() -> None:
    events = _chain(5)
    verdict = verify_chain(events)
    assert verdict.ok and verdict.events == 5 and verdict.head_hash == events[-1].hash


def test_empty_chain_is_ok_with_genesis_head() -> None:
    assert verify_chain([]).head_hash == GENESIS_HASH


@pytest.mark.parametrize(
    ("mutate", "bad_seq"),
    [
        (lambda ev: ev[:2] + ev[3:], 4),  # gap
        (lambda ev: [ev[0], ev[2], ev[1], *ev[3:]], 3),  # reorder
        (lambda ev: [*ev[:2], dataclasses.replace(ev[2], payload={"points": 99}), *ev[3:]], 3),
        (lambda ev: [*ev[:1], dataclasses.replace(ev[1], actor="mallory"), *ev[2:]], 2),
    ],
    ids=["gap", "reorder", "payload-edit", "actor-edit"],
)
def test_tampering_is_located(mutate, bad_seq) -> None:  # type: ignore[no-untyped-def]
    verdict = verify_chain(mutate(_chain(5)))
    assert not verdict.ok
    assert verdict.first_bad_seq == bad_seq


def _random_value(rng: random.Random, depth: int = 0) -> object:
    alphabet = ["a", "Z", "é", "ß", "\u00e9", "\u2028", "\x00", "\x1f", "\x7f", '"', "\\",
                "\ud7ff", "\ue000", "\uffff", "😀", "𝄞", " ", "/", "\n", "\t"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([
            text(), rng.randint(-(2**53) + 1, 2**53 - 1), rng.randint(-5, 5), True, False, None,
            2**60, rng.random() * 10 ** rng.randint(-30, 30), 1.0, -0.0, 1e21,
        ])
    if roll < 0.6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_event_hash_is_the_hash_of_rfc8785_for_any_payload() -> None:
    """The fast encoder path must give the same bytes as the RFC 8785 library, whatever the
    payload holds (unicode keys, control characters, big integers, floats)."""
    rng = random.Random(8785)
    t0 = datetime(2026, 1, 1, 12, 30, 1, 123456, tzinfo=UTC)
    for i in range(3000):
        payload = {f"k{i % 7}": _random_value(rng), "x": _random_value(rng)}
        fields = dict(tenant="acme", seq=i + 1, occurred_at=t0, actor="w", event_type="t",
                      subject_kind="document", subject_id="d", payload=payload,
                      prev_hash=GENESIS_HASH, event_id="e")
        body = {"event_id": "e", "tenant": "acme", "seq": i + 1,
                "occurred_at": t0.isoformat(), "actor": "w", "event_type": "t",
                "subject": {"kind": "document", "id": "d"}, "payload": payload,
                "prev_hash": GENESIS_HASH}
        try:
            expected = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
        except rfc8785.CanonicalizationError:
            with pytest.raises(rfc8785.CanonicalizationError):
                event_hash(**fields)  # type: ignore[arg-type]
            continue
        assert event_hash(**fields) == expected, payload  # type: ignore[arg-type]
