"""The acceptance report as one standalone HTML page: no external assets (styles inline),
readable on screen and printed (A4, table headers repeated on each page). Rendered from
the JSON report, so both always say the same."""

from __future__ import annotations

import html
from typing import Any

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;
margin:24px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}
.meta{color:#444;margin:0 0 12px}.status{font-weight:700}
.ok{color:#126b2b}.warn{color:#8a5a00}.bad{color:#a11}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#eee}
td.name{overflow-wrap:anywhere;min-width:160px;max-width:260px}code{font-size:12px;overflow-wrap:anywhere}
table.counts{width:auto}.counts td{border:none;padding:2px 16px 2px 0}
.todo{color:#333;font-style:italic}
@media print{body{margin:0;font-size:11px;max-width:none}thead{display:table-header-group}
tr{page-break-inside:avoid}a{color:inherit;text-decoration:none}}
@page{size:A4 landscape;margin:12mm}
"""

_CLASS = {"INDEXED": "ok", "ACCEPTED": "ok", "PROCESSING": "warn", "REJECTED": "bad",
          "QUARANTINED": "bad", "FAILED": "bad", "PURGED": "warn", "COMPLETED": "ok",
          "COMPLETED_WITH_ERRORS": "bad", "RECEIVED": "warn"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _counts(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return ""
    rows = "".join(f"<tr><td class='{_CLASS.get(k, '')}'>{_e(k)}</td><td>{v}</td></tr>"
                   for k, v in sorted(counts.items()))
    return f"<h2>{_e(title)}</h2><table class='counts'>{rows}</table>"


def _parsed(d: dict[str, Any]) -> str:
    """The parser and its status; on FAILED, each parser tried and its reason."""
    cell = ", ".join(p for p in (_e(d.get("parser")), _e(d.get("parse_status"))) if p)
    tried = "".join(f"<br><small>{_e(a.get('parser') or 'parse')}: <code>{_e(a.get('reason'))}"
                    f"</code></small>" for a in d.get("parse_attempts") or ())
    return cell + tried


def render_report_html(rep: dict[str, Any]) -> str:
    """One self-contained page listing every document with its outcome and what to do."""
    model = rep.get("embedding_model") or {}
    audit = rep.get("audit") or {}
    docs = rep["documents"]
    body_rows = []
    # an attachment names its e-mail (listed just above it)
    parents = {d["document_id"]: d["name"] for d in docs if d.get("document_id")}
    for i, d in enumerate(docs, start=1):
        outcome = _e(d["status"]) + (f"<br><code>{_e(d['reason'])}</code>"
                                     if d.get("reason") else "")
        parsed = _parsed(d)
        pii = ", ".join(f"{_e(k)} {sum(v.values())}" for k, v in (d.get("pii") or {}).items())
        policy = "<br>".join(p for p in (
            _e(d.get("doc_type")), _e(d.get("sensitivity")),
            f"safety {_e(d['safety'])}" if d.get("safety") else "",
            f"<small>{_e(d['safety_detail'])}</small>" if d.get("safety_detail") else "",
            f"PII: {pii}" if pii else "") if p)
        body_rows.append(
            f"<tr><td>{i}</td><td class='name'>"
            + ("&#8627; attachment of " + _e(parents.get(d["parent_document_id"],
                                                         d["parent_document_id"])) + "<br>"
               if d.get("parent_document_id") else "")
            + f"{_e(d['name'])}</td>"
            f"<td class='{_CLASS.get(d['status'], '')}'>{outcome}</td>"
            f"<td>{_e(d.get('explanation'))}"
            + (f"<br><small>{_e(d['detail'])}</small>" if d.get("detail") else "")
            + f"</td><td class='todo'>{_e(d.get('what_to_do'))}</td>"
            f"<td>{parsed}</td><td>{_e(d.get('chunks'))}</td><td>{policy}</td>"
            f"<td>{_e(d.get('mime_type'))}</td></tr>")
    status = rep["status"]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Acceptance report {_e(rep['batch_id'])}</title><style>{_CSS}</style></head>"
        "<body><h1>Acceptance report</h1>"
        f"<p class='meta'>Batch <code>{_e(rep['batch_id'])}</code> · client reference "
        f"<strong>{_e(rep.get('client_ref'))}</strong> · received {_e(rep.get('received_at'))}"
        f" · generated {_e(rep.get('generated_at'))}</p>"
        f"<p>Status: <span class='status {_CLASS.get(status, '')}'>{_e(status)}</span> — "
        f"{rep['counts']['files']} files, {rep['counts'].get('chunks', 0)} chunks.</p>"
        + _counts("By status", rep["counts"].get("by_status", {}))
        + _counts("By reason", rep["counts"].get("by_reason", {}))
        + "<h2>Documents</h2><table><thead><tr><th>#</th><th>Name</th><th>Outcome</th>"
        "<th>What happened</th><th>What to do</th><th>Parser</th><th>Chunks</th><th>Policy</th>"
        "<th>Type</th></tr></thead><tbody>" + "".join(body_rows) + "</tbody></table>"
        f"<p class='meta'>Embedding model: {_e(model.get('model'))} "
        f"({_e(model.get('dimension'))}-d). Audit chain head at report time: seq "
        f"{_e(audit.get('head_seq'))}, <code>{_e(audit.get('head_hash'))}</code>.</p>"
        "</body></html>")
