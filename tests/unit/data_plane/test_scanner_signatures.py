"""clamd's ``VERSION`` reply → which signature database is loaded, and whether the scanner
may count as ready (issue 16, finding 9: a clamd with only the project's test signatures
reports real malware clean, so it must not look ready outside tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data_plane.domain.scanner_signatures import (
    SignatureState,
    judge_signatures,
    parse_database_header,
    parse_version_reply,
)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reply", "engine", "daily", "published"),
    [
        ("ClamAV 1.0.7/27470/Mon Nov 30 09:34:00 2026", "1.0.7", 27470,
         datetime(2026, 11, 30, 9, 34, tzinfo=UTC)),
        # clamd pads a one-digit day with a space (ctime), and ends the reply with NUL
        ("ClamAV 1.4.6/27480/Wed Dec  2 05:49:25 2026\0", "1.4.6", 27480,
         datetime(2026, 12, 2, 5, 49, 25, tzinfo=UTC)),
        # only the project's own .hdb/.ndb: no daily database, so no version part
        ("ClamAV 1.4.6", "1.4.6", None, None),
        ("ClamAV 1.4.6\0", "1.4.6", None, None),
    ],
)
def test_version_replies(reply: str, engine: str, daily: int | None,
                         published: datetime | None) -> None:
    state = parse_version_reply(reply)
    assert (state.engine, state.daily_version, state.published) == (engine, daily, published)
    assert state.test_only is (daily is None)


@pytest.mark.parametrize("reply", ["", "PONG", "UNKNOWN COMMAND", "ClamAV",
                                   "ClamAV 1.0.7/x/Mon Nov 30 09:34:00 2026",
                                   "ClamAV 1.0.7/27470/not a date"])
def test_garbage_is_refused(reply: str) -> None:
    with pytest.raises(ValueError, match="VERSION"):
        parse_version_reply(reply)


def test_official_database_is_ready_and_its_age_is_reported() -> None:
    state = SignatureState("1.0.7", 27470, NOW - timedelta(hours=30))
    judged = judge_signatures(state, allow_test_signatures=False, now=NOW)
    assert judged.ready and judged.reason is None
    assert judged.report() == {
        "engine": "ClamAV 1.0.7", "daily_version": 27470,
        "published": "2026-12-01T00:00:00Z", "age_hours": 30.0, "test_only": False,
    }


def test_test_signatures_alone_are_not_ready() -> None:
    judged = judge_signatures(SignatureState("1.4.6", None, None),
                              allow_test_signatures=False, now=NOW)
    assert not judged.ready
    assert judged.reason is not None and "test signatures" in judged.reason
    assert "freshclam" in judged.reason  # says what to do
    assert judged.report()["test_only"] is True and judged.report()["age_hours"] is None


def test_test_signatures_when_allowed_are_ready_with_a_warning() -> None:
    judged = judge_signatures(SignatureState("1.4.6", None, None),
                              allow_test_signatures=True, now=NOW)
    assert judged.ready
    assert judged.report()["warning"].startswith("only the project's test signatures")


def test_a_database_from_the_future_has_no_negative_age() -> None:
    state = SignatureState("1.0.7", 27470, NOW + timedelta(hours=2))  # clamd's clock ahead
    assert judge_signatures(state, allow_test_signatures=False, now=NOW).report()[
        "age_hours"] == 0.0


def test_database_headers() -> None:
    header = b"ClamAV-VDB:30 Nov 2026 09-34 +0000:27470:2077315:90:0123abcd:sig:svc:1796031240"
    parsed = parse_database_header(header.ljust(512, b" ") + b"\x1f\x8b...")
    assert (parsed.version, parsed.signatures) == (27470, 2077315)
    assert parsed.report()["published"] == "2026-11-30T09:34:00Z"
    for bad in (b"", b"\x1f\x8b gzip", b"ClamAV-VDB:x:y:z", b"ClamAV-VDB:d:v:1:2:3:4:5:6"):
        with pytest.raises(ValueError, match="ClamAV database header"):
            parse_database_header(bad)
