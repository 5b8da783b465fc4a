import asyncio
import threading
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import aiosqlite
import pytest

from bot.matching.nodes import Field, Not, Term
from bot.models import DeliveryStatus, Mode, Owner, Paper, Schedule, Scope, SubscriptionStatus, Target
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.store.paper_rows import PAPER_FIELDS
from tests.conftest import T0, make_paper


async def _sub(store, guild=1, channel=10, query="attention", **kwargs):
    return await store.add_subscription(
        scope=Scope.GUILD, guild_id=guild, channel_id=channel, user_id=5, query=query, now=T0, **kwargs
    )


G1, G2 = Owner.guild(1), Owner.guild(2)


async def test_migrations_are_idempotent_and_wal(tmp_path):
    path = str(tmp_path / "m.db")
    for _ in range(2):
        store = await Store.open(path)
        assert await store.schema_version() == len(MIGRATIONS)
        await store.close()
    async with aiosqlite.connect(path) as db, db.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"


async def test_ingest_plans_only_new_papers_and_keeps_first_seen(store):
    sub = await _sub(store)
    seen = []

    def plan(papers, recheck):
        seen.append([p.id for p in papers])
        return [(sub.id, p.id) for p in papers]

    first = await store.ingest([make_paper(1), make_paper(2)], plan, T0)
    assert [p.id for p in first.new_papers] == ["2411.00001", "2411.00002"] and first.queued == 2
    later = T0 + timedelta(hours=1)
    second = await store.ingest([make_paper(2, upvotes=9, ai_summary="short"), make_paper(3)], plan, later)
    assert seen == [["2411.00001", "2411.00002"], ["2411.00003"]]
    assert second.updated == 1 and second.queued == 1
    paper = await store.get_paper("2411.00002")
    assert paper.first_seen_at == T0 and paper.upvotes == 9 and paper.ai_summary == "short"


async def test_ingest_prepares_its_rows_off_the_event_loop(store, threads_of):
    import bot.store.papers as papers

    threads = threads_of(papers, "paper_params")
    await store.ingest([make_paper(1)], lambda new, recheck: (), T0)
    await store.ingest([make_paper(1, upvotes=5), make_paper(2)], lambda new, recheck: (), T0)  # a merge, an insert
    assert len(threads) == 3 and threading.main_thread() not in threads
    assert (await store.get_paper("2411.00001")).upvotes == 5 and await store.get_paper("2411.00002") is not None


async def test_ingest_reads_its_recheck_papers_off_the_event_loop(store, threads_of):
    """A listing re-read at every poll (2,000 papers, ~50 ms of Python as rows became papers) is made in a worker
    thread."""
    import bot.store.papers as papers

    await store.ingest([make_paper(1)], lambda new, recheck: (), T0)
    threads = threads_of(papers, "paper_from_row")
    rechecked = []
    await store.ingest([make_paper(1, upvotes=9)], lambda new, recheck: rechecked.extend(recheck) or (), T0, T0)
    assert [p.upvotes for p in rechecked] == [9]
    assert threads and threading.main_thread() not in threads


async def test_metadata_merge_never_loses_fields(store):
    await store.ingest(
        [make_paper(1, upvotes=30, thumbnail_url="https://x/t.png", code_url="https://g/c")],
        lambda new, recheck: (),
        T0,
    )
    await store.ingest([make_paper(1, upvotes=3, authors=(), code_url=None)], lambda new, recheck: (), T0)
    paper = await store.get_paper("2411.00001")
    assert paper.upvotes == 30 and paper.thumbnail_url == "https://x/t.png" and paper.code_url == "https://g/c"
    assert paper.authors == ("Ada Lovelace", "Alan Turing")


async def test_delivery_is_unique_per_subscription_and_paper(store):
    sub = await _sub(store)
    await store.ingest([make_paper(1)], lambda ps, _: [(sub.id, p.id) for p in ps] * 2, T0)
    await _sub(store, query="x")
    assert len(await store.due_deliveries(T0)) == 1


async def test_outbox_lifecycle(store):
    sub = await _sub(store)
    await store.ingest([make_paper(1), make_paper(2)], lambda ps, _: [(sub.id, p.id) for p in ps], T0)
    due = await store.due_deliveries(T0)
    assert [d.paper.id for d in due] == ["2411.00001", "2411.00002"]
    keys = [(sub.id, "2411.00001")]
    await store.mark_sending(keys, "nonce1", T0)
    await store.mark_retry(keys, "HTTP 502", T0 + timedelta(seconds=30))
    due = await store.due_deliveries(T0)
    assert [d.paper.id for d in due] == ["2411.00002"]
    due = await store.due_deliveries(T0 + timedelta(seconds=30))
    assert due[0].nonce == "nonce1" and due[0].attempts == 1
    await store.mark_sent(keys, 999, T0)
    assert (await store.delivery_record(sub.id, "2411.00001")).status is DeliveryStatus.SENT
    assert await store.sent_message_for(Target(Scope.GUILD, 10), "2411.00001") == 999
    assert (await store.get_subscription(G1, sub.id)).delivered_count == 1


