"""Text normalization shared by queries and papers, so both sides always agree.

A *token* is a maximal run of letters and digits after normalization (NFKC, casefold, accents
stripped). Everything else — spaces, hyphens, slashes, apostrophes, underscores, punctuation —
only separates tokens, which is why ``long-context``, ``long context`` and ``Long Context`` all
tokenize to ``["long", "context"]``.
"""

from __future__ import annotations

import re
import unicodedata

import snowballstemmer

# ``[^\W_]`` is "a word character that is not the underscore": letters and digits of any script
# (exactly ``str.isalnum``). Used for yes/no checks; splitting uses the faster table below.
_TOKEN_RE = re.compile(r"[^\W_]+")

# The Porter algorithm, as used by SQLite FTS5's ``porter`` tokenizer: LLMs→llm, models→model.
_STEMMER = snowballstemmer.stemmer("porter")
# Like FTS5's porter tokenizer, leave very short and very long tokens alone: this also keeps
# "s" (which Porter would reduce to "") and "is"/"as" from colliding with other words.
_MIN_STEMMED_LENGTH = 3
_MAX_STEMMED_LENGTH = 64

# Stemming costs a few µs per word in pure Python, while paper vocabularies repeat heavily, so a
# plain dict cache pays for itself at once. It is bounded so a long-running bot cannot grow it forever.
_STEM_CACHE: dict[str, str] = {}
_STEM_CACHE_LIMIT = 200_000


class _MarkStripper(dict[int, int | None]):
    """A ``str.translate`` table that deletes combining marks, filled lazily one code point at a time.

    Building a table for all 1.1M code points up front would cost a noticeable start-up delay;
    papers use a few hundred distinct non-ASCII characters, so caching on first sight is cheaper.
    """

    def __missing__(self, code_point: int) -> int | None:
        kept = None if unicodedata.category(chr(code_point)).startswith("M") else code_point
        self[code_point] = kept
        return kept


class _Separators(dict[int, int]):
    """A lazily filled ``str.translate`` table turning every non-letter/digit into a space.

    ``text.translate(table).split()`` tokenizes about four times faster than ``re.findall``.
    """

    def __missing__(self, code_point: int) -> int:
        char = chr(code_point)
        kept = code_point if char.isalnum() else _SPACE
        self[code_point] = kept
        return kept


_SPACE = ord(" ")
_STRIP_MARKS = _MarkStripper()
_SEPARATORS = _Separators()


def normalize(text: str) -> str:
    """Return ``text`` in the comparison form: NFKC, casefolded, with accents and other marks removed."""
    if text.isascii():
        # NFKC and NFKD are the identity on ASCII and casefold() equals lower(): skip the slow path
        # for the common case (most titles and abstracts are pure ASCII).
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKD", folded).translate(_STRIP_MARKS)


def split_tokens(normalized: str) -> list[str]:
    """Split already-normalized text into tokens (maximal runs of letters and digits)."""
    return normalized.translate(_SEPARATORS).split()


def tokenize(text: str) -> list[str]:
    """Normalize ``text`` and split it into tokens."""
    return normalize(text).translate(_SEPARATORS).split()


def has_token(normalized: str) -> bool:
    """Return whether normalized text contains at least one letter or digit."""
    return _TOKEN_RE.search(normalized) is not None


def stem(token: str) -> str:
    """Return the Porter stem of one normalized token."""
    cached = _STEM_CACHE.get(token)
    if cached is None:
        if len(_STEM_CACHE) >= _STEM_CACHE_LIMIT:
            _STEM_CACHE.clear()
        stemmable = _MIN_STEMMED_LENGTH <= len(token) <= _MAX_STEMMED_LENGTH
        cached = _STEM_CACHE[token] = _STEMMER.stemWord(token) if stemmable else token
    return cached


def stem_all(tokens: list[str]) -> list[str]:
    """Return the stems of ``tokens``, in order (a hot path when preparing papers)."""
    get = _STEM_CACHE.get
    return [get(token) or stem(token) for token in tokens]
