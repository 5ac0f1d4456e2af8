"""A stand-in data plane for the namespace test hosts: the same command line shape as
``python -m data_plane`` (``migrate``, ``serve``) and the same environment, but no
PostgreSQL, MinIO or Qdrant behind it — one HTTP listener on the vendor port (``/readyz``
answers only when the deployed secrets reached the process; ``GET /control/v1/suspension``
answers any bearer key) and one TCP listener standing
for a store, so the tests can check what the host firewall lets through. Only the test
harness runs it; it is not the product's data plane."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "FROSTBYTE_DP_VENDOR_KEY_PEPPER")


def data_dir() -> Path:
    return Path(os.environ["FROSTBYTE_DP_DATA_DIR"])


def migrate() -> None:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema-version").write_text("1\n", encoding="utf-8")


def store_listener(host: str, port: int) -> None:
    with socket.create_server((host, port)) as server:
        while True:
            conn, _ = server.accept()
            conn.close()


def serve() -> None:
    tenant = os.environ["FROSTBYTE_DP_TENANT"]
    host = os.environ.get("FROSTBYTE_DP_HOST", "0.0.0.0")
    port = int(os.environ["FROSTBYTE_DP_PORT"])
    store_port = int(os.environ["FROSTBYTE_DP_STORE_PORT"])
    objects = data_dir() / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    (objects / "document.txt").write_text(f"a document of {tenant}\n", encoding="utf-8")
    ready = all(os.environ.get(name) for name in REQUIRED_SECRETS)
    threading.Thread(target=store_listener, args=(host, store_port), daemon=True).start()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/control/v1/suspension":
                # the control route the control plane reaches through its SSH forward
                authorized = self.headers.get("Authorization", "").startswith("Bearer ")
                status = 200 if authorized else 401
                body = json.dumps({"tenant": tenant, "suspended": False} if authorized else
                                  {"error": {"code": "UNAUTHENTICATED", "message": "no key",
                                             "request_id": "standin"}}).encode()
            else:
                ok = self.path == "/healthz" or (self.path == "/readyz" and ready)
                status = 200 if ok else 503
                body = json.dumps({"tenant": tenant, "ready": ready}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    {"migrate": migrate, "serve": serve}[sys.argv[1]]()
