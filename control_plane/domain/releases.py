"""Data-plane releases and what an update of a tenant from one to another may do — pure.

A *release* is one version of the data-plane code (PEP 440: ``0.1.0``, ``0.2.0``,
``0.1.0+hotfix1``). A tenant records the version its data plane runs; an update moves it to
another release (SPEC §3 transition 6, then back to ACTIVE) and rolls back by itself to the
one it ran when the new one does not come up healthy and reporting its version.

Schema: the data plane's migrations (``data_plane/adapters/sql/NNN_*.sql``) are
forward-only and additive. An update to a release that lacks a migration the tenant's
database has already had would run code older than its schema, so it is refused
(:class:`~control_plane.errors.SchemaAhead`, 409) before anything moves: going back across a
migration means restoring a backup taken before it. The automatic rollback of a failed update
is the exception: it returns to the code that ran on that schema a moment ago, and the
migrations the new release may have applied are additive (new tables, new nullable columns),
which the older code does not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.version import InvalidVersion as _PackagingInvalidVersion
from packaging.version import Version

from control_plane.errors import InvalidVersion, SchemaAhead

UPDATE_OPERATION = "update"  # the update job's operation (tenant_jobs.operation)

# the characters a normalised PEP 440 version may hold; also safe as a folder name
_SAFE = re.compile(r"^[0-9A-Za-z.+!-]{1,64}$")


def normalize_version(text: str) -> str:
    """The normalised PEP 440 form of ``text`` (``v1.0`` → ``1.0``);
    :class:`~control_plane.errors.InvalidVersion` (422) for anything else."""
    try:
        version = str(Version(text.strip()))
    except _PackagingInvalidVersion:
        raise InvalidVersion(f"{text!r} is not a version (PEP 440, e.g. 0.2.0 or "
                             "0.1.0+hotfix1)") from None
    if not _SAFE.match(version):
        raise InvalidVersion(f"version {text!r} is too long or holds unsafe characters")
    return version


def image_tag(version: str) -> str:
    """The container image tag of a release: the version with ``+`` (which a tag cannot
    hold) as ``-``."""
    return normalize_version(version).replace("+", "-")


def is_older(target: str, current: str) -> bool:
    """True when ``target`` sorts before ``current`` (a downgrade)."""
    return Version(target) < Version(current)


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """One update of one tenant: from the version it runs to the one asked for."""

    slug: str
    from_version: str
    to_version: str

    @property
    def downgrade(self) -> bool:
        return is_older(self.to_version, self.from_version)

    def detail(self) -> dict[str, str]:
        """What the lifecycle events of this update record."""
        return {"from_version": self.from_version, "to_version": self.to_version}


def plan_update(slug: str, current: str, target: str) -> UpdatePlan:
    """The update of ``slug`` from ``current`` to ``target``; refused (422) when the tenant
    already runs ``target``."""
    to_version = normalize_version(target)
    from_version = normalize_version(current)
    if to_version == from_version:
        raise InvalidVersion(f"tenant {slug!r} already runs version {to_version}")
    return UpdatePlan(slug, from_version, to_version)


def check_schema(plan: UpdatePlan, applied: Iterable[str], known: Iterable[str]) -> None:
    """Refuse (:class:`~control_plane.errors.SchemaAhead`, 409) an update to a release that
    does not know every migration the tenant's database has had (``applied``: script names;
    ``known``: the target release's)."""
    missing = sorted(set(applied) - set(known))
    if missing:
        raise SchemaAhead(
            f"tenant {plan.slug!r}: its database has migration(s) {', '.join(missing)} that "
            f"version {plan.to_version} does not know; its code would run on a newer schema. "
            "Going back across a migration needs a restore of a backup taken before it "
            "(`frostbyte tenants backup` / `restore`), not an update")
