"""docs/vendor-guide.md against the code: every document status, batch status and reason
code the data plane has is in the guide's tables with a meaning; every error code the data
plane can answer is in its error table with the HTTP status the code gives it; the limits it
quotes are the tenant config's defaults; the CLI's exit codes are the ones it implements."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import data_plane.api.app  # noqa: F401  (imports every module that defines an error)
import frostbyte_common.http_errors as http_errors
from data_plane.domain.intake import BatchStatus, DocStatus, Reason
from data_plane.errors import IntakeRejected
from frostbyte_cli.exit_codes import ExitCode
from frostbyte_common.errors import FrostbyteError
from frostbyte_common.tenant_config import IntakeConfig

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "vendor-guide.md"
#: Where the data plane's answers are raised: its own code, and the shared request guard and
#: error handlers it installs.
SOURCES = [*sorted((ROOT / "data_plane").rglob("*.py")),
           ROOT / "frostbyte_common" / "request_guard.py",
           ROOT / "frostbyte_common" / "http_errors.py"]


def section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def table_rows(text: str) -> dict[str, list[str]]:
    """First-column `CODE` -> the other cells, for every table row in ``text``."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and (m := re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])):
            rows[m.group(1)] = cells[1:]
    return rows


def _error_classes() -> dict[str, type[FrostbyteError]]:
    """Every Frostbyte error class of data_plane and frostbyte_common, by name: the shared
    modules the sources import from are imported first, so that the answer does not depend
    on which other tests ran before."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.ImportFrom) and node.module
                    and node.module.startswith("frostbyte_common")):
                importlib.import_module(node.module)
    found: dict[str, type[FrostbyteError]] = {}
    todo: list[type[FrostbyteError]] = [FrostbyteError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in ("data_plane", "frostbyte_common"):
            found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def emitted_error_codes() -> dict[str, int]:
    """Every error code the data plane can answer, with its HTTP status: its error tree,
    every ``SomeError(..., code="X")`` raised in its code (and the shared request guard),
    the envelope's own answers (INTERNAL, VALIDATION_FAILED) and Starlette's (HTTP_CODES)."""
    classes = _error_classes()
    codes: dict[str, int] = {}
    for cls in classes.values():
        if cls.__module__.startswith("data_plane."):
            codes[cls.default_code] = cls.status_code
    codes[IntakeRejected.DUPLICATE_NAME] = IntakeRejected.status_code
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            name = node.func.id
            given = next((kw.value.value for kw in node.keywords if kw.arg == "code"
                          and isinstance(kw.value, ast.Constant)), None)
            if name in classes:
                codes[str(given or classes[name].default_code)] = classes[name].status_code
            elif (name == "error_response" and len(node.args) >= 3
                  and all(isinstance(a, ast.Constant) for a in node.args[1:3])):
                status, code = (a.value for a in node.args[1:3])  # type: ignore[attr-defined]
                codes[str(code)] = int(status)
    for status, code in http_errors.HTTP_CODES.items():
        codes.setdefault(code, status)
    return codes


def test_the_scan_finds_the_codes_it_must() -> None:
    codes = emitted_error_codes()
    assert codes["BATCH_TOO_LARGE"] == 413 and codes["TOO_MANY_BATCHES"] == 429
    assert codes["UNAUTHENTICATED"] == 401 and codes["DUPLICATE_NAME"] == 422
    assert codes["INTERNAL"] == 500 and codes["BODY_TOO_LARGE"] == 413
    assert len(codes) > 30


def test_every_status_and_reason_is_in_the_guide_with_a_meaning() -> None:
    rows = table_rows(section("Statuses and reasons"))
    for code in [*DocStatus, *BatchStatus, *Reason]:
        assert code.value in rows, f"{code.value} is not in the guide's tables"
        assert rows[code.value] and all(rows[code.value]), f"{code.value} has an empty cell"


def test_every_reasons_status_column_is_a_status() -> None:
    rows = table_rows(section("Statuses and reasons"))
    for reason in Reason:
        assert rows[reason.value][0] in DocStatus.__members__, reason


def test_every_error_code_the_data_plane_answers_is_in_the_guide_with_its_status() -> None:
    text = section("Error codes")
    rows = table_rows(text)
    missing = []
    for code, status in sorted(emitted_error_codes().items()):
        if code in rows:
            assert rows[code][0] == str(status), f"{code}: guide says {rows[code][0]}"
        elif not re.search(rf"`{code}` \({status}\b", text):
            missing.append(f"{code} ({status})")
    assert missing == [], "error codes the guide does not list: " + ", ".join(missing)


def test_the_guide_lists_no_code_the_data_plane_cannot_answer() -> None:
    listed = set(table_rows(section("Error codes")))
    assert listed - set(emitted_error_codes()) == set()


@pytest.mark.parametrize(("name", "shown"), [
    ("max_file_bytes", "512 MiB"), ("max_batch_files", "1,000"),
    ("max_batch_bytes", "5 GiB"), ("max_concurrent_batches", "4")])
def test_the_limits_quoted_are_the_config_defaults(name: str, shown: str) -> None:
    rows = {k.lower(): v for k, v in table_rows(section("Limits").upper()).items()}
    value = getattr(IntakeConfig(), name)
    number, _, unit = shown.partition(" ")
    assert int(number.replace(",", "")) * {"": 1, "MiB": 1024**2, "GiB": 1024**3}[unit] == value
    assert rows[name][0].lower() == shown.lower()


def test_the_cli_exit_codes_in_the_guide_are_the_cli_s() -> None:
    text = section("The CLI in scripts")
    numbers = re.findall(r"^\| (\d) \| `([A-Z_]+)` \|", text, re.MULTILINE)
    assert [(int(n), name) for n, name in numbers] == [(c.value, c.name) for c in ExitCode]


def test_the_cli_commands_the_guide_shows_exist() -> None:
    main = importlib.import_module("frostbyte_cli.main")
    from typer.main import get_command

    root = get_command(main.app)
    shown = set(re.findall(r"frostbyte ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", GUIDE.read_text()))
    assert {"batch submit", "audit proof", "quarantine list"} <= shown
    for words in shown:
        command = root
        for word in words.split():
            sub = getattr(command, "commands", {}).get(word)
            if sub is None:
                break
            command = sub
        assert command is not root, f"`frostbyte {words}` is not a command"
