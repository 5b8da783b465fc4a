"""Every real capture in ../shared/real-captures read by the source that would read it, field by field, against an
independent parse written here with the standard library only (json, xml.etree, re) — never our own parsers.

HF JSON → HuggingFaceSource's parsing; arXiv RSS (current and pre-2024) and API Atom → ArxivSource's; everything
else → RssSource's. Issue 11, section 1.
"""

from __future__ import annotations

import email.utils
import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import Paper
from bot.sources.arxiv import parse_arxiv_feed
from bot.sources.huggingface import decode_page, parse_daily_papers
from bot.sources.rss import parse_feed

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-captures"
FILES = sorted(p.name for p in CAPTURES.glob("*") if p.suffix in (".json", ".xml")) if CAPTURES.is_dir() else []

NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "media": "http://search.yahoo.com/mrss/",
    "prism": "http://prismstandard.org/namespaces/basic/2.0/",
}
ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})"
MIRROR_LINK = re.compile(
    rf"https?://(?:[\w.]*arxiv\.org/(?:abs|pdf)|huggingface\.co/papers|tldr\.takara\.ai/p|(?:www\.)?alphaxiv\.org/abs)"
    rf"/{ARXIV_ID}(?:v(\d+))?/?$"
)


@dataclass
class Expected:
    """One listed paper as the independent parse reads it; ``id`` None means "a hash id" (matched by title)."""

    id: str | None
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    version: int | None = None
    url: str | None = None
    upvotes: int = 0
    published: datetime | None = None
    thumbnail: str | None = None
    announce_type: str = "new"
    extra: dict[str, object] = field(default_factory=dict)


def ws(text: str | None) -> str:
    return " ".join((text or "").split())


