"""Reading feeds, shared by the arXiv and generic RSS/Atom sources: polite conditional HTTP, whole-feed
parsing with feedparser, and what an entry says (plain text, ids, categories, dates)."""

from __future__ import annotations

import asyncio
import calendar
import io
import logging
import re
import xml.sax
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import aiohttp
import feedparser

from bot.models import DOI_RE, Paper
from bot.sources.base import SourceError, read_body, redact_url, retry_after_seconds

log = logging.getLogger(__name__)

# A misconfigured server's max-age of a year must not silence a feed; arXiv's runs to the next midnight.
MAX_FRESHNESS = timedelta(days=1)

_DOI_HOSTS = ("doi.org", "dx.doi.org")
_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)")
_CLOSED_ROOT_RE = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>$")


class FeedClient:
    """One feed URL fetched politely: a conditional GET with the last response's validators, and no request
    at all while that response is still fresh (``Cache-Control: max-age``)."""

    def __init__(self, url: str, timeout: float, max_body_bytes: int) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_body_bytes = max_body_bytes
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.fresh_until: datetime | None = None

    def is_fresh(self, now: datetime) -> bool:
        """Whether the last response may still be reused, so asking again would only waste the server's time."""
        return self.fresh_until is not None and now < self.fresh_until

    def forget(self) -> None:
        """Drop validators and freshness: the next ``get`` fetches and parses the whole feed."""
        self.etag = self.last_modified = None
        self.fresh_until = None

    async def get(
        self, session: aiohttp.ClientSession, now: datetime, papers_of: Callable[[Any], list[Paper]]
    ) -> list[Paper] | None:
        """``papers_of`` the parsed feed, or None when the server answered 304 Not Modified; raises SourceError.

        The body is read up to ``max_body_bytes`` (decompressed), then parsed and turned into papers in a worker
        thread: a feed of thousands of entries takes seconds that the event loop cannot spare. Validators are
        remembered only once a body has parsed, so a broken response is fetched whole next time.
        """
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        try:
            async with session.get(self.url, headers=headers, timeout=self.timeout) as response:
                if response.status == 304:
                    self.fresh_until = _fresh_until(response.headers, now)
                    return None
                if response.status != 200:
                    raise SourceError(
                        _status_message(redact_url(self.url), response.status, response.headers),
                        retry_after_seconds(response.headers.get("Retry-After")),
                    )
                body = await read_body(response, self.max_body_bytes, self.url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"{type(exc).__name__} fetching {redact_url(self.url)}: {exc}") from exc
        papers = await asyncio.to_thread(lambda: papers_of(read_feed(body, redact_url(self.url))))
        self.etag = response.headers.get("ETag")
        self.last_modified = response.headers.get("Last-Modified")
        self.fresh_until = _fresh_until(response.headers, now)
        return papers


def _status_message(url: str, status: int, headers: Mapping[str, str]) -> str:
    message = f"HTTP {status} from {url}"
    retry_after = headers.get("Retry-After")
    if status in (429, 503) and retry_after:
        message += f" (Retry-After: {retry_after})"
    return message


def _fresh_until(headers: Mapping[str, str], now: datetime) -> datetime | None:
    cache_control = headers.get("Cache-Control", "").lower()
    match = _MAX_AGE_RE.search(cache_control)
    if match is None or "no-cache" in cache_control or "no-store" in cache_control:
        return None
    age = headers.get("Age", "0").strip()
    remaining = int(match.group(1)) - (int(age) if age.isdigit() else 0)
    return now + min(timedelta(seconds=max(remaining, 0)), MAX_FRESHNESS)


