"""The audit export format and its offline verifier (pure: no database, no network).

An export is one JSON Lines file: line 1 is ``{"manifest": {...}}``, every further line
one event (``AuditEvent.to_json``) in sequence order. The manifest names the tenant, the
event count, first/last seq, the head hash, the latest signed checkpoint (which covers
exactly the exported events) and the public key that signed it.

``verify_export`` checks, without trusting anything in the file but the key:
every line parses; the chain links and every hash matches its content; the manifest's
counts and head agree with the events; the checkpoint's Ed25519 signature holds; and the
RFC 6962 Merkle root of the events equals the signed root. Each problem names the line,
the seq and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frostbyte_common import merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, event_hash
from frostbyte_common.audit_checkpoint import Checkpoint, checkpoint_problem

FORMAT = "frostbyte-audit-export/1"


def manifest(*, tenant: str, events: list[AuditEvent], checkpoint: Checkpoint | None,
             exported_at: str) -> dict[str, Any]:
    """The manifest of an export of ``events`` (seq 1..n)."""
    return {
        "format": FORMAT,
        "tenant": tenant,
        "exported_at": exported_at,
        "count": len(events),
        "first_seq": events[0].seq if events else None,
        "last_seq": events[-1].seq if events else None,
        "head_hash": events[-1].hash if events else GENESIS_HASH,
        "checkpoint": checkpoint.to_json() if checkpoint else None,
        "public_key": checkpoint.public_key if checkpoint else None,
    }


def export_lines(manifest_body: dict[str, Any], events: Iterable[AuditEvent]) -> Iterator[str]:
    """The export file, line by line (each ends with a newline)."""
    yield json.dumps({"manifest": manifest_body}, sort_keys=True) + "\n"
    for event in events:
        yield json.dumps(event.to_json(), sort_keys=True, ensure_ascii=False) + "\n"


def merkle_leaves(hashes: Iterable[str]) -> list[bytes]:
    """The Merkle leaf hashes of event hashes (hex), in sequence order."""
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    line: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        return (", ".join(where) + ": " if where else "") + self.what


@dataclass
class ExportVerdict:
    ok: bool = True
    events: int = 0
    verified_events: int = 0
    head_hash: str = GENESIS_HASH
    checkpoint_size: int | None = None
    key_id: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def fail(self, what: str, *, line: int | None = None, seq: int | None = None) -> None:
        self.ok = False
        self.problems.append(Problem(what, line, seq))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "verified_events": self.verified_events,
                "head_hash": self.head_hash, "checkpoint_size": self.checkpoint_size,
                "key_id": self.key_id,
                "problems": [{"line": p.line, "seq": p.seq, "what": p.what}
                             for p in self.problems]}


def verify_export_file(path: Path, *, trusted_public_key: str | None = None) -> ExportVerdict:
    """Verify an export file offline (see the module docstring)."""
    with path.open("rb") as fh:
        return verify_export_lines(fh, trusted_public_key=trusted_public_key)


def verify_export_lines(lines: Iterable[bytes | str], *, trusted_public_key: str | None = None
                        ) -> ExportVerdict:
    verdict = ExportVerdict()
    head: dict[str, Any] | None = None
    events: list[tuple[int, AuditEvent]] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = "" if text.endswith("\n") else " (no newline at its end: file truncated?)"
            verdict.fail(f"not valid JSON ({exc.msg}){cut}", line=number)
            continue
        if number == 1:
            if not isinstance(record, dict) or not isinstance(record.get("manifest"), dict):
                verdict.fail("the first line is not the export manifest", line=1)
            else:
                head = record["manifest"]
            continue
        if not isinstance(record, dict):
            verdict.fail("not an event object", line=number)
            continue
        try:
            events.append((number, AuditEvent.from_json(record)))
        except (KeyError, TypeError, ValueError) as exc:
            verdict.fail(f"malformed event ({type(exc).__name__}: {exc})", line=number,
                         seq=record.get("seq") if isinstance(record.get("seq"), int) else None)
    verdict.events = len(events)
    if head is None:
        if not any(p.line == 1 for p in verdict.problems):
            verdict.fail("the file is empty: no manifest")
        return verdict
    if head.get("format") != FORMAT:
        verdict.fail(f"unknown export format {head.get('format')!r}; expected {FORMAT!r}",
                     line=1)
    _verify_chain(verdict, events, tenant=head.get("tenant"))
    _verify_manifest(verdict, head, events)
    _verify_checkpoint(verdict, head, events, trusted_public_key)
    return verdict


def _verify_chain(verdict: ExportVerdict, events: list[tuple[int, AuditEvent]],
                  *, tenant: object) -> None:
    prev = GENESIS_HASH
    for expected, (line, ev) in enumerate(events, start=1):
        if ev.tenant != tenant:
            verdict.fail(f"event of tenant {ev.tenant!r} in the export of {tenant!r}",
                         line=line, seq=ev.seq)
            return
        if ev.seq != expected:
            how = ("events missing (deleted) or moved" if ev.seq > expected
                   else "an event repeated, inserted or moved")
            verdict.fail(f"expected seq {expected}, found seq {ev.seq}: {how}", line=line,
                         seq=ev.seq)
            return
        if ev.prev_hash != prev:
            verdict.fail("prev_hash does not link to the previous event's hash "
                         "(an event before it was removed, inserted or changed)",
                         line=line, seq=ev.seq)
            return
        recomputed = event_hash(tenant=ev.tenant, seq=ev.seq, occurred_at=ev.occurred_at,
                                actor=ev.actor, event_type=ev.event_type,
                                subject_kind=ev.subject_kind, subject_id=ev.subject_id,
                                payload=ev.payload, prev_hash=ev.prev_hash,
                                event_id=ev.event_id)
        if recomputed != ev.hash:
            verdict.fail("content does not match its hash (event edited)", line=line,
                         seq=ev.seq)
            return
        prev = ev.hash
        verdict.verified_events = expected
    verdict.head_hash = prev


def _verify_manifest(verdict: ExportVerdict, head: dict[str, Any],
                     events: list[tuple[int, AuditEvent]]) -> None:
    if head.get("count") != len(events):
        verdict.fail(f"the manifest counts {head.get('count')} events, the file holds "
                     f"{len(events)}" + (" (truncated or lines dropped)"
                                         if isinstance(head.get("count"), int)
                                         and head["count"] > len(events) else ""), line=1)
    first = events[0][1].seq if events else None
    last = events[-1][1].seq if events else None
    if head.get("first_seq") != first:
        verdict.fail(f"manifest first_seq {head.get('first_seq')} but the first event is "
                     f"seq {first}", line=1)
    if head.get("last_seq") != last:
        verdict.fail(f"manifest last_seq {head.get('last_seq')} but the last event is "
                     f"seq {last}", line=1)
    actual_head = events[-1][1].hash if events else GENESIS_HASH
    if head.get("head_hash") != actual_head:
        verdict.fail("manifest head_hash is not the hash of the last event", line=1)


def _verify_checkpoint(verdict: ExportVerdict, head: dict[str, Any],
                       events: list[tuple[int, AuditEvent]],
                       trusted_public_key: str | None) -> None:
    raw = head.get("checkpoint")
    if raw is None:
        if events:
            verdict.fail("the manifest carries no signed checkpoint", line=1)
        return
    try:
        checkpoint = Checkpoint.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        verdict.fail(f"the manifest's checkpoint is malformed ({exc})", line=1)
        return
    verdict.checkpoint_size = checkpoint.tree_size
    verdict.key_id = checkpoint.key_id
    if head.get("public_key") != checkpoint.public_key:
        verdict.fail("the manifest's public_key is not the checkpoint's key", line=1)
    problem = checkpoint_problem(
        checkpoint, trusted_public_key=trusted_public_key or head.get("public_key"))
    if problem:
        verdict.fail(f"checkpoint of size {checkpoint.tree_size}: {problem}", line=1)
    if checkpoint.tenant != head.get("tenant"):
        verdict.fail(f"checkpoint of tenant {checkpoint.tenant!r}", line=1)
    if checkpoint.tree_size > len(events):
        verdict.fail(f"the signed checkpoint covers {checkpoint.tree_size} events, the file "
                     f"holds {len(events)} (truncated tail)", line=1)
        return
    leaves = merkle_leaves(ev.hash for _, ev in events[:checkpoint.tree_size])
    if merkle.root(leaves).hex() != checkpoint.root_hash:
        verdict.fail(f"the Merkle root of events 1..{checkpoint.tree_size} is not the signed "
                     "root (events changed, dropped or reordered)", line=1)
