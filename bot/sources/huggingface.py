"""Hugging Face Daily Papers (``/api/daily_papers``): the primary source."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.config import HuggingFaceSettings
from bot.models import ARXIV_PDF_URL, Paper, normalize_arxiv_id
from bot.sources.base import SourceError, retry_after_seconds
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

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        today = now.astimezone(UTC).date()
        papers: dict[str, Paper] = {}
        for day in (today, today - timedelta(days=1)):
            for page in range(MAX_PAGES):
                items = await self._get_page(session, day.isoformat(), page)
                for paper in parse_daily_papers(items):
                    papers.setdefault(paper.id, paper)
                if len(items) < PAGE_SIZE:
                    break
        return list(papers.values())

    async def _get_page(self, session: aiohttp.ClientSession, day: str, page: int) -> list[Any]:
        params = {"date": day, "p": str(page), "limit": str(PAGE_SIZE)}
        try:
            async with session.get(self.url, params=params, timeout=self.timeout) as response:
                body = await response.read()
                if response.status != 200:
                    raise SourceError(
                        f"HTTP {response.status} from {self.url} (date={day}, p={page})",
                        retry_after_seconds(response.headers.get("Retry-After")),
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"{type(exc).__name__} fetching {self.url}: {exc}") from exc
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"malformed JSON from {self.url} (date={day}, p={page}): {exc}") from exc
        if not isinstance(data, list):
            raise SourceError(f"expected a JSON list from {self.url}, got {type(data).__name__}")
        return data


def parse_daily_papers(items: Iterable[Any]) -> list[Paper]:
    """Turn Daily Papers items into Papers; malformed or withdrawn items are skipped with a log line."""
    papers = []
    for item in items:
        try:
            paper = _parse_item(item)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("skipping malformed Hugging Face item: %s", exc)
            continue
        if paper is not None:
            papers.append(paper)
    return papers


def _parse_item(item: Any) -> Paper | None:
    raw = item["paper"]
    if not isinstance(raw, dict):
        raise TypeError("'paper' is not an object")
    paper_id = normalize_arxiv_id(str(raw["id"]))
    if paper_id is None:
        raise ValueError(f"unrecognised paper id {raw['id']!r}")
    if raw.get("withdrawnAt"):
        return None
    title = text_of(raw.get("title")) or text_of(item.get("title"))
    if not title:
        raise ValueError(f"paper {paper_id} has no title")
    authors = tuple(name for a in raw.get("authors") or () if isinstance(a, dict) and (name := text_of(a.get("name"))))
    keywords = tuple(k for k in raw.get("ai_keywords") or () if isinstance(k, str) and k.strip())
    published = raw.get("publishedAt") or item.get("publishedAt")
    upvotes = raw.get("upvotes")
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
        upvotes=upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) and upvotes >= 0 else 0,
        ai_summary=text_of(raw.get("ai_summary")) or None,
        ai_keywords=keywords,
        published_at=_parse_time(published),
    )


def _url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value.strip()
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
