"""The engine without Discord: planning deliveries, "why (not) posted?", and search, on a real SQLite store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.config import LimitsSettings
from bot.engine import Engine, LimitReached
from bot.matching import parse_query
from bot.matching.compiled import encode
from bot.matching.index import SubscriptionIndex
from bot.models import Owner, Paper, Scope, Subscription, SubscriptionStatus
from tests.conftest import T0, make_paper

GUILD = Owner.guild(1)


@pytest.fixture
async def engine(store):
    engine = Engine(store, clock=lambda: T0)
    await engine.load()
    return engine


async def _add(engine: Engine, query: str, owner: Owner = GUILD, **options: int) -> Subscription:
    guild = owner.scope is Scope.GUILD  # a moderator (user 5) adds a channel's; a user adds their own alerts
    sub, _ = await engine.add_subscription(
        owner=owner,
        user_id=5 if guild else owner.id,
        query=parse_query(query),
        channel_id=10 if guild else None,
        **options,
    )
    return sub


def _paper(n: int, title: str, upvotes: int = 0, **fields: object) -> Paper:
    return make_paper(n, title=title, abstract="A study.", upvotes=upvotes, **fields)


async def test_plan_matches_new_papers_in_paper_then_subscription_order_and_applies_thresholds(engine):
    anything = await _add(engine, "attention")
    popular = await _add(engine, "attention", min_upvotes=10)
    other = await _add(engine, "diffusion")
    papers = [_paper(1, "Attention sinks", 3), _paper(2, "Diffusion models", 50), _paper(3, "Sparse attention", 20)]
    assert engine.plan(papers) == [
        (anything.id, "2411.00001"),
        (other.id, "2411.00002"),
        (anything.id, "2411.00003"),
        (popular.id, "2411.00003"),
    ]


async def test_plan_rechecks_only_threshold_subscriptions_that_existed_when_the_paper_was_listed(engine):
    await _add(engine, "attention")
    popular = await _add(engine, "attention", min_upvotes=10)
    grown = replace(_paper(1, "Attention sinks", 15), first_seen_at=T0 + timedelta(hours=1))
    older = replace(_paper(2, "Attention again", 15), first_seen_at=T0 - timedelta(hours=1))
    still_low = replace(_paper(3, "Attention too", 9), first_seen_at=T0 + timedelta(hours=1))
    assert engine.plan([], [grown, older, still_low]) == [(popular.id, "2411.00001")]


async def test_plan_skips_paused_subscriptions_until_resumed(engine):
    sub = await _add(engine, "attention")
    await engine.set_status(GUILD, sub.id, SubscriptionStatus.PAUSED, "paused by a moderator")
    assert engine.plan([_paper(1, "Attention sinks")]) == []
    await engine.set_status(GUILD, sub.id, SubscriptionStatus.ACTIVE)
    assert engine.plan([_paper(1, "Attention sinks")]) == [(sub.id, "2411.00001")]


async def test_caps_are_per_owner(store):
    engine = Engine(store, clock=lambda: T0, limits=LimitsSettings(subscriptions_per_guild=1, alerts_per_user=1))
    await engine.load()
    await _add(engine, "attention")
    with pytest.raises(LimitReached, match="already has 1 subscriptions"):
        await _add(engine, "diffusion")
    await _add(engine, "attention", owner=Owner.guild(2))  # another server has its own quota
    await _add(engine, "attention", owner=Owner.user(7))
    with pytest.raises(LimitReached, match="1 alerts"):
        await _add(engine, "diffusion", owner=Owner.user(7))


async def test_explain_says_why_a_paper_was_or_was_not_posted(engine, store):
    sub = await _add(engine, "attention -survey")
    popular = await _add(engine, "attention", min_upvotes=100)
    before = _paper(1, "Attention before the subscription")
    await store.ingest([before], lambda new, recheck: (), T0 - timedelta(days=1))
    after = [_paper(2, "Attention sinks", 5), _paper(3, "A survey of attention"), _paper(4, "Attention sent")]
    await store.ingest(after, engine.plan, T0 + timedelta(minutes=1))
    await store.mark_sent([(sub.id, "2411.00004")], 999, T0 + timedelta(minutes=2))

    async def reason(paper_id: str, subscription: Subscription = sub) -> str:
        paper = await store.get_paper(paper_id)
        assert paper is not None
        return (await engine.explain(paper, subscription)).reason

    assert await reason("2411.00002") == "queued: it will be posted within seconds"
    assert await reason("2411.00003") == "it does not match the query"
    assert (await reason("2411.00001")).startswith("it was listed before the subscription existed")
    assert await reason("2411.00004") == "delivered"
    assert await reason("2411.00002", popular) == ("it has 5 upvotes, below this subscription's min_upvotes of 100")
    verdict = (await engine.explain(await store.get_paper("2411.00003"), sub)).verdict  # type: ignore[arg-type]
    assert not verdict.matched and any("survey" in failure for failure in verdict.failures)
    await engine.set_status(GUILD, sub.id, SubscriptionStatus.PAUSED, "paused by a moderator")
    paused = replace(sub, status=SubscriptionStatus.PAUSED, pause_reason="paused by a moderator")
    assert await reason("2411.00002", paused) == (
        "the subscription is paused (paused by a moderator); it will be posted when resumed"
    )


async def test_search_ranks_exact_matches_and_filters_by_source(engine, store):
    papers = [
        _paper(1, "Attention sinks in long context", 2),
        make_paper(2, title="Diffusion", abstract="Attention is mentioned in passing.", upvotes=0),
        _paper(3, "Attention for arXiv readers", 1, source="arxiv", categories=("cs.CL",)),
        _paper(4, "Unrelated work", 0, categories=("cs.CL",)),
        _paper(5, "A survey of attention", 0),
        *(_paper(n, f"Unrelated topic {n}") for n in range(6, 30)),  # so that "attention" is a rare word
    ]
    await store.ingest(papers, lambda new, recheck: (), T0)
    found = await engine.search(parse_query("attention -survey"))
    assert [p.id for p in found][:2] == ["2411.00001", "2411.00003"]  # title hits before the abstract-only one
    assert {p.id for p in found} == {"2411.00001", "2411.00002", "2411.00003"}
    assert [p.id for p in await engine.search(parse_query("attention"), source="arxiv")] == ["2411.00003"]
    # A query the full-text index cannot constrain is matched exactly against recent papers.
    assert {p.id for p in await engine.search(parse_query("cat:cs.CL"))} == {"2411.00003", "2411.00004"}
    assert await engine.search(parse_query("transformer")) == []


async def test_an_add_the_index_has_no_room_for_stores_nothing(store):
    engine = Engine(store, clock=lambda: T0)
    engine.index = SubscriptionIndex(max_words=6)  # room for four words
    await engine.load()
    kept = await _add(engine, "attention sink")
    with pytest.raises(LimitReached, match="no room"):
        await _add(engine, "diffusion transformer models", backfill=3)
    assert [s.id for s in await store.list_subscriptions(GUILD)] == [kept.id]  # no row left behind
    assert len(engine.index) == 1
    await engine.set_status(GUILD, kept.id, SubscriptionStatus.REMOVED)  # its words are reclaimed
    added = await _add(engine, "diffusion transformer")
    assert engine.plan([_paper(1, "A diffusion transformer")]) == [(added.id, "2411.00001")]


async def test_concurrent_adds_cannot_pass_the_cap_together(store):
    engine = Engine(store, clock=lambda: T0, limits=LimitsSettings(alerts_per_user=2))
    await engine.load()
    me = Owner.user(7)
    results = await asyncio.gather(*(_add(engine, f"topic{n}", owner=me) for n in range(5)), return_exceptions=True)
    assert sum(isinstance(r, Subscription) for r in results) == 2
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, Subscription))
    assert await store.count_subscriptions(me) == 2 and len(engine.index) == 2


async def test_a_restart_indexes_stored_queries_from_the_compiled_forms_the_previous_load_wrote(store):
    running = Engine(store, clock=lambda: T0)
    await running.load()
    plain = await _add(running, "attention")
    gated = await _add(running, "diffusion", min_upvotes=10)
    day = [_paper(1, "Attention sinks", 3), _paper(2, "Diffusion models", 3), _paper(3, "Diffusion at scale", 50)]
    expected = [(plain.id, "2411.00001"), (gated.id, "2411.00003")]

    async def restarted() -> list[tuple[int, str]]:
        engine = Engine(store, clock=lambda: T0)
        await engine.load()
        return engine.plan(day)

    async def forms() -> dict[int, str | None]:
        return {stored.id: stored.compiled for stored in await store.indexing_page(0, 10)}

    assert await forms() == {plain.id: None, gated.id: None}  # added while running: parsed, not stored
    assert await restarted() == expected
    # The first load wrote the plain query's form (the threshold subscription takes the whole path, parsed).
    assert await forms() == {plain.id: encode(parse_query("attention")), gated.id: None}
    assert await restarted() == expected
    # The stored form is what a restart indexes (a form that says otherwise wins: nothing was parsed) ...
    await store.save_compiled([(plain.id, encode(parse_query("diffusion")))])
    assert await restarted() == [(plain.id, "2411.00002"), (plain.id, "2411.00003"), (gated.id, "2411.00003")]
    # ... unless it is of another version: then the text is parsed and the form rewritten.
    await store.save_compiled([(plain.id, "0|L|x1diffusion")])
    assert await restarted() == expected
    assert (await forms())[plain.id] == encode(parse_query("attention"))
