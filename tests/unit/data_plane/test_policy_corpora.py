"""The labelled corpora of tests/data/policy (made by ``generate.py`` there): PII recall
and precision, injection/hidden-text detection and false positives on benign documents."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from data_plane.adapters.pii_presidio import PresidioPiiDetector
from data_plane.adapters.safety_hidden import html_hidden
from data_plane.domain.policy.pii import PiiPolicy, resolve_overlaps
from data_plane.domain.policy.safety import Verdict, assess
from data_plane.services.policy import DEFAULT_ENTITY_THRESHOLDS

DATA = Path(__file__).resolve().parents[2] / "data" / "policy"


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


@cache
def _pii_results() -> tuple[tuple[int, int, int, int, int], list[str]]:
    """(true positives, predictions, expected, checksum TP, checksum expected), misses."""
    detector = PresidioPiiDetector()
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    tp = predicted = expected = ck_tp = ck_expected = 0
    misses: list[str] = []
    for row in _load("pii.jsonl"):
        found = resolve_overlaps(detector.detect(row["text"]), policy)
        predicted += len(found)
        for want in row["entities"]:
            expected += 1
            ck_expected += row["checksum"]
            hit = any(f.entity_type == want["type"] and f.start < want["end"]
                      and want["start"] < f.end for f in found)
            tp += hit
            ck_tp += hit and row["checksum"]
            if not hit:
                misses.append(f"{row['id']} {want['type']}")
        for f in found:
            if not any(f.entity_type == w["type"] and f.start < w["end"] and w["start"] < f.end
                       for w in row["entities"]):
                misses.append(f"{row['id']} false {f.entity_type}")
    return (tp, predicted, expected, ck_tp, ck_expected), misses


def test_corpora_are_big_enough() -> None:
    pii = _load("pii.jsonl")
    assert len(pii) >= 200
    assert sum(r["lookalike"] for r in pii) >= 30
    assert len(_load("injection.jsonl")) >= 100
    benign = _load("benign.jsonl")
    assert len(benign) >= 100
    assert sum(bool(re.search(r"ignore|instructions", r["text"], re.I)) for r in benign) >= 20


def test_pii_recall_on_checksum_validated_entities() -> None:
    (_, _, _, ck_tp, ck_expected), misses = _pii_results()
    assert ck_tp / ck_expected >= 0.95, misses


def test_pii_precision_overall() -> None:
    (tp, predicted, expected, _, _), misses = _pii_results()
    assert tp / predicted >= 0.90, misses
    assert tp / expected >= 0.90, misses


def _verdict(row: dict[str, Any]) -> Verdict:
    text, hidden = row["text"], []
    if row["format"] == "html":
        hidden = html_hidden(text.encode())
        text = re.sub(r"<!--.*?-->|<[^>]+>", " ", text, flags=re.S)
    return assess([(0, text)], hidden, flag_at=0.5, quarantine_at=0.8).verdict


@pytest.mark.parametrize(("name", "bound"), [("injection.jsonl", 0.90)])
def test_injection_and_hidden_text_detection(name: str, bound: float) -> None:
    rows = _load(name)
    missed = [r["id"] for r in rows if _verdict(r) is Verdict.PASS]
    assert 1 - len(missed) / len(rows) >= bound, missed


def test_false_positives_on_benign_documents() -> None:
    rows = _load("benign.jsonl")
    flagged = [r["id"] for r in rows if _verdict(r) is not Verdict.PASS]
    assert len(flagged) / len(rows) <= 0.05, flagged


def test_unambiguous_overrides_and_hidden_instructions_are_quarantined() -> None:
    rows = _load("injection.jsonl")
    plain = [r for r in rows if r["kind"] in ("plain", "hidden")
             and re.search(r"ignore|ignor|negeer|zignoruj", r["text"], re.I)]
    assert plain
    assert all(_verdict(r) is Verdict.QUARANTINE for r in plain), [
        r["id"] for r in plain if _verdict(r) is not Verdict.QUARANTINE]
