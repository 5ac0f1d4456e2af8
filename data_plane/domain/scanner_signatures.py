"""Which ClamAV signature database the scanner has loaded, and whether it may count as ready
(SPEC §5.1, §5.7; issue 16 finding 9).

clamd's ``VERSION`` command answers ``ClamAV <engine>/<daily version>/<daily date>`` when an
official daily database (``daily.cvd``/``.cld``, from freshclam or the offline bundle) is
loaded, and only ``ClamAV <engine>`` when it is not, e.g. with the project's own test
signatures alone (EICAR and Debian's clamav-testfiles): such a scanner reports real malware
clean, so it is not ready unless a setting says this is a test or an evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: ``ClamAV 1.0.7`` or ``ClamAV 1.0.7/27470/Mon Nov 30 09:34:00 2026`` (clamd's ctime date).
_VERSION = re.compile(r"ClamAV (?P<engine>[^/\s]+)(?:/(?P<daily>\d+)/(?P<date>.+))?")

TEST_ONLY_REASON = (
    "only the project's test signatures are loaded (no official daily database): real "
    "malware would pass as clean. Update the signatures (freshclam, or an offline bundle's) "
    "and reload clamd; see docs/operator-runbook.md, Security")


@dataclass(frozen=True, slots=True)
class SignatureState:
    """What clamd has loaded: its engine version and, with an official database, the daily
    database's version and publication time (None: no daily database, test-only)."""

    engine: str
    daily_version: int | None
    published: datetime | None

    @property
    def test_only(self) -> bool:
        return self.daily_version is None


def parse_version_reply(reply: str) -> SignatureState:
    """Parse clamd's ``VERSION`` reply; ``ValueError`` when it is not one. The date is
    clamd's local time, read as UTC (clamd runs in UTC in the image set and the local
    stack; elsewhere the age is off by the host's offset at most)."""
    text = reply.rstrip("\0").strip()
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a clamd VERSION reply: {text[:80]!r}")
    if match["daily"] is None:
        return SignatureState(match["engine"], None, None)
    try:
        published = datetime.strptime(" ".join(match["date"].split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        raise ValueError(f"clamd VERSION reply with an unreadable date: {text[:80]!r}") \
            from None
    return SignatureState(match["engine"], int(match["daily"]), published.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class SignatureJudgement:
    """The signatures as ``/readyz`` shows them, and whether they let the scanner be ready."""

    state: SignatureState
    ready: bool
    reason: str | None
    age_hours: float | None
    warning: str | None = None

    def report(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "engine": f"ClamAV {self.state.engine}",
            "daily_version": self.state.daily_version,
            "published": self.state.published.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.state.published else None,
            "age_hours": self.age_hours,
            "test_only": self.state.test_only,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.warning:
            body["warning"] = self.warning
        return body


def judge_signatures(state: SignatureState, *, allow_test_signatures: bool,
                     now: datetime) -> SignatureJudgement:
    """Ready with an official daily database; with test signatures only, ready only when
    ``allow_test_signatures`` (tests, ``make demo``), and then with a warning."""
    age = None
    if state.published is not None:
        age = round(max(0.0, (now - state.published).total_seconds()) / 3600, 1)
    if not state.test_only:
        return SignatureJudgement(state, True, None, age)
    if allow_test_signatures:
        return SignatureJudgement(state, True, None, age, warning=TEST_ONLY_REASON)
    return SignatureJudgement(state, False, TEST_ONLY_REASON, age)


#: The official databases; a folder with both is a real (freshclam's or a bundle's) one.
OFFICIAL_DATABASES = ("main", "daily")
#: signed (.cvd), updated in place by freshclam (.cld), unsigned (.cud)
DATABASE_SUFFIXES = (".cvd", ".cld", ".cud")


@dataclass(frozen=True, slots=True)
class DatabaseHeader:
    """The 512-byte header of a ClamAV database container:
    ``ClamAV-VDB:<build time>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<stime>``."""

    version: int
    signatures: int
    published: datetime

    def report(self) -> dict[str, Any]:
        return {"version": self.version, "signatures": self.signatures,
                "published": self.published.strftime("%Y-%m-%dT%H:%M:%SZ")}


def parse_database_header(header: bytes) -> DatabaseHeader:
    """Parse a database header (its first 512 bytes); ``ValueError`` when it is not one."""
    fields = header[:512].decode("ascii", "replace").rstrip(" \0").split(":")
    if len(fields) < 9 or fields[0] != "ClamAV-VDB":
        raise ValueError("not a ClamAV database header")
    try:
        version, signatures, stime = int(fields[2]), int(fields[3]), int(fields[8])
    except ValueError:
        raise ValueError("a ClamAV database header with unreadable numbers") from None
    return DatabaseHeader(version, signatures, datetime.fromtimestamp(stime, UTC))
