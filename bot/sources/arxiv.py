"""arXiv's daily listing RSS (``rss.arxiv.org/rss/cs.CL+cs.LG``): new, cross-listed and replaced papers.

The pre-2024 RSS 1.0 listing and the export API's Atom read the same way (see ``arxiv_items.py``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp

from bot.config import ArxivSettings
from bot.models import ARXIV_ABS_URL, ARXIV_PDF_URL, Paper
from bot.pacing import SerialGapPacer
from bot.sources.arxiv_items import arxiv_abstract, arxiv_ref, authors_of
from bot.sources.base import MALFORMED_ITEM
from bot.sources.feeds import FeedClient, categories_of, published_at, read_feed, text_of

log = logging.getLogger(__name__)

DEFAULT_ANNOUNCE_TYPES = ArxivSettings().announce_types
# When a combined feed lists a paper twice, keep the listing that can be delivered.
_PREFERENCE = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}


class ArxivSource:
    """Polls one RSS feed covering all configured categories, conditionally and within arXiv's rate limit."""

    name = "arxiv"
    _pacer = SerialGapPacer()  # class-level: shared by every ArxivSource in the process

    def __init__(self, settings: ArxivSettings) -> None:
        if not settings.categories:
            raise ValueError("ArxivSource needs at least one category")
        self.categories = settings.categories
        self.url = f"{settings.url.rstrip('/')}/{'+'.join(self.categories)}"
        self.poll_interval = float(settings.poll_interval)
        self.announce_types = settings.announce_types
        self.min_request_gap = settings.min_request_gap
        self._feed = FeedClient(self.url, settings.timeout, settings.max_body_bytes)

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        if self._feed.is_fresh(now):
            return []
        async with self._pacer.turn(self.min_request_gap):
            papers = await self._feed.get(session, now, lambda document: _papers(document, self.announce_types))
        return papers or []

    def refetch(self) -> None:
        """Fetch the whole listing next poll, ignoring validators and ``max-age``."""
        self._feed.forget()


def parse_arxiv_feed(body: bytes, announce_types: Sequence[str] = DEFAULT_ANNOUNCE_TYPES) -> list[Paper]:
    """Papers listed in an arXiv RSS document, one per arXiv id.

    Kept: items announced as one of ``announce_types``, and every ``replace``/``replace-cross`` item (new
    versions: the store merges their metadata and never delivers them as new). Items without an announce type
    (pre-2024 RSS, the API's Atom) are new announcements, unless a legacy title says "UPDATED" or "CROSS LISTED".
    Malformed items are skipped with a warning; a body that is not a whole feed raises SourceError; an empty feed
    gives [].
    """
    return _papers(read_feed(body, "arXiv feed"), announce_types)


def _papers(document: Any, announce_types: Sequence[str]) -> list[Paper]:
    papers: dict[str, Paper] = {}
    for entry in document.entries:
        try:
            paper = _parse_item(entry)
        except MALFORMED_ITEM as exc:
            log.warning("skipping malformed arXiv item: %s: %s", type(exc).__name__, str(exc)[:200])
            continue
        if paper.announce_type not in announce_types and not paper.is_new_version:
            continue
        kept = papers.get(paper.id)
        if kept is None or _rank(paper) < _rank(kept):
            papers[paper.id] = paper
    return list(papers.values())


def _rank(paper: Paper) -> int:
    return _PREFERENCE.get(paper.announce_type, len(_PREFERENCE))


def _parse_item(entry: Any) -> Paper:
    ref = arxiv_ref(entry)
    if ref is None:
        raise ValueError(f"no arXiv id in guid {entry.get('id')!r} or link {entry.get('link')!r}")
    title = ref.title or text_of(entry.get("title"))
    if not title:
        raise ValueError(f"paper {ref.id} has no title")
    # No announce type (pre-2024 RSS, the API's Atom): a listing is an announcement, so "new" unless a legacy
    # title flags it as a new version or a cross-list.
    announce_type = text_of(entry.get("arxiv_announce_type")).lower() or ref.announce_type or "new"
    return Paper(
        id=ref.id,
        title=title,
        abstract=arxiv_abstract(entry),
        authors=authors_of(entry),
        categories=categories_of(entry) or ref.categories,
        source="arxiv",
        url=ARXIV_ABS_URL.format(id=ref.id),
        pdf_url=ARXIV_PDF_URL.format(id=ref.id),
        published_at=published_at(entry),
        announce_type=announce_type,
        version=ref.version,
    )
