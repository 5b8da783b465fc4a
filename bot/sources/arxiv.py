"""arXiv's daily listing RSS (``rss.arxiv.org/rss/cs.CL+cs.LG``): new, cross-listed and replaced papers."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp

from bot.config import ArxivSettings
from bot.models import ARXIV_ABS_URL, ARXIV_PDF_URL, Paper
from bot.pacing import SerialGapPacer
from bot.sources.base import MALFORMED_ITEM
from bot.sources.feeds import (
    FeedClient,
    arxiv_id_of,
    categories_of,
    published_at,
    read_feed,
    text_of,
)

log = logging.getLogger(__name__)

DEFAULT_ANNOUNCE_TYPES = ArxivSettings().announce_types
# The description reads "arXiv:2203.01250v3 Announce Type: replace \nAbstract: We consider ...".
_DESCRIPTION_PREFIX_RE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
# When a combined feed lists a paper twice, keep the listing that can be delivered.
_PREFERENCE = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}
_NAME_SEPARATOR_RE = re.compile(r"[()]|,\s*(?:and\s+)?|\s+and\s+")


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
    versions: the store merges their metadata and never delivers them as new). Malformed items are skipped
    with a warning; a body that is not a whole feed raises SourceError; an empty feed gives [].
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
    paper_id = arxiv_id_of(entry)
    if paper_id is None:
        raise ValueError(f"no arXiv id in guid {entry.get('id')!r} or link {entry.get('link')!r}")
    description = entry.get("summary")
    if not isinstance(description, str):
        description = ""
    prefix = _DESCRIPTION_PREFIX_RE.match(description)
    announce_type = text_of(entry.get("arxiv_announce_type")).lower() or (prefix.group(1).lower() if prefix else "")
    if not announce_type:
        raise ValueError(f"paper {paper_id} has no announce type")
    title = text_of(entry.get("title"))
    if not title:
        raise ValueError(f"paper {paper_id} has no title")
    # arXiv's abstract is plain text (TeX included), so "$x<y$" stays as written rather than read as a tag.
    abstract = text_of(description[prefix.end() :] if prefix else description)
    return Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=_authors(entry),
        categories=categories_of(entry),
        source="arxiv",
        url=ARXIV_ABS_URL.format(id=paper_id),
        pdf_url=ARXIV_PDF_URL.format(id=paper_id),
        published_at=published_at(entry),
        announce_type=announce_type,
    )


def _authors(entry: Any) -> tuple[str, ...]:
    """``dc:creator`` holds every author in one string: "A. Author, B. Author (MIT, CSAIL), and C. Author"."""
    creators = [text_of(a.get("name")) for a in entry.get("authors") or () if isinstance(a, dict)]
    names: list[str] = []
    for creator in creators or [text_of(entry.get("author"))]:
        names.extend(_split_names(creator))
    return tuple(dict.fromkeys(names))


def _split_names(creator: str) -> list[str]:
    names, depth, start = [], 0, 0
    for separator in _NAME_SEPARATOR_RE.finditer(creator):
        token = separator.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:  # commas inside an affiliation's parentheses do not separate authors
            names.append(creator[start : separator.start()])
            start = separator.end()
    names.append(creator[start:])
    return [name for name in map(text_of, names) if name]
