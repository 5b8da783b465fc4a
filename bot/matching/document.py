"""A paper prepared for matching: tokens, stems and sets per field, computed once per paper."""

from __future__ import annotations

from bisect import bisect_left
from itertools import pairwise

from bot.matching.nodes import Field
from bot.matching.text import normalize, split_tokens, stem_all, tokenize
from bot.models import Paper

# Placed between segments (title | abstract | each keyword; each author) so a phrase never
# spans two of them. Tokens and stems are letters/digits only, so this can never match one.
SEGMENT_BREAK = "\x00"

# The order of ``PaperDocument.views``; compiled queries index it directly (a tuple index is
# cheaper than an attribute lookup by name on the hot path).
VIEW_INDEX: dict[Field, int] = {
    Field.TEXT: 0,
    Field.TITLE: 1,
    Field.ABSTRACT: 2,
    Field.AUTHOR: 3,
    Field.CATEGORY: 4,
}


Pair = tuple[str, str]


def pair_key(first: str, second: str) -> Pair:
    """How two adjacent tokens (or stems) are written in pair sets and index keys."""
    return (first, second)


class FieldView:
    """One field of a paper: its token sequence (with segment breaks), stems, and their sets."""

    __slots__ = ("_pairs", "_sorted_tokens", "_stem_set", "_token_set", "stems", "tokens")

    def __init__(self, tokens: list[str], stems: list[str] | None) -> None:
        self.tokens = tokens
        # Fields that are never stemmed (authors, categories) share the token structures.
        self.stems = tokens if stems is None else stems
        # The sets are built on first use: the subscription index reads the sequences, and only
        # single-query matching (search, explain) needs the sets.
        self._token_set: frozenset[str] | None = None
        self._stem_set: frozenset[str] | None = None
        self._sorted_tokens: list[str] | None = None
        self._pairs: dict[bool, frozenset[Pair]] = {}

    @property
    def token_set(self) -> frozenset[str]:
        if self._token_set is None:
            self._token_set = frozenset(self.tokens)
        return self._token_set

    @property
    def stem_set(self) -> frozenset[str]:
        if self._stem_set is None:
            self._stem_set = self.token_set if self.stems is self.tokens else frozenset(self.stems)
        return self._stem_set

    def pairs(self, stems: bool) -> frozenset[Pair]:
        """Adjacent pairs of stems (or tokens), as :func:`pair_key` tuples, built on first use.

        A two-word phrase then costs one set lookup however common its words are. Many queries
        are checked against the same paper, so building this once pays off.
        """
        found = self._pairs.get(stems)
        if found is None:
            sequence = self.stems if stems else self.tokens
            found = self._pairs[stems] = frozenset(pairwise(sequence))
        return found

    def sorted_tokens(self) -> list[str]:
        """The distinct tokens in sorted order, built on first use (only prefix queries need it)."""
        if self._sorted_tokens is None:
            self._sorted_tokens = sorted(self.token_set)
        return self._sorted_tokens

    def has_prefix(self, prefix: str) -> bool:
        """Return whether any token starts with ``prefix``."""
        ordered = self.sorted_tokens()
        i = bisect_left(ordered, prefix)
        return i < len(ordered) and ordered[i].startswith(prefix)


class PaperDocument:
    """A paper in the form the matcher reads. Build it with :func:`document_for`."""

    __slots__ = ("paper_id", "views")

    def __init__(self, paper_id: str, views: tuple[FieldView, ...]) -> None:
        self.paper_id = paper_id
        self.views = views

    def __repr__(self) -> str:
        return f"PaperDocument({self.paper_id!r})"


def _join_segments(segments: list[list[str]]) -> list[str]:
    joined: list[str] = []
    for segment in segments:
        if joined:
            joined.append(SEGMENT_BREAK)
        joined.extend(segment)
    return joined


def normalize_category(category: str) -> str:
    """Return a category in its comparison form (``cs.CL`` → ``cs.cl``)."""
    return normalize(category).strip()


def document_for(paper: Paper) -> PaperDocument:
    """Prepare ``paper`` for matching: tokenize and stem each field once.

    Unfielded query terms search the title, the abstract and the Hugging Face AI keywords;
    ``title:``/``abstract:`` search only their field; authors and categories are never stemmed.
    """
    title = split_tokens(normalize(paper.title))
    abstract = split_tokens(normalize(paper.abstract))
    keywords = [tokenize(keyword) for keyword in paper.ai_keywords]
    title_stems = stem_all(title)
    abstract_stems = stem_all(abstract)
    text_tokens = _join_segments([title, abstract, *keywords])
    text_stems = _join_segments([title_stems, abstract_stems, *(stem_all(k) for k in keywords)])
    authors = _join_segments([tokenize(name) for name in paper.authors])
    categories = [normalize_category(category) for category in paper.categories]
    views = (
        FieldView(text_tokens, text_stems),
        FieldView(title, title_stems),
        FieldView(abstract, abstract_stems),
        FieldView(authors, None),
        FieldView(categories, None),
    )
    return PaperDocument(paper.id, views)
