"""How domain values are spelled in the SQLite schema's columns: the one place that translates them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Scope

# The schema predates the shared vocabulary and spells Scope differently per table; only the store translates.
# digest_settings.scope holds Scope's own values.
SUBSCRIPTION_KIND = {Scope.GUILD: "channel", Scope.USER: "alert"}  # subscriptions.kind
TARGET_KIND = {Scope.GUILD: "channel", Scope.USER: "user"}  # deliveries.target_kind
SCOPE_OF_KIND = {kind: scope for scope, kind in SUBSCRIPTION_KIND.items()}
SCOPE_OF_TARGET_KIND = {kind: scope for scope, kind in TARGET_KIND.items()}


def ts(value: datetime | None) -> str | None:
    """A timestamp as stored: ISO 8601 in UTC, to the microsecond, so text order is time order."""
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def dt(value: str | None) -> datetime | None:
    """A stored timestamp read back."""
    return None if value is None else datetime.fromisoformat(value)
