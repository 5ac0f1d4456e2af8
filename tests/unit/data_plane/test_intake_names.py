"""Hostile names and manifests (SPEC §9): refused per file or per batch, never a 5xx."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from data_plane.domain.intake import Manifest, escape_name, form_encoded_name, unsafe_name

SHA = "a" * 64


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("report.pdf", False),
        ("Jahresbericht 2024 – Übersicht.pdf", False),
        ("a..b.pdf", False),
        ("../../etc/passwd", True),
        ("..", True),
        ("dir\\file.pdf", True),
        ("a\x00b.pdf", True),
        ("tab\there.pdf", True),
        ("c1\x85.pdf", True),
        ("invoice\u202efdp.exe", True),  # displays as "invoiceexe.pdf"
        # invisible characters: two names that look identical must not both be stored
        ("in\u200bvoice.pdf", True),  # zero-width space
        ("in\u200cvoice.pdf", True),  # zero-width non-joiner
        ("in\u200dvoice.pdf", True),  # zero-width joiner
        ("in\u2060voice.pdf", True),  # word joiner
        ("in\u00advoice.pdf", True),  # soft hyphen
        ("\ufeffinvoice.pdf", True),  # zero-width no-break space (BOM)
        ("invoice\u2066.pdf", True),  # left-to-right isolate
        ("invoice\u180e.pdf", True),  # Mongolian vowel separator (was zero-width)
        ("invoice\u2063.pdf", True),  # invisible separator
        ("Ｒｅｐｏｒｔ.pdf", False),  # fullwidth letters are visible
        ("x" * 300 + ".pdf", True),
        ("é" * 127 + ".pdf", True),  # 258 bytes in UTF-8
    ],
)
def test_unsafe_names(name: str, unsafe: bool) -> None:
    assert unsafe_name(name) is unsafe


def test_escaped_names_are_printable_and_storable() -> None:
    assert escape_name("a\x00b.pdf") == "a\\x00b.pdf"
    assert escape_name("invoice\u202efdp.exe") == "invoice\\u202efdp.exe"
    assert escape_name("in\u200bvoice.pdf") == "in\\u200bvoice.pdf"
    assert escape_name("in\u00advoice.pdf") == "in\\xadvoice.pdf"


@pytest.mark.parametrize("name", ["a\x00b.pdf", 'quo"te\r\n.pdf', "plain.pdf", "esc\x1b.pdf"])
def test_the_form_encoded_name_is_what_httpx_sends(name: str) -> None:
    request = httpx.Request("POST", "http://x/", files=[("files", (name, b"data"))])
    body = request.read()
    assert f'filename="{form_encoded_name(name)}"'.encode() in body


@pytest.mark.parametrize(
    "manifest",
    [
        {"client_ref": "a\x00b", "files": [{"name": "a.pdf", "sha256": SHA, "size": 1}]},
        {"client_ref": "r", "files": [{"name": "a.pdf", "sha256": SHA, "size": 1,
                                       "metadata": {"k": ["v\x00"]}}]},
        {"client_ref": "r", "files": [{"name": "a.pdf", "sha256": SHA, "size": 1,
                                       "declared_type": "application/pdf\x00"}]},
    ],
)
def test_nul_outside_a_name_makes_the_manifest_invalid(manifest: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Manifest.model_validate(manifest)


def test_nul_in_a_name_is_left_to_the_per_file_verdict() -> None:
    m = Manifest.model_validate(
        {"client_ref": "r", "files": [{"name": "a\x00b.pdf", "sha256": SHA, "size": 1}]})
    assert unsafe_name(m.files[0].name)
