"""The version policy of ``verify`` (pure): no downgrade unless asked for; same version is fine.

Versions are PEP 440 (``packaging.version``): ``0.10.0`` is newer than ``0.9.0``, and a
pre-release (``1.0.0rc1``) older than its release.
"""

from __future__ import annotations

from enum import StrEnum

from offline_bundle.errors import DowngradeRefused
from offline_bundle.manifest import parse_version


class Move(StrEnum):
    """What loading the bundle would do to the install home."""

    FIRST_INSTALL = "first install"
    UPGRADE = "upgrade"
    SAME = "same version"
    DOWNGRADE = "downgrade (allowed by --allow-downgrade)"


def check_version(candidate: str, installed: str | None, *, allow_downgrade: bool = False
                  ) -> Move:
    """The move from ``installed`` (None: nothing installed) to ``candidate``; a downgrade
    raises :class:`DowngradeRefused` unless ``allow_downgrade``."""
    if installed is None:
        return Move.FIRST_INSTALL
    new, old = parse_version(candidate), parse_version(installed)
    if new > old:
        return Move.UPGRADE
    if new == old:
        return Move.SAME
    if allow_downgrade:
        return Move.DOWNGRADE
    raise DowngradeRefused(
        f"bundle version {candidate} is older than the installed version {installed}",
        hint=f"use a bundle of version {installed} or newer; to go back to {candidate} on "
             "purpose (e.g. after a bad release), pass --allow-downgrade")
