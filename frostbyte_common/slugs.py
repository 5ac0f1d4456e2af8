"""Tenant slugs: the one rule for the name that identifies a tenant everywhere — its API
paths, database roles, Pulumi stack ``tenant-<slug>``, Hetzner resources ``fb-<slug>-*`` and
host names. Pure code, shared by the control plane and the Pulumi program in ``infra/``."""

from __future__ import annotations

import re

from frostbyte_common.errors import InvalidSlug

SLUG_MAX_LENGTH = 30
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
#: The rule as a regular expression (what OpenAPI documents as the slug's pattern).
SLUG_PATTERN = _SLUG_RE.pattern


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is a DNS label (RFC 1123) of at most 30 lowercase characters."""
    if not isinstance(slug, str) or not slug:
        raise InvalidSlug("slug must be a non-empty string")
    if len(slug) > SLUG_MAX_LENGTH:
        raise InvalidSlug(f"slug must be at most {SLUG_MAX_LENGTH} characters")
    if not _SLUG_RE.fullmatch(slug):
        raise InvalidSlug(
            "slug must be a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return slug
