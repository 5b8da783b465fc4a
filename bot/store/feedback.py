"""Feedback on delivered papers (👍 / 👎 / 🔖 per user, target and paper).

A user's feedback on a paper in a target is one row: their last vote (a second click on the same vote takes it
back) with its time, and when they last saved the paper to their DMs. Counts are per target, so one channel's
feedback never shows in another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.models import Target
from bot.store.connection import AnyDatabase
from bot.store.schema import TARGET_KIND, ts


class Vote(StrEnum):
    LIKE = "like"
    DISLIKE = "dislike"


@dataclass(frozen=True, slots=True)
class FeedbackCounts:
    """How a target's users rated one paper: current votes and how many saved it."""

    likes: int = 0
    dislikes: int = 0
    saves: int = 0


class FeedbackQueries:
    """The feedback part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def record_vote(self, user_id: int, target: Target, paper_id: str, vote: Vote, now: datetime) -> Vote | None:
        """Record a 👍/👎 click; the same vote again takes it back. Returns the user's vote now (None: none)."""
        params = {
            "user_id": user_id,
            "target_kind": TARGET_KIND[target.scope],
            "target_id": target.id,
            "paper_id": paper_id,
            "vote": str(vote),
            "now": ts(now),
        }
        async with (
            self._db.transaction() as db,
            db.execute(
                """INSERT INTO feedback (user_id, target_kind, target_id, paper_id, vote, voted_at)
                   VALUES (:user_id, :target_kind, :target_id, :paper_id, :vote, :now)
                   ON CONFLICT (user_id, target_kind, target_id, paper_id) DO UPDATE SET
                       vote = CASE WHEN feedback.vote IS NOT DISTINCT FROM excluded.vote THEN NULL
                                   ELSE excluded.vote END,
                       voted_at = excluded.voted_at
                   RETURNING vote""",
                params,
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None or row["vote"] is None else Vote(row["vote"])

    async def record_save(self, user_id: int, target: Target, paper_id: str, now: datetime) -> None:
        """Record that the user saved the paper (it was DMed to them)."""
        async with self._db.transaction() as db:
            await db.execute(
                """INSERT INTO feedback (user_id, target_kind, target_id, paper_id, saved_at)
                   VALUES (:user_id, :target_kind, :target_id, :paper_id, :now)
                   ON CONFLICT (user_id, target_kind, target_id, paper_id)
                   DO UPDATE SET saved_at = excluded.saved_at""",
                {
                    "user_id": user_id,
                    "target_kind": TARGET_KIND[target.scope],
                    "target_id": target.id,
                    "paper_id": paper_id,
                    "now": ts(now),
                },
            )

    async def feedback_counts(self, target: Target, paper_id: str) -> FeedbackCounts:
        """The target's current votes on a paper and how many saved it (no user is named)."""
        row = await self._db.fetchone(
            """SELECT COUNT(CASE WHEN vote = 'like' THEN 1 END) AS likes,
                      COUNT(CASE WHEN vote = 'dislike' THEN 1 END) AS dislikes, COUNT(saved_at) AS saves
               FROM feedback WHERE target_kind = :target_kind AND target_id = :target_id AND paper_id = :paper_id""",
            {"target_kind": TARGET_KIND[target.scope], "target_id": target.id, "paper_id": paper_id},
        )
        return FeedbackCounts() if row is None else FeedbackCounts(row["likes"], row["dislikes"], row["saves"])
