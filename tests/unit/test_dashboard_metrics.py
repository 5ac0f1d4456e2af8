"""The Grafana dashboard (docs/grafana/frostbyte-dashboard.json) queries what the planes
export: every ``frostbyte_*`` series a panel asks for belongs to a family one of the two
metric registries defines, every family has a panel, and the ``tenant`` variable narrows
the panels — so a renamed metric or a family added without a panel fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from control_plane.adapters.metrics import PrometheusControlPlaneMetrics
from data_plane.adapters.metrics import PrometheusMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "frostbyte-dashboard.json"
SERIES = re.compile(r"\bfrostbyte_[a-z_]+\b")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def defined_families() -> dict[str, str]:
    """Each family and the type its registry gives it."""
    data_plane = PrometheusMetrics()
    data_plane.watch_queue(list, ())
    out: dict[str, str] = {}
    for registry in (data_plane.registry, PrometheusControlPlaneMetrics().registry):
        out.update({family.name: family.type for family in registry.collect()})
    return out


def family_of(series: str, families: dict[str, str]) -> str | None:
    if series in families:
        return series
    for suffix in SUFFIXES:
        if series.endswith(suffix) and series.removesuffix(suffix) in families:
            return series.removesuffix(suffix)
    return None


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_the_dashboard_is_a_grafana_10_dashboard_with_a_tenant_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["tenant"]["type"] == "query"
    assert "tenant" in variables["tenant"]["query"]["query"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}


def test_every_panel_queries_exported_families_and_every_family_has_a_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    families = defined_families()
    used: set[str] = set()
    for panel in panels(dashboard):
        for target in panel["targets"]:
            for series in SERIES.findall(target["expr"]):
                family = family_of(series, families)
                assert family is not None, (panel["title"], series)
                if series.endswith(("_bucket", "_count", "_sum")):
                    assert families[family] == "histogram", (panel["title"], series)
                used.add(family)
    assert used == set(families), sorted(set(families) - used)


def test_the_data_plane_panels_follow_the_tenant_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            if "frostbyte_cp_" not in expr:
                assert 'tenant=~"$tenant"' in expr, (panel["title"], expr)
