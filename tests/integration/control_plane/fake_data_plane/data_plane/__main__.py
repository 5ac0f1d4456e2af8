"""``python -m data_plane migrate|serve|worker|add-vendor-key|revoke-vendor-key`` — fake,
same contract. The clamd tool commands (``clamd-info``, ``clamd-config``) need no tenant and
run each tenant's real clamd: they are handed to the real data plane of this interpreter.

It really connects to FROSTBYTE_DP_DATABASE_URL (so credentials are exercised), serves
/readyz on FROSTBYTE_DP_SOCKET (else FROSTBYTE_DP_HOST:FROSTBYTE_DP_PORT), and records
what it was asked in the tenant's work dir. Tenants whose slug starts with ``crash`` die at
start-up; ``slow`` ones take 4 s to migrate (time to kill the control plane mid-job).
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import sys
import time
from pathlib import Path

if sys.argv[1:2] and sys.argv[1].startswith("clamd-"):
    import runpy

    fake_root = Path(__file__).resolve().parents[1]
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != fake_root]
    for name in [m for m in sys.modules if m == "data_plane" or m.startswith("data_plane.")]:
        del sys.modules[name]
    runpy.run_module("data_plane", run_name="__main__", alter_sys=True)
    raise AssertionError("the real data plane's __main__ exits")

import psycopg

env = os.environ
work = Path(env["FROSTBYTE_DP_WORK_DIR"])


def record(kind: str, **data: object) -> None:
    with (work / "calls.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, **data}) + "\n")


def main() -> int:
    command = sys.argv[1]
    with psycopg.connect(env["FROSTBYTE_DP_DATABASE_URL"]) as conn:
        user = conn.execute("SELECT current_user").fetchone()[0]
        if command == "migrate":
            if env["FROSTBYTE_DP_TENANT"].startswith("slow"):
                time.sleep(4)
            conn.execute("CREATE TABLE IF NOT EXISTS vendor_keys (key_id text PRIMARY KEY, "
                         "sha256 text, scopes text, label text)")
            if env.get("FROSTBYTE_DP_SERVICE_ROLE"):  # as the real migrate grants
                conn.execute(f'GRANT SELECT, INSERT, DELETE ON vendor_keys TO '
                             f'"{env["FROSTBYTE_DP_SERVICE_ROLE"]}"')
        if command == "add-vendor-key":
            args = dict(zip(sys.argv[2::2], sys.argv[3::2], strict=False))
            conn.execute("INSERT INTO vendor_keys VALUES (%s, %s, %s, %s)",
                         (args["--key-id"], args["--sha256"], args["--scopes"],
                          args.get("--label")))
        if command == "revoke-vendor-key":
            conn.execute("DELETE FROM vendor_keys WHERE key_id = %s", (sys.argv[3],))
    record(command, user=user, argv=sys.argv[2:],
           env=sorted(k for k in env if k.startswith(("FROSTBYTE", "DATABASE", "PG"))))
    if env["FROSTBYTE_DP_TENANT"].startswith("crash") and command == "serve":
        print("fake data plane: crashing on purpose", flush=True)
        return 3
    if command == "serve":
        class Ready(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/control/v1/audit/key":  # the key the provider made
                    from frostbyte_common.audit_checkpoint import (
                        key_id_of,
                        load_signing_key,
                        public_key_text,
                    )
                    key_file = Path(env["FROSTBYTE_DP_AUDIT_SIGNING_KEY_FILE"])
                    public = public_key_text(load_signing_key(key_file.read_bytes()))
                    self._json(200, json.dumps({"key_id": key_id_of(public),
                                                "public_key": public}).encode())
                    return
                self.send_response(200 if self.path == "/readyz" else 404)
                self.end_headers()

            def do_PUT(self) -> None:  # /control/v1/suspension
                self._json(200, b'{"suspended": true, "changed": true}')

            def do_POST(self) -> None:  # /control/v1/audit/export: an empty, valid export
                if self.path == "/control/v1/audit/rotation":
                    length = int(self.headers.get("Content-Length") or 0)
                    rotation = json.loads(self.rfile.read(length))
                    record("audit-rotation", job_id=rotation["job_id"])
                    self._json(201, json.dumps({"seq": 1, "event_type": "secrets.rotated",
                                                "payload": rotation}).encode())
                    return
                if self.path != "/control/v1/audit/export":
                    self._json(404, b'{"error": {"code": "NOT_FOUND", "message": "no"}}')
                    return
                manifest = {"format": "frostbyte-audit-export/1",
                            "tenant": env["FROSTBYTE_DP_TENANT"], "exported_at": "x",
                            "count": 0, "first_seq": None, "last_seq": None,
                            "head_hash": "0" * 64, "checkpoint": None, "public_key": None}
                self._json(200, (json.dumps({"manifest": manifest}) + "\n").encode())

            def _json(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

            def address_string(self) -> str:  # a Unix socket's peer has no address
                return "gateway"

        server: socketserver.BaseServer
        if env.get("FROSTBYTE_DP_SOCKET"):  # the local provider's gateway proxies to it
            Path(env["FROSTBYTE_DP_SOCKET"]).unlink(missing_ok=True)
            server = socketserver.UnixStreamServer(env["FROSTBYTE_DP_SOCKET"], Ready)
        else:
            server = http.server.HTTPServer(
                (env["FROSTBYTE_DP_HOST"], int(env["FROSTBYTE_DP_PORT"])), Ready)
        server.serve_forever()
    if command == "worker":
        while True:
            time.sleep(1)
    return 0


sys.exit(main())
