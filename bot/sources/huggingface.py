"""Hugging Face Daily Papers (``/api/daily_papers``): the primary source."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.config import HuggingFaceSettings
from bot.models import ARXIV_ID_RE, ARXIV_PDF_URL, Paper
from bot.sources.base import MALFORMED_ITEM, MAX_UPVOTES, SourceError, read_body, redact_url, retry_after_seconds
from bot.sources.feeds import text_of

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 papers a day is far beyond what HF lists; stops a misbehaving server looping us
HF_PAPER_URL = "https://huggingface.co/papers/{id}"


class HuggingFaceSource:
    """Polls today's and yesterday's (UTC) Daily Papers, page by page until a short page."""

    name = "huggingface"

    def __init__(self, settings: HuggingFaceSettings) -> None:
        self.url = settings.url
        self.poll_interval = float(settings.poll_interval)
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self.max_body_bytes = settings.max_body_bytes

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        today = now.astimezone(UTC).date()
        papers: dict[str, Paper] = {}
        for day in (today, today - timedelta(days=1)):
            for page in range(MAX_PAGES):
                items = await self._get_page(session, day.isoformat(), page)
                for paper in await asyncio.to_thread(parse_daily_papers, items):
                    papers.setdefault(paper.id, paper)
                if len(items) < PAGE_SIZE:
                    break
        return list(papers.values())

    def refetch(self) -> None:
        """Nothing is cached between polls: every fetch reads the whole listing."""

    async def _get_page(self, session: aiohttp.ClientSession, day: str, page: int) -> list[Any]:
        params = {"date": day, "p": str(page), "limit": str(PAGE_SIZE)}
        where = f"{redact_url(self.url)} (date={day}, p={page})"
        try:
            async with session.get(self.url, params=params, timeout=self.timeout) as response:
                if response.status != 200:
                    raise SourceError(
                        f"HTTP {response.status} from {where}", retry_after_seconds(response.headers.get("Retry-After"))
                    )
                body = await read_body(response, self.max_body_bytes, self.url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"{type(exc).__name__} fetching {where}: {exc}") from exc
        # Off the event loop: a page near the body cap takes a while to decode.
        return await asyncio.to_thread(decode_page, body, where)


def decode_page(body: bytes, where: str) -> list[Any]:
    """A Daily Papers page's JSON list; raises SourceError for anything else (bad UTF-8 or JSON, nesting too
    deep, a number too long to convert, a value that is not a list)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SourceError(f"malformed JSON from {where}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(data, list):
        raise SourceError(f"expected a JSON list from {where}, got {type(data).__name__}")
    return data


def parse_daily_papers(items: Iterable[Any]) -> list[Paper]:
    """Turn Daily Papers items into Papers; malformed or withdrawn items are skipped with a log line."""
    papers = []
    for item in items:
        try:
            paper = _parse_item(item)
        except MALFORMED_ITEM as exc:
            log.warning("skipping malformed Hugging Face item: %s: %s", type(exc).__name__, str(exc)[:200])
            continue
        if paper is not None:
            papers.append(paper)
    return papers


def _parse_item(item: Any) -> Paper | None:
    raw = item["paper"]
    if not isinstance(raw, dict):
        raise TypeError("'paper' is not an object")
    # The whole value must be an id: searching a long string for one would take time quadratic in its length.
    match = ARXIV_ID_RE.fullmatch(raw["id"].strip()) if isinstance(raw["id"], str) else None
    if match is None:
        raise ValueError(f"unrecognised paper id {str(raw['id'])[:50]!r}")
    paper_id = match.group(1)
    if raw.get("withdrawnAt"):
        return None
    title = text_of(raw.get("title")) or text_of(item.get("title"))
    if not title:
        raise ValueError(f"paper {paper_id} has no title")
    authors = tuple(
        name
        for a in raw.get("authors") or ()
        if isinstance(a, dict) and a.get("hidden") is not True and (name := text_of(a.get("name")))
    )
    keywords = tuple(k for k in raw.get("ai_keywords") or () if isinstance(k, str) and k.strip())
    published = raw.get("publishedAt") or item.get("publishedAt")
    return Paper(
        id=paper_id,
        title=title,
        abstract=text_of(raw.get("summary")) or text_of(item.get("summary")),
        authors=authors,
        source="huggingface",
        url=HF_PAPER_URL.format(id=paper_id),
        pdf_url=ARXIV_PDF_URL.format(id=paper_id),
        code_url=_url(raw.get("githubRepo")),
        project_url=_url(raw.get("projectPage")),
        thumbnail_url=_url(item.get("thumbnail")),
        upvotes=_upvotes(raw.get("upvotes")),
        ai_summary=text_of(raw.get("ai_summary")) or None,
        ai_keywords=keywords,
        published_at=_parse_time(published),
    )


def _upvotes(value: Any) -> int:
    """A count of upvotes, clamped to ``0..MAX_UPVOTES``; anything but an integer counts as 0."""
    return min(value, MAX_UPVOTES) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value.strip()
    return None


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time in UTC; None when it is not one or lies outside what a datetime can hold in UTC
    (``0001-01-01T00:00:00+01:00`` is in year 0 there)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
