"""A loopback stand-in for ``rss.arxiv.org/rss/{cat+cat}``, writing items the way arXiv's RSS does.

The default listing is the Hugging Face fixture's papers (same ids, titles, abstracts, authors), so one paper
can arrive from both sources.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from bot.devtools.fakes.huggingface import fixture_items
from bot.devtools.fakes.rss import FeedServer, rfc822

EASTERN = timezone(timedelta(hours=-5), "EST")
# Monday 2 November 2026, midnight Eastern: the announcement behind tests.conftest.T0.
ANNOUNCED = datetime(2026, 11, 2, tzinfo=EASTERN)
PRIMARIES = ("cs.CL", "cs.LG", "cs.CV")


def default_items() -> list[dict[str, Any]]:
    """The 71 HF fixture papers as a ``cs.CL`` listing: a third each with primary cs.CL, cs.LG, cs.CV (the
    latter two cross-listed to cs.CL); every seventh is a replacement (version 2)."""
    items = []
    for i, item in enumerate(fixture_items()):
        paper = item["paper"]
        primary = PRIMARIES[i % 3]
        replaced = i % 7 == 6
        kind = "replace" if replaced else "new"
        items.append(
            {
                "id": paper["id"],
                "version": 2 if replaced else 1,
                "title": paper["title"],
                "abstract": paper["summary"],
                "authors": [a["name"] for a in paper["authors"]],
                "categories": [primary] if primary == "cs.CL" else [primary, "cs.CL"],
                "announce_type": kind if primary == "cs.CL" else ("replace-cross" if replaced else "cross"),
            }
        )
    return items


class FakeArxiv(FeedServer):
    """Serves ``GET /rss/{categories}``: the items having any requested category, as an arXiv RSS 2.0 feed."""

    route = "/rss/{categories}"

    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.items = default_items() if items is None else items
        self.announced = ANNOUNCED

    @property
    def url(self) -> str:
        """The base URL to give ArxivSource (it appends ``/cs.CL+cs.LG``)."""
        return f"{self.base_url}/rss"

    def set_items(self, items: list[dict[str, Any]]) -> None:
        """List ``items`` (dicts: id, version, title, abstract, authors, categories, announce_type)."""
        self.items = items

    def empty(self) -> None:
        """A weekend or holiday: the feed is valid and has no items."""
        self.items = []

    def render(self, request: web.Request) -> bytes:
        """The listing for the requested ``cat+cat`` categories."""
        categories = request.match_info["categories"].split("+")
        items = [i for i in self.items if set(i["categories"]) & set(categories)]
        return arxiv_document(categories, items, self.announced).encode()


def arxiv_item(item: dict[str, Any], announced: datetime = ANNOUNCED) -> str:
    """One ``<item>`` exactly as rss.arxiv.org writes it (note the space before the newline in the
    description, and one ``dc:creator`` for all authors)."""
    versioned = f"{item['id']}v{item.get('version', 1)}"
    kind = item.get("announce_type", "new")
    categories = "\n".join(f"      <category>{escape(c)}</category>" for c in item["categories"])
    return f"""    <item>
      <title>{escape(item["title"])}</title>
      <link>https://arxiv.org/abs/{item["id"]}</link>
      <description>arXiv:{versioned} Announce Type: {kind} \nAbstract: {escape(item["abstract"])}</description>
      <guid isPermaLink="false">oai:arXiv.org:{versioned}</guid>
{categories}
      <pubDate>{rfc822_eastern(announced)}</pubDate>
      <arxiv:announce_type>{kind}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{escape(", ".join(item["authors"]))}</dc:creator>
    </item>"""


def rfc822_eastern(when: datetime) -> str:
    """``when`` as arXiv writes its dates (local offset, not GMT)."""
    return when.strftime("%a, %d %b %Y %H:%M:%S %z")


def arxiv_document(categories: list[str], items: list[dict[str, Any]], announced: datetime = ANNOUNCED) -> str:
    """A whole feed: arXiv's channel elements (skipDays, lastBuildDate …) and ``items``."""
    joined = "+".join(categories)
    body = "\n".join(arxiv_item(item, announced) for item in items)
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>{escape(joined)} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{escape(joined)}</link>
    <description>{escape(joined)} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{escape(joined)}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{rfc822(announced.astimezone(UTC) + timedelta(minutes=30))}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{rfc822_eastern(announced)}</pubDate>
    <skipDays>
      <day>Saturday</day>
      <day>Sunday</day>
    </skipDays>
{body}
  </channel>
</rss>
"""
