"""A control plane as its own process for crash tests: the real app and the real local
provider, with the stand-in data plane (``fake_data_plane``). Settings from FROSTBYTE_CP_*;
``python tests/integration/control_plane/cp_server.py PORT``."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from control_plane.api.app import create_app
from control_plane.providers.local import LocalProvider
from control_plane.settings import ControlPlaneSettings

FAKE_CODE = Path(__file__).parent / "fake_data_plane"


def main() -> None:
    settings = ControlPlaneSettings()

    def providers(s: ControlPlaneSettings) -> dict[str, LocalProvider]:
        return {"local": LocalProvider(
            admin_conninfo=s.effective_admin_database_url.get_secret_value(),
            state_dir=s.state_dir, python=Path(sys.executable), port_range=s.port_range,
            ready_timeout_s=20, stop_grace_s=3, code_paths=[FAKE_CODE])}

    uvicorn.run(create_app(settings, providers=providers), host="127.0.0.1",
                port=int(sys.argv[1]), log_level="info")


if __name__ == "__main__":
    main()