async def test_guild_isolation(store):
    mine = await _sub(store, guild=1)
    assert await store.get_subscription(G2, mine.id) is None
    assert not await store.set_subscription_status(G2, mine.id, SubscriptionStatus.PAUSED, "x")
    assert await store.get_subscription(Owner.user(5), mine.id) is None  # a channel sub is not an alert
    assert (await store.get_subscription(G1, mine.id)).active
    assert await store.list_subscriptions(G2) == []


async def test_pause_channel_pauses_only_that_channel_and_hides_its_outbox(store):
    a = await _sub(store, channel=10)
    b = await _sub(store, channel=11)
    await store.ingest([make_paper(1)], lambda ps, _: [(a.id, "2411.00001"), (b.id, "2411.00001")], T0)
    assert await store.pause_target(Target(Scope.GUILD, 10), "Missing Access (403, code 50001)") == [a.id]
    paused = await store.get_subscription(G1, a.id)
    assert paused.status is SubscriptionStatus.PAUSED and "50001" in paused.pause_reason
    assert [d.subscription_id for d in await store.due_deliveries(T0)] == [b.id]
    await store.set_subscription_status(G1, a.id, SubscriptionStatus.ACTIVE)
    assert len(await store.due_deliveries(T0)) == 2


async def test_removed_subscriptions_free_the_cap_and_vanish(store):
    sub = await _sub(store)
    assert await store.count_subscriptions(G1) == 1
    await store.set_subscription_status(G1, sub.id, SubscriptionStatus.REMOVED)
    assert await store.count_subscriptions(G1) == 0
    assert await store.get_subscription(G1, sub.id) is None
    assert not await store.set_subscription_status(G1, sub.id, SubscriptionStatus.ACTIVE)


async def test_failed_transaction_leaves_nothing(store):
    def plan(papers, recheck):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.ingest([make_paper(1)], plan, T0)
    assert await store.get_paper("2411.00001") is None


async def test_source_state(store):
    assert await store.record_source_result("hf", T0, "HTTP 500") == 1
    assert await store.record_source_result("hf", T0, "HTTP 500") == 2
    assert await store.record_source_result("hf", T0, None) == 0
    state = await store.source_state("hf")
    assert state.consecutive_failures == 0 and state.last_success_at == T0


async def test_alerts_are_per_user_and_target_the_user(store):
    alert = await store.add_subscription(scope=Scope.USER, user_id=77, query="x", now=T0)
    assert alert.target == Target(Scope.USER, 77)
    assert await store.get_subscription(Owner.user(78), alert.id) is None
    assert [a.id for a in await store.list_subscriptions(Owner.user(77))] == [alert.id]
    await store.ingest([make_paper(1)], lambda ps, _: [(alert.id, "2411.00001")], T0)
    (due,) = await store.due_deliveries(T0)
    assert due.target == Target(Scope.USER, 77)
    assert await store.pause_target(Target(Scope.USER, 77), "DMs closed") == [alert.id]


async def test_digest_subscriptions_hold_their_deliveries(store):
    daily = await _sub(store, schedule=Schedule.DAILY)
    await store.ingest(
        [make_paper(1, upvotes=3), make_paper(2, upvotes=9)], lambda ps, _: [(daily.id, p.id) for p in ps], T0
    )
    assert await store.due_deliveries(T0) == []
    held = await store.held_deliveries(daily.id)
    assert [h.paper.id for h in held] == ["2411.00002", "2411.00001"]  # by upvotes
    assert [s.id for s in await store.digest_subscriptions()] == [daily.id]


async def test_recheck_passes_recent_updated_papers_with_merged_metadata(store):
    await store.ingest([make_paper(1, upvotes=2)], lambda n, r: (), T0)
    seen = []
    await store.ingest(
        [make_paper(1, upvotes=12)],
        lambda n, r: seen.extend(r) or (),
        T0 + timedelta(hours=5),
        recheck_since=T0 - timedelta(days=3),
    )
    assert [(p.id, p.upvotes, p.first_seen_at) for p in seen] == [("2411.00001", 12, T0)]
    seen.clear()
    await store.ingest(
        [make_paper(1, upvotes=20)],
        lambda n, r: seen.extend(r) or (),
        T0 + timedelta(days=5),
        recheck_since=T0 + timedelta(days=2),
    )
    assert seen == []


async def test_new_versions_are_stored_but_never_new(store):
    result = await store.ingest([make_paper(1, announce_type="replace")], lambda n, r: [(1, p.id) for p in n], T0)
    assert result.new_papers == () and await store.get_paper("2411.00001") is not None


