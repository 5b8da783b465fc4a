"""``/papers search``, ``/subscriptions preview`` and backfill end to end, on both drivers: they find what
subscriptions match, however the text is written (issue 16.11), and a search that would hold the database is
refused or stopped with a clear message (issue 16.2)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg

from bot.devtools.emulator import MANAGE_CHANNELS
from bot.store import Store, connection, search_budget
from tests.conftest import make_paper
from tests.e2e.conftest import World, arxiv_ids, today

# Each title is written with characters NFKC and casefolding turn into plain words: a ligature, fullwidth
# and mathematical bold letters, ß, a superscript; the last one in Devanagari (whose vowel signs fold away).
ODD_TITLES = {
    "2403.20001": "Eﬃcient ＬＬＭ serving",
    "2403.20002": "𝐋𝐋𝐌 agents for Straße navigation",
    "2403.20003": "Scaling x² attention",
    "2403.20004": "हिन्दी language models",
}


def _odd_items(items):
    made = []
    for n, (paper_id, title) in enumerate(ODD_TITLES.items()):
        item = copy.deepcopy(items[n])
        item["paper"]["id"] = paper_id
        item["paper"]["title"] = item["title"] = title
        made.append(item)
    return made


async def test_search_preview_and_backfill_find_what_subscriptions_match(world: World, items):
    world.hf.publish(today(), [*items[10:20], *_odd_items(items)])
    role = world.emulator.add_role(world.guild_id, "more-mods", MANAGE_CHANNELS)
    mods = [world.emulator.add_member(world.guild_id, name=f"mod{n}", roles=[role]) for n in range(2)]
    await world.start_bot()
    await world.polls_completed(1)
    for number, (query, want) in enumerate(
        [
            ("efficient llm", {"2403.20001"}),
            ("ti:llm", {"2403.20001", "2403.20002"}),
            ('"ｅｆｆｉｃｉｅｎｔ llm"', {"2403.20001"}),
            ("strasse", {"2403.20002"}),
            ("x2", {"2403.20003"}),
            ("हिन्दी", {"2403.20004"}),
        ]
    ):
        user = mods[number % 2]  # commands have a per-user cooldown
        # The odd papers sort first among equals (newest ids), so they are on the first page if found at all.
        found = set(arxiv_ids([{"embeds": (await world.papers("search", user_id=user, query=query)).embeds}]))
        assert found & set(ODD_TITLES) == want, (query, found)
        preview = await world.subscriptions("preview", user_id=user, query=query)
        assert set(arxiv_ids([{"embeds": preview.embeds}])) & set(ODD_TITLES) == want, (query, preview.content)
    added = await world.subscriptions("add", query="ti:llm", backfill=5)
    assert "Sending the 2 most recent stored matches now" in added.content, added.content
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    assert set(arxiv_ids(world.emulator.messages(world.channel_id))) == {"2403.20001", "2403.20002"}


async def test_a_search_with_too_many_prefixes_is_refused_with_what_to_do(world: World, items):
    world.hf.publish(today(), items[:10])
    await world.start_bot()
    await world.polls_completed(1)
    prefixes = " OR ".join(f"{a}{b}*" for a in "tiaso" for b in "honeraiu")[:300].rsplit(" OR ", 1)[0]
    for reply in (
        await world.papers("search", query=prefixes),
        await world.subscriptions("preview", query=prefixes),
        await world.subscriptions("add", query=prefixes, backfill=3),
    ):
        assert reply.ephemeral and "prefix terms" in reply.content and "at most 8" in reply.content, reply.content
    assert "No subscriptions" in (await world.subscriptions("list")).content  # the refused add added nothing


@asynccontextmanager
async def _slow_database(world: World, monkeypatch) -> AsyncIterator[None]:
    """Every search runs past its budget while this is open: on SQLite the progress handler looks at the clock
    on every step and finds the budget spent; on PostgreSQL another session holds the papers table locked, so
    the search waits until statement_timeout cancels it."""
    budget = search_budget.SEARCH_TIME_BUDGET
    if not world.storage_url:
        monkeypatch.setattr(search_budget, "SEARCH_TIME_BUDGET", -1.0)
        yield
        monkeypatch.setattr(search_budget, "SEARCH_TIME_BUDGET", budget)
        return
    monkeypatch.setattr(search_budget, "SEARCH_TIME_BUDGET", 0.3)
    conn = await asyncpg.connect(world.storage_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE papers IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def test_a_search_past_its_time_budget_is_stopped_with_a_clear_message(world: World, items, monkeypatch):
    world.hf.publish(today(), items[:30])
    monkeypatch.setattr(connection, "_PROGRESS_STEPS", 1)  # SQLite: look at the clock on every step
    monkeypatch.setattr(connection, "_MIN_STEPS", 0)  # and stop even a cheap statement past its budget
    await world.start_bot()
    await world.polls_completed(1)
    async with _slow_database(world, monkeypatch):
        found = await world.papers("search", query="model OR learning")
    assert found.ephemeral and "matches too much to search in time" in found.content, found.content
    latest = await world.papers("latest")  # the bot's own reads are not on the searcher
    assert len(latest.embeds) == 5
    found = await world.papers("search", query="model OR learning")  # within the budget again, it is answered
    assert found.embeds, found.content


async def test_a_search_of_categories_or_words_finds_older_papers_from_both_indexes(world: World, items):
    # Two old papers, each found by one side of the OR, and more newer papers than a search used to read (5,000):
    # it matched only those and answered with none of the two.
    now = datetime.now(UTC)
    old = [
        make_paper(1, title="Legged robot locomotion", abstract="Walking.", categories=("cs.RO",)),
        make_paper(2, title="Gyroscope drift estimation", abstract="Sensors.", categories=("eess.SP",)),
    ]
    newer = [
        make_paper(n, title=f"Vision paper {n}", abstract="Images.", categories=("cs.CV",)) for n in range(3, 5200)
    ]
    store = await Store.open(world.storage)
    try:
        await store.ingest(old, lambda new, recheck: (), now - timedelta(days=3))
        await store.ingest(newer, lambda new, recheck: (), now - timedelta(days=1))
    finally:
        await store.close()
    world.hf.publish(today(), items[:3])
    await world.start_bot()
    await world.polls_completed(1)
    result = await world.papers("search", query="cat:cs.RO OR gyroscope")
    assert set(arxiv_ids([{"embeds": result.embeds}])) == {p.id for p in old}, result.content
    both = await world.papers("search", user_id=world.member_id, query='cat:cs.ro OR "vision paper 5199"')
    assert set(arxiv_ids([{"embeds": both.embeds}])) == {old[0].id, newer[-1].id}, both.content
