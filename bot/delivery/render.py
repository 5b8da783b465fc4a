"""Render papers as Discord embeds (plain dicts in Discord's JSON shape, so this stays Discord-free).

Every embed is kept small enough that ten of them fit in one message (Discord allows 6,000 characters
across all embeds of a message), so n papers to one channel take ceil(n / 10) messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bot.models import ARXIV_ID_RE, Paper, Subscription

Embed = dict[str, Any]

MAX_EMBEDS_PER_MESSAGE = 10
MAX_MESSAGE_EMBED_CHARS = 6000
EMBED_CHAR_BUDGET = 595  # ten embeds (plus slack) fit under 6,000 characters
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
AUTHOR_LIMIT = 256
FOOTER_LIMIT = 2048
URL_LIMIT = 2048
MAX_AUTHORS_SHOWN = 3
HF_COLOUR = 0xFFD21E
SOURCE_NAMES = {"huggingface": "Hugging Face", "arxiv": "arXiv"}

_MARKDOWN_RE = re.compile(r"([\\*_`~|\[\]<>])")
_LINE_START_RE = re.compile(r"^([#>-])")
_WHITESPACE_RE = re.compile(r"\s+")
# Characters Discord renders invisibly or that reorder text; dropped so a title cannot spoof a layout.
_INVISIBLE_RE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control/invisible characters."""
    return _WHITESPACE_RE.sub(" ", _INVISIBLE_RE.sub("", text)).strip()


def escape_markdown(text: str) -> str:
    """Escape every character Discord markdown gives meaning to, so text shows literally."""
    return _LINE_START_RE.sub(r"\\\1", _MARKDOWN_RE.sub(r"\\\1", text))


def trim(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut (never inside an escape)."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: max(limit - 1, 0)].rstrip()
    while cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut + "…"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that is safe inside an embed field or a markdown link, or None."""
    if not url:
        return None
    url = clean_text(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in parts.netloc:
        return None
    quoted = quote(url, safe=":/?#&=%+~,;@!$*'")
    quoted = quoted.replace("(", "%28").replace(")", "%29")
    return quoted if len(quoted) <= URL_LIMIT else None


def shorten_authors(authors: Sequence[str], shown: int = MAX_AUTHORS_SHOWN) -> str:
    """``A, B, C et al.`` for long author lists."""
    names = [clean_text(a) for a in authors if clean_text(a)]
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + " et al."


def embed_length(embed: Embed) -> int:
    """Characters Discord counts toward the 6,000 limit: title, description, fields, footer, author."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", ()):
        total += len(f.get("name", "")) + len(f.get("value", ""))
    return total


def footer_marker(paper_id: str) -> str:
    """The footer text that identifies a paper in a posted message (used to recognise our own posts)."""
    return f"arXiv {paper_id}" if ARXIV_ID_RE.fullmatch(paper_id) else paper_id


FOOTER_IDS_SHOWN = 5  # more subscriptions in one channel matching one paper are counted, not listed
FULL_EMBED_BUDGET = 3500  # /papers show: one embed alone in its message, so the whole abstract fits


def render_paper_embed(paper: Paper, subscription_ids: Sequence[int] = (), *, full: bool = False) -> Embed:
    """One paper as one embed: linked title, authors, summary, upvotes and links, footer with source and ids.

    ``full`` shows the whole abstract (and the AI summary when there is one) for a single-paper message.
    """
    budget = FULL_EMBED_BUDGET if full else EMBED_CHAR_BUDGET
    source = SOURCE_NAMES.get(paper.source, paper.source)
    shown_ids = [f"#{i}" for i in subscription_ids[:FOOTER_IDS_SHOWN]]
    more = len(subscription_ids) - len(shown_ids)
    subs = ", ".join(shown_ids) + (f" +{more}" if more > 0 else "")
    footer = trim(
        " · ".join(x for x in (source, f"subscription {subs}" if subs else "", footer_marker(paper.id)) if x),
        FOOTER_LIMIT,
    )
    title = trim(escape_markdown(clean_text(paper.title)) or paper.id, min(TITLE_LIMIT, 200))
    embed: Embed = {"type": "rich", "title": title, "color": HF_COLOUR, "footer": {"text": footer}}
    if url := safe_url(paper.url):
        embed["url"] = url
    authors = trim(escape_markdown(shorten_authors(paper.authors)), min(AUTHOR_LIMIT, 100))
    if authors:
        embed["author"] = {"name": authors}
    if thumb := safe_url(paper.thumbnail_url):
        embed["thumbnail"] = {"url": thumb}
    if paper.published_at is not None:
        embed["timestamp"] = paper.published_at.isoformat()

    links = [f"▲ {paper.upvotes}"] if paper.source == "huggingface" or paper.upvotes else []
    links += [f"v{paper.version}"] if paper.version else []  # the arXiv version, newest seen
    links += [
        f"[{label}]({u})"
        for label, raw in (("PDF", paper.pdf_url), ("Code", paper.code_url), ("Project page", paper.project_url))
        if (u := safe_url(raw))
    ]
    links_line = " · ".join(links)
    while links and len(links_line) > EMBED_CHAR_BUDGET // 2:  # absurdly long URLs: drop links, keep text
        links.pop()
        links_line = " · ".join(links)
    text = paper.ai_summary or paper.abstract
    if full and paper.ai_summary and paper.abstract:
        text = f"{paper.abstract}\n\nAI summary: {paper.ai_summary}"
    summary = escape_markdown(clean_text(text) if not full else "\n\n".join(map(clean_text, text.split("\n\n"))))
    room = budget - embed_length(embed) - len(links_line) - 2
    description = "\n\n".join(x for x in (trim(summary, max(room, 0)), links_line) if x)
    if description:
        embed["description"] = trim(description, DESCRIPTION_LIMIT)
    return embed