async def test_digest_settings_round_trip(store):
    from bot.models import DigestSettings

    assert await store.digest_settings(G1) == DigestSettings()
    await store.save_digest_settings(G1, DigestSettings("Europe/Berlin", "07:30", 4))
    assert await store.digest_settings(G1) == DigestSettings("Europe/Berlin", "07:30", 4)
    assert await store.digest_settings(Owner.user(1)) == DigestSettings()


async def test_papers_seen_since_with_a_full_text_expression(store):
    def paper(n, title):
        return make_paper(n, title=title, abstract="A study.")

    await store.ingest([paper(1, "Attention sinks"), paper(2, "Diffusion")], lambda new, recheck: (), T0)
    await store.ingest(
        [paper(3, "Attention, again"), paper(4, "Graphs")], lambda new, recheck: (), T0 + timedelta(days=2)
    )
    since = T0 + timedelta(days=1)
    assert [p.id for p in await store.papers_seen_since(since)] == ["2411.00004", "2411.00003"]
    # Only full-text matches, and only those of the period: paper 1 matches but is older.
    attention = Term(Field.TEXT, ("attention",), stemmed=True)
    assert [p.id for p in await store.papers_seen_since(since, root=attention)] == ["2411.00003"]
    assert [p.id for p in await store.papers_seen_since(T0, root=attention)] == ["2411.00003", "2411.00001"]
    # A query the index cannot narrow reads the whole period; the caller's exact matcher filters it.
    assert len(await store.papers_seen_since(since, root=Not(attention))) == 2


async def test_search_papers_ranks_full_text_hits_or_declines_unconstrained_queries(store):
    await store.ingest(
        [make_paper(1, title="Attention sinks"), make_paper(2, title="Graphs", abstract="Nodes.")],
        lambda new, recheck: (),
        T0,
    )
    hits = await store.search_papers(Term(Field.TITLE, ("attention",)), 10)
    assert hits is not None and [p.id for p, _ in hits] == ["2411.00001"]
    assert await store.search_papers(Term(Field.CATEGORY, ("cs.cl",)), 10) is None


async def test_every_paper_field_survives_the_store(store):
    # Every stored field set to a value other than its default, read back through each row shape: by id,
    # joined with the outbox, and joined with the full-text index.
    stored_fields = {f.name for f in fields(Paper)} - {"announce_type"}
    assert stored_fields == set(PAPER_FIELDS)
    paper = Paper(
        id="2411.00042",
        title="Attention, everywhere",
        abstract="Sinks and sources.",
        authors=("Ada Lovelace", "Émilie du Châtelet"),
        categories=("cs.CL", "cs.LG"),
        source="arxiv",
        url="https://arxiv.org/abs/2411.00042",
        pdf_url="https://arxiv.org/pdf/2411.00042",
        code_url="https://github.com/x/y",
        project_url="https://x.github.io/y",
        thumbnail_url="https://x/t.png",
        upvotes=17,
        ai_summary="A summary.",
        ai_keywords=("attention", "sinks"),
        published_at=datetime(2024, 11, 1, 12, 30, 15, 123456, tzinfo=UTC),
        first_seen_at=T0 - timedelta(days=9),  # the store's own first sighting replaces it
        version=3,
    )
    sub = await _sub(store)
    await store.ingest([paper], lambda new, recheck: [(sub.id, p.id) for p in new], T0)
    expected = replace(paper, first_seen_at=T0)
    assert await store.get_paper(paper.id) == expected
    assert [d.paper for d in await store.due_deliveries(T0)] == [expected]
    assert await store.papers_seen_since(T0) == [expected]
    hits = await store.search_papers(Term(Field.TEXT, ("sinks",), stemmed=True), 10)
    assert hits is not None and [p for p, _ in hits] == [expected]


async def test_a_read_after_a_commit_sees_it_while_other_reads_are_in_flight(store):
    # Reads share one connection; a statement left open between two of its steps would hold a read
    # transaction, and every read on that connection would see the snapshot from before the commit.
    async def other_reads() -> None:
        for _ in range(40):
            await store.count_papers()

    others = [asyncio.create_task(other_reads()) for _ in range(4)]
    for n in range(1, 25):
        await store.ingest([make_paper(n)], lambda new, recheck: (), T0)
        assert await store.count_papers() == n
    await asyncio.gather(*others)


