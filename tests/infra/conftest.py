"""The infra tests need the Pulumi SDK and the hcloud package (not the CLI); where they are
not installed the folder is skipped rather than failing collection."""

import asyncio
import importlib.util
from collections.abc import Iterator

import pytest

collect_ignore_glob = (
    [] if importlib.util.find_spec("pulumi") and importlib.util.find_spec("pulumi_hcloud")
    else ["test_*.py"]
)


@pytest.fixture(autouse=True)
def event_loop_for_pulumi() -> Iterator[None]:
    """Pulumi's mocks make their futures on the thread's current event loop; a test run
    before this one in the same process (``asyncio.run``, an ASGI test client) may have left
    none, so each test here gets its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
