"""Switches that keep third-party libraries from reaching the network.

The data plane sets these itself (SPEC §5.7) instead of trusting the operator to.
"""

from __future__ import annotations

import os

OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "ORT_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def silence_egress() -> None:
    """Set every known telemetry/hub switch; call before importing parsers or models."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
