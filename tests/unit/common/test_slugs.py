"""Tenant slugs: DNS labels of at most 30 lowercase characters (moved from the lifecycle
tests with the rule itself)."""

from __future__ import annotations

import pytest

from frostbyte_common.errors import InvalidSlug
from frostbyte_common.slugs import SLUG_MAX_LENGTH, validate_slug


@pytest.mark.parametrize(
    "slug", ["a", "acme", "acme-corp", "a1", "1a", "x" * 30, "a-b-c-9"]
)
def test_valid_slugs(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    ["", "Acme", "acme_corp", "-acme", "acme-", "x" * 31, "ac me", "acmé", "a.b", "a/b",
     "acme\n"],
)
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(InvalidSlug) as caught:
        validate_slug(slug)
    assert (caught.value.code, caught.value.status_code) == ("INVALID_SLUG", 422)


def test_the_control_planes_invalid_slug_is_the_shared_one() -> None:
    """The API maps the control plane's error tree; the shared rule raises into it."""
    from control_plane.errors import InvalidSlug as ControlPlaneInvalidSlug

    assert ControlPlaneInvalidSlug is InvalidSlug
    assert SLUG_MAX_LENGTH == 30
