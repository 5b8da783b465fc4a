"""Event-loop lag: a task that asks to wake every 10 ms and records how late each wake-up comes.

A loop that runs something for 300 ms without yielding makes the tick due in that time fire ~300 ms late, so
the lateness of the ticks due during a command (or a poll, or start-up) is how long that work held the loop.
``LagProbe`` runs inside a process; ``python -m benchmarks.probed_bot`` runs the bot with one on its loop,
appending ``(due, lateness)`` pairs (``time.monotonic`` seconds, which the parent process shares) to a file.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.report import percentile

TICK = 0.010
_PAIR = struct.Struct("<dd")


@dataclass
class LagProbe:
    """Ticks every :data:`TICK` seconds on the running loop; ``ticks`` holds ``(due, lateness)`` pairs."""

    ticks: list[tuple[float, float]] = field(default_factory=list)
    path: Path | None = None  # also append the ticks there, every ``flush_every`` ticks

    async def run(self, flush_every: int = 50) -> None:
        """Tick until cancelled (a task of its own on the loop being measured)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + TICK
        written = 0
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            self.ticks.append((due, max(0.0, now - due)))
            due = now + TICK  # after a stall, one late tick, not a catch-up burst of them
            if self.path is not None and len(self.ticks) - written >= flush_every:
                with self.path.open("ab") as out:
                    out.write(b"".join(_PAIR.pack(*tick) for tick in self.ticks[written:]))
                written = len(self.ticks)


def read_ticks(path: Path) -> list[tuple[float, float]]:
    """The ticks a probed process wrote."""
    data = path.read_bytes() if path.exists() else b""
    return [_PAIR.unpack_from(data, offset) for offset in range(0, len(data) - _PAIR.size + 1, _PAIR.size)]


@dataclass(frozen=True)
class Lag:
    """The lag of the ticks due within some windows: the worst, the 99th percentile, and how many ticks."""

    max: float
    p99: float
    ticks: int


def lag_in(ticks: Sequence[tuple[float, float]], windows: Iterable[tuple[float, float]]) -> Lag:
    """The lag of the ticks due within any of ``windows`` (``(start, end)`` monotonic seconds)."""
    spans = sorted(windows)
    # A tick due just before a window opens fires inside it when the window's work holds the loop: widen by one.
    late = [lateness for due, lateness in ticks if any(start - TICK <= due <= end for start, end in spans)]
    if not late:
        return Lag(0.0, 0.0, 0)
    return Lag(max(late), percentile(late, 99), len(late))
