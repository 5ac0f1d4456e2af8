"""Entry point of the data-plane image: ``python -m data_plane <command>`` with the tenant's
secrets read from files (compose ``secrets:``, mounted under /run/secrets), never from the
image or the compose file.

Each secret file becomes the environment variable the data plane reads, unless that
variable is already set; ``db_password`` becomes ``FROSTBYTE_DP_DATABASE_URL`` for the
database named by ``FROSTBYTE_DB_HOST``/``_PORT``/``_USER``/``_NAME`` (the set's own
PostgreSQL). The names are those of the tenant's SOPS secrets (the Ansible role's
``dataplane_deploy_secret_env``).

A ``FROSTBYTE_DP_*`` variable set to an empty string is dropped (the data plane's default
applies): compose files cannot leave a variable unset, only empty (``${VAR:-}``).

``FROSTBYTE_WAIT_FOR`` ("host:port host:port", optional) makes it wait until each accepts a
TCP connection (at most ``FROSTBYTE_WAIT_S`` seconds, default 300) before starting: compose
engines that cannot wait for a dependency's health (podman before 4.6) start the set in order
but at once.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from urllib.parse import quote

SECRETS_DIR = Path(os.environ.get("FROSTBYTE_SECRETS_MOUNT", "/run/secrets"))
#: secret file -> environment variable of the data plane
SECRET_ENV = {
    "object_store_access_key": "FROSTBYTE_DP_S3_ACCESS_KEY",
    "object_store_secret_key": "FROSTBYTE_DP_S3_SECRET_KEY",
    "object_data_keys": "FROSTBYTE_DP_OBJECT_DATA_KEYS",
    "signing_key": "FROSTBYTE_DP_AUDIT_SIGNING_KEY",
    "vector_store_api_key": "FROSTBYTE_DP_QDRANT_API_KEY",
    "online_embedding_api_key": "FROSTBYTE_DP_ONLINE_EMBEDDING_API_KEY",
}


def _read(name: str) -> str | None:
    path = SECRETS_DIR / name
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip()


def environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` without empty ``FROSTBYTE_DP_*`` values, plus what the secret files provide (a
    variable already set wins)."""
    out = {k: v for k, v in env.items() if v or not k.startswith("FROSTBYTE_DP_")}
    for name, variable in SECRET_ENV.items():
        value = _read(name)
        if value is not None and variable not in out:
            out[variable] = value
    password = _read("db_password")
    if password is not None and "FROSTBYTE_DP_DATABASE_URL" not in out:
        user = out.get("FROSTBYTE_DB_USER", "frostbyte")
        host = out.get("FROSTBYTE_DB_HOST", "postgres")
        port = out.get("FROSTBYTE_DB_PORT", "5432")
        name = out.get("FROSTBYTE_DB_NAME", "frostbyte")
        out["FROSTBYTE_DP_DATABASE_URL"] = (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{port}/{quote(name, safe='')}")
    return out


def wait_for(targets: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for target in targets.split():
        host, _, port = target.rpartition(":")
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=3).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    sys.exit(f"entrypoint: {target} did not answer within {timeout_s:.0f} s: {exc}")
                time.sleep(1)


def main(argv: list[str]) -> None:
    if not argv:
        argv = ["serve"]
    if os.environ.get("FROSTBYTE_WAIT_FOR"):
        wait_for(os.environ["FROSTBYTE_WAIT_FOR"], float(os.environ.get("FROSTBYTE_WAIT_S", "300")))
    command = [sys.executable, "-m", "data_plane", *argv]
    os.execve(sys.executable, command, environment(dict(os.environ)))  # noqa: S606 - no shell


if __name__ == "__main__":
    main(sys.argv[1:])
