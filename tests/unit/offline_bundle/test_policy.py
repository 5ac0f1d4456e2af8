"""The version policy: newer and same pass, older is refused unless --allow-downgrade."""

from __future__ import annotations

import pytest

from offline_bundle.errors import DowngradeRefused
from offline_bundle.policy import Move, check_version


@pytest.mark.parametrize(("candidate", "installed", "move"), [
    ("0.1.0", None, Move.FIRST_INSTALL),
    ("0.2.0", "0.1.0", Move.UPGRADE),
    ("0.10.0", "0.9.0", Move.UPGRADE),  # numeric, not text, order
    ("1.0.0", "1.0.0rc1", Move.UPGRADE),  # a release is newer than its candidate
    ("0.2.0", "0.2.0", Move.SAME),
    ("0.2", "0.2.0", Move.SAME),  # PEP 440: the same version
])
def test_moves_that_pass(candidate: str, installed: str | None, move: Move) -> None:
    assert check_version(candidate, installed) is move


@pytest.mark.parametrize(("candidate", "installed"), [
    ("0.1.0", "0.2.0"),
    ("0.9.0", "0.10.0"),
    ("1.0.0rc1", "1.0.0"),
])
def test_a_downgrade_is_refused_naming_both_versions(candidate: str, installed: str) -> None:
    with pytest.raises(DowngradeRefused) as caught:
        check_version(candidate, installed)
    assert caught.value.exit_code == 7
    assert candidate in caught.value.message and installed in caught.value.message
    assert "--allow-downgrade" in caught.value.hint


def test_a_downgrade_passes_when_allowed() -> None:
    assert check_version("0.1.0", "0.2.0", allow_downgrade=True) is Move.DOWNGRADE
