"""Tenant configuration defaults (SPEC §9) and RFC 7396 merge patches."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from frostbyte_common.tenant_config import GiB, MiB, TenantConfig, merge_patch


def test_defaults_match_the_spec() -> None:
    cfg = TenantConfig()
    assert cfg.intake.max_file_bytes == 512 * MiB
    assert cfg.intake.max_batch_files == 1000
    assert cfg.intake.max_batch_bytes == 5 * GiB
    assert cfg.intake.max_concurrent_batches == 4
    assert "application/pdf" in cfg.intake.mime_allowlist
    assert cfg.ocr.languages == ["eng"]
    assert cfg.embedding.mode == "offline"


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        TenantConfig.model_validate({"intake": {"max_file_bites": 3}})


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": "b"}, ["c"], ["c"]),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc7396(target, patch, result) -> None:  # type: ignore[no-untyped-def]
    assert merge_patch(target, patch) == result
