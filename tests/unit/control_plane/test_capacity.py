"""The capacity arithmetic (control_plane.domain.capacity) and the names the local provider
derives for a tenant's Unix account and control channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.adapters.data_plane_control import unix_socket_of, unix_socket_url
from control_plane.adapters.unix_accounts import account_name
from control_plane.domain.capacity import (
    CONNECTIONS_PER_TENANT,
    HostMeasures,
    PoolBudget,
    TenantNeeds,
    free_connections,
    shortfalls,
    tenants_that_fit,
)
from control_plane.providers.local import process_env

GIB = 1024 ** 3


def host(max_connections: int = 300, existing: int = 0, memory: int = 8 * GIB) -> HostMeasures:
    return HostMeasures(max_connections=max_connections, reserved_connections=3,
                        existing_tenants=existing, memory_available_bytes=memory)


def test_a_tenant_takes_both_processes_budgets_their_listeners_and_one_shot_commands(
) -> None:
    # API: database 4 + queue 2; worker: 2 + 2; a LISTEN each; migrate/add-vendor-key 2
    assert CONNECTIONS_PER_TENANT == PoolBudget().per_tenant == (4 + 2) + (2 + 2) + 2 + 2


def test_twenty_tenants_fit_the_project_cluster() -> None:
    # issue 18: 20 local tenants on the project's cluster (max_connections 300, 3 reserved)
    assert tenants_that_fit(300, 3, TenantNeeds()) == 20
    assert tenants_that_fit(100, 3, TenantNeeds()) == 6  # PostgreSQL's default
    assert tenants_that_fit(10, 3, TenantNeeds()) == 0


def test_each_process_is_told_its_share_of_the_budget() -> None:
    budget = PoolBudget(api_db=5, api_queue=3, worker_db=2, worker_queue=1)
    assert process_env("api", 300.0, budget) == {
        "FROSTBYTE_DP_DB_POOL_MAX_SIZE": "5", "FROSTBYTE_DP_QUEUE_POOL_MAX_SIZE": "3",
        "FROSTBYTE_DP_IDLE_STOP_S": "300.0"}
    assert process_env("worker", 0.0, budget)["FROSTBYTE_DP_DB_POOL_MAX_SIZE"] == "2"
    assert budget.per_tenant == 5 + 3 + 2 + 1 + 2 + 2
    with pytest.raises(ValueError, match="no pool budget"):
        budget.pools("clamd")
    with pytest.raises(ValueError, match="at least one"):
        PoolBudget(worker_queue=0)


@pytest.mark.parametrize(("max_connections", "existing", "free", "fits"), [
    (300, 0, 287, True),
    (300, 19, 21, True),   # 300 - 3 reserved - 10 control plane - 19 x 14
    (300, 20, 7, False),
    (100, 6, 3, False),    # PostgreSQL's default max_connections: six tenants
    (100, 5, 17, True),
])
def test_connection_slots(max_connections: int, existing: int, free: int, fits: bool) -> None:
    measures = host(max_connections, existing)
    assert free_connections(measures, TenantNeeds()) == free
    assert (not shortfalls(measures, TenantNeeds())) is fits


def test_a_full_cluster_is_refused_with_what_to_do() -> None:
    [reason] = shortfalls(host(100, 7), TenantNeeds())
    assert "0 connection slots left" in reason and "max_connections 100" in reason
    assert "raise max_connections or deprovision a tenant" in reason


def test_too_little_memory_is_refused_with_the_numbers() -> None:
    [reason] = shortfalls(host(memory=GIB), TenantNeeds(memory_bytes=1536 * 1024 * 1024))
    assert reason.startswith("1024 MiB of memory available, a tenant needs 1536 MiB")


def test_both_shortfalls_are_reported() -> None:
    assert len(shortfalls(host(20, 0, memory=0), TenantNeeds())) == 2


@pytest.mark.parametrize(("slug", "expected"), [
    ("acme", "fbt-acme"),
    ("a" * 28, "fbt-" + "a" * 28),  # exactly 32
])
def test_account_name_is_the_slug_when_it_fits(slug: str, expected: str) -> None:
    assert account_name(slug) == expected


def test_long_slugs_are_hashed_to_32_characters_and_stay_distinct() -> None:
    first, second = "a" * 29 + "b", "a" * 29 + "c"
    assert len(account_name(first)) == len(account_name(second)) == 32
    assert account_name(first) != account_name(second)
    assert account_name(first).startswith("fbt-aaaa")
    assert account_name("long-" * 6).count("--") == 0  # a cut never leaves "--"


def test_the_control_channel_url_names_the_socket() -> None:
    socket = Path("/srv/state dir/tenants/acme/run/api.sock")
    url = unix_socket_url(socket)
    assert url.startswith("http+unix://%2Fsrv%2Fstate%20dir")
    assert unix_socket_of(url) == socket
    assert unix_socket_of("https://127.0.0.1:8101") is None
