"""Recognising arXiv papers wherever a feed lists them: the id and version in an OAI guid or in a link to arXiv or
one of its mirrors, arXiv's "arXiv:… Announce Type: … Abstract:" description, the legacy "(arXiv:… [hep-ex])"
title suffix, and author lists given as one ``dc:creator`` string."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.models import ARXIV_ID_RE, arxiv_version
from bot.sources.feeds import host_is, html_to_text, split_url, text_of, urls_of

_OAI_PREFIX = "oai:arxiv.org:"
# Sites whose paper pages are addressed by arXiv id: domain (subdomains included) → the path segments that come
# before the id. arxiv.org covers export., www. and ar5iv.labs.arxiv.org.
ARXIV_MIRRORS: dict[str, tuple[str, ...]] = {
    "arxiv.org": ("abs", "pdf", "html", "format"),
    "ar5iv.org": ("abs", "html"),
    "alphaxiv.org": ("abs", "overview", "pdf"),
    "huggingface.co": ("papers",),
    "tldr.takara.ai": ("p",),
    "semanticscholar.org": ("arxiv",),
}
_MIRROR_PATH_RE = {
    domain: re.compile(rf"/(?:{'|'.join(segments)})/{ARXIV_ID_RE.pattern}(?:\.pdf)?/?")
    for domain, segments in ARXIV_MIRRORS.items()
}
# The current RSS description: "arXiv:2203.01250v3 Announce Type: replace \nAbstract: We consider ...".
_DESCRIPTION_RE = re.compile(r"^\s*arXiv:(\S+)\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
# The pre-2024 RSS title: "Title. (arXiv:1805.08875v1 [hep-ex])", "... [hep-ph] UPDATED)", "... CROSS LISTED)".
_LEGACY_TITLE_RE = re.compile(r"\.?\s*\(arXiv:(\S+?)\s*\[([^\]]*)\]\s*([A-Z ]*)\)\s*$")
_LEGACY_FLAGS = {"UPDATED": "replace", "CROSS LISTED": "cross"}
_NAME_SEPARATOR_RE = re.compile(r"[()]|[,:]\s*(?:and\s+)?|\s+and\s+")
# "N.", "R. J.", "P.-L.": each initial followed by at most one separator, so a match never backtracks widely.
_INITIALS_RE = re.compile(r"(?:[A-Z][a-z]?\.(?:\s?-\s?|\s)?)+")
_ET_AL_RE = re.compile(r"^et\.? al\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ArxivRef:
    """What an entry says of the arXiv paper it lists: its id (no version), version and announce type when it
    says; from a legacy title, also the title without its suffix and the suffix's categories."""

    id: str
    version: int | None = None
    announce_type: str = ""
    title: str | None = None
    categories: tuple[str, ...] = ()


def arxiv_ref(entry: Any) -> ArxivRef | None:
    """The arXiv paper an entry lists, from its guid (``oai:arXiv.org:…``), a link to arXiv or a mirror
    (``tldr.takara.ai/p/<id>``, ``alphaxiv.org/abs/<id>``, …), arXiv's description prefix or a legacy title's
    suffix; digits elsewhere (``blog/2024.12345``) do not count. What else the entry says of that same paper
    (version, announce type, legacy title and categories) comes along."""
    found = [r for r in (_linked(entry), _described(entry), legacy_title(text_of(entry.get("title")))) if r]
    if not found:
        return None
    same = [r for r in found if r.id == found[0].id]
    return ArxivRef(
        found[0].id,
        next((r.version for r in same if r.version), None),
        next((r.announce_type for r in same if r.announce_type), ""),
        next((r.title for r in same if r.title), None),
        next((r.categories for r in same if r.categories), ()),
    )


