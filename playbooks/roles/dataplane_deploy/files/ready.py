"""Readiness of the container set, checked on the host through its gateway: start the set's
services that exited with an error (a service that found a dependency not up yet: podman
before 4.6 cannot wait for a dependency's health, and its restart policy may not fire), then
GET the readiness URL over HTTPS verified against the control plane's CA. Exit 0 when it
answers 200 with the named checks true.

    ready.py ENGINE PROJECT URL CA_FILE CHECK...
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request


def restart_exited(engine: str, project: str) -> None:
    listed = subprocess.run(
        [engine, "ps", "--all", "--format", "json", "--filter",
         f"label=com.docker.compose.project={project}", "--filter", "status=exited"],
        capture_output=True, text=True, check=False, timeout=60)
    if listed.returncode != 0 or not listed.stdout.strip():
        return
    failed = [c["Names"][0] for c in json.loads(listed.stdout)
              if c.get("ExitCode") and
              (c.get("Labels") or {}).get("com.docker.compose.service") != "migrate"]
    if failed:
        print("starting again:", " ".join(failed))
        subprocess.run([engine, "start", *failed], capture_output=True, check=False,
                       timeout=120)


def main(argv: list[str]) -> int:
    engine, project, url, ca_file, *checks = argv
    restart_exited(engine, project)
    if not url.startswith("https://"):
        print(f"not an HTTPS URL: {url}")
        return 2
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:  # noqa: S310
            body = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        print(f"not ready: {exc}")
        return 1
    passed = {name for name, ok in (body.get("checks") or {}).items() if ok is True}
    missing = [name for name in checks if name not in passed]
    if missing:
        print(f"not ready: {', '.join(missing)}")
        return 1
    print("ready")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
