"""Feedback per (user, target, paper) and similar papers, on a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.models import Scope, Target
from bot.store.feedback import FeedbackCounts, Vote, key_terms
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


async def test_similar_papers_share_key_terms_and_leave_the_paper_out(store):
    base = make_paper(1, title="Sparse attention for long-context retrieval", ai_keywords=("sparse attention",))
    close = make_paper(2, title="Retrieval with sparse attention kernels", abstract="Kernels.")
    far = make_paper(3, title="Protein folding on graphs", abstract="Biology.")
    await _stored(store, base, close, far)
    similar = [p.id for p in await store.similar_papers(base)]
    assert similar[0] == close.id
    assert base.id not in similar and far.id not in similar


def test_key_terms_skip_stop_words_and_punctuation():
    paper = make_paper(1, title='A "new" approach: LLM-based agents (v2) for the web', ai_keywords=("tool use",))
    terms = key_terms(paper)
    assert terms[:2] == ["tool", "llm"]
    assert "the" not in terms and "new" not in terms and all(t.isalnum() for t in terms)
