"""The audit stream's use cases: signed checkpoints, verification, proofs, query, export.

A checkpoint signs the RFC 6962 Merkle root of the first ``tree_size`` events. One is made
when ``every_events`` events are unsigned or the oldest unsigned one is ``every_s`` old
(``checkpoint_if_due``, run periodically by the API), and on demand when a proof or an export
needs the newest events covered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from data_plane.domain.ports import AuditTrail
from data_plane.domain.records import EventFilter, NewEvent
from data_plane.errors import (
    AuditChainBroken,
    AuditEventNotFound,
    AuditRangeInvalid,
    AuditSigningKeyMissing,
)
from frostbyte_common import merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, verify_chain
from frostbyte_common.audit_checkpoint import (
    Checkpoint,
    checkpoint_problem,
    key_id_of,
    public_key_text,
    sign_checkpoint,
)
from frostbyte_common.audit_export import export_lines, manifest, merkle_leaves

log = logging.getLogger(__name__)

#: the event a secret rotation of the control plane leaves in the tenant's chain (SPEC §5.6
#: "key rotated"): its job id and what was re-issued, never a secret
SECRETS_ROTATED = "secrets.rotated"
#: the event a restore from a backup leaves at the end of the chain it continues (issue 18):
#: the source tenant, the backup and its archive's sha256, the tenant restored into
TENANT_RESTORED = "tenant.restored"


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    every_events: int = 1000
    every_s: float = 60.0


class AuditService:
    def __init__(self, store: AuditTrail, *, signing_key: Ed25519PrivateKey | None,
                 policy: CheckpointPolicy | None = None) -> None:
        self._store = store
        self._key = signing_key
        self._policy = policy or CheckpointPolicy()
        self._lock = threading.Lock()

    @property
    def tenant(self) -> str:
        return self._store.tenant

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint_now(self) -> Checkpoint | None:
        """Sign the current head unless the latest checkpoint covers it already; None for an
        empty chain."""
        with self._lock:
            size, _ = self._store.head()
            latest = self._store.latest_checkpoint()
            if size == 0 or (latest is not None and latest.tree_size >= size):
                return latest
            if self._key is None:
                raise AuditSigningKeyMissing(
                    "no audit signing key is configured (FROSTBYTE_DP_AUDIT_SIGNING_KEY_FILE)")
            leaves = self._checked_leaves(size, latest)
            checkpoint = sign_checkpoint(self._key, tenant=self.tenant, tree_size=size,
                                         root_hash=merkle.root(leaves).hex())
            self._store.add_checkpoint(checkpoint)
            return self._store.checkpoint(size)

    def _checked_leaves(self, size: int, latest: Checkpoint | None) -> list[bytes]:
        """The leaves of a checkpoint of ``size`` events, refusing to sign a damaged chain:
        the events signed before must still have their signed root, and every newer event
        must link to them and match its hash."""
        hashes = self._store.leaf_hashes(size)
        leaves = merkle_leaves(hashes)
        signed = latest.tree_size if latest else 0
        if len(hashes) != size:
            raise AuditChainBroken(f"the chain has {len(hashes)} of its {size} events")
        if latest is not None and merkle.root(leaves[:signed]).hex() != latest.root_hash:
            raise AuditChainBroken(
                f"events 1..{signed} no longer have the root their checkpoint signed")
        verdict = verify_chain(self._store.iter_events(after_seq=signed, until_seq=size),
                               start_seq=signed + 1,
                               start_hash=hashes[signed - 1] if signed else GENESIS_HASH)
        if not verdict.ok:
            raise AuditChainBroken(
                f"not signing a broken chain: seq {verdict.first_bad_seq}: {verdict.problem}")
        return leaves

    def checkpoint_if_due(self, now: datetime | None = None) -> Checkpoint | None:
        """A new checkpoint when enough events are unsigned or the oldest is old enough."""
        if self._key is None:
            return None
        size, _ = self._store.head()
        latest = self._store.latest_checkpoint()
        signed = latest.tree_size if latest else 0
        if size <= signed:
            return None
        if size - signed < self._policy.every_events:
            [oldest] = self._store.events(after_seq=signed, limit=1)
            age = ((now or datetime.now(UTC)) - oldest.occurred_at).total_seconds()
            if age < self._policy.every_s:
                return None
        return self.checkpoint_now()

    def public_key(self) -> dict[str, str]:
        """The key checkpoints are signed with: ``{"key_id", "public_key"}`` (raw 32 bytes,
        base64). The control plane records it at provisioning and verifies the tenant's
        archived export against it; it survives secret rotation."""
        if self._key is None:
            raise AuditSigningKeyMissing(
                "no audit signing key is configured (FROSTBYTE_DP_AUDIT_SIGNING_KEY_FILE)")
        public = public_key_text(self._key)
        return {"key_id": key_id_of(public), "public_key": public}

    def record_rotation(self, *, actor: str, rotation: dict[str, Any]) -> AuditEvent:
        """Append ``secrets.rotated``: the control plane's rotation job (its id, the names of
        the credentials re-issued, key ids old and new — no secret), with the audit key that
        was kept, so a verifier sees the rotation in the chain it checks."""
        payload = dict(rotation)
        if self._key is not None:
            payload["audit_key_id"] = key_id_of(public_key_text(self._key))
        return self._store.record(NewEvent(actor, SECRETS_ROTATED, "tenant", self.tenant,
                                           payload))

    def record_restored(self, *, actor: str, restore: dict[str, Any]) -> AuditEvent:
        """Append ``tenant.restored``: this data plane was brought up from a backup of the
        chain's tenant (the source, the backup id, its archive's sha256, the tenant it now
        serves), with the audit key it carried on, so the chain shows where it forked."""
        payload = dict(restore)
        if self._key is not None:
            payload["audit_key_id"] = key_id_of(public_key_text(self._key))
        return self._store.record(NewEvent(actor, TENANT_RESTORED, "tenant", self.tenant,
                                           payload))

    # -- verification ------------------------------------------------------------------------

    def verify(self) -> dict[str, Any]:
        """Recompute the chain and check every stored checkpoint against it (signature and
        Merkle root): an edit, gap, reorder, insertion, a tail cut below a signed size or a
        forged checkpoint all make ``ok`` false."""
        hashes: list[str] = []

        def remember() -> Iterator[Any]:
            for event in self._store.iter_events():
                hashes.append(event.hash)
                yield event

        verdict = verify_chain(remember())
        body: dict[str, Any] = {"ok": verdict.ok, "events": verdict.events,
                                "head_hash": verdict.head_hash}
        if not verdict.ok:
            body |= {"first_bad_seq": verdict.first_bad_seq, "problem": verdict.problem}
            return body
        checkpoints = self._store.checkpoints()
        leaves = merkle_leaves(hashes)
        own_key = public_key_text(self._key) if self._key is not None else None
        for cp in checkpoints:
            problem = checkpoint_problem(cp)
            if problem is None and own_key is not None and cp.public_key != own_key:
                problem = "signed by another key than this data plane's"
            if problem is None and cp.tree_size > len(leaves):
                problem = (f"signs {cp.tree_size} events but the chain holds {len(leaves)} "
                           "(tail removed)")
            if problem is None and merkle.root(leaves[:cp.tree_size]).hex() != cp.root_hash:
                problem = "its Merkle root is not the root of the events it covers"
            if problem is not None:
                return body | {"ok": False, "checkpoint_size": cp.tree_size,
                               "problem": f"checkpoint of size {cp.tree_size}: {problem}"}
        body["checkpoints"] = len(checkpoints)
        if checkpoints:
            body["latest_checkpoint"] = checkpoints[-1].to_json()
        return body

    # -- proofs -------------------------------------------------------------------------------

    def inclusion(self, seq: int) -> dict[str, Any]:
        """Inclusion proof of event ``seq`` against the latest checkpoint (made now when the
        latest does not cover ``seq`` yet)."""
        size, _ = self._store.head()
        if not 1 <= seq <= size:
            raise AuditEventNotFound(f"no audit event with seq {seq} (head is {size})")
        checkpoint = self._store.latest_checkpoint()
        if checkpoint is None or checkpoint.tree_size < seq:
            checkpoint = self.checkpoint_now()
        assert checkpoint is not None  # the chain holds seq, so a checkpoint was signed
        hashes = self._store.leaf_hashes(checkpoint.tree_size)
        leaves = merkle_leaves(hashes)
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "event_hash": hashes[seq - 1],
            "leaf_hash": leaves[seq - 1].hex(),
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "proof": [p.hex() for p in merkle.inclusion_proof(leaves, seq - 1)],
            "checkpoint": checkpoint.to_json(),
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """Consistency proof that the tree of ``first`` events is a prefix of the tree of
        ``second`` (normally two checkpoint sizes; their signed checkpoints are included)."""
        size, _ = self._store.head()
        if not 1 <= first <= second <= size:
            raise AuditRangeInvalid(
                f"need 1 <= from <= to <= {size} (the head), got from={first} to={second}")
        leaves = merkle_leaves(self._store.leaf_hashes(second))
        old, new = self._store.checkpoint(first), self._store.checkpoint(second)
        return {
            "from": first, "to": second,
            "from_root": merkle.root(leaves[:first]).hex(),
            "to_root": merkle.root(leaves).hex(),
            "proof": [p.hex() for p in merkle.consistency_proof(leaves, first)],
            "from_checkpoint": old.to_json() if old else None,
            "to_checkpoint": new.to_json() if new else None,
        }

    # -- query and export ----------------------------------------------------------------------

    def events(self, f: EventFilter) -> dict[str, Any]:
        page = self._store.query(f)
        return {"events": [e.to_json() for e in page],
                "next_after_seq": page[-1].seq if len(page) == f.limit else None}

    def head(self) -> dict[str, Any]:
        """The chain head and latest checkpoint (for reports)."""
        seq, digest = self._store.head()
        latest = self._store.latest_checkpoint()
        return {"head_seq": seq, "head_hash": digest,
                "latest_checkpoint": latest.to_json() if latest else None}

    def export(self, *, actor: str) -> Iterator[str]:
        """The export file's lines: the manifest, then every event up to the head, with a
        checkpoint signed now over them — or, when the stored chain is damaged and no new
        checkpoint may be signed, the latest one, so an auditor can still see where it
        breaks. The export itself is recorded as ``audit.exported``."""
        size, _ = self._store.head()
        try:
            checkpoint = self.checkpoint_now()
        except AuditChainBroken as exc:
            log.error("audit export of a damaged chain: %s", exc.message)
            checkpoint = self._store.latest_checkpoint()
        events = list(self._store.iter_events(until_seq=size))
        body = manifest(tenant=self.tenant, events=events, checkpoint=checkpoint,
                        exported_at=datetime.now(UTC).isoformat())
        self._store.record(NewEvent(
            actor, "audit.exported", "audit", self.tenant,
            {"count": len(events), "tree_size": checkpoint.tree_size if checkpoint else 0,
             "root_hash": checkpoint.root_hash if checkpoint else None}))
        return export_lines(body, events)
