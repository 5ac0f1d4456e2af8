"""Fixtures of the fault suite (``make test-faults``): a database per test on the session's
PostgreSQL and the figures each round prints (again in the terminal summary). Every module
here is marked ``fault``: the default run leaves it out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import create_database, drop_database
from tests.faults.plane import Figures

_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def fault_database(pg_admin_url: str) -> Iterator[str]:
    """A new tenant database for one round, dropped afterwards."""
    name, conninfo = create_database(pg_admin_url, prefix="fbfault")
    yield conninfo
    drop_database(pg_admin_url, name)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    sink = request.config.stash.setdefault(_FIGURES, [])
    return Figures(request.node.name, sink)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("fault suite figures")
        for line in lines:
            terminalreporter.write_line(line)
