"""A loopback RSS 2.0 / Atom feed server, and the HTTP behaviour (validators, 304, faults, stalls) it shares
with the fake arXiv."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from multidict import CIMultiDict

from bot.devtools.loopback import CannedFaults, Stall, take_next


@dataclass
class RecordedRequest:
    """One request a feed server answered."""

    method: str
    path: str
    headers: CIMultiDict[str]
    at: float = field(default_factory=time.monotonic)


class FeedServer(CannedFaults):
    """Serves one XML document per request (``render``), with an ETag computed from it, ``304`` to a matching
    ``If-None-Match`` (or ``If-Modified-Since`` when ETags are off), ``Cache-Control: max-age``, queued faults
    and stalls. Subclasses choose the route and the document."""

    route = "/feed.xml"
    content_type = "application/rss+xml"
    fault_body = b"<html>boom</html>"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.max_age = 0
        self.use_etag = True
        self.last_modified: str | None = None
        self.extra_headers: dict[str, str] = {}
        self._stalls: list[Stall] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.route, self._serve)

    def render(self, request: web.Request) -> bytes:
        """The document to serve for ``request``."""
        raise NotImplementedError

    def stall_next(self, seconds: float = 5.0, *, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering (stop() releases them early)."""
        self._stalls.append(Stall(seconds, times))

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append(RecordedRequest(request.method, request.path, request.headers.copy()))
        if self._stalls:
            await self.hold(take_next(self._stalls).seconds)
        if (canned := await self.canned_answer()) is not None:
            return canned
        body = self.render(request)
        headers = {"Cache-Control": f"max-age={self.max_age}", **self.extra_headers}
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        if self.use_etag:
            headers["ETag"] = etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            not_modified = self.use_etag and if_none_match == etag
        else:
            not_modified = (
                self.last_modified is not None and request.headers.get("If-Modified-Since") == self.last_modified
            )
        if not_modified:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type=self.content_type)


def rfc822(when: datetime) -> str:
    """``when`` as an RFC 822 date in GMT, as feeds write it."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


class FakeFeed(FeedServer):
    """Serves ``GET /feed.xml`` as RSS 2.0 or Atom from ``items`` that tests set.

    Item keys (all optional but ``title``): ``guid``, ``link``, ``summary`` (HTML), ``authors`` (list),
    ``categories`` (list), ``published`` (datetime), ``doi`` (emitted as ``prism:doi``), ``dc_identifier``.
    """

    def __init__(self, kind: Literal["rss", "atom"] = "rss", items: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.content_type = "application/rss+xml" if kind == "rss" else "application/atom+xml"
        self.items: list[dict[str, Any]] = items or []

    @property
    def url(self) -> str:
        """The feed's URL."""
        return f"{self.base_url}{self.route}"

    def set_items(self, items: list[dict[str, Any]]) -> None:
        """Serve ``items`` from now on."""
        self.items = items

    def render(self, request: web.Request) -> bytes:
        """``items`` as this feed's kind of document."""
        return (rss_document(self.items) if self.kind == "rss" else atom_document(self.items)).encode()


# How each format writes an item's keys: (key, its elements), in document order; list keys give one each.
Elements = list[tuple[str, Callable[[Any], list[str]]]]
RSS_ELEMENTS: Elements = [
    ("title", lambda v: [f"<title>{escape(v)}</title>"]),
    ("link", lambda v: [f"<link>{escape(v)}</link>"]),
    ("summary", lambda v: [f"<description>{escape(v)}</description>"]),
    ("guid", lambda v: [f'<guid isPermaLink="false">{escape(v)}</guid>']),
    ("categories", lambda vs: [f"<category>{escape(c)}</category>" for c in vs]),
    ("published", lambda v: [f"<pubDate>{rfc822(v)}</pubDate>"]),
    ("authors", lambda vs: [f"<dc:creator>{escape(a)}</dc:creator>" for a in vs]),
    ("doi", lambda v: [f"<prism:doi>{escape(v)}</prism:doi>"]),
    ("dc_identifier", lambda v: [f"<dc:identifier>{escape(v)}</dc:identifier>"]),
]
ATOM_ELEMENTS: Elements = [
    ("title", lambda v: [f"<title>{escape(v)}</title>"]),
    ("guid", lambda v: [f"<id>{escape(v)}</id>"]),
    ("link", lambda v: [f'<link rel="alternate" type="text/html" href={quoteattr(v)}/>']),
    ("published", lambda v: [f"<{tag}>{v.astimezone(UTC).isoformat()}</{tag}>" for tag in ("published", "updated")]),
    ("authors", lambda vs: [f"<author><name>{escape(a)}</name></author>" for a in vs]),
    ("categories", lambda vs: [f"<category term={quoteattr(c)}/>" for c in vs]),
    ("summary", lambda v: [f'<summary type="html">{escape(v)}</summary>']),
]


def _render_items(items: list[dict[str, Any]], elements: Elements, tag: str, indent: str) -> str:
    inner = "\n" + indent + "  "
    return "\n".join(
        f"{indent}<{tag}>{inner}"
        + inner.join(line for key, write in elements if key in item for line in write(item[key]))
        + f"\n{indent}</{tag}>"
        for item in items
    )


def rss_document(items: list[dict[str, Any]]) -> str:
    """An RSS 2.0 journal-style feed (Dublin Core and PRISM namespaces, HTML descriptions)."""
    rendered = _render_items(items, RSS_ELEMENTS, "item", "    ")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
  <channel>
    <title>Machine learning papers</title>
    <link>https://journal.example/ml</link>
    <description>Latest research in machine learning</description>
{rendered}
  </channel>
</rss>
"""


def atom_document(items: list[dict[str, Any]]) -> str:
    """An Atom 1.0 blog-style feed (HTML summaries, one ``author`` element per author)."""
    rendered = _render_items(items, ATOM_ELEMENTS, "entry", "  ")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>A research blog</title>
  <id>https://blog.example/</id>
  <link rel="self" href="https://blog.example/feed.xml"/>
  <updated>2026-11-02T12:00:00Z</updated>
{rendered}
</feed>
"""
