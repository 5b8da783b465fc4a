"""Leaves: the distinct terms of all stored queries, and which papers of a batch contain each.

A leaf is one term as the matcher understands it (a stemmed word in the text, a quoted phrase in
the title, an author-name prefix, a category...), stored once however many queries use it. Each
leaf is filed in a :class:`_Slot` by the n-gram (one, two or three adjacent words) that decides it
or, for longer phrases and phrases ending in a prefix, that it needs (such leaves are then checked
exactly against the paper). Prefixes of one token are filed in a :class:`_Prefixes` table.

For a batch, the words of every paper are mapped to vocabulary ids in one pass and each slot is
looked up with NumPy over the whole batch at once: per paper, Python only concatenates lists.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bot.matching.document import SEGMENT_BREAK, VIEW_INDEX, PaperDocument
from bot.matching.matcher import Predicate, compile_term, term_words
from bot.matching.nodes import Field, Term

Ids: TypeAlias = npt.NDArray[np.int64]
LeafKey: TypeAlias = tuple[Field, bool, tuple[str, ...], bool]  # field, stemmed, words, prefix

NO_LEAF = 0  # matrix row 0: no query reads it, so filing a hit there is harmless
UNKNOWN = 0  # the vocabulary id of every word that no leaf uses
BREAK = 1  # the id of SEGMENT_BREAK: no leaf contains it, so no n-gram crosses a segment
_WORD_BITS = 21  # n-grams of up to three word ids are packed into one int64
MAX_WORDS = 1 << _WORD_BITS
# Tokens whose prefix hits are remembered, per field; past this the memo simply starts afresh.
PREFIX_MEMO_LIMIT = 200_000

_TEXT_FIELDS = (Field.TEXT, Field.TITLE, Field.ABSTRACT)


@dataclass(slots=True)
class Leaf:
    key: LeafKey
    exact: bool
    predicate: Predicate | None  # the exact test, compiled only for leaves their n-gram does not decide
    slot: tuple[Field, bool, int] | None  # (field, stemmed, n); None for a prefix of one token
    words: tuple[str, ...]  # the n-gram filed under (or the prefix)
    uses: int = 0


@functools.lru_cache(maxsize=1 << 16)  # terms repeat across queries, and loading a million indexes each
def describe_leaf(term: Term) -> tuple[LeafKey, tuple[Field, bool, int] | None, tuple[str, ...], bool]:
    """A term's leaf identity, its slot, the words filed, and whether those words decide it."""
    words = term_words(term)
    key: LeafKey = (term.field, term.stemmed, words, term.prefix)
    if len(words) == 1 and term.prefix:
        # A prefix is compared with tokens whether or not it was stemmed: the flag changes nothing.
        return (term.field, False, words, True), None, words, True
    whole = words[:-1] if term.prefix else words
    # One, two or three adjacent words are present exactly when their n-gram is (n-grams never cross
    # segments); longer phrases, and phrases ending in a prefix, are checked after their first words.
    filed = whole[:3]
    return key, (term.field, term.stemmed, len(filed)), filed, not term.prefix and len(words) <= 3


class _Slot:
    """The leaves filed by n-grams of one field: packed n-gram → leaf, kept sorted for lookups."""

    __slots__ = ("_arrays", "exact", "verify")

    def __init__(self) -> None:
        self.exact: dict[int, int] = {}  # n-gram → the leaf it decides, or NO_LEAF (only leaves to check)
        self.verify: dict[int, list[int]] = {}
        self._arrays: tuple[Ids, Ids, Ids] | None = None

    def add(self, gram: int, leaf_id: int, exact: bool) -> None:
        if exact:
            self.exact[gram] = leaf_id
        else:
            self.verify.setdefault(gram, []).append(leaf_id)
            self.exact.setdefault(gram, NO_LEAF)
        self._arrays = None

    def remove(self, gram: int, leaf_id: int, exact: bool) -> None:
        self._arrays = None
        if exact:
            if gram in self.verify:
                self.exact[gram] = NO_LEAF
            else:
                del self.exact[gram]
            return
        waiting = self.verify[gram]
        waiting.remove(leaf_id)
        if not waiting:
            del self.verify[gram]
            if self.exact[gram] == NO_LEAF:
                del self.exact[gram]

    def arrays(self) -> tuple[Ids, Ids, Ids]:
        """(sorted n-grams, their leaves, the n-grams with leaves to check), rebuilt after changes."""
        if self._arrays is None:
            grams = np.array(sorted(self.exact), dtype=np.int64)
            leaves = np.array([self.exact[g] for g in grams.tolist()], dtype=np.int64)
            self._arrays = grams, leaves, np.array(sorted(self.verify), dtype=np.int64)
        return self._arrays

    def __bool__(self) -> bool:
        return bool(self.exact)


