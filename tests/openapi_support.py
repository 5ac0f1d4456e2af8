"""Test helpers for both APIs' OpenAPI documents and ``/docs``.

:func:`generate_client`: a Python client generated from a document by openapi-python-client
(PyPI), as a vendor or an admin would make one: offline (``--path``), no project metadata
(``--meta none``: the output folder is the package), no formatter run. Tests import it and
call the apps through it; nothing generated is edited."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi.testclient import TestClient

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
#: The generator's own settings: no post-processing hooks (ruff), and the two downloads it
#: has no parser for (the audit export's JSON Lines, the CA's PEM) read as bytes.
CONFIG = {"post_hooks": [],
          "content_type_overrides": {"application/x-ndjson": "application/octet-stream",
                                     "application/x-pem-file": "application/octet-stream"}}


def generate_client(document: dict[str, Any], where: Path, package: str) -> ModuleType:
    """Generate ``package`` under ``where`` from ``document`` and import it. The generator
    must not warn: a warning means part of the API was left out of the client."""
    where.mkdir(parents=True, exist_ok=True)
    spec = where / f"{package}.json"
    spec.write_text(json.dumps(document))
    config = where / f"{package}-config.json"
    config.write_text(json.dumps(CONFIG))
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--output-path",
         str(where / package), "--meta", "none", "--config", str(config),
         "--fail-on-warning"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        importlib.invalidate_caches()
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(where))


def module(client: ModuleType, name: str) -> ModuleType:
    """A module of the generated package: ``module(client, "models")``."""
    return importlib.import_module(f"{client.__name__}.{name}")


def call(client_pkg: ModuleType, operation: str, *args: object, **kwargs: object) -> Any:
    """The generated ``sync`` function of ``operation`` (its operationId), called: the
    parsed answer (a response model, or ``ErrorEnvelope`` for a documented error)."""
    root = Path(client_pkg.__file__ or "").parent
    found = [".".join(p.relative_to(root).with_suffix("").parts)
             for p in (root / "api").rglob(f"{operation}.py")]
    assert len(found) == 1, (operation, found)
    return module(client_pkg, found[0]).sync(*args, **kwargs)

def assert_docs_served_locally(client: TestClient) -> None:
    """``/docs`` and every file it loads answer without a credential, from the app itself:
    no ``http(s)://`` (CDN) reference in the page."""
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "://" not in page.text, page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js"} <= set(assets)
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and served.content, asset