def _linked(entry: Any) -> ArxivRef | None:
    guid = text_of(entry.get("id"))
    if guid.lower().startswith(_OAI_PREFIX):
        match = ARXIV_ID_RE.fullmatch(guid[len(_OAI_PREFIX) :])
        return ArxivRef(match.group(1), arxiv_version(match.group())) if match else None
    for url in urls_of(entry):
        parts = split_url(url)
        if parts is None:
            continue
        for domain, path_re in _MIRROR_PATH_RE.items():
            if host_is(parts.hostname, (domain,)) and (match := path_re.fullmatch(parts.path)):
                return ArxivRef(match.group(1), arxiv_version(match.group(0)))
    return None


def _described(entry: Any) -> ArxivRef | None:
    prefix = _DESCRIPTION_RE.match(_raw_summary(entry))
    if prefix is None or (match := ARXIV_ID_RE.fullmatch(prefix.group(1))) is None:
        return None
    return ArxivRef(match.group(1), arxiv_version(prefix.group(1)), prefix.group(2).lower())


def _raw_summary(entry: Any) -> str:
    summary = entry.get("summary")
    return summary if isinstance(summary, str) else ""


def arxiv_abstract(entry: Any) -> str:
    """The abstract of an arXiv item as plain text: after the "arXiv:… Announce Type: … Abstract:" prefix, kept
    as written (arXiv's abstracts are plain text, so ``$x<y$`` is not a tag); a legacy ``<p>…</p>`` description
    reduced to its text."""
    description = _raw_summary(entry)
    prefix = _DESCRIPTION_RE.match(description)
    if prefix is not None:
        return text_of(description[prefix.end() :])
    return html_to_text(description) if description.lstrip().startswith("<") else text_of(description)


def legacy_title(title: str) -> ArxivRef | None:
    """``"Title. (arXiv:1805.08875v1 [hep-ex])"`` → the paper, version 1, the bare title, ``("hep-ex",)``, "new"
    ("UPDATED" means a new version, "CROSS LISTED" a cross-list); None for any other title."""
    match = _LEGACY_TITLE_RE.search(title, max(len(title) - 300, 0))  # the suffix ends it: never scan all
    if match is None or (paper := ARXIV_ID_RE.fullmatch(match.group(1))) is None:
        return None
    categories = tuple(c for c in (text_of(part) for part in match.group(2).split(",")) if c)
    flag = " ".join(match.group(3).split())
    return ArxivRef(
        paper.group(1),
        arxiv_version(match.group(1)),
        _LEGACY_FLAGS.get(flag, "new"),
        title[: match.start()].strip(),
        categories,
    )


def authors_of(entry: Any) -> tuple[str, ...]:
    """An entry's authors, one name each. Several author elements are taken as they are; one string holding
    them all (arXiv's and most journals' ``dc:creator``) is split: "A. Author, B. Author (MIT, CSAIL), and
    C. Author", "Collaboration: A. Author, et al. (909 additional authors not shown)", or bioRxiv's
    "LAPALU, N., SIMON, A., O'Connell, R. J." (surname, initials). HTML (legacy arXiv links) is reduced to text."""
    creators = [_plain(a.get("name")) for a in entry.get("authors") or () if isinstance(a, dict)]
    creators = [c for c in creators if c] or [c for c in [_plain(entry.get("author"))] if c]
    names = creators if len(creators) > 1 else [n for c in creators for n in split_names(c)]
    return tuple(dict.fromkeys(n for n in names if not _ET_AL_RE.match(n)))


def _plain(value: Any) -> str:
    return html_to_text(value) if isinstance(value, str) and "<" in value else text_of(value)


def split_names(creator: str) -> list[str]:
    """One author string split into names (see :func:`authors_of`)."""
    parts = [text_of(part) for part in creator.split(",")]
    if len(parts) >= 2 and len(parts) % 2 == 0 and all(_INITIALS_RE.fullmatch(p) for p in parts[1::2]):
        return [f"{surname}, {initials}" for surname, initials in zip(parts[::2], parts[1::2], strict=True)]
    if len(parts) == 2 and all(p and " " not in p for p in parts):
        return [text_of(creator)]  # "Lovelace, Ada": one name, surname first
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
