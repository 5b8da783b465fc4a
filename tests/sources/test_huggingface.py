import asyncio
import copy

import aiohttp
import pytest

from bot.config import HuggingFaceSettings
from bot.devtools.fakes.huggingface import FakeHuggingFace, fixture_items
from bot.pacing import backoff_delay
from bot.sources.base import SourceError
from bot.sources.huggingface import HuggingFaceSource, parse_daily_papers
from tests.conftest import T0

TODAY, YESTERDAY = "2026-11-02", "2026-11-01"


async def _fetch(hf, timeout=5.0):
    async with aiohttp.ClientSession() as session:
        return await HuggingFaceSource(HuggingFaceSettings(url=hf.url, timeout=timeout)).fetch(session, T0)


def _many(n):
    base = fixture_items()
    items = []
    for i in range(n):
        item = copy.deepcopy(base[i % len(base)])
        item["paper"]["id"] = f"2411.{i:05d}"
        items.append(item)
    return items


async def test_parses_fixture_fields():
    papers = parse_daily_papers(fixture_items())
    assert len(papers) == 71
    first = papers[0]
    assert first.id == "2403.10001" and first.title == "SESA: Supervised Explicit Semantic Analysis"
    assert first.url == "https://huggingface.co/papers/2403.10001"
    assert first.pdf_url == "https://arxiv.org/pdf/2403.10001"
    assert first.thumbnail_url and first.authors and first.ai_summary and first.ai_keywords
    assert first.code_url == "https://github.com/example/repo0"


async def test_pages_until_short_page_for_today_and_yesterday(hf):
    hf.publish(TODAY, _many(230))
    hf.publish(YESTERDAY, _many(10))  # overlaps today's ids: one paper, listed once
    papers = await _fetch(hf)
    assert len(papers) == 230
    pages = [(r["date"], r["p"], r["limit"]) for r in hf.requests]
    assert pages == [(TODAY, "0", "100"), (TODAY, "1", "100"), (TODAY, "2", "100"), (YESTERDAY, "0", "100")]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"{}"),
        (429, b'{"error":"rate limited"}'),
        (200, b'[{"paper": '),
        (200, b'{"not": "a list"}'),
        (200, b"\xff\xfe"),
    ],
)
async def test_failures_raise_source_error(hf, status, body):
    hf.publish(TODAY, _many(3))
    hf.fail_next(status, body=body)
    with pytest.raises(SourceError):
        await _fetch(hf)


async def test_stall_times_out(monkeypatch):
    async def stall(request):
        await asyncio.sleep(1)

    server = FakeHuggingFace()
    monkeypatch.setattr(server, "_daily_papers", stall)
    await server.start()
    try:
        with pytest.raises(SourceError, match="Timeout"):
            await _fetch(server, timeout=0.3)
    finally:
        await server.stop()


def test_malformed_and_withdrawn_items_are_skipped():
    good = fixture_items()[0]
    withdrawn = copy.deepcopy(good)
    withdrawn["paper"]["id"] = "2411.00002"
    withdrawn["paper"]["withdrawnAt"] = "2026-11-01T00:00:00Z"
    items = [
        good,
        {"paper": None},
        {"nope": 1},
        {"paper": {"id": "not-an-id", "title": "x"}},
        {"paper": {"id": "2411.00003"}},
        withdrawn,
        "garbage",
        {"paper": {**good["paper"], "upvotes": "many"}},
    ]
    papers = parse_daily_papers(items)
    assert [p.id for p in papers] == ["2403.10001", "2403.10001"]
    assert papers[1].upvotes == 0


def test_versioned_ids_are_normalised():
    item = fixture_items()[0]
    item["paper"]["id"] = "2403.10001v3"
    assert parse_daily_papers([item])[0].id == "2403.10001"


def test_backoff_doubles_and_caps():
    assert backoff_delay(900, 0) == 0
    assert [backoff_delay(60, n) for n in (1, 2, 3)] == [60, 120, 240]
    assert backoff_delay(60, 20) == 3600
    assert backoff_delay(7200, 3) == 7200