def read_feed(body: bytes, where: str = "feed") -> Any:
    """Parse feed bytes with feedparser; raises SourceError for anything that is not a whole RSS/Atom feed.

    A valid feed with no entries (arXiv on weekends) is fine. A body that is not XML, or XML that is not a
    feed, or a feed cut off mid-document, is an error: the poll is retried rather than half-read. A feed
    that is slightly malformed but recovered whole (feedparser's "bozo" with entries) is accepted.
    """
    # A stream, never bytes or str: feedparser treats those as a URL or a local file name to open.
    # HTML is left unsanitised; each source turns it into plain text itself.
    try:
        document = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser chokes on some garbled encoding declarations (ValueError, LookupError)
        raise SourceError(f"unreadable feed from {where}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not document.get("version"):
        raise SourceError(f"not an RSS or Atom feed from {where}")
    problem = document.get("bozo_exception")
    if document.get("bozo") and isinstance(problem, xml.sax.SAXException):
        if not document.entries:
            raise SourceError(f"malformed feed from {where}: {problem}")
        if not _CLOSED_ROOT_RE.search(body.rstrip()[-64:]):
            raise SourceError(f"truncated feed from {where}: {problem}")
        log.warning(
            "feed from %s is not well-formed, using the %d entries recovered: %s", where, len(document.entries), problem
        )
    return document


def text_of(value: Any) -> str:
    """A string value with its whitespace collapsed; anything else is ''."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def entry_text(entry: Any, key: str) -> str:
    """An entry's title or summary as plain text: HTML (the default for RSS) is reduced to its text."""
    detail = entry.get(f"{key}_detail")
    kind = detail.get("type") if isinstance(detail, dict) else None
    value = entry.get(key)
    if not isinstance(value, str):
        return ""
    return html_to_text(value) if kind in ("text/html", "application/xhtml+xml") else text_of(value)


def categories_of(entry: Any) -> tuple[str, ...]:
    """Tag terms in feed order, without repeats."""
    terms = (text_of(tag.get("term")) for tag in entry.get("tags") or () if isinstance(tag, dict))
    return tuple(dict.fromkeys(t for t in terms if t))


def published_at(entry: Any) -> datetime | None:
    """When the entry was published (or else last updated), in UTC; feedparser already normalised it."""
    for key in ("published_parsed", "updated_parsed"):
        # "in" first: feedparser's get("updated_parsed") falls back to published_parsed with a warning.
        parsed = entry.get(key) if key in entry else None
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def doi_of(entry: Any) -> str | None:
    identifier = text_of(entry.get("dc_identifier"))
    candidates = [text_of(entry.get("prism_doi")), identifier]  # "doi:10.1101/…" or a bare "10.1016/…"
    candidates += [
        unquote(parts.path.lstrip("/"))
        for url in urls_of(entry)
        if (parts := split_url(url)) is not None and host_is(parts.hostname, _DOI_HOSTS)
    ]
    for candidate in candidates:
        doi = candidate[4:].strip() if candidate.lower().startswith("doi:") else candidate
        if DOI_RE.fullmatch(doi):
            return doi.lower()
    return None


def urls_of(entry: Any) -> list[str]:
    """The entry's http(s) links and guid, without repeats."""
    urls = [text_of(entry.get("link")), text_of(entry.get("id"))]
    urls += [text_of(link.get("href")) for link in entry.get("links") or () if isinstance(link, dict)]
    return [u for u in dict.fromkeys(urls) if u.startswith(("https://", "http://"))]


def split_url(url: str) -> SplitResult | None:
    """``urlsplit``, or None for a URL it refuses."""
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None


def host_is(host: str | None, domains: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``domains`` or a subdomain of one."""
    return host is not None and any(host == d or host.endswith(f".{d}") for d in domains)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment: tags dropped, entities decoded, script/style contents removed."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return " ".join("".join(parser.parts).split())


class _TextExtractor(HTMLParser):
    _HIDDEN = frozenset({"script", "style"})
    # Tags that separate words when rendered; without a space "<p>a</p><p>b</p>" would read "ab".
    _BREAKS = frozenset(
        {
            "br",
            "p",
            "div",
            "li",
            "ul",
            "ol",
            "tr",
            "td",
            "th",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "section",
            "article",
            "header",
            "footer",
            "hr",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
