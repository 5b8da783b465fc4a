"""Small builders shared by the matching tests."""

from __future__ import annotations

from bot.matching import PaperDocument, document_for, matches, parse_query
from bot.models import Paper


def paper(
    title: str = "",
    abstract: str = "",
    authors: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
    paper_id: str = "2401.00001",
) -> Paper:
    """A Paper with only the fields matching reads."""
    return Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        ai_keywords=keywords,
    )


def doc(**fields: object) -> PaperDocument:
    """A prepared document built from keyword arguments accepted by :func:`paper`."""
    return document_for(paper(**fields))  # type: ignore[arg-type]


def hit(query: str, **fields: object) -> bool:
    """Whether ``query`` matches a paper with the given fields."""
    return matches(parse_query(query), doc(**fields))
