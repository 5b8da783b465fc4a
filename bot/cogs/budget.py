"""One budget per user shared by every expensive path, so rotating between commands gains nothing.

Per-command cooldowns (``ui.user_cooldown``) stop one command being repeated; they do not stop a member cycling
through search, preview, explain and backfilled adds, nor typing into autocomplete or clicking page buttons, none
of which have a cooldown. Each of those spends from one token bucket per user: a command or a click costs 1, an
autocomplete request (one per keystroke) a fraction. Over budget, a command is refused with "slow down, try again
in N s" (the tree's cooldown message), a click gets the same privately, and autocomplete offers no choices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

CAPACITY = 10.0  # a burst of ten expensive requests...
REFILL_SECONDS = 3.0  # ...then one more every three seconds
COMMAND_COST = 1.0
AUTOCOMPLETE_COST = 0.25
_PRUNE_AT = 10_000  # users remembered before those with a full bucket again are forgotten


class UserBudget:
    """A token bucket per user: ``capacity`` tokens, refilled one per ``refill_seconds``."""

    def __init__(
        self,
        capacity: float = CAPACITY,
        refill_seconds: float = REFILL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.refill_seconds = refill_seconds
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # user id → (tokens, when counted)

    def _tokens(self, user_id: int, now: float) -> float:
        tokens, then = self._buckets.get(user_id, (self.capacity, now))
        return min(self.capacity, tokens + (now - then) / self.refill_seconds)

    def spend(self, user_id: int, cost: float = COMMAND_COST) -> float:
        """Take ``cost`` from the user's budget and return 0.0; or, when it is short, take nothing and return the
        seconds until it would not be."""
        now = self.clock()
        tokens = self._tokens(user_id, now)
        if tokens < cost:
            return (cost - tokens) * self.refill_seconds
        if len(self._buckets) >= _PRUNE_AT:
            self._buckets = {
                user: bucket for user, bucket in self._buckets.items() if self._tokens(user, now) < self.capacity
            }
        self._buckets[user_id] = (tokens - cost, now)
        return 0.0


def slow_down(seconds: float) -> str:
    """What a user over a rate limit is told."""
    return f"Slow down a little: try again in {max(1, math.ceil(seconds))}s."


def budget_of(interaction: discord.Interaction) -> UserBudget | None:
    """The budget of the bot's command tree (``PaperTree.budget``); None for a tree without one."""
    budget = getattr(getattr(interaction.client, "tree", None), "budget", None)
    return budget if isinstance(budget, UserBudget) else None


def spend(interaction: discord.Interaction, cost: float = COMMAND_COST) -> float:
    """Spend from the invoking user's budget: 0.0 when granted, else the seconds to wait (nothing spent)."""
    budget = budget_of(interaction)
    return 0.0 if budget is None else budget.spend(interaction.user.id, cost)


def expensive(only_with: str | None = None) -> Callable[[Any], Any]:
    """A check spending one unit of the user's budget per invocation (only when option ``only_with`` is set and
    non-zero, e.g. ``backfill``); over budget, the command is refused like a cooldown."""

    def predicate(interaction: discord.Interaction) -> bool:
        if only_with is not None and not getattr(interaction.namespace, only_with):
            return True
        wait = spend(interaction)
        if wait:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(CAPACITY, REFILL_SECONDS), wait)
        return True

    return app_commands.check(predicate)
