"""Result rows and the printed table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the results table.

    ``passed`` is None for context rows that have no target. ``baseline`` says what the measurement is
    compared with: brute force or perq where the issue names one, else the target itself.
    """

    figure: str
    measured: str
    target: str
    baseline: str
    passed: bool | None
    notes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verdict(row: Row) -> str:
    if row.passed is None:
        return "info"
    return "PASS" if row.passed else "MISS"


def format_table(rows: Sequence[Row]) -> str:
    headers = ("figure", "measured", "target", "ratio to baseline", "result")
    cells = [(r.figure, r.measured, r.target, r.baseline, verdict(r)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out.extend("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells)
    return "\n".join(row.rstrip() for row in out)


def format_notes(rows: Sequence[Row]) -> str:
    out = []
    for row in rows:
        if row.notes:
            out.append(f"{row.figure}:")
            out.extend(f"    {note}" for note in row.notes)
    return "\n".join(out)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 50 samples is the 48th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
