"""What both APIs' OpenAPI documents share (SPEC §9; issue 17): the error envelope as the
schema of every 4xx/5xx, the bearer security scheme, stable operation ids, and Swagger UI at
``/docs`` served from the app itself (the ``swagger-ui-bundle`` files, no CDN).

* :func:`error_responses` — the ``responses=`` of a route that can answer those statuses;
* :func:`install_openapi` — ``app.openapi`` builds the document once and finishes it
  (:func:`finish_document`): 401/403 on every secured operation, FastAPI's ``{"detail"}``
  422 replaced by the envelope, every error response pointing at ``ErrorEnvelope``;
* :func:`full_document` — the document with the internal routes the published one leaves out
  (``internal``: path prefixes, such as the data plane's ``/control/``), for tests that must
  reach every route;
* :func:`install_docs` — ``GET /docs`` and its assets (:data:`DOCS_PATHS`, open paths: they
  reveal nothing). The page fetches ``/openapi.json``, which wants a credential: same-origin,
  so a session cookie rides along when the plane accepts one; without it the page asks for
  the bearer credential, fetches the document with it and fills Swagger's Authorize with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
#: What each error status means for any route (a route's own ``responses`` say more).
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "BAD_REQUEST (or INVALID_IDEMPOTENCY_KEY): the request is malformed.",
    401: "UNAUTHENTICATED: no credential, or one this service does not know.",
    403: "INSUFFICIENT_SCOPE / INSUFFICIENT_ROLE / TENANT_SUSPENDED: the credential may not "
         "do this.",
    404: "NOT_FOUND: no such resource.",
    408: "REQUEST_TIMEOUT: the body did not arrive in time.",
    409: "CONFLICT: the resource's state does not allow it.",
    413: "BODY_TOO_LARGE / BATCH_TOO_LARGE: over the limit.",
    422: "VALIDATION_FAILED: a parameter or the body is invalid (`details` lists where).",
    429: "TOO_MANY_REQUESTS: try again after `Retry-After` seconds.",
    502: "A service behind this one answered badly.",
    503: "A store or service this call needs is unavailable; try again after `Retry-After`.",
}


class ErrorDetail(BaseModel):
    """One error: a stable code, words for a person, the request id to quote to support."""

    code: str = Field(description="Stable, machine-readable error code, e.g. "
                                  "`UNAUTHENTICATED`, `VALIDATION_FAILED`, `TENANT_EXISTS`.")
    message: str = Field(description="What went wrong, in words for a person.")
    request_id: str = Field(description="The request's id (also in `X-Request-ID`): quote it "
                                        "to support.")
    details: list[dict[str, Any]] | None = Field(
        None, description="On 422 only: each invalid field, as `{\"loc\": [...], \"msg\": "
                          "str}`.")


class ErrorEnvelope(BaseModel):
    """Every error answer of both APIs: ``{"error": {"code", "message", "request_id"}}``."""

    error: ErrorDetail = Field(description="The error.")


def error_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer ``statuses`` (with the generic wording) and
    ``described`` (``e409="INVALID_TRANSITION: ..."``: the route's own wording)."""
    out: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses}
    for key, text in described.items():
        out[int(key.removeprefix("e"))] = {"model": ErrorEnvelope, "description": text}
    return out


def operation_id(route: APIRoute) -> str:
    """The operation id: the route's name (its function's, or ``name=``), stable and short
    (``submit_batch``, ``create_tenant``) — what a generated client names its functions."""
    return route.name


def finish_document(document: dict[str, Any], *, scheme: str) -> dict[str, Any]:
    """Complete FastAPI's document: on every operation secured by ``scheme`` the 401/403
    answers; every 4xx/5xx answer without a body of its own (the 422 FastAPI adds included)
    is the envelope; FastAPI's validation-error schemas go."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorEnvelope" not in schemas:
        schemas.update(_envelope_schemas())
    for item in document.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            if {scheme: []} in op.get("security", []):
                for refused in ("401", "403"):
                    responses.setdefault(refused, {})
            for status, response in responses.items():
                if status[:1] not in ("4", "5"):
                    continue
                if not response.get("description") or \
                        response["description"] == "Validation Error":
                    response["description"] = ERROR_DESCRIPTIONS.get(int(status), "Error.")
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is None or schema.get("$ref", "").endswith("/HTTPValidationError"):
                    # the envelope, unless the route answers its own body (readiness)
                    response["content"] = {"application/json": {
                        "schema": {"$ref": ENVELOPE_REF}}}
            op["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def _envelope_schemas() -> dict[str, Any]:
    schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, "ErrorEnvelope": schema}


def install_openapi(app: FastAPI, *, scheme: str,
                    extend: Callable[[dict[str, Any]], None] | None = None,
                    internal: tuple[str, ...] = ()) -> None:
    """``app.openapi()`` builds the finished document once: ``extend`` adds what a plane
    describes by hand (a body its route reads itself); the paths that start with one of
    ``internal`` are left out, and the schemas only they used."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = full_document(app, scheme=scheme, extend=extend)
            if internal:
                document["paths"] = {path: item for path, item in document["paths"].items()
                                     if not path.startswith(internal)}
                _drop_unused_schemas(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]  # FastAPI's documented override