def pack_messages(embeds: Iterable[Embed]) -> list[list[Embed]]:
    """Group embeds into messages: at most 10 embeds and 6,000 embed characters each, order kept."""
    messages: list[list[Embed]] = []
    current: list[Embed] = []
    size = 0
    for embed in embeds:
        length = embed_length(embed)
        if current and (len(current) == MAX_EMBEDS_PER_MESSAGE or size + length > MAX_MESSAGE_EMBED_CHARS):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += length
    if current:
        messages.append(current)
    return messages


DIGEST_CAP = 25
DIGEST_DESCRIPTION_BUDGET = 3900  # under the 4,096 description limit with room for the "more" line
DIGEST_LINK_LIMIT = 200


def _digest_line(rank: int, paper: Paper) -> str:
    """``**1.** [Title](url) · ▲ 42 · First Author et al.`` — never cut inside the link."""
    title = trim(escape_markdown(clean_text(paper.title)) or paper.id, 120)
    link = safe_url(paper.url)
    line = f"**{rank}.** [{title}]({link})" if link and len(link) <= DIGEST_LINK_LIMIT else f"**{rank}.** {title}"
    if paper.source == "huggingface" or paper.upvotes:
        line += f" · ▲ {paper.upvotes}"
    authors = escape_markdown(shorten_authors(paper.authors, shown=1))
    if authors:
        line += " · " + trim(authors, 60)
    return line


def digest_marker(nonce: str) -> str:
    """The footer reference that identifies one digest message (used to recognise it after a crash)."""
    return f"ref {nonce[-8:]}"


def render_digest(
    subscription: Subscription,
    papers: Sequence[Paper],
    start: datetime,
    end: datetime,
    cap: int = DIGEST_CAP,
    nonce: str = "",
) -> list[Embed]:
    """A digest as one embed: header with period and counts, then up to ``cap`` papers as compact lines.

    ``papers`` should already be ordered (upvotes, then recency). Lines stop at the cap or when the
    embed would outgrow Discord's limits, and the rest is counted, so a digest is always one message.
    """
    count = len(papers)
    period = f"<t:{int(start.timestamp())}:f> → <t:{int(end.timestamp())}:f>"
    query = trim(subscription.query.replace("`", "ʼ"), 150)
    if subscription.schedule == "instant":  # the overflow of a max_per_day subscription
        title = f"{count} more matched today · #{subscription.id}"
        description = f"{count} more matched today: over this subscription's max_per_day of "
        description += f"{subscription.max_per_day}, `{query}`\n{period}\n"
    else:
        title = f"{'Weekly' if subscription.schedule == 'weekly' else 'Daily'} digest · #{subscription.id}"
        description = f"{count} new paper{'s' if count != 1 else ''} matching `{query}`\n{period}\n"
    shown = 0
    for rank, paper in enumerate(papers[:cap], start=1):
        line = _digest_line(rank, paper)
        if len(description) + len(line) + 1 > DIGEST_DESCRIPTION_BUDGET:
            break
        description += "\n" + line
        shown += 1
    if (more := count - shown) > 0:
        how = "/subscriptions preview" if subscription.guild_id is not None else "/papers search"
        description += f"\n…and **{more}** more match{'es' if more != 1 else ''}: see them with `{how}`."
    return [
        {
            "type": "rich",
            "title": title,
            "description": description,
            "color": HF_COLOUR,
            "footer": {"text": f"paperbot digest · subscription #{subscription.id} · {digest_marker(nonce)}"},
            "timestamp": end.isoformat(),
        }
    ]
