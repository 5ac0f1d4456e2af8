"""The two fast encodings of an event (field by field for verify; around the link for the
database-side append) give exactly the RFC 8785 bytes, for any strings and payloads."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785

from frostbyte_common.audit_chain import GENESIS_HASH, canonical_parts, event_hash, link_bytes

STRINGS = ["", "plain", "é ü ß", "quote\" back\\slash", "ctl\x00\x01\x1f\x7f", "\n\r\t\b\f",
           "\u2028\u2029", "\U0001f600 emoji", "</script>"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.4:
        return rng.choice([rng.choice(STRINGS), rng.randint(-(2**53) + 1, 2**53 - 1), True,
                           None, 1.5, -0.0, 2.5e-7, rng.random()])
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(STRINGS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _body(fields: dict[str, Any], occurred_at: datetime) -> dict[str, Any]:
    return {"event_id": fields["event_id"], "tenant": fields["tenant"], "seq": fields["seq"],
            "occurred_at": occurred_at.astimezone(UTC).isoformat(), "actor": fields["actor"],
            "event_type": fields["event_type"],
            "subject": {"kind": fields["subject_kind"], "id": fields["subject_id"]},
            "payload": fields["payload"], "prev_hash": fields["prev_hash"]}


@pytest.mark.parametrize("seed", range(4))
def test_both_encodings_are_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    for i in range(400):
        occurred_at = datetime(2026, 3, 1, 8, 0, 0, rng.randint(0, 999_999),
                               tzinfo=rng.choice(zones))
        fields = {"tenant": rng.choice(STRINGS), "seq": rng.randint(1, 10**12),
                  "actor": rng.choice(STRINGS), "event_type": rng.choice(STRINGS),
                  "subject_kind": rng.choice(STRINGS), "subject_id": rng.choice(STRINGS),
                  "payload": {f"k{i % 5}": _value(rng), "x": _value(rng)},
                  "prev_hash": GENESIS_HASH if i % 9 == 0 else hashlib.sha256(
                      str(i).encode()).hexdigest(),
                  "event_id": rng.choice(STRINGS)}
        expected = bytes(rfc8785.dumps(_body(fields, occurred_at)))
        assert event_hash(occurred_at=occurred_at, **fields) == hashlib.sha256(
            expected).hexdigest()
        before, after = canonical_parts(
            tenant=fields["tenant"], occurred_at=occurred_at, actor=fields["actor"],
            event_type=fields["event_type"], subject_kind=fields["subject_kind"],
            subject_id=fields["subject_id"], payload=fields["payload"],
            event_id=fields["event_id"])
        assert before + link_bytes(fields["prev_hash"], fields["seq"]) + after == expected
