"""What ``/healthz`` answers: healthy when the gateway is connected and every enabled source has polled
successfully within three of its intervals (counted from start-up until its first success)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import SourceState

STALE_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """One enabled source: its name, poll interval and stored state (None before its first poll)."""

    name: str
    poll_interval: float
    state: SourceState | None


def health_problems(
    *, connected: bool, sources: Sequence[SourceCheck], now: datetime, started_at: datetime
) -> list[str]:
    """Why the bot is unhealthy, one reason a line; empty when it is healthy."""
    problems = [] if connected else ["gateway: not connected to Discord"]
    for source in sources:
        last = source.state.last_success_at if source.state else None
        allowed = timedelta(seconds=STALE_INTERVALS * source.poll_interval)
        if now - max(last or started_at, started_at) <= allowed:
            continue
        failures = source.state.consecutive_failures if source.state else 0
        error = f"; last error: {source.state.last_error}" if source.state and source.state.last_error else ""
        since = f"since {last.isoformat(timespec='seconds')}" if last else "since start-up"
        problems.append(
            f"{source.name}: no successful poll {since} (more than {STALE_INTERVALS} intervals), "
            f"{failures} failure(s) in a row{error}"
        )
    return problems
