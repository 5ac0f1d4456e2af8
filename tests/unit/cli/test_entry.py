"""The ``frostbyte`` entry point: ``--version``, a light ``--help``, and command modules that
stand on their own (they import ``frostbyte_cli.shared``, never ``frostbyte_cli.main``)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

from typer.testing import CliRunner

from frostbyte_cli.main import app

HEAVY = ("data_plane", "control_plane", "torch", "docling", "fastapi", "psycopg",
         "qdrant_client", "sentence_transformers")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"frostbyte {version('frostbyte')}\n"


def test_root_help_lists_the_version_option() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "--version" in result.output
    assert "Print the installed version and exit." in result.output


def test_help_and_version_load_neither_plane_nor_models() -> None:
    for flag in ("--help", "--version"):
        out = run_python(
            "import json, runpy, sys\n"
            f"sys.argv = ['frostbyte', {flag!r}]\n"
            "try:\n"
            "    runpy.run_module('frostbyte_cli', run_name='__main__')\n"
            "except SystemExit as exc:\n"
            "    assert exc.code in (0, None), exc.code\n"
            "print(json.dumps(sorted(sys.modules)))\n")
        loaded = json.loads(out.splitlines()[-1])
        assert "frostbyte_cli.main" in loaded  # the command did run
        assert [m for m in loaded if m.split(".")[0] in HEAVY] == [], flag


def test_command_modules_do_not_import_main() -> None:
    out = run_python(
        "import json, sys\n"
        "import frostbyte_cli.admin_commands, frostbyte_cli.document_commands\n"
        "import frostbyte_cli.lifecycle_commands, frostbyte_cli.shared\n"
        "print(json.dumps('frostbyte_cli.main' in sys.modules))\n")
    assert json.loads(out) is False