class _Prefixes:
    """The one-token prefix leaves of a field, and a memo of which of them each token seen so far starts."""

    __slots__ = ("lengths", "memo", "prefixes")

    def __init__(self) -> None:
        self.prefixes: dict[str, int] = {}
        self.lengths: dict[int, int] = {}
        self.memo: dict[str, tuple[int, ...]] = {}

    def add(self, prefix: str, leaf_id: int) -> None:
        self.prefixes[prefix] = leaf_id
        self.lengths[len(prefix)] = self.lengths.get(len(prefix), 0) + 1
        self.memo = {}

    def remove(self, prefix: str) -> None:
        del self.prefixes[prefix]
        self.lengths[len(prefix)] -= 1
        if not self.lengths[len(prefix)]:
            del self.lengths[len(prefix)]
        self.memo = {}

    def hits(self, tokens: Sequence[str]) -> list[tuple[int, ...]]:
        """The leaves each of ``tokens`` (distinct) starts."""
        memo = self.memo
        if len(memo) > PREFIX_MEMO_LIMIT:
            memo = self.memo = {}
        prefixes, lengths = self.prefixes, sorted(self.lengths)
        found = []
        for token in tokens:
            hit = memo.get(token)
            if hit is None:
                hit = memo[token] = tuple(
                    prefixes[token[:n]] for n in lengths if n <= len(token) and token[:n] in prefixes
                )
            found.append(hit)
        return found


