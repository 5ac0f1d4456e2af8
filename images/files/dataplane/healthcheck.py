"""The data-plane image's health check: GET /healthz of the API in this container."""

import os
import sys
import urllib.request

port = os.environ.get("FROSTBYTE_DP_PORT", "8080")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"healthz: {exc}", file=sys.stderr)
    sys.exit(1)
