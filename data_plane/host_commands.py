"""The composition root's share for the one-shot host commands (``migrate``,
``prepare-database``, ``add-vendor-key``, ``revoke-vendor-key``): what they build, and only
the modules they need.

Kept apart from :mod:`data_plane.wiring`, which imports every service and adapter of the
API and the worker (~1.4 s of CPU for an interpreter): the local provider runs ``migrate``
at every tenant start and ``add-vendor-key`` for its control key, so tenants provisioned
together would pay that import for each (issue 18's density). :mod:`data_plane.wiring`
re-exports these functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import SecretStr

from data_plane.adapters.postgres import TenantDatabase
from data_plane.services.access import AccessService

if TYPE_CHECKING:
    from data_plane.settings import DataPlaneSettings


@contextlib.contextmanager
def one_connection_database(settings: DataPlaneSettings) -> Iterator[TenantDatabase]:
    """A one-connection tenant database for a host command."""
    db = TenantDatabase(settings.database_url.get_secret_value(),
                        settings.audit_chain or settings.tenant, max_size=1)
    db.open()
    try:
        yield db
    finally:
        db.close()


def migrate(settings: DataPlaneSettings) -> dict[str, object]:
    """Apply the tenant schema and the job queue's; grant the service role its share when
    one is named. What was done, as the command prints it."""
    from data_plane.adapters import jobs  # procrastinate: for migrate only

    with one_connection_database(settings) as db:
        db.migrate()
    conninfo = settings.database_url.get_secret_value()
    installed = jobs.apply_schema(conninfo)
    if settings.service_role:
        import psycopg

        from data_plane.adapters.audit_store import grant_service_role

        with psycopg.connect(conninfo, autocommit=True) as conn:
            grant_service_role(conn, settings.service_role)
    return {"migrated": True, "queue_schema_installed": installed,
            "service_role": settings.service_role}


def prepare_database(settings: DataPlaneSettings, admin_url: SecretStr) -> dict[str, object]:
    """On a host running the tenant's own PostgreSQL: make the service role and database as
    the superuser (``admin_url``), then migrate as that superuser on the tenant database,
    granting the service role its share."""
    from data_plane.adapters.database_setup import prepare_database as make_role_and_database

    tenant_admin, role = make_role_and_database(admin_url.get_secret_value(),
                                                settings.database_url.get_secret_value())
    return migrate(settings.model_copy(update={"database_url": SecretStr(tenant_admin),
                                               "service_role": role}))


@contextlib.contextmanager
def key_admin(settings: DataPlaneSettings) -> Iterator[AccessService]:
    """The installed keys, for ``add-vendor-key`` / ``revoke-vendor-key``."""
    with one_connection_database(settings) as db:
        yield AccessService(db)