class LeafTable:
    """Every leaf of the stored queries, filed for lookups over a batch of papers.

    ``max_words`` bounds the vocabulary (n-grams pack three word ids into an int64); a leaf that would need more
    raises OverflowError and changes nothing.
    """

    def __init__(self, max_words: int = MAX_WORDS) -> None:
        self.leaves: list[Leaf | None] = [None]  # row NO_LEAF is never a leaf
        self._ids: dict[LeafKey, int] = {}
        self._free: list[int] = []
        # An id for every word the filed n-grams of live leaves use (papers' other words are UNKNOWN), with how
        # many uses each has: a word no leaf uses any more is forgotten and its id reused, so the vocabulary is
        # bounded by the words of the queries stored now, not by every word ever typed.
        self._vocabulary: dict[str, int] = {SEGMENT_BREAK: BREAK}
        self._word_uses: dict[str, int] = {}
        self._free_words: list[int] = []
        self._next_word = BREAK + 1
        self.max_words = min(max_words, MAX_WORDS)
        self._slots: dict[tuple[Field, bool, int], _Slot] = {}
        self._prefixes: dict[Field, _Prefixes] = {}

    @property
    def words(self) -> int:
        """How many distinct words the live leaves use."""
        return len(self._word_uses)

    def acquire(self, term: Term) -> int:
        """The id of ``term``'s leaf (filed on first use); pair every call with :meth:`release`.

        Raises OverflowError, changing nothing, when the leaf's words would not fit in the vocabulary."""
        key, slot, words, exact = describe_leaf(term)
        leaf_id = self._ids.get(key)
        if leaf_id is None:
            gram = None if slot is None else self._use_words(words)  # the one step that can fail: first
            leaf_id = self._free.pop() if self._free else len(self.leaves)
            if leaf_id == len(self.leaves):
                self.leaves.append(None)
            self.leaves[leaf_id] = Leaf(key, exact, None if exact else compile_term(term), slot, words)
            self._ids[key] = leaf_id
            if gram is None:
                self._prefixes.setdefault(term.field, _Prefixes()).add(words[0], leaf_id)
            else:
                assert slot is not None
                self._slots.setdefault(slot, _Slot()).add(gram, leaf_id, exact)
        leaf = self.leaves[leaf_id]
        assert leaf is not None
        leaf.uses += 1
        return leaf_id

    def release(self, leaf_id: int) -> None:
        leaf = self.leaves[leaf_id]
        assert leaf is not None
        leaf.uses -= 1
        if leaf.uses:
            return
        del self._ids[leaf.key]
        self.leaves[leaf_id] = None
        self._free.append(leaf_id)
        field = leaf.key[0]
        if leaf.slot is None:
            prefixes = self._prefixes[field]
            prefixes.remove(leaf.words[0])
            if not prefixes.prefixes:
                del self._prefixes[field]
            return
        slot = self._slots[leaf.slot]
        slot.remove(self._gram([self._vocabulary[word] for word in leaf.words]), leaf_id, leaf.exact)
        if not slot:
            del self._slots[leaf.slot]
        for word in leaf.words:
            self._drop_word(word)

    def _use_words(self, words: tuple[str, ...]) -> int:
        """Count a use of each of ``words`` (assigning ids to new ones) and return their packed n-gram; on
        OverflowError the uses counted so far are undone."""
        ids: list[int] = []
        try:
            for word in words:
                ids.append(self._use_word(word))
        except OverflowError:
            for word in words[: len(ids)]:
                self._drop_word(word)
            raise
        return self._gram(ids)

    def _use_word(self, word: str) -> int:
        found = self._vocabulary.get(word)
        if found is None:
            if self._free_words:
                found = self._free_words.pop()
            elif self._next_word < self.max_words:
                found, self._next_word = self._next_word, self._next_word + 1
            else:
                raise OverflowError("too many distinct words in the stored queries")
            self._vocabulary[word] = found
        self._word_uses[word] = self._word_uses.get(word, 0) + 1
        return found

    def _drop_word(self, word: str) -> None:
        uses = self._word_uses[word] - 1
        if uses:
            self._word_uses[word] = uses
            return
        del self._word_uses[word]
        self._free_words.append(self._vocabulary.pop(word))

    @staticmethod
    def _gram(ids: Sequence[int]) -> int:
        gram = 0
        for word_id in ids:
            gram = gram << _WORD_BITS | word_id
        return gram

    # -- a batch ------------------------------------------------------------------------------------

    def present(self, docs: Sequence[PaperDocument]) -> tuple[Ids, Ids]:
        """(leaf ids, positions in ``docs``) of every leaf occurrence in the batch (pairs may repeat)."""
        rows: list[Ids] = []
        columns: list[Ids] = []
        streams: dict[tuple[int, bool], _Stream] = {}
        for (field, stemmed, n), slot in self._slots.items():
            stream = self._stream(streams, docs, field, stemmed)
            grams, where = stream.grams(field, n)
            self._look_up(slot, grams, where, docs, rows, columns)
        for field, prefixes in self._prefixes.items():
            stream = self._stream(streams, docs, field, False)
            leaves, where = stream.prefix_hits(field, prefixes)
            rows.append(leaves)
            columns.append(where)
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(columns)

    def _stream(
        self, streams: dict[tuple[int, bool], _Stream], docs: Sequence[PaperDocument], field: Field, stemmed: bool
    ) -> _Stream:
        view = VIEW_INDEX[Field.TEXT] if field in _TEXT_FIELDS else VIEW_INDEX[field]
        stream = streams.get((view, stemmed))
        if stream is None:
            stream = streams[(view, stemmed)] = _Stream(docs, view, stemmed, self._vocabulary)
        return stream

    def _look_up(
        self, slot: _Slot, grams: Ids, where: Ids, docs: Sequence[PaperDocument], rows: list[Ids], columns: list[Ids]
    ) -> None:
        sorted_grams, leaves, checked = slot.arrays()
        at = np.searchsorted(sorted_grams, grams)
        at[at == len(sorted_grams)] = 0
        hit = sorted_grams[at] == grams
        rows.append(leaves[at[hit]])
        columns.append(where[hit])
        if not len(checked):
            return
        needs_check = hit & np.isin(grams, checked)
        found = []
        for gram, position in set(zip(grams[needs_check].tolist(), where[needs_check].tolist(), strict=True)):
            for leaf_id in slot.verify[gram]:
                leaf = self.leaves[leaf_id]
                assert leaf is not None and leaf.predicate is not None
                if leaf.predicate(docs[position]):
                    found.append((leaf_id, position))
        if found:
            checked_rows, checked_columns = zip(*found, strict=True)
            rows.append(np.array(checked_rows, dtype=np.int64))
            columns.append(np.array(checked_columns, dtype=np.int64))


