"""PostgreSQL's SCRAM-SHA-256 password verifier, computed on our side so that a role's
password is set without its plaintext ever reaching the server (nor its statement log).
Both deployables set role passwords: the control plane for local tenants, the data plane's
``prepare-database`` on a host that runs its own PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096
                          ) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677), so the
    plaintext never reaches the server (nor its statement log)."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