async def test_a_generic_feed_never_rewrites_curated_metadata_but_fills_gaps(store):
    def noop(new, recheck):
        return ()

    hf = make_paper(1, title="Attention sinks", abstract="", authors=("Ada Lovelace",), categories=("cs.CL",))
    await store.ingest([hf], noop, T0)
    blog = make_paper(
        1,
        title="Our favourite papers this week",
        abstract="A blog post that links the paper.",
        authors=("The Blog Team",),
        categories=("News",),
        source="ml-blog",
    )
    await store.ingest([blog], noop, T0)
    paper = await store.get_paper("2411.00001")
    assert paper.title == "Attention sinks" and paper.authors == ("Ada Lovelace",) and paper.categories == ("cs.CL",)
    assert paper.abstract == "A blog post that links the paper."  # an empty field may be filled
    assert await store.search_papers(Term(Field.TITLE, ("favourite",)), 10) == []  # nor its full-text row
    # arXiv's own listing still replaces it.
    await store.ingest([replace(hf, title="Attention sinks, revised", source="arxiv")], noop, T0)
    assert (await store.get_paper("2411.00001")).title == "Attention sinks, revised"


async def test_the_newest_arxiv_version_is_kept_and_a_new_version_is_never_new(store):
    sub = await _sub(store)

    def plan(new, recheck):
        return [(sub.id, p.id) for p in new]

    first = await store.ingest([make_paper(1, version=1)], plan, T0)
    assert first.queued == 1
    again = await store.ingest([make_paper(1, version=2, announce_type="replace")], plan, T0)
    assert again.queued == 0 and again.new_papers == ()
    await store.ingest([make_paper(1, version=None, source="huggingface")], plan, T0)  # HF names no version
    assert (await store.get_paper("2411.00001")).version == 2


async def test_indexing_pages_carry_compiled_forms_once_saved_and_whole_subscriptions_only_where_needed(store):
    def add(query: str, **options: object):
        return store.add_subscription(
            scope=Scope.GUILD, guild_id=1, channel_id=10, user_id=5, query=query, now=T0, **options
        )

    plain = await add("llm")
    gated = await add("rag", min_upvotes=5)
    recommend = await add("", mode=Mode.RECOMMEND)
    paused = await add("paused")
    await store.set_subscription_status(Owner.guild(1), paused.id, SubscriptionStatus.PAUSED, "test")
    page = await store.indexing_page(0, 10)
    assert [(s.id, s.query, s.compiled) for s in page] == [
        (plain.id, "llm", None),
        (gated.id, "rag", None),
        (recommend.id, "", None),
    ]
    assert page[0].subscription is None  # the query alone decides
    assert page[1].subscription == gated and page[2].subscription == recommend
    await store.save_compiled([(plain.id, "1|L|x1llm"), (gated.id, "1|L|x1rag")])
    assert [s.compiled for s in await store.indexing_page(0, 2)] == ["1|L|x1llm", "1|L|x1rag"]
    assert [s.id for s in await store.indexing_page(gated.id, 10)] == [recommend.id]


async def test_saving_compiled_forms_is_not_a_subscription_change(store):
    # On PostgreSQL a change to a subscription row notifies every process to re-read it; a form is not one.
    heard: list[int] = []
    store.coordination.on_subscription_change(heard.append)
    sub = await store.add_subscription(scope=Scope.GUILD, guild_id=1, channel_id=10, user_id=5, query="llm", now=T0)
    await store.set_subscription_status(Owner.guild(1), sub.id, SubscriptionStatus.PAUSED, "test")
    await store.save_compiled([(sub.id, "1|L|x1llm")])
    await store.set_subscription_status(Owner.guild(1), sub.id, SubscriptionStatus.ACTIVE)
    expected = 3 if store.coordination.clustered else 0  # the add, the pause and the resume
    for _ in range(100):  # notifications arrive asynchronously, in commit order
        if len(heard) >= expected:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # had the form notified too, the resume's would be a fourth, right behind
    assert heard == [sub.id] * expected


async def test_queued_since_counts_each_subscriptions_deliveries(store):
    # Recommend mode's daily quota: a JSON list of integer ids (PostgreSQL compared bigint with text and failed).
    subs = [await _sub(store, channel=10 + n) for n in range(3)]
    await store.ingest(
        [make_paper(1), make_paper(2)], lambda ps, _: [(s.id, p.id) for s in subs[:2] for p in ps][:3], T0
    )
    counts = await store.queued_since([s.id for s in subs], T0 - timedelta(minutes=1))
    assert counts == {subs[0].id: 2, subs[1].id: 1}
    assert await store.queued_since([subs[0].id], T0 + timedelta(minutes=1)) == {}


async def test_adds_sent_together_stop_at_the_cap(store):
    # Counted and inserted in one transaction; on PostgreSQL (READ COMMITTED) an advisory lock per owner orders them.
    added = await asyncio.gather(*(_sub(store, channel=10 + n, query=f"topic{n}", cap=2) for n in range(6)))
    assert sum(sub is not None for sub in added) == 2
    assert await store.count_subscriptions(G1) == 2