def strip_tags(markup: str | None) -> str:
    """Visible text of HTML (script and style contents are not visible), by regex: no HTML parser of ours."""
    visible = re.sub(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", " ", markup or "", flags=re.S | re.I)
    return ws(html.unescape(re.sub(r"<[^>]+>", " ", visible)))


def squeeze(text: str) -> str:
    """Text without any whitespace: two ways of rendering inline tags may differ in spaces only."""
    return re.sub(r"\s+", "", text)


def local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def kids(element: ET.Element, name: str) -> list[ET.Element]:
    """Children by local name, in any namespace (one capture has a stray default namespace)."""
    return [child for child in element if local(child) == name]


def kid_text(element: ET.Element, name: str) -> str | None:
    found = kids(element, name)
    return found[0].text if found else None


# -- Hugging Face JSON -------------------------------------------------------------------------------------------


def expected_hf(body: bytes) -> list[Expected]:
    papers = []
    for item in json.loads(body):
        paper = item["paper"]
        if paper.get("withdrawnAt"):
            continue
        papers.append(
            Expected(
                id=paper["id"],
                title=ws(paper["title"]),
                abstract=ws(paper["summary"]),
                authors=tuple(ws(a["name"]) for a in paper["authors"] if not a.get("hidden")),
                url=f"https://huggingface.co/papers/{paper['id']}",
                upvotes=paper["upvotes"],
                published=datetime.fromisoformat(paper["publishedAt"].replace("Z", "+00:00")),
                thumbnail=item.get("thumbnail"),
                extra={
                    "ai_summary": paper.get("ai_summary"),
                    "ai_keywords": tuple(paper.get("ai_keywords") or ()),
                    "code_url": paper.get("githubRepo") or None,
                    "project_url": paper.get("projectPage") or None,
                },
            )
        )
    return papers


# -- arXiv: current RSS, pre-2024 RSS 1.0, API Atom ---------------------------------------------------------------


def expected_arxiv(body: bytes) -> list[Expected]:
    root = ET.fromstring(body)
    if local(root) == "feed":
        return [_arxiv_atom(entry) for entry in root.findall("atom:entry", NS)]
    if local(root) == "RDF":
        return [_arxiv_legacy(item) for item in kids(root, "item")]
    return [_arxiv_rss(item) for item in root.iter("item")]


def _arxiv_rss(item: ET.Element) -> Expected:
    paper_id = re.search(rf"/abs/{ARXIV_ID}$", kid_text(item, "link") or "").group(1)
    head = re.match(r"arXiv:(\S+?)v(\d+) Announce Type: (\S+)\s*\nAbstract: (.*)$", kid_text(item, "description"), re.S)
    creators = item.find("dc:creator", NS).text
    return Expected(
        id=paper_id,
        title=ws(kid_text(item, "title")),
        abstract=ws(head.group(4)),
        authors=tuple(n for n in (ws(part) for part in re.split(r",|\band\b", creators)) if n),
        categories=tuple(c.text for c in kids(item, "category")),
        version=int(head.group(2)),
        url=f"https://arxiv.org/abs/{paper_id}",
        published=email.utils.parsedate_to_datetime(kid_text(item, "pubDate")).astimezone(UTC),
        announce_type=item.find("arxiv:announce_type", NS).text,
    )


def _arxiv_legacy(item: ET.Element) -> Expected:
    title = re.match(
        rf"^(.*?)\.? \(arXiv:{ARXIV_ID}v(\d+) \[([^\]]+)\](?: (UPDATED|CROSS LISTED))?\)$",
        kid_text(item, "title"),
        re.S,
    )
    # dc:creator holds HTML: each author a link, an affiliation after it in parentheses, "et al." outside links.
    creator = html.unescape(item.find("dc:creator", NS).text)
    authors = tuple(
        ws(name + (" " + affiliation if affiliation else ""))
        for name, affiliation in re.findall(r"<a [^>]*>([^<]*)</a>\s*(\([^)]*\))?", creator)
    )
    flag = {"UPDATED": "replace", "CROSS LISTED": "cross"}.get(title.group(5) or "", "new")
    return Expected(
        id=title.group(2),
        title=ws(title.group(1)),
        abstract=strip_tags(kid_text(item, "description")),
        authors=authors,
        categories=(title.group(4),),
        version=int(title.group(3)),
        url=f"https://arxiv.org/abs/{title.group(2)}",
        announce_type=flag,
    )


def _arxiv_atom(entry: ET.Element) -> Expected:
    found = re.search(rf"/abs/{ARXIV_ID}v(\d+)$", entry.find("atom:id", NS).text)
    return Expected(
        id=found.group(1),
        title=ws(entry.find("atom:title", NS).text),
        abstract=ws(entry.find("atom:summary", NS).text),
        authors=tuple(ws(a.find("atom:name", NS).text) for a in entry.findall("atom:author", NS)),
        categories=tuple(dict.fromkeys(c.get("term") for c in entry.findall("atom:category", NS))),
        version=int(found.group(2)),
        url=f"https://arxiv.org/abs/{found.group(1)}",
        published=datetime.fromisoformat(entry.find("atom:published", NS).text.replace("Z", "+00:00")),
    )


# -- any other feed: RSS 2.0, RSS 1.0, Atom -----------------------------------------------------------------------


def expected_feed(body: bytes) -> list[Expected]:
    root = ET.fromstring(body)
    items = root.findall("atom:entry", NS) if local(root) == "feed" else [e for e in root.iter() if local(e) == "item"]
    return [_feed_item(item) for item in items]


def _feed_item(item: ET.Element) -> Expected:
    atom = local(item) == "entry"
    link = ws(item.find("atom:link", NS).get("href") if atom else kid_text(item, "link"))
    description = kid_text(item, "summary" if atom else "description") or ""
    labelled = dict(re.findall(r"<p>\s*<b>(Authors|Upvotes|Summary):</b>\s*(.*?)</p>", description, re.S))
    identifier = ws(kid_text(item, "identifier"))
    doi = re.sub(r"^doi:", "", identifier)
    mirrored = MIRROR_LINK.match(link)
    if mirrored:
        paper_id: str | None = mirrored.group(1)
    elif re.fullmatch(r"10\.\d{4,9}/\S+", doi):
        paper_id = f"doi:{doi.lower()}"
    else:
        paper_id = None
    if atom:
        authors = tuple(ws(a.find("atom:name", NS).text) for a in item.findall("atom:author", NS))
    else:
        creators = [ws(c.text) for c in item.findall("dc:creator", NS) if ws(c.text)]
        authors = tuple(_split_creator(creators[0])) if len(creators) == 1 else tuple(creators)
    if "Authors" in labelled:
        authors = tuple(ws(a) for a in labelled["Authors"].split(","))
    when = kid_text(item, "pubDate") or kid_text(item, "date") or kid_text(item, "published")
    media = [m.get("url") for m in item.findall("media:content", NS) if m.get("medium") == "image"]
    image = re.search(r'<img [^>]*src="([^"]+)"', html.unescape(description)) if labelled else None
    return Expected(
        id=paper_id,
        title=strip_tags(kid_text(item, "title")),
        abstract=strip_tags(labelled.get("Summary", description)),
        authors=authors,
        categories=tuple(dict.fromkeys(ws(c.text or c.get("term")) for c in kids(item, "category"))),
        url=link,
        upvotes=int(labelled.get("Upvotes", "0").strip()),
        published=_date(when),
        thumbnail=image.group(1) if image else (media[0] if media else None),
    )


def _split_creator(creator: str) -> list[str]:
    """ "A, B, C" → three names; bioRxiv's "LAPALU, N., SIMON, A., O'Connell, R. J." → "surname, initials" pairs."""
    parts = [ws(p) for p in creator.split(",")]
    if all(re.fullmatch(r"([A-Z][a-z]?\.[\s-]*)+", p) for p in parts[1::2]) and len(parts) % 2 == 0:
        return [f"{a}, {b}" for a, b in zip(parts[::2], parts[1::2], strict=True)]
    return parts


def _date(text: str | None) -> datetime | None:
    text = ws(text)
    if not text:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    if text[0].isdigit():
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return email.utils.parsedate_to_datetime(text).astimezone(UTC)


# -- the test -----------------------------------------------------------------------------------------------------


def read_capture(name: str, body: bytes) -> tuple[list[Paper], list[Expected]]:
    """(what the source that would read this capture makes of it, what the independent parse says)."""
    if name.startswith("hf_daily"):
        return parse_daily_papers(decode_page(body, name)), expected_hf(body)
    if name.startswith("arxiv_"):
        return parse_arxiv_feed(body), expected_arxiv(body)
    return parse_feed(body, "capture"), expected_feed(body)


@pytest.mark.parametrize("name", FILES or ["(none)"])
def test_capture_is_read_field_by_field(name):
    if not FILES:
        pytest.skip(f"../shared/real-captures not present: looked in {CAPTURES}")
    papers, expected = read_capture(name, (CAPTURES / name).read_bytes())
    assert len(papers) == len(expected), [p.id for p in papers]
    by_id = {p.id: p for p in papers}
    by_title = {p.title: p for p in papers}
    for want in expected:
        got = by_id[want.id] if want.id is not None else by_title[want.title]
        if want.id is None:
            assert got.id.startswith("rss:")
        assert got.title == want.title
        assert squeeze(got.abstract) == squeeze(want.abstract), got.id
        assert got.authors == want.authors, got.id
        assert got.categories == want.categories, got.id
        assert got.version == want.version, got.id
        assert got.url == want.url, got.id
        arxiv = want.id is not None and not want.id.startswith("doi:")
        assert got.pdf_url == (f"https://arxiv.org/pdf/{want.id}" if arxiv else None), got.id
        assert got.upvotes == want.upvotes, got.id
        assert got.published_at == want.published, got.id
        assert got.thumbnail_url == want.thumbnail, got.id
        assert got.announce_type == want.announce_type, got.id
        for key, value in want.extra.items():
            assert getattr(got, key) == value, (got.id, key)
