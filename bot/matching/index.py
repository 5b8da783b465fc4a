"""The subscription index: which of many stored queries match a batch of papers (a "percolator").

In three steps, after Lucene Monitor and the Elasticsearch percolator:

1. **Leaves.** Every distinct term of every stored query (a word in a field, a phrase, a prefix)
   is a *leaf*, stored once however many queries use it (:mod:`bot.matching.leaves`). The index
   finds which leaves each paper of the batch contains by looking up the papers' words and
   adjacent-word n-grams, for the whole batch at once. The result is a bit matrix: leaf × paper.
2. **Candidates.** Each query has a necessary set of leaves, as Lucene Monitor files queries (a
   leaf: itself; AND: one part's set; OR: all parts'; NOT: none, and a query left with none is
   unanchorable and always evaluated). Queries none of whose necessary leaves occur in the batch
   are skipped.
3. **Queries.** Queries are grouped by *shape* (``a b``, ``a OR b``, ``a (b OR c) -d``...), and the
   candidates of a group are evaluated all at once with NumPy: each leaf position of the shape
   gathers one row of the bit matrix per query, and the shape's AND/OR/NOT become bitwise
   operations over 64 papers per machine word. Real query mixes have a few dozen shapes.

Together they compute exactly what ``matches(query, doc)`` computes for every (query, paper), which the
property tests in ``tests/matching/test_index.py`` check against brute force. Adding, removing or
pausing a subscription updates the tables and groups in place. A restarted bot indexes its stored subscriptions from
their queries' compiled forms (:meth:`SubscriptionIndex.add_stored`, :mod:`bot.matching.compiled`), not their text.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bot.matching.compiled import decode, encode
from bot.matching.document import PaperDocument, document_for
from bot.matching.leaves import MAX_WORDS, Ids, LeafTable
from bot.matching.nodes import And, Not, Or, Term
from bot.matching.query import Query, parse_query
from bot.matching.shapes import Shape
from bot.models import Paper

# Queries are evaluated CHUNK_ROWS at a time, or as many as make CHUNK_WORDS words of paper bits when that is more,
# so temporary arrays stay a few MB for big batches while a small poll takes few, large steps.
CHUNK_ROWS = 8192
CHUNK_WORDS = 1 << 18
# Candidates are gathered out only when they are fewer than this share of a chunk; otherwise evaluating
# the whole chunk is cheaper than copying them.
CANDIDATE_SHARE = 0.5
EXPAND_BYTES = 32 << 20  # matches are expanded into pairs through boolean blocks of at most about this size
BOOL_BLOCK_BYTES = 32 << 20  # the leaf × paper matrix is built from booleans at most this big at a time
_GROWTH = 2

Bits: TypeAlias = npt.NDArray[np.uint64]
Positions: TypeAlias = npt.NDArray[np.int32]  # places in a batch of papers


class _Group:
    """All queries of one shape: their subscription ids and, per leaf position, their leaf ids."""

    __slots__ = ("anchors", "leaves", "negates", "shape", "size", "sub_ids")

    def __init__(self, shape: Shape, width: int) -> None:
        self.shape = shape
        self.negates = _negates(shape)
        # Leaf positions of which a matching paper must contain at least one (None: unanchorable).
        self.anchors = _necessary(shape, iter(range(width)))
        self.size = 0
        self.sub_ids: Ids = np.zeros(16, dtype=np.int64)
        self.leaves = np.zeros((width, 16), dtype=np.int32)

    def append(self, sub_id: int, leaves: Sequence[int]) -> int:
        if self.size == len(self.sub_ids):
            capacity = len(self.sub_ids) * _GROWTH
            self.sub_ids = np.resize(self.sub_ids, capacity)
            grown = np.zeros((self.leaves.shape[0], capacity), dtype=np.int32)
            grown[:, : self.size] = self.leaves[:, : self.size]
            self.leaves = grown
        row = self.size
        self.sub_ids[row] = sub_id
        self.leaves[:, row] = leaves
        self.size += 1
        return row

    def pop(self, row: int) -> tuple[list[int], int | None]:
        """Remove ``row`` (the last row moves into its place); returns its leaves and the moved sub id."""
        leaves = self.leaves[:, row].tolist()
        last = self.size - 1
        moved = None
        if row != last:
            self.sub_ids[row] = self.sub_ids[last]
            self.leaves[:, row] = self.leaves[:, last]
            moved = int(self.sub_ids[row])
        self.size = last
        return leaves, moved

    def evaluate(self, matrix: Bits, valid: Bits, present: npt.NDArray[np.bool_], out: list[tuple[Ids, Bits]]) -> None:
        """Append (subscription ids, their paper bits) for the queries of this group matching any paper.

        Only candidates are evaluated: queries with an anchor leaf that some paper of the batch contains
        (``present``), or every query of an unanchorable shape.
        """
        chunk = max(CHUNK_ROWS, CHUNK_WORDS // len(valid))
        for start in range(0, self.size, chunk):
            stop = min(self.size, start + chunk)
            leaves, sub_ids = self.leaves[:, start:stop], self.sub_ids[start:stop]
            if self.anchors is not None:
                candidates = np.flatnonzero(np.logical_or.reduce([present[leaves[a]] for a in self.anchors]))
                if not candidates.size:
                    continue
                if candidates.size < (stop - start) * CANDIDATE_SHARE:
                    leaves, sub_ids = leaves[:, candidates], sub_ids[candidates]
            bits = _evaluate(self.shape, iter(leaves), matrix)
            if self.negates:
                bits &= valid  # NOT also set the padding bits past the last paper
            rows = np.flatnonzero(bits.any(axis=1))
            if rows.size:
                out.append((sub_ids[rows], bits[rows]))


def _evaluate(shape: Shape, columns: Iterator[npt.NDArray[np.int32]], matrix: Bits) -> Bits:
    """Evaluate ``shape`` for a chunk of queries: one row of paper bits per query. Consumes the shape's
    leaf columns from ``columns`` in order."""
    match shape:
        case Term():
            return np.take(matrix, next(columns), axis=0)
        case Not(child=child):
            return np.invert(_evaluate(child, columns, matrix))
        case And(children=children):
            return _fold(np.bitwise_and, children, columns, matrix)
        case Or(children=children):
            return _fold(np.bitwise_or, children, columns, matrix)


def _fold(
    combine: np.ufunc, children: tuple[Shape, ...], columns: Iterator[npt.NDArray[np.int32]], matrix: Bits
) -> Bits:
    """Combine the children's bits with ``combine`` (AND or OR), in place in the first child's array."""
    first, *others = children
    result = _evaluate(first, columns, matrix)
    for child in others:
        combine(result, _evaluate(child, columns, matrix), out=result)
    return result


def _negates(shape: Shape) -> bool:
    match shape:
        case Term():
            return False
        case Not():
            return True
        case And(children=children) | Or(children=children):
            return any(map(_negates, children))


def _necessary(shape: Shape, positions: Iterator[int]) -> tuple[int, ...] | None:
    """Leaf positions of which any match must contain one, as Lucene Monitor files a query: a leaf is
    itself; AND needs one child's set (the smallest); OR the union of all; NOT nothing (None: unanchorable).
    Consumes the shape's positions from ``positions`` in order."""
    match shape:
        case Term():
            return (next(positions),)
        case Not(child=child):
            _necessary(child, positions)
            return None
        case Or(children=children):
            found = [_necessary(child, positions) for child in children]
            return None if None in found else tuple(p for anchors in found if anchors for p in anchors)
        case And(children=children):
            anchored = [anchors for child in children if (anchors := _necessary(child, positions)) is not None]
            return min(anchored, key=len) if anchored else None


