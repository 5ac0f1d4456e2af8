"""The audit archive on the local disk (:class:`~control_plane.domain.ports.AuditArchiveStore`):
a tenant's signed audit export, kept by the control plane before its deprovisioning destroys
the tenant's database (SPEC §3), so the trail outlives the tenant.

An archive is the export exactly as the data plane made it (``POST /control/v1/audit/export``,
JSON Lines, manifest first), stored at ``<state_dir>/archive/<slug>/audit-export-<UTC
timestamp>.jsonl``: written to a temporary file (0600), flushed and fsynced, then renamed in
place. It is verified offline (:mod:`frostbyte_common.audit_export`, as ``frostbyte audit
verify-export --public-key`` does) against the tenant's audit public key the control plane
recorded — not the key the export names — before it is written and again from disk after; an
export that does not verify (edited, truncated, or signed by another key) is not kept and the
caller refuses to go on.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

from control_plane.adapters.private_files import write_private
from control_plane.domain.ports import AuditArchive, AuditArchiveFailed
from frostbyte_common.audit_checkpoint import key_id_of
from frostbyte_common.audit_export import ExportVerdict, verify_export_file, verify_export_lines


def _problems(verdict: ExportVerdict) -> str:
    return "; ".join(str(p) for p in verdict.problems[:3]) or "unknown problem"


def _check(verdict: ExportVerdict, data: bytes, slug: str, trusted_public_key: str,
           chain: str | None = None) -> None:
    if not verdict.ok:
        raise AuditArchiveFailed(
            f"the audit export of tenant {slug!r} does not verify against the tenant's audit "
            f"key {key_id_of(trusted_public_key)}: {_problems(verdict)}")
    try:
        tenant = json.loads(data.split(b"\n", 1)[0])["manifest"]["tenant"]
    except (ValueError, KeyError, TypeError):
        tenant = None
    if tenant != (chain or slug):
        raise AuditArchiveFailed(f"the audit export is of tenant {tenant!r}, not "
                                 f"{chain or slug!r}")


def store_export(archive_dir: Path, slug: str, data: bytes, *, trusted_public_key: str,
                 now: datetime | None = None, audit_chain: str | None = None) -> AuditArchive:
    """Verify ``data`` (an export of ``slug``, or of ``audit_chain`` for a restored tenant)
    against ``trusted_public_key``, write it atomically (0600) under ``archive_dir/slug``
    and verify the file written. Raises :class:`AuditArchiveFailed`."""
    _check(verify_export_lines(data.splitlines(keepends=True),
                               trusted_public_key=trusted_public_key),
           data, slug, trusted_public_key, audit_chain)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = archive_dir / slug
    path = folder / f"audit-export-{stamp}.jsonl"
    try:
        write_private(path, data)
    except OSError as exc:
        raise AuditArchiveFailed(f"cannot write the audit archive of tenant {slug!r} "
                                 f"under {folder} ({exc.strerror or exc})") from None
    verdict = verify_export_file(path, trusted_public_key=trusted_public_key)
    if not verdict.ok:  # what is on disk is not what was verified: do not keep it
        with contextlib.suppress(OSError):
            path.unlink()
        _check(verdict, data, slug, trusted_public_key, audit_chain)
    return AuditArchive(path=path, head_hash=verdict.head_hash, events=verdict.events)


class FileAuditArchive:
    """Audit exports kept under ``archive_dir`` (``<state_dir>/archive``), one folder per
    tenant."""

    def __init__(self, archive_dir: Path) -> None:
        self._archive_dir = archive_dir

    def store(self, slug: str, data: bytes, *, trusted_public_key: str,
              audit_chain: str | None = None) -> AuditArchive:
        return store_export(self._archive_dir, slug, data,
                            trusted_public_key=trusted_public_key, audit_chain=audit_chain)
