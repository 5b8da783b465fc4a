"""The Grafana dashboard in deploy/ charts only metrics the bot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.ops.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"


def test_every_dashboard_query_uses_an_exported_metric():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = set()
    for family in Metrics().registry.collect():
        exported |= {sample.name for sample in family.samples} | {family.name}
    # Histograms and counters export no samples until observed: add their series names.
    exported |= {f"{name}{suffix}" for name in set(exported) for suffix in ("_total", "_bucket", "_count", "_sum")}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\bpaperbot_[a-z0-9_]+", target["expr"]))
    assert used and used <= exported, used - exported
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
