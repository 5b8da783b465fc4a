"""Relevance profiles: the papers a target's people liked or disliked, as examples for its learned model.

A target (a channel, or a user's alerts) has examples from several origins: seeded with ``like:`` on an add
command (``seed``), imported from a library file (``import``), and the paper controls' clicks (``feedback``):
👍 or 🔖 is a liked paper, 👎 a disliked one. A channel's people are whoever clicks in it; a user's alerts learn
from that user's clicks anywhere (DMs and every channel). :meth:`ProfileQueries.profile_examples` is the one place
that reads them all.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from bot.models import Scope, Target
from bot.store.connection import AnyDatabase, Connection
from bot.store.schema import SCOPE_OF_TARGET_KIND, TARGET_KIND, ts

LIKED, DISLIKED = 1, -1


class CorpusPaper(NamedTuple):
    """What the relevance vocabulary reads of a stored paper (:meth:`ProfileQueries.corpus`)."""

    id: str
    title: str
    abstract: str
    ai_keywords: tuple[str, ...]


# Every example of one target, with its time: the stored examples, then the feedback clicks, of the target's
# people — in the channel for a channel (``:kind`` = 'channel'), anywhere for a user's alerts.
_CLICKS = """
    SELECT paper_id, CASE WHEN vote = 'dislike' THEN -1 ELSE 1 END AS label, 'feedback' AS origin,
           CASE WHEN COALESCE(voted_at, '') > COALESCE(saved_at, '') THEN voted_at ELSE saved_at END AS created_at
    FROM feedback
    WHERE (vote IS NOT NULL OR saved_at IS NOT NULL)
      AND CASE WHEN :kind = 'user' THEN user_id = :id ELSE target_kind = :kind AND target_id = :id END
"""
_EXAMPLES = f"""
    SELECT paper_id, label, origin, created_at FROM profile_examples
    WHERE target_kind = :kind AND target_id = :id
    UNION ALL {_CLICKS}
"""
# Targets whose clicks make a profile: channels clicked in, and users with alerts who clicked anywhere.
_CLICKED_TARGETS = """
    SELECT DISTINCT target_kind, target_id FROM feedback WHERE target_kind = 'channel'
    UNION SELECT DISTINCT 'user', user_id FROM feedback
    WHERE user_id IN (SELECT user_id FROM subscriptions WHERE kind = 'alert' AND status != 'removed')
"""


def _target_params(target: Target) -> dict[str, object]:
    return {"kind": TARGET_KIND[target.scope], "id": target.id}


class ProfileQueries:
    """The profiles part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def profile_examples(self, target: Target) -> list[tuple[str, int, str]]:
        """(paper id, label: 1 liked / -1 disliked, origin) of every example of ``target``; the latest example of
        a paper wins."""
        rows = await self._db.fetchall(
            f"SELECT * FROM ({_EXAMPLES}) AS examples ORDER BY created_at", _target_params(target)
        )
        latest = {row["paper_id"]: (row["paper_id"], int(row["label"]), row["origin"]) for row in rows}
        return list(latest.values())

    async def corpus(self, limit: int) -> list[CorpusPaper]:
        """The newest ``limit`` stored papers, for the relevance vocabulary: only what it reads of them (20,000
        whole Papers would hold ~75 MB at once). Rows are decoded in a worker thread, off the event loop."""
        rows = await self._db.fetchall(
            "SELECT id, title, abstract, ai_keywords FROM papers ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
            {"limit": limit},
        )
        return await asyncio.to_thread(
            lambda: [CorpusPaper(r["id"], r["title"], r["abstract"], tuple(json.loads(r["ai_keywords"]))) for r in rows]
        )

    async def profile_targets(self) -> list[Target]:
        """Every target with at least one example."""
        rows = await self._db.fetchall(
            f"SELECT DISTINCT target_kind, target_id FROM profile_examples UNION {_CLICKED_TARGETS}"
        )
        return [Target(SCOPE_OF_TARGET_KIND[r["target_kind"]], int(r["target_id"])) for r in rows]

    async def add_profile_examples(
        self, target: Target, user_id: int, paper_ids: Sequence[str], label: int, origin: str, now: datetime
    ) -> int:
        """Record these stored papers as examples of ``target`` (replacing earlier labels), in one transaction;
        returns how many were new to the profile."""
        params = [
            {**_target_params(target), "paper": p, "label": label, "origin": origin, "user": user_id, "now": ts(now)}
            for p in dict.fromkeys(paper_ids)
        ]
        async with self._db.transaction() as db:
            before = await _count(db, target)
            await db.executemany(
                "INSERT INTO profile_examples (target_kind, target_id, paper_id, label, origin, user_id, created_at) "
                "VALUES (:kind, :id, :paper, :label, :origin, :user, :now) "
                "ON CONFLICT (target_kind, target_id, paper_id) DO UPDATE SET label = excluded.label, "
                "origin = excluded.origin, user_id = excluded.user_id, created_at = excluded.created_at",
                params,
            )
            return await _count(db, target) - before

    async def forget_profile(self, target: Target) -> int:
        """Delete every example of ``target`` (for a user's alerts: also all their feedback clicks, everywhere);
        returns how many rows that deleted."""
        params = _target_params(target)
        async with self._db.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM profile_examples WHERE target_kind = :kind AND target_id = :id", params
            )
            removed = cursor.rowcount
            if target.scope is Scope.USER:
                cursor = await db.execute("DELETE FROM feedback WHERE user_id = :id", params)
                removed += cursor.rowcount
            return removed

    async def queued_since(self, subscription_ids: Sequence[int], since: datetime) -> dict[int, int]:
        """How many deliveries each of these subscriptions queued since ``since`` (recommend mode's daily quota)."""
        rows = await self._db.fetchall(
            "SELECT subscription_id, COUNT(*) AS n FROM deliveries WHERE created_at >= :since "
            f"AND subscription_id IN ({self._db.dialect.numbers('ids')}) GROUP BY subscription_id",
            {"since": ts(since), "ids": json.dumps(list(subscription_ids))},
        )
        return {int(r["subscription_id"]): int(r["n"]) for r in rows}

    async def stored_ids(self, paper_ids: Sequence[str]) -> set[str]:
        """Which of these paper ids are stored."""
        rows = await self._db.fetchall(
            f"SELECT id FROM papers WHERE id IN ({self._db.dialect.ids('ids')})", {"ids": json.dumps(paper_ids)}
        )
        return {r["id"] for r in rows}

    async def ids_by_title(self, titles: Sequence[str]) -> dict[str, str]:
        """Stored paper ids by title, for these titles (compared as :func:`normalise_title` spells them). Every
        stored title is normalised, in a worker thread (100,000 take about a second)."""
        rows = await self._db.fetchall("SELECT id, title FROM papers")

        def match() -> dict[str, str]:
            wanted = {normalise_title(t) for t in titles}
            found: dict[str, str] = {}
            for row in rows:
                key = normalise_title(row["title"])
                if key in wanted:
                    found.setdefault(key, row["id"])
            return found

        return await asyncio.to_thread(match)


def normalise_title(title: str) -> str:
    """A title as compared on import: case, accents, TeX braces, punctuation and spacing folded away."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", letters).split())


async def _count(db: Connection, target: Target) -> int:
    async with db.execute(
        "SELECT COUNT(*) AS n FROM profile_examples WHERE target_kind = :kind AND target_id = :id",
        _target_params(target),
    ) as cursor:
        row = await cursor.fetchone()
    return int(row["n"]) if row else 0
