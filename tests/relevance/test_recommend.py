"""Profiles in the store and recommend mode in the engine's planning, on a real SQLite store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.engine import Engine
from bot.matching import parse_query
from bot.models import Mode, Owner, Paper, Schedule, Scope, Target
from bot.relevance.planning import RECOMMEND_PER_DAY
from bot.relevance.vocabulary import Vocabulary
from bot.store.profiles import DISLIKED, LIKED
from tests.conftest import T0, make_paper
from tests.relevance.topics import corpus, topic_paper

USER = Owner.user(7)
ME = Target(Scope.USER, 7)


async def _engine(store, papers: list[Paper]) -> Engine:
    await store.ingest(papers, lambda new, recheck: (), T0)
    engine = Engine(store, clock=lambda: T0)
    await engine.load()
    return engine


async def test_profile_examples_latest_label_wins_and_forget_clears_them(store):
    papers = corpus(per_topic=3)
    await store.ingest([p for g in papers.values() for p in g], lambda new, recheck: (), T0)
    ids = [p.id for p in papers["robots"]]
    assert await store.add_profile_examples(ME, 7, ids, LIKED, "import", T0) == 3
    assert await store.add_profile_examples(ME, 7, ids[:1], DISLIKED, "seed", T0) == 0  # relabelled, not new
    examples = sorted(await store.profile_examples(ME))
    assert examples == sorted([(ids[0], DISLIKED, "seed"), (ids[1], LIKED, "import"), (ids[2], LIKED, "import")])
    assert await store.profile_targets() == [ME]
    assert await store.profile_examples(Target(Scope.GUILD, 7)) == []  # a channel with the same id is another
    assert await store.forget_profile(ME) == 3
    assert await store.profile_examples(ME) == []


async def _recommend(engine: Engine, query: str | None = None, schedule: Schedule = Schedule.INSTANT):
    sub, _ = await engine.add_subscription(
        owner=USER, user_id=7, query=parse_query(query) if query else None, schedule=schedule, mode=Mode.RECOMMEND
    )
    return sub


async def _liking_diffusion(store) -> Engine:
    """An engine over 25 stored papers per topic, whose user 7 liked six diffusion papers."""
    papers = corpus(per_topic=25)
    engine = await _engine(store, [p for g in papers.values() for p in g])
    await store.add_profile_examples(ME, 7, [p.id for p in papers["diffusion"][:6]], LIKED, "seed", T0)
    await engine.recommender.refit(ME)
    return engine


async def test_recommend_mode_delivers_the_liked_topic_best_first_within_the_daily_quota(store):
    engine = await _liking_diffusion(store)
    sub = await _recommend(engine)
    liked_topic = [topic_paper(500 + i, "diffusion", seed=9) for i in range(8)]
    other_topic = [topic_paper(520 + i, "speech", seed=9) for i in range(4)]
    fresh = [paper for pair in zip(other_topic, liked_topic, strict=False) for paper in pair] + liked_topic[4:]
    plan = await engine._recommend_plan(fresh, T0)
    keys = engine.plan(fresh, (), plan)
    chosen = [paper_id for sub_id, paper_id in keys if sub_id == sub.id]
    assert len(chosen) == RECOMMEND_PER_DAY
    assert set(chosen) <= {p.id for p in liked_topic}
    scores = [plan.scores.get(ME, i) for i in chosen]
    assert scores == sorted(scores, reverse=True)
    # Without a quota left today, nothing more is delivered instantly.
    exhausted = type(plan)(plan.scores, {sub.id: 0})
    assert [k for k in engine.plan(fresh, (), exhausted) if k[0] == sub.id] == []


async def test_a_query_gates_recommend_mode_and_digests_take_every_paper_above_the_threshold(store):
    engine = await _liking_diffusion(store)
    gated = await _recommend(engine, "sampler")
    digest = await _recommend(engine, schedule=Schedule.DAILY)
    fresh = [topic_paper(700 + i, "diffusion", seed=3) for i in range(8)]
    fresh += [topic_paper(800 + i, "proteins", seed=3) for i in range(3)]
    keys = engine.plan(fresh, (), await engine._recommend_plan(fresh, T0))
    gated_ids = {p for s, p in keys if s == gated.id}
    digest_ids = {p for s, p in keys if s == digest.id}
    assert gated_ids and all("sampler" in _by_id(fresh, p).title.lower() + _by_id(fresh, p).abstract for p in gated_ids)
    assert len(digest_ids) > RECOMMEND_PER_DAY  # no daily quota for digests
    assert digest_ids <= {p.id for p in fresh[:8]}


async def test_without_a_profile_recommend_mode_delivers_nothing_and_match_mode_is_unchanged(store):
    papers = corpus(per_topic=5)
    engine = await _engine(store, [p for g in papers.values() for p in g])
    await _recommend(engine)
    match, _ = await engine.add_subscription(owner=USER, user_id=7, query=parse_query("robot"))
    fresh = [topic_paper(900, "robots", seed=1)]
    assert engine.plan(fresh, (), await engine._recommend_plan(fresh, T0)) == [(match.id, fresh[0].id)]


def _by_id(papers: list[Paper], paper_id: str) -> Paper:
    return next(p for p in papers if p.id == paper_id)


@pytest.mark.parametrize("labels", [1, 3])
async def test_refit_follows_the_examples(store, labels):
    papers = corpus(per_topic=10)
    engine = await _engine(store, [p for g in papers.values() for p in g])
    await store.add_profile_examples(ME, 7, [p.id for p in papers["speech"][:labels]], LIKED, "seed", T0)
    model = await engine.recommender.refit(ME)
    assert model is not None and model.positives == labels and engine.recommender.has_profile(ME)
    await store.forget_profile(ME)
    assert await engine.recommender.refit(ME) is None and not engine.recommender.has_profile(ME)


async def test_refits_are_debounced_and_models_are_rebuilt_from_the_store_at_start(store):
    papers = corpus(per_topic=10)
    engine = await _engine(store, [p for g in papers.values() for p in g])
    engine.recommender.debounce = 0.2
    fits = []
    real_fit = engine.recommender._fit

    async def counting_fit(target, vocabulary):
        fits.append(target)
        return await real_fit(target, vocabulary)

    engine.recommender._fit = counting_fit  # count the fits; the fitting itself is real
    for paper in papers["speech"][:4]:  # a burst of changes ...
        await store.add_profile_examples(ME, 7, [paper.id], LIKED, "seed", T0)
        engine.recommender.schedule_refit(ME)
    for _ in range(100):  # ... is fitted once, after the burst
        if engine.recommender.has_profile(ME):
            break
        await asyncio.sleep(0.05)
    assert fits == [ME] and engine.recommender.models[ME].positives == 4

    restarted = Engine(store, clock=lambda: T0)
    await restarted.load()  # models are not stored: they are rebuilt from the stored examples
    assert restarted.recommender.models[ME].positives == 4
    engine.recommender.close()


async def test_the_daily_quota_counts_what_earlier_polls_queued_today(store):
    engine = await _liking_diffusion(store)
    sub = await _recommend(engine)
    morning = [topic_paper(1000 + i, "diffusion", seed=5) for i in range(3)]
    plan = await engine._recommend_plan(morning, T0)
    result = await store.ingest(morning, lambda new, recheck: engine.plan(new, recheck, plan), T0)
    assert result.queued == 3
    afternoon = [topic_paper(1100 + i, "diffusion", seed=6) for i in range(6)]
    later = await engine._recommend_plan(afternoon, T0)
    assert later.remaining[sub.id] == RECOMMEND_PER_DAY - 3
    assert len([k for k in engine.plan(afternoon, (), later) if k[0] == sub.id]) == RECOMMEND_PER_DAY - 3
    tomorrow = await engine._recommend_plan(afternoon, T0 + timedelta(days=1))
    assert tomorrow.remaining[sub.id] == RECOMMEND_PER_DAY


async def test_papers_without_words_leave_nothing_to_learn_and_break_nothing(store):
    wordless = [make_paper(n, title="1 2 3", abstract="4 5") for n in range(1, 4)]
    engine = await _engine(store, wordless)
    assert engine.recommender.vocabulary is None
    assert await engine.recommender.similar(wordless[0], 5) == []
    await store.add_profile_examples(ME, 7, [wordless[0].id], LIKED, "seed", T0)
    assert await engine.recommender.refit(ME) is None


async def test_upvote_rechecks_never_bypass_recommend_mode(store):
    engine = await _liking_diffusion(store)
    sub, _ = await engine.add_subscription(
        owner=USER, user_id=7, query=parse_query("sampler"), min_upvotes=10, mode=Mode.RECOMMEND
    )
    grown = replace(topic_paper(1200, "speech", seed=2, upvotes=50), title="Sampler speech", first_seen_at=T0)
    assert [k for k in engine.plan([], [grown], await engine._recommend_plan([grown], T0)) if k[0] == sub.id] == []


class _Listing:
    """A source listing fixed papers (the engine only calls ``fetch``)."""

    name = "listing"
    poll_interval = 60.0

    def __init__(self, papers: list[Paper]) -> None:
        self.papers = papers

    async def fetch(self, session: object, now: object) -> list[Paper]:
        return self.papers


async def test_a_poll_waits_for_the_models_rebuilt_at_start(store):
    engine = await _liking_diffusion(store)
    await _recommend(engine)
    await engine.poll(_Listing([]), None)  # the source's first poll only catalogues
    restarted = Engine(store, clock=lambda: T0)
    release = asyncio.Event()
    real_refresh = restarted.recommender._refresh

    async def slow_refresh(new):  # a rebuild that takes a while (10,000 profiles, say)
        await release.wait()
        await real_refresh(new)

    restarted.recommender._refresh = slow_refresh
    loading = asyncio.create_task(restarted.load())
    polling = asyncio.create_task(restarted.poll(_Listing([topic_paper(1300, "diffusion", seed=4)]), None))
    await asyncio.sleep(0.3)
    assert not polling.done()  # waiting for the models, not planning without them
    release.set()
    await loading
    assert (await polling).queued == 1


async def test_max_per_day_sets_the_recommend_quota(store):
    engine = await _liking_diffusion(store)
    sub, _ = await engine.add_subscription(owner=USER, user_id=7, query=None, mode=Mode.RECOMMEND, max_per_day=3)
    fresh = [topic_paper(600 + i, "diffusion", seed=9) for i in range(8)]
    plan = await engine._recommend_plan(fresh, T0)
    assert plan.remaining[sub.id] == 3
    assert len([k for k in engine.plan(fresh, (), plan) if k[0] == sub.id]) == 3


async def test_no_vocabulary_is_fitted_until_something_needs_it(store):
    papers = corpus(per_topic=10)
    engine = await _engine(store, [p for g in papers.values() for p in g])
    assert engine.recommender.vocabulary is None  # nobody has a profile: nothing to fit at start
    await engine.poll(_Listing([]), None)  # the source's first poll only catalogues
    await engine.poll(_Listing([topic_paper(1400, "speech", seed=3)]), None)
    assert engine.recommender.vocabulary is None  # new papers alone fit nothing either
    similar = await engine.recommender.similar(papers["speech"][0], 3)  # the first use fits it
    assert similar and all(papers["speech"][0].id != paper_id for paper_id, _, _ in similar)
    assert engine.recommender.vocabulary is not None and len(engine.recommender.vocabulary) == 1 + sum(
        len(g) for g in papers.values()
    )

    await store.add_profile_examples(ME, 7, [p.id for p in papers["speech"][:2]], LIKED, "seed", T0)
    restarted = Engine(store, clock=lambda: T0)
    await restarted.load()  # a target with examples: fitted at start, as before
    assert restarted.recommender.vocabulary is not None and restarted.recommender.has_profile(ME)


async def test_the_vocabulary_fitted_from_the_stores_corpus_rows_is_the_one_fitted_from_whole_papers(store):
    papers = [p for g in corpus(per_topic=10).values() for p in g]
    keywords = [("sparse attention", f"keyword{i % 3}") if i % 2 else () for i in range(len(papers))]
    papers = [replace(p, ai_keywords=k) for p, k in zip(papers, keywords, strict=True)]
    engine = await _engine(store, papers)
    await engine.recommender.similar(papers[0], 1)  # fits it, from the store's corpus rows
    fitted = engine.recommender.vocabulary
    assert fitted is not None
    whole = Vocabulary.fit([next(p for p in papers if p.id == paper_id) for paper_id in fitted.ids])
    assert sorted(fitted.ids) == sorted(p.id for p in papers)
    assert list(fitted.words) == list(whole.words) and "keyword1" in fitted.words
    assert (fitted.matrix != whole.matrix).nnz == 0
