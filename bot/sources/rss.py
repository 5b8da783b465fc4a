"""Any RSS 2.0 / Atom feed (journals, blogs): each entry becomes a Paper keyed by arXiv id, DOI or a hash."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

import aiohttp

from bot.config import FeedSettings
from bot.models import ARXIV_ABS_URL, ARXIV_PDF_URL, Paper
from bot.sources.base import MALFORMED_ITEM
from bot.sources.feeds import (
    FeedClient,
    arxiv_id_of,
    categories_of,
    doi_of,
    entry_text,
    published_at,
    read_feed,
    text_of,
)

log = logging.getLogger(__name__)


class RssSource:
    """A generic RSS 2.0 or Atom feed; its name (e.g. ``rss:nature-ml``) is what Papers carry as source."""

    def __init__(self, settings: FeedSettings) -> None:
        self.name = settings.name
        self.url = settings.url
        self.poll_interval = float(settings.poll_interval)
        self._feed = FeedClient(settings.url, settings.timeout, settings.max_body_bytes)

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        if self._feed.is_fresh(now):
            return []
        return await self._feed.get(session, now, lambda document: _papers(document, self.name)) or []

    def refetch(self) -> None:
        """Fetch the whole feed next poll, ignoring validators and ``max-age``."""
        self._feed.forget()


def parse_feed(body: bytes, source_name: str) -> list[Paper]:
    """Papers from an RSS/Atom document; raises SourceError when the body is not a whole feed."""
    return _papers(read_feed(body), source_name)


def _papers(document: Any, source_name: str) -> list[Paper]:
    papers: dict[str, Paper] = {}
    for entry in document.entries:
        try:
            paper = _parse_entry(entry, source_name)
        except MALFORMED_ITEM as exc:
            log.warning("skipping malformed entry in %s: %s: %s", source_name, type(exc).__name__, str(exc)[:200])
            continue
        papers.setdefault(paper.id, paper)
    return list(papers.values())


def _parse_entry(entry: Any, source_name: str) -> Paper:
    guid, link = text_of(entry.get("id")), text_of(entry.get("link"))
    title = entry_text(entry, "title")
    if not title:
        raise ValueError(f"entry {guid or link or '?'} has no title")
    arxiv_id = arxiv_id_of(entry)
    if arxiv_id is not None:
        paper_id, url, pdf_url = arxiv_id, link or ARXIV_ABS_URL.format(id=arxiv_id), ARXIV_PDF_URL.format(id=arxiv_id)
    elif doi := doi_of(entry):
        paper_id, url, pdf_url = f"doi:{doi}", link or f"https://doi.org/{doi}", None
    elif guid or link:
        paper_id, url, pdf_url = f"rss:{hashlib.sha256((guid or link).encode()).hexdigest()[:16]}", link, None
    else:
        raise ValueError(f"entry {title!r} has neither a guid nor a link")
    names = [text_of(a.get("name")) for a in entry.get("authors") or () if isinstance(a, dict)]
    authors = tuple(n for n in names if n) or tuple(n for n in [text_of(entry.get("author"))] if n)
    return Paper(
        id=paper_id,
        title=title,
        abstract=entry_text(entry, "summary"),
        authors=authors,
        categories=categories_of(entry),
        source=source_name,
        url=url,
        pdf_url=pdf_url,
        published_at=published_at(entry),
    )
