"""The control plane served for real on loopback (uvicorn in a thread) with the integration
tests' fake provider, as the browser, generated-client and fuzz tests use it: a tenant is
ACTIVE in seconds, every HTTP byte goes through the real server, request guard included."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings
from tests.e2e.harness import free_port
from tests.integration.control_plane.fakes import FakeProvider


@contextmanager
def serve(app: FastAPI, name: str) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL, stops it at the end."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass(frozen=True)
class ServedControlPlane:
    url: str
    provider: FakeProvider


@contextmanager
def fake_provider_control_plane(database_url: str, state_dir: Path, admin_token: str, *,
                                name: str = "control-plane") -> Iterator[ServedControlPlane]:
    """The control plane on ``database_url`` with ``admin_token`` as its bootstrap token and
    the fake provider as provider ``local``."""
    provider = FakeProvider()
    app = create_app(
        ControlPlaneSettings(database_url=database_url, state_dir=state_dir,
                             admin_token_sha256=hashlib.sha256(admin_token.encode()).hexdigest()),
        providers=lambda _settings: {"local": provider},
        data_plane_transport=provider.transport)
    with serve(app, name) as url:
        yield ServedControlPlane(url, provider)