def full_document(app: FastAPI, *, scheme: str,
                  extend: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The document with every API route, internal ones too: what a test fuzzes. The
    published one is ``app.openapi()``."""
    document = get_openapi(title=app.title, version=app.version, summary=app.summary,
                           description=app.description, routes=app.routes,
                           tags=app.openapi_tags, servers=app.servers)
    if extend is not None:
        extend(document)
    return finish_document(document, scheme=scheme)


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Remove the component schemas no path refers to, directly or through another."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = _refs(document["paths"])
    while pending:
        name = pending.pop()
        if name not in used and name in schemas:
            used.add(name)
            pending |= _refs(schemas[name])
    for name in set(schemas) - used:
        del schemas[name]


def _refs(node: Any) -> set[str]:
    """The component schemas named by ``$ref`` anywhere in ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) \
            else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


# --- Swagger UI at /docs ---------------------------------------------------------------------

DOCS_PATH = "/docs"
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
#: The page, its script and Swagger UI's files: open paths (no credential; nothing secret).
DOCS_PATHS = (DOCS_PATH, f"{DOCS_PATH}/docs.js", *(f"{DOCS_PATH}/{a}" for a in _ASSETS))
_MEDIA = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="stylesheet" href="{docs}/swagger-ui.css">
<link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
</head>
<body>
<form id="docs-sign-in" hidden style="font-family: sans-serif; margin: 2em">
  <p>The API description is for holders of a {credential} only.</p>
  <label for="docs-credential">{credential_label}</label>
  <input id="docs-credential" name="credential" type="password" autocomplete="off" required>
  <button type="submit">Show the API</button>
  <p id="docs-error" role="alert"></p>
</form>
<div id="swagger-ui"></div>
<script src="{docs}/swagger-ui-bundle.js"></script>
<script src="{docs}/docs.js" data-scheme="{scheme}"></script>
</body>
</html>
"""

# Plain JavaScript, served from the app (no inline script): load the document with the
# browser's own credentials (a session cookie), else with the key typed in, then hand the key
# to Swagger's Authorize so that "Try it out" sends it.
_SCRIPT = """(function () {
  "use strict";
  var scheme = document.currentScript.getAttribute("data-scheme");
  var form = document.getElementById("docs-sign-in");
  var input = document.getElementById("docs-credential");
  var error = document.getElementById("docs-error");

  // Swagger UI 4 (the files swagger-ui-bundle ships) reads OpenAPI 3.0; FastAPI writes 3.1.
  // For display only, 3.1's spellings become 3.0's: a union with null is `nullable`, `const`
  // a one-value enum. /openapi.json itself stays as it is.
  function as30(node) {
    if (Array.isArray(node)) { return node.map(as30); }
    if (node === null || typeof node !== "object") { return node; }
    var out = {};
    Object.keys(node).forEach(function (key) { out[key] = as30(node[key]); });
    ["anyOf", "oneOf"].forEach(function (key) {
      if (!Array.isArray(out[key])) { return; }
      var kept = out[key].filter(function (s) { return !(s && s.type === "null"); });
      if (kept.length === out[key].length) { return; }
      delete out[key];
      out.nullable = true;
      if (kept.length === 1 && kept[0].$ref) { out.allOf = kept; }
      else if (kept.length === 1) { Object.assign(out, kept[0], {nullable: true}); }
      else { out[key] = kept; }
    });
    if (Array.isArray(out.type)) {
      var types = out.type.filter(function (t) { return t !== "null"; });
      if (types.length < out.type.length) { out.nullable = true; }
      out.type = types[0];
    }
    if ("const" in out) { out["enum"] = [out["const"]]; delete out["const"]; }
    if (Array.isArray(out.examples)) { delete out.examples; }
    return out;
  }

  function show(spec, credential) {
    form.hidden = true;
    spec = as30(spec);
    spec.openapi = "3.0.3";
    var ui = SwaggerUIBundle({
      spec: spec, dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
    });
    if (credential) { ui.preauthorizeApiKey(scheme, credential); }
    window.ui = ui;
  }

  function load(credential) {
    var headers = {"Accept": "application/json"};
    if (credential) { headers["Authorization"] = "Bearer " + credential; }
    return fetch("/openapi.json", {headers: headers, credentials: "same-origin"})
      .then(function (response) {
        if (response.status === 200) {
          return response.json().then(function (spec) { show(spec, credential); });
        }
        form.hidden = false;
        if (credential) {
          error.textContent = "Refused (" + response.status + "): check the credential.";
        }
        input.focus();
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    load(input.value.trim());
  });
  load(null);
})();
"""


def install_docs(app: FastAPI, *, credential: str, scheme: str) -> None:
    """``GET /docs``: Swagger UI from the ``swagger-ui-bundle`` package's files, each served
    by the app (no CDN); ``credential`` names what the page asks for ("vendor key")."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    assets = Path(swagger_ui_path)
    page = _PAGE.format(title=app.title, docs=DOCS_PATH, scheme=scheme,
                        credential=credential, credential_label=credential.capitalize())

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{DOCS_PATH}/docs.js", include_in_schema=False)
    def docs_script() -> HTMLResponse:
        return HTMLResponse(_SCRIPT, media_type="text/javascript")

    for asset in _ASSETS:
        app.add_api_route(f"{DOCS_PATH}/{asset}", _file_route(assets / asset),
                          methods=["GET"], include_in_schema=False, name=f"docs_{asset}")


def _file_route(path: Path) -> Callable[[], FileResponse]:
    media = _MEDIA[path.suffix]

    def serve() -> FileResponse:
        return FileResponse(path, media_type=media)

    return serve
