"""Finding the :class:`~control_plane.providers.base.Provider` a tenant runs on."""

from __future__ import annotations

from collections.abc import Mapping

from control_plane.domain.lifecycle import Tenant
from control_plane.errors import ProviderNotAvailable
from control_plane.providers.base import Provider


def provider_for(providers: Mapping[str, Provider], tenant: Tenant) -> Provider:
    """The tenant's provider; :class:`ProviderNotAvailable` when it is not configured here."""
    provider = providers.get(tenant.provider)
    if provider is None:
        raise ProviderNotAvailable(f"provider {tenant.provider!r} is not configured")
    return provider
