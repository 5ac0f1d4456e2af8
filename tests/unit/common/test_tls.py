"""The CA of tenant endpoints: what a TLS client does with what it issues."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from frostbyte_common import tls


@pytest.fixture(scope="module")
def authority() -> tls.KeyAndCertificate:
    return tls.new_authority("test CA")


def _serve_once(server_ctx: ssl.SSLContext) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(b"hello")
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return port, thread


def _handshake(tmp_path: Path, server: tls.KeyAndCertificate, chain: str,
               client: ssl.SSLContext, host: str = "127.0.0.1") -> bytes:
    (tmp_path / "key.pem").write_text(server.key_pem)
    (tmp_path / "cert.pem").write_text(server.cert_pem + chain)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    port, thread = _serve_once(server_ctx)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname=host) as conn:
            return conn.recv(5)
    finally:
        thread.join(timeout=5)


def test_a_client_trusting_the_ca_accepts_the_issued_certificate(
        authority: tls.KeyAndCertificate, tmp_path: Path) -> None:
    server = tls.issue_server(authority, ["127.0.0.1", "demo.example"], common_name="demo")
    client = tls.client_context(authority.cert_pem)
    assert _handshake(tmp_path, server, authority.cert_pem, client) == b"hello"
    assert tls.hosts(server.cert_pem) == ["127.0.0.1", "demo.example"]


def test_another_host_or_another_ca_is_refused(authority: tls.KeyAndCertificate,
                                               tmp_path: Path) -> None:
    server = tls.issue_server(authority, ["127.0.0.2"], common_name="other host")
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        _handshake(tmp_path, server, authority.cert_pem, tls.client_context(authority.cert_pem))
    stranger = tls.new_authority("someone else")
    server = tls.issue_server(stranger, ["127.0.0.1"], common_name="impostor")
    with pytest.raises(ssl.SSLCertVerificationError,
                       match="self-signed certificate in certificate chain"):
        _handshake(tmp_path, server, stranger.cert_pem, tls.client_context(authority.cert_pem))


def test_the_fingerprint_is_what_openssl_prints(authority: tls.KeyAndCertificate,
                                                tmp_path: Path) -> None:
    server = tls.issue_server(authority, ["10.0.0.5"], common_name="t")
    (tmp_path / "c.pem").write_text(server.cert_pem)
    shown = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "c.pem"), "-noout",
                            "-fingerprint", "-sha256"], capture_output=True, text=True,
                           check=True).stdout
    assert server.fingerprint == "sha256:" + shown.split("=", 1)[1].strip().replace(
        ":", "").lower()


def test_renewal_is_asked_for_another_ca_another_host_or_a_near_end(
        authority: tls.KeyAndCertificate) -> None:
    server = tls.issue_server(authority, ["127.0.0.1"], common_name="t")
    assert tls.needs_renewal(server.cert_pem, ["127.0.0.1"], authority.cert_pem) is None
    assert "not issued by the current CA" in tls.needs_renewal(
        server.cert_pem, ["127.0.0.1"], tls.new_authority("new").cert_pem)
    assert "127.0.0.2" in tls.needs_renewal(server.cert_pem, ["127.0.0.2"], authority.cert_pem)
    later = dt.datetime.now(dt.UTC) + tls.SERVER_VALIDITY - dt.timedelta(days=10)
    assert "expires on" in tls.needs_renewal(server.cert_pem, ["127.0.0.1"],
                                             authority.cert_pem, now=later)


def test_the_ca_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    first = FileCertificateAuthority(tmp_path / "ca")
    pem = first.certificate_pem()
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    again = FileCertificateAuthority(tmp_path / "ca")  # a restarted control plane
    assert again.certificate_pem() == pem
    issued = again.issue(["127.0.0.1"], common_name="t")
    assert tls.signed_by(issued.cert_pem, pem)