class _Stream:
    """The word sequences of one view (text, authors or categories) of every paper in a batch, as vocabulary
    ids in one flat array, with each position's paper and its place within that paper."""

    def __init__(self, docs: Sequence[PaperDocument], view: int, stemmed: bool, vocabulary: dict[str, int]) -> None:
        sequences = [doc.views[view].stems if stemmed else doc.views[view].tokens for doc in docs]
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(docs))
        self.words: list[str] = list(chain.from_iterable(sequences))
        self.ids = np.fromiter(map(vocabulary.get, self.words, repeat(UNKNOWN)), dtype=np.int64, count=len(self.words))
        self.paper = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        starts = np.cumsum(lengths) - lengths
        self.offset = np.arange(len(self.words), dtype=np.int64) - np.repeat(starts, lengths)
        self.docs = docs
        self._fields: dict[Field, npt.NDArray[np.bool_] | None] = {}

    def _within(self, field: Field) -> npt.NDArray[np.bool_] | None:
        """Which positions of the text stream belong to ``field`` (None: all of them)."""
        if field not in (Field.TITLE, Field.ABSTRACT):
            return None
        if field not in self._fields:
            self._fields[field] = self._positions(field)
        return self._fields[field]

    def _positions(self, field: Field) -> npt.NDArray[np.bool_]:
        title = np.fromiter(
            (len(doc.views[VIEW_INDEX[Field.TITLE]].tokens) for doc in self.docs), dtype=np.int64, count=len(self.docs)
        )
        if field is Field.TITLE:
            return self.offset < title[self.paper]
        abstract = np.fromiter(
            (len(doc.views[VIEW_INDEX[Field.ABSTRACT]].tokens) for doc in self.docs),
            dtype=np.int64,
            count=len(self.docs),
        )
        start = (title + (title > 0))[self.paper]  # the title, then a break unless the title is empty
        return (self.offset >= start) & (self.offset < start + abstract[self.paper])

    def grams(self, field: Field, n: int) -> tuple[Ids, Ids]:
        """(packed n-grams of known words, their paper) starting at each position of ``field``."""
        ids, paper = self.ids, self.paper
        keep = ids > BREAK
        grams = ids
        for k in range(1, n):
            following = np.zeros_like(ids)
            following[:-k] = ids[k:]
            same = np.zeros_like(keep)
            same[:-k] = paper[k:] == paper[:-k]
            keep &= (following > BREAK) & same
            grams = grams << _WORD_BITS | following
        within = self._within(field)
        if within is not None:
            keep &= within
        return grams[keep], paper[keep]

    def prefix_hits(self, field: Field, prefixes: _Prefixes) -> tuple[Ids, Ids]:
        """(leaf ids, papers) of every prefix leaf started by a token at a position of ``field``."""
        distinct = list(dict.fromkeys(self.words))
        local = dict(zip(distinct, range(len(distinct)), strict=True))
        which = np.fromiter(map(local.__getitem__, self.words), dtype=np.int64, count=len(self.words))
        hits = prefixes.hits(distinct)
        counts = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
        data = np.fromiter(chain.from_iterable(hits), dtype=np.int64, count=int(counts.sum()))
        starts = np.cumsum(counts) - counts
        per_position = counts[which]
        within = self._within(field)
        if within is not None:
            per_position = np.where(within, per_position, 0)
        total = int(per_position.sum())
        first = np.repeat(starts[which], per_position)
        step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(per_position) - per_position, per_position)
        return data[first + step], np.repeat(self.paper, per_position)
