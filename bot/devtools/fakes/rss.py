"""A loopback RSS 2.0 / Atom feed server, and the HTTP behaviour (validators, 304, faults, stalls) it shares
with the fake arXiv."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from multidict import CIMultiDict

from bot.devtools.loopback import Fault, LoopbackServer, Stall, take_next


@dataclass
class RecordedRequest:
    """One request a feed server answered."""

    method: str
    path: str
    headers: CIMultiDict[str]
    at: float = field(default_factory=time.monotonic)


class FeedServer(LoopbackServer):
    """Serves one XML document per request (``render``), with an ETag computed from it, ``304`` to a matching
    ``If-None-Match`` (or ``If-Modified-Since`` when ETags are off), ``Cache-Control: max-age``, queued faults
    and stalls. Subclasses choose the route and the document."""

    route = "/feed.xml"
    content_type = "application/rss+xml"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.max_age = 0
        self.use_etag = True
        self.last_modified: str | None = None
        self.extra_headers: dict[str, str] = {}
        self._faults: list[Fault] = []
        self._stalls: list[Stall] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.route, self._serve)

    def render(self, request: web.Request) -> bytes:
        """The document to serve for ``request``."""
        raise NotImplementedError

    def fail_next(
        self,
        status: int = 500,
        *,
        body: bytes = b"<html>boom</html>",
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (e.g. 200 with truncated XML)."""
        self._faults.append(Fault(status, body, times, headers or {}))

    def stall_next(self, seconds: float = 5.0, *, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering (stop() releases them early)."""
        self._stalls.append(Stall(seconds, times))

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append(RecordedRequest(request.method, request.path, request.headers.copy()))
        if self._stalls:
            await self.hold(take_next(self._stalls).seconds)
        if self._faults:
            fault = take_next(self._faults)
            return web.Response(
                status=fault.status, body=fault.body, headers=fault.headers, content_type=self.content_type
            )
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


def rss_document(items: list[dict[str, Any]]) -> str:
    """An RSS 2.0 journal-style feed (Dublin Core and PRISM namespaces, HTML descriptions)."""
    rendered = []
    for item in items:
        parts = [f"<title>{escape(item['title'])}</title>"]
        if "link" in item:
            parts.append(f"<link>{escape(item['link'])}</link>")
        if "summary" in item:
            parts.append(f"<description>{escape(item['summary'])}</description>")
        if "guid" in item:
            parts.append(f'<guid isPermaLink="false">{escape(item["guid"])}</guid>')
        parts += [f"<category>{escape(c)}</category>" for c in item.get("categories", ())]
        if "published" in item:
            parts.append(f"<pubDate>{rfc822(item['published'])}</pubDate>")
        parts += [f"<dc:creator>{escape(a)}</dc:creator>" for a in item.get("authors", ())]
        if "doi" in item:
            parts.append(f"<prism:doi>{escape(item['doi'])}</prism:doi>")
        if "dc_identifier" in item:
            parts.append(f"<dc:identifier>{escape(item['dc_identifier'])}</dc:identifier>")
        rendered.append("    <item>\n      " + "\n      ".join(parts) + "\n    </item>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
  <channel>
    <title>Machine learning papers</title>
    <link>https://journal.example/ml</link>
    <description>Latest research in machine learning</description>
{chr(10).join(rendered)}
  </channel>
</rss>
"""


def atom_document(items: list[dict[str, Any]]) -> str:
    """An Atom 1.0 blog-style feed (HTML summaries, one ``author`` element per author)."""
    rendered = []
    for item in items:
        parts = [f"<title>{escape(item['title'])}</title>"]
        if "guid" in item:
            parts.append(f"<id>{escape(item['guid'])}</id>")
        if "link" in item:
            parts.append(f'<link rel="alternate" type="text/html" href={quoteattr(item["link"])}/>')
        if "published" in item:
            stamp = item["published"].astimezone(UTC).isoformat()
            parts += [f"<published>{stamp}</published>", f"<updated>{stamp}</updated>"]
        parts += [f"<author><name>{escape(a)}</name></author>" for a in item.get("authors", ())]
        parts += [f"<category term={quoteattr(c)}/>" for c in item.get("categories", ())]
        if "summary" in item:
            parts.append(f'<summary type="html">{escape(item["summary"])}</summary>')
        rendered.append("  <entry>\n    " + "\n    ".join(parts) + "\n  </entry>")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>A research blog</title>
  <id>https://blog.example/</id>
  <link rel="self" href="https://blog.example/feed.xml"/>
  <updated>2026-11-02T12:00:00Z</updated>
{chr(10).join(rendered)}
</feed>
"""