class SubscriptionIndex:
    """Stored queries keyed by subscription id, matched against papers in bulk. Not thread-safe."""

    def __init__(self, max_words: int = MAX_WORDS) -> None:
        self._leaves = LeafTable(max_words)
        self._groups: dict[Shape, _Group] = {}
        self._rows: dict[int, tuple[_Group, int]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._rows

    # -- maintenance --------------------------------------------------------------------------------

    @property
    def words(self) -> int:
        """How many distinct words the indexed queries use (bounded by ``max_words``)."""
        return self._leaves.words

    def add(self, sub_id: int, query: Query) -> None:
        """Index ``query`` under ``sub_id``, replacing any query already stored under that id.

        Raises OverflowError, leaving the index as it was, when the query's words do not fit the vocabulary."""
        self._add(sub_id, *query.shape)

    def add_stored(self, sub_id: int, text: str, form: str | None) -> str | None:
        """Index a stored subscription from its compiled form (:mod:`bot.matching.compiled`), or, when it has
        none or a stale one, by parsing ``text``: then the form to store is returned.

        Raises QueryError when the text no longer parses, OverflowError as :meth:`add`; the index is then unchanged.
        """
        decoded = None if form is None else decode(form)
        if decoded is not None:
            self._add(sub_id, *decoded)
            return None
        query = parse_query(text)
        self._add(sub_id, *query.shape)
        return encode(query)

    def _add(self, sub_id: int, shape: Shape, terms: tuple[Term, ...]) -> None:
        leaves: list[int] = []
        try:
            for term in terms:
                leaves.append(self._leaves.acquire(term))
        except OverflowError:
            for leaf in leaves:
                self._leaves.release(leaf)
            raise
        self.remove(sub_id)
        group = self._groups.get(shape)
        if group is None:
            group = self._groups[shape] = _Group(shape, len(terms))
        self._rows[sub_id] = (group, group.append(sub_id, leaves))

    def remove(self, sub_id: int) -> None:
        """Forget the query stored under ``sub_id`` (no error if there is none)."""
        found = self._rows.pop(sub_id, None)
        if found is None:
            return
        group, row = found
        leaves, moved = group.pop(row)
        if moved is not None:
            self._rows[moved] = (group, row)
        if not group.size:
            del self._groups[group.shape]
        for leaf in leaves:
            self._leaves.release(leaf)

    # -- matching -------------------------------------------------------------------------------------

    def match_papers(self, papers: Sequence[Paper]) -> Matches:
        """Every match in a batch of papers, as one row of paper bits per matching subscription (the
        planning path of ``Engine.plan``).

        The cyclic garbage collector is paused meanwhile: preparing thousands of papers allocates
        enough containers to set off several collections, which would double the time, and none of
        it forms reference cycles.
        """
        with _collector_paused():
            return self._match([document_for(paper) for paper in papers])

    def _match(self, docs: Sequence[PaperDocument]) -> Matches:
        papers = len(docs)
        words = -(-papers // 64)
        if not papers or not self._rows:
            return Matches(papers, [])
        matrix = _leaf_matrix(len(self._leaves.leaves), words, *self._leaves.present(docs))
        valid = np.packbits(np.arange(words * 64) < papers, bitorder="little").view(np.uint64)
        present: npt.NDArray[np.bool_] = np.any(matrix, axis=1)  # leaves some paper of the batch contains
        found: list[tuple[Ids, Bits]] = []
        for group in self._groups.values():
            group.evaluate(matrix, valid, present, found)
        return Matches(papers, found)


def _leaf_matrix(leaves: int, words: int, rows: Ids, columns: Ids) -> Bits:
    """The bit matrix leaf × paper (``words`` 64-bit words per leaf) with a bit set for each (row, column).

    Built as booleans and packed, a block of papers at a time so the booleans stay within BOOL_BLOCK_BYTES
    however many leaves there are.
    """
    matrix = np.zeros((leaves, words), dtype=np.uint64)
    block = max(1, BOOL_BLOCK_BYTES // (leaves * 64)) * 64  # papers per block, whole words
    for start in range(0, words * 64, block):
        stop = min(words * 64, start + block)
        inside = (columns >= start) & (columns < stop)
        membership = np.zeros((leaves, stop - start), dtype=bool)
        membership[rows[inside], columns[inside] - start] = True
        matrix[:, start // 64 : stop // 64] = np.packbits(membership, axis=1, bitorder="little").view(np.uint64)
    return matrix


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Matches:
    """The result of matching a batch: for each matching subscription, a bit per paper of the batch.

    Compact however dense the matches are (12.5 KB per 100k subscriptions and 64 papers); expand
    it with :meth:`pairs` where individual (paper, subscription) pairs are needed.
    """

    __slots__ = ("_parts", "papers")

    def __init__(self, papers: int, parts: list[tuple[Ids, Bits]]) -> None:
        self.papers = papers
        self._parts = parts

    def count(self) -> int:
        """How many (subscription, paper) matches, counted without expanding them."""
        return sum(int(np.bitwise_count(bits).sum()) for _, bits in self._parts)

    def pairs(self) -> tuple[Positions, Ids]:
        """(positions in the batch, subscription ids) of every match, grouped by subscription.

        Parts are expanded together, as many at a time as unpack into EXPAND_BYTES: a small poll's few bits per
        subscription then cost one pass over all of them instead of one per part.
        """
        positions: list[Positions] = []
        sub_ids: list[Ids] = []
        pending: list[tuple[Ids, Bits]] = []
        rows = 0
        for part in self._parts:
            pending.append(part)
            rows += len(part[0])
            if rows * self.papers >= EXPAND_BYTES:
                self._expand(pending, positions, sub_ids)
                pending, rows = [], 0
        self._expand(pending, positions, sub_ids)
        if not positions:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        return np.concatenate(positions), np.concatenate(sub_ids)

    def by_paper(self) -> list[Ids]:
        """Each paper's matching subscription ids, sorted, in the batch's order (planning's call).

        The matching rows are sorted by subscription id once and their bits laid out a byte of eight papers per
        row, so a paper's matches are one pass over that row (its bit, as booleans: NumPy's fastest scan) and come
        out in id order: no sort of the pairs (at a million subscriptions that took twice as long as finding them)
        and no position per pair.
        """
        if not self._parts:
            return [np.zeros(0, dtype=np.int64) for _ in range(self.papers)]
        subs = np.concatenate([subs for subs, _ in self._parts])
        order = np.argsort(subs, kind="stable")  # each part's ids are mostly ascending runs, which it merges whole
        subs = subs[order]
        columns = np.ascontiguousarray(np.concatenate([bits for _, bits in self._parts])[order].view(np.uint8).T)
        return [
            subs[np.flatnonzero(((columns[paper >> 3] >> (paper & 7)) & 1).view(np.bool_))]
            for paper in range(self.papers)
        ]

    def _expand(self, parts: list[tuple[Ids, Bits]], positions: list[Positions], sub_ids: list[Ids]) -> None:
        if not parts:
            return
        subs = np.concatenate([subs for subs, _ in parts])
        bits = np.concatenate([bits for _, bits in parts])
        unpacked = np.unpackbits(bits.view(np.uint8), axis=1, count=self.papers, bitorder="little")
        # One flat scan (np.nonzero on 2-D arrays is several times slower), rows by their counts.
        positions.append((np.flatnonzero(unpacked) % self.papers).astype(np.int32))
        sub_ids.append(np.repeat(subs, np.count_nonzero(unpacked, axis=1)))
