"""Feedback per (user, target, paper), on a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.models import Scope, Target
from bot.store.feedback import FeedbackCounts, Vote
from tests.conftest import T0, make_paper

CHANNEL, OTHER = Target(Scope.GUILD, 10), Target(Scope.GUILD, 11)


async def _stored(store, *papers):
    await store.ingest(list(papers), lambda new, recheck: (), T0)


async def test_the_same_users_last_click_counts(store):
    await _stored(store, make_paper(1))
    pid = "2411.00001"
    assert await store.record_vote(7, CHANNEL, pid, Vote.LIKE, T0) is Vote.LIKE
    assert await store.record_vote(7, CHANNEL, pid, Vote.LIKE, T0) is None  # a second 👍 takes it back
    assert await store.record_vote(7, CHANNEL, pid, Vote.DISLIKE, T0) is Vote.DISLIKE
    assert await store.record_vote(7, CHANNEL, pid, Vote.LIKE, T0 + timedelta(seconds=1)) is Vote.LIKE
    await store.record_vote(8, CHANNEL, pid, Vote.DISLIKE, T0)
    await store.record_save(8, CHANNEL, pid, T0)
    await store.record_save(8, CHANNEL, pid, T0)  # saving twice is one save
    assert await store.feedback_counts(CHANNEL, pid) == FeedbackCounts(likes=1, dislikes=1, saves=1)
    assert await store.feedback_counts(OTHER, pid) == FeedbackCounts()  # per target
    await store.record_vote(8, CHANNEL, pid, Vote.DISLIKE, T0)
    assert await store.feedback_counts(CHANNEL, pid) == FeedbackCounts(likes=1, dislikes=0, saves=1)


async def test_feedback_keeps_its_time(store):
    await _stored(store, make_paper(1))
    await store.record_vote(7, CHANNEL, "2411.00001", Vote.LIKE, T0)
    rows = await store._db.fetchall("SELECT vote, voted_at, saved_at FROM feedback")
    assert [(r["vote"], datetime.fromisoformat(r["voted_at"]), r["saved_at"]) for r in rows] == [("like", T0, None)]


async def test_clicks_are_profile_examples_of_the_channel_and_of_the_clickers_alerts(store):
    await _stored(store, *(make_paper(n) for n in range(1, 5)))
    p1, p2, p3, p4 = (f"2411.0000{n}" for n in range(1, 5))
    await store.add_subscription(scope=Scope.USER, user_id=7, query="x", now=T0)  # user 7 has alerts
    dms = Target(Scope.USER, 7)
    await store.record_vote(7, CHANNEL, p1, Vote.LIKE, T0)
    await store.record_vote(8, CHANNEL, p2, Vote.DISLIKE, T0)
    await store.record_save(7, dms, p3, T0)  # saved from a DM: a liked paper of user 7's alerts
    await store.record_vote(7, OTHER, p4, Vote.DISLIKE, T0)
    await store.add_profile_examples(dms, 7, [p2], 1, "seed", T0 - timedelta(days=1))
    # A channel learns from whoever clicks in it; a user's alerts from that user's clicks anywhere.
    assert sorted(await store.profile_examples(CHANNEL)) == [(p1, 1, "feedback"), (p2, -1, "feedback")]
    assert sorted(await store.profile_examples(dms)) == [
        (p1, 1, "feedback"),
        (p2, 1, "seed"),
        (p3, 1, "feedback"),
        (p4, -1, "feedback"),
    ]
    assert set(await store.profile_targets()) == {CHANNEL, OTHER, dms}  # user 8 has no alerts: no profile
    await store.record_vote(7, CHANNEL, p1, Vote.LIKE, T0)  # taken back: no longer an example
    assert (p1, 1, "feedback") not in await store.profile_examples(dms)
    assert await store.forget_profile(dms) == 4  # the seed, and every click of user 7
    assert await store.profile_examples(dms) == []
    assert await store.profile_examples(CHANNEL) == [(p2, -1, "feedback")]
