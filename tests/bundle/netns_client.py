"""A vendor's client, run INSIDE the test's network namespace (``python -m
tests.bundle.netns_client URL CA_PEM KEY {ingest|search}``): a batch of samples/ through the
gateway's HTTPS (certificate verified with the installation's CA), or a search; prints one JSON
object. Only httpx: it must start without the data plane's dependencies."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("parking-permit-faq.txt", "supplier-onboarding-policy.docx",
           "incident-response-runbook.md")
QUERY = "how many electric-vehicle charging bays are there"


def ingest(client: httpx.Client) -> dict[str, Any]:
    paths = [ROOT / "samples" / name for name in SAMPLES]
    files = [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
              "size": p.stat().st_size} for p in paths]
    handles = [p.open("rb") for p in paths]
    try:
        response = client.post(
            "/v1/batches", data={"manifest": json.dumps({"client_ref": "bundle-test",
                                                         "files": files})},
            files=[("files", (p.name, h)) for p, h in zip(paths, handles, strict=True)])
    finally:
        for handle in handles:
            handle.close()
    if response.status_code != 202:
        return {"error": f"POST /v1/batches: {response.status_code} {response.text[:500]}"}
    batch_id = response.json()["batch_id"]
    deadline = time.monotonic() + 900
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/batches/{batch_id}").json()
        if body["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS"):
            break
        time.sleep(2)
    return {"batch": body}


def search(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/v1/search", json={"query": QUERY, "top_k": 5})
    return {"status": response.status_code, "body": response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response.text[:500]}


def main(argv: list[str]) -> int:
    url, ca, key, action = argv
    with httpx.Client(base_url=url, verify=ca, timeout=120, trust_env=False,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        result = ingest(client) if action == "ingest" else search(client)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
