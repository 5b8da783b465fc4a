"""Discord messages as compact terminal text: one block per embed with the paper's arXiv id and title, Discord
markup (mentions, timestamps, links, escapes) turned into what a reader would see in the app."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from bot.models import normalize_arxiv_id

JSON = dict[str, Any]
WIDTH = 100
SUMMARY_LINES = 2

_LINK_RE = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")
_TIMESTAMP_RE = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_ESCAPE_RE = re.compile(r"\\([\\*_`~|\[\]<>#-])")
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*")
_CODE_BLOCK_RE = re.compile(r"```\n?(.*?)\n?```", re.S)


def _when(seconds: int, style: str | None, now: datetime) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    if style != "R":
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    delta = int((moment - now).total_seconds())
    amount = abs(delta)
    unit = next(
        (f"{amount // size} {name}{'s' if amount // size != 1 else ''}" for size, name in UNITS if amount >= size),
        f"{amount} seconds",
    )
    return f"in {unit}" if delta >= 0 else f"{unit} ago"


UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def plain(text: str, name_of: Callable[[str, int], str], now: datetime | None = None) -> str:
    """Discord markup as a reader sees it: ``<#id>`` → ``#papers``, ``<t:…:R>`` → ``in 5 minutes``, links → their
    text, escapes and bold markers dropped, code blocks kept as indented lines."""
    now = now or datetime.now(UTC)
    text = _CODE_BLOCK_RE.sub(lambda m: textwrap.indent(m.group(1), "    "), text)
    text = re.sub(r"<#(\d+)>", lambda m: "#" + name_of("channel", int(m.group(1))), text)
    text = re.sub(r"<@&(\d+)>", lambda m: "@" + name_of("role", int(m.group(1))), text)
    text = re.sub(r"<@!?(\d+)>", lambda m: "@" + name_of("user", int(m.group(1))), text)
    text = _TIMESTAMP_RE.sub(lambda m: _when(int(m.group(1)), m.group(2), now), text)
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = _BOLD_RE.sub(r"\1", text)
    return _ESCAPE_RE.sub(r"\1", text)


def embed_paper_id(embed: JSON) -> str | None:
    """The paper an embed shows: the marker at the end of its footer (``arXiv 2403.01234``), else its URL."""
    footer = str((embed.get("footer") or {}).get("text") or "")
    if (found := re.search(r"arXiv (\S+)$", footer)) is not None:
        return found.group(1)
    return normalize_arxiv_id(str(embed.get("url") or ""))


def render_embed(embed: JSON, name_of: Callable[[str, int], str]) -> list[str]:
    """One embed as a few lines: ``┌ id  title``, authors, the summary's first lines, fields, ``└ footer``."""
    paper_id = embed_paper_id(embed)
    title = plain(str(embed.get("title") or ""), name_of)
    lines = [f"┌ {paper_id}  {title}" if paper_id else f"┌ {title}"]
    if author := (embed.get("author") or {}).get("name"):
        lines.append(f"│ {plain(author, name_of)}")
    description = plain(str(embed.get("description") or ""), name_of)
    for paragraph in [p for p in description.split("\n\n") if p.strip()]:
        wrapped = textwrap.wrap(paragraph.replace("\n", " · "), WIDTH - 4) or [""]
        shown = wrapped[:SUMMARY_LINES]
        if len(wrapped) > SUMMARY_LINES:
            shown[-1] = shown[-1][: WIDTH - 6] + " …"
        lines.extend(f"│ {line}" for line in shown)
    for item in embed.get("fields") or []:
        value = plain(str(item.get("value") or ""), name_of).replace("\n", " · ")
        lines.append(f"│ {plain(str(item.get('name') or ''), name_of)}: {textwrap.shorten(value, WIDTH - 8)}")
    footer = (embed.get("footer") or {}).get("text")
    lines.append(f"└ {plain(footer, name_of)}" if footer else "└")
    return lines


def render_message(message: JSON, name_of: Callable[[str, int], str]) -> list[str]:
    """A message: its content (mentions resolved), each embed, and its buttons and selects by label."""
    lines = [f"  {line}" for line in plain(str(message.get("content") or ""), name_of).splitlines()]
    for embed in message.get("embeds") or []:
        lines.extend(f"  {line}" for line in render_embed(embed, name_of))
    controls = [
        " ".join(x for x in ((c.get("emoji") or {}).get("name"), c.get("label") or c.get("placeholder")) if x)
        or str(c.get("custom_id") or "")
        for c in _walk(message.get("components") or [])
        if c.get("type") != 1
    ]
    if controls:
        lines.append("  [" + "] [".join(controls) + "]")
    return lines


def _walk(components: Iterable[JSON]) -> Iterable[JSON]:
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])
