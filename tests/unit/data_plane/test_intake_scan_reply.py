"""clamd's INSTREAM replies → verdicts; anything but a verdict is "unavailable", never clean."""

from __future__ import annotations

import pytest

from data_plane.adapters.clamav.scanner import parse_reply
from data_plane.errors import ScannerUnavailable


@pytest.mark.parametrize(
    ("reply", "signature"),
    [
        ("stream: OK", None),
        ("stream: Eicar-Signature FOUND", "Eicar-Signature"),
        ("stream: Frostbyte.Test.EICAR.UNOFFICIAL FOUND", "Frostbyte.Test.EICAR.UNOFFICIAL"),
    ],
)
def test_verdicts(reply: str, signature: str | None) -> None:
    assert parse_reply(reply).signature == signature


@pytest.mark.parametrize("reply", ["", "INSTREAM size limit exceeded. ERROR",
                                   "stream: Can't allocate memory ERROR", "UNKNOWN COMMAND"])
def test_no_verdict_is_unavailable(reply: str) -> None:
    with pytest.raises(ScannerUnavailable):
        parse_reply(reply)
