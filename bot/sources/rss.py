"""Any RSS 2.0 / Atom feed (journals, blogs): each entry becomes a Paper keyed by arXiv id, DOI or a hash."""

from __future__ import annotations

import hashlib
import html
import logging
import re
from datetime import datetime
from typing import Any

import aiohttp

from bot.config import FeedSettings
from bot.models import ARXIV_ABS_URL, ARXIV_PDF_URL, Paper
from bot.sources.arxiv_items import arxiv_abstract, arxiv_ref, authors_of, split_names
from bot.sources.base import MALFORMED_ITEM, MAX_UPVOTES
from bot.sources.feeds import (
    FeedClient,
    categories_of,
    doi_of,
    entry_text,
    html_to_text,
    published_at,
    read_feed,
    text_of,
)

log = logging.getLogger(__name__)

# Matched within one paragraph (the description split at "</p>") and one tag ("<img" up to the next "<"), so
# a hostile description costs time linear in its length.
_LABELLED_RE = re.compile(r"<p>\s*<b>\s*(Authors|Upvotes|Summary)\s*:\s*</b>(.*)", re.IGNORECASE | re.DOTALL)
_IMAGE_RE = re.compile(r"<img\s[^<>]*?src=\"(https://[^\"\s<>]+)\"", re.IGNORECASE)


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
    abstract, version, announce_type = entry_text(entry, "summary"), None, "new"
    if (ref := arxiv_ref(entry)) is not None:
        # An arXiv paper, wherever the feed got it (arXiv's own RSS added as a feed, a mirror, a blog's link).
        paper_id, url, pdf_url = ref.id, link or ARXIV_ABS_URL.format(id=ref.id), ARXIV_PDF_URL.format(id=ref.id)
        title, version, announce_type = ref.title or title, ref.version, ref.announce_type or "new"
        if ref.announce_type:  # arXiv's own listing (current or legacy): its description read the same way
            abstract = arxiv_abstract(entry)
    elif doi := doi_of(entry):
        paper_id, url, pdf_url = f"doi:{doi}", link or f"https://doi.org/{doi}", None
    elif guid or link:
        paper_id, url, pdf_url = f"rss:{hashlib.sha256((guid or link).encode()).hexdigest()[:16]}", link, None
    else:
        raise ValueError(f"entry {title!r} has neither a guid nor a link")
    labelled = labelled_fields(entry.get("summary"))
    upvotes = labelled.get("upvotes", "")
    return Paper(
        id=paper_id,
        title=title,
        abstract=labelled.get("summary") or abstract,
        authors=tuple(split_names(labelled["authors"])) if labelled.get("authors") else authors_of(entry),
        categories=categories_of(entry) or (ref.categories if ref else ()),
        source=source_name,
        url=url,
        pdf_url=pdf_url,
        thumbnail_url=labelled.get("thumbnail") or media_image(entry),
        upvotes=min(int(upvotes), MAX_UPVOTES) if upvotes.isdecimal() and len(upvotes) < 10 else 0,
        published_at=published_at(entry),
        announce_type=announce_type,
        version=version,
    )


def media_image(entry: Any) -> str | None:
    """The entry's Media RSS image (``media:thumbnail``, else a ``media:content`` of medium image), if https."""
    thumbnails = [m for m in entry.get("media_thumbnail") or () if isinstance(m, dict)]
    images = [m for m in entry.get("media_content") or () if isinstance(m, dict) and m.get("medium") == "image"]
    for media in thumbnails + images:
        url = text_of(media.get("url"))
        if url.startswith("https://"):
            return url
    return None


def labelled_fields(description: Any) -> dict[str, str]:
    """What an HTML description spells out in labelled paragraphs, as mirrors of Hugging Face's daily papers
    write them: ``<p><b>Authors:</b> A, B</p><p><b>Upvotes:</b> 3</p><p><b>Summary:</b> …</p>`` with the
    thumbnail as the first image. Keys: ``authors``, ``upvotes``, ``summary`` and ``thumbnail``, when present
    (the thumbnail only beside at least one label: a blog's first image is no paper thumbnail)."""
    if not isinstance(description, str) or "<b>" not in description:
        return {}
    paragraphs = (_LABELLED_RE.search(paragraph) for paragraph in description.split("</p>"))
    fields = {match.group(1).lower(): html_to_text(match.group(2)) for match in paragraphs if match}
    if fields and (image := _IMAGE_RE.search(description)):
        fields["thumbnail"] = html.unescape(image.group(1))
    return fields
