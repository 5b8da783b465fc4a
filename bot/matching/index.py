"""The subscription index: which of many stored queries match a batch of papers (a "percolator").

Two steps, the way Lucene Monitor and the Elasticsearch percolator split the work:

1. **Leaves.** Every distinct term of every stored query (a word in a field, a phrase, a prefix)
   is a *leaf*, stored once however many queries use it. For each new paper the index finds which
   leaves it contains by looking the paper's words, adjacent word pairs and tokens up in tables
   keyed by what each leaf needs (a leaf whose key is present but which needs more — a phrase of
   three words, say — is then checked exactly). The result is a bit matrix: leaf × paper.
2. **Queries.** Queries are grouped by *shape* (``a b``, ``a OR b``, ``a (b OR c) -d``...), and a
   group is evaluated for all of its queries and all papers at once with NumPy: each leaf position
   of the shape gathers one row of the bit matrix per query, and the shape's AND/OR/NOT become
   bitwise operations over 64 papers per machine word. Real query mixes have a few dozen shapes.

Both steps compute exactly what ``matches(query, doc)`` computes for every (query, paper), which the
property tests in ``tests/matching/test_index.py`` check against brute force. Adding, removing or
pausing a subscription updates the tables and groups in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from enum import IntEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bot.matching.document import VIEW_INDEX, PaperDocument, pair_key
from bot.matching.matcher import Predicate, compile_term, term_words
from bot.matching.nodes import And, Field, Node, Not, Or, Term
from bot.matching.query import Query

# Queries are evaluated this many at a time, so temporary arrays stay a few MB even for big batches.
CHUNK_ROWS = 8192
# Tokens whose prefix hits are remembered, per field; past this the memo is simply started afresh.
PREFIX_MEMO_LIMIT = 200_000
_GROWTH = 2

Ids: TypeAlias = npt.NDArray[np.int64]
Bits: TypeAlias = npt.NDArray[np.uint64]


class Source(IntEnum):
    """Which set of a paper's field a leaf is looked up in."""

    TOKENS = 0
    STEMS = 1
    TOKEN_PAIRS = 2
    STEM_PAIRS = 3


LeafKey: TypeAlias = tuple[Field, bool, tuple[str, ...], bool]  # field, stemmed, words, prefix
Shape: TypeAlias = tuple  # ("leaf",) | ("not", Shape) | ("and" | "or", tuple[Shape, ...])


def _values(doc: PaperDocument, view: int, source: Source) -> frozenset[str]:
    field = doc.views[view]
    if source is Source.TOKENS:
        return field.token_set
    if source is Source.STEMS:
        return field.stem_set
    return field.pairs(source is Source.STEM_PAIRS)


@dataclass(slots=True)
class _Leaf:
    key: LeafKey
    lookup: tuple[int, Source, str] | None  # (view, source, value); None for a prefix of one token
    exact: bool  # the lookup alone decides it; otherwise ``predicate`` is checked when it hits
    predicate: Predicate
    uses: int = 0


def _describe_leaf(term: Term) -> tuple[LeafKey, tuple[int, Source, str] | None, bool]:
    """The leaf's identity, where the index looks it up, and whether that lookup is the whole test."""
    words = term_words(term)
    key: LeafKey = (term.field, term.stemmed, words, term.prefix)
    view = VIEW_INDEX[term.field]
    if len(words) == 1:
        if term.prefix:
            return key, None, True
        return key, (view, Source.STEMS if term.stemmed else Source.TOKENS, words[0]), True
    whole = words[:-1] if term.prefix else words
    if len(whole) == 1:
        return key, (view, Source.STEMS if term.stemmed else Source.TOKENS, whole[0]), False
    pairs = Source.STEM_PAIRS if term.stemmed else Source.TOKEN_PAIRS
    # A two-word phrase is present exactly when its pair is (FieldView.pairs never spans segments).
    return key, (view, pairs, pair_key(whole[0], whole[1])), len(words) == 2 and not term.prefix


class _PrefixTable:
    """The prefix leaves of one field, and a memo of which leaves each token seen so far starts."""

    __slots__ = ("hits", "lengths", "prefixes", "seen")

    def __init__(self) -> None:
        self.prefixes: dict[str, int] = {}
        self.lengths: Counter[int] = Counter()
        self.seen: set[str] = set()
        self.hits: dict[str, list[int]] = {}

    def add(self, prefix: str, leaf: int) -> None:
        self.prefixes[prefix] = leaf
        self.lengths[len(prefix)] += 1
        self.forget()

    def remove(self, prefix: str) -> None:
        del self.prefixes[prefix]
        self.lengths[len(prefix)] -= 1
        if not self.lengths[len(prefix)]:
            del self.lengths[len(prefix)]
        self.forget()

    def forget(self) -> None:
        self.seen = set()
        self.hits = {}

    def leaves(self, tokens: frozenset[str], found: list[int]) -> None:
        """Append the leaves of every prefix that starts one of ``tokens``."""
        new = tokens - self.seen
        if new:
            if len(self.seen) > PREFIX_MEMO_LIMIT:
                self.forget()
                new = set(tokens)
            prefixes, lengths = self.prefixes, sorted(self.lengths)
            for token in new:
                hit = [prefixes[token[:n]] for n in lengths if n <= len(token) and token[:n] in prefixes]
                if hit:
                    self.hits[token] = hit
            self.seen |= new
        hits = self.hits
        for token in hits.keys() & tokens:
            found += hits[token]


class _Group:
    """All queries of one shape: their subscription ids and, per leaf position, their leaf ids."""

    __slots__ = ("leaves", "negates", "shape", "size", "sub_ids")

    def __init__(self, shape: Shape, width: int) -> None:
        self.shape = shape
        self.negates = "not" in repr(shape)
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

    def evaluate(self, matrix: Bits, valid: Bits, papers: int, out: list[tuple[Ids, Ids]]) -> None:
        """Append (paper positions, subscription ids) of every match in this group to ``out``."""
        for start in range(0, self.size, CHUNK_ROWS):
            stop = min(self.size, start + CHUNK_ROWS)
            columns = iter(self.leaves[:, start:stop])
            bits = _evaluate(self.shape, columns, matrix)
            if self.negates:
                bits &= valid  # NOT also set the padding bits past the last paper
            rows = np.flatnonzero(bits.any(axis=1))
            if not rows.size:
                continue
            unpacked = np.unpackbits(bits[rows].view(np.uint8), axis=1, count=papers, bitorder="little")
            which, paper = np.nonzero(unpacked)
            out.append((paper, self.sub_ids[start:stop][rows[which]]))


def _evaluate(shape: Shape, columns: Iterable[npt.NDArray[np.int32]], matrix: Bits) -> Bits:
    """Evaluate ``shape`` for a chunk of queries: one row of paper bits per query."""
    kind = shape[0]
    if kind == "leaf":
        return np.take(matrix, next(iter(columns)), axis=0)
    if kind == "not":
        return np.invert(_evaluate(shape[1], columns, matrix))
    children = iter(shape[1])
    result = _evaluate(next(children), columns, matrix)
    combine = np.bitwise_and if kind == "and" else np.bitwise_or
    for child in children:
        combine(result, _evaluate(child, columns, matrix), out=result)
    return result


def _shape(node: Node) -> tuple[Shape, list[Term]]:
    """A query's shape and its terms in shape order. AND/OR children are put in a canonical order,
    so ``a -b`` and ``-b a`` share a group."""
    if isinstance(node, Term):
        return ("leaf",), [node]
    if isinstance(node, Not):
        child, terms = _shape(node.child)
        return ("not", child), terms
    parts = sorted((_shape(child) for child in node.children), key=lambda part: repr(part[0]))
    kind = "and" if isinstance(node, And) else "or"
    if not isinstance(node, And | Or):
        raise TypeError(f"not a query node: {node!r}")
    return (kind, tuple(shape for shape, _ in parts)), [term for _, terms in parts for term in terms]


class SubscriptionIndex:
    """Stored queries keyed by subscription id, matched against papers in bulk. Not thread-safe."""

    def __init__(self) -> None:
        self._leaves: list[_Leaf | None] = []
        self._leaf_ids: dict[LeafKey, int] = {}
        self._free: list[int] = []
        # (view, source) → value → leaf ids, split by whether a hit decides the leaf or must be checked.
        self._exact: dict[tuple[int, Source], dict[str, int]] = {}
        self._verify: dict[tuple[int, Source], dict[str, list[int]]] = {}
        self._prefixes: dict[int, _PrefixTable] = {}
        self._groups: dict[Shape, _Group] = {}
        self._rows: dict[int, tuple[_Group, int]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._rows

    # -- maintenance --------------------------------------------------------------------------------

    def add(self, sub_id: int, query: Query) -> None:
        """Index ``query`` under ``sub_id``, replacing any query already stored under that id."""
        self.remove(sub_id)
        shape, terms = _shape(query.root)
        group = self._groups.get(shape)
        if group is None:
            group = self._groups[shape] = _Group(shape, len(terms))
        self._rows[sub_id] = (group, group.append(sub_id, [self._acquire(term) for term in terms]))

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
            self._release(leaf)

    def _acquire(self, term: Term) -> int:
        key, lookup, exact = _describe_leaf(term)
        leaf_id = self._leaf_ids.get(key)
        if leaf_id is None:
            leaf_id = self._free.pop() if self._free else len(self._leaves)
            if leaf_id == len(self._leaves):
                self._leaves.append(None)
            self._leaves[leaf_id] = _Leaf(key, lookup, exact, compile_term(term))
            self._leaf_ids[key] = leaf_id
            self._file(leaf_id, term)
        leaf = self._leaves[leaf_id]
        assert leaf is not None
        leaf.uses += 1
        return leaf_id

    def _file(self, leaf_id: int, term: Term) -> None:
        leaf = self._leaves[leaf_id]
        assert leaf is not None
        if leaf.lookup is None:
            view = VIEW_INDEX[term.field]
            self._prefixes.setdefault(view, _PrefixTable()).add(leaf.key[2][0], leaf_id)
            return
        view, source, value = leaf.lookup
        if leaf.exact:
            self._exact.setdefault((view, source), {})[value] = leaf_id
        else:
            self._verify.setdefault((view, source), {}).setdefault(value, []).append(leaf_id)

    def _release(self, leaf_id: int) -> None:
        leaf = self._leaves[leaf_id]
        assert leaf is not None
        leaf.uses -= 1
        if leaf.uses:
            return
        del self._leaf_ids[leaf.key]
        self._leaves[leaf_id] = None
        self._free.append(leaf_id)
        if leaf.lookup is None:
            view = VIEW_INDEX[leaf.key[0]]
            table = self._prefixes[view]
            table.remove(leaf.key[2][0])
            if not table.prefixes:
                del self._prefixes[view]
            return
        view, source, value = leaf.lookup
        if leaf.exact:
            exact = self._exact[(view, source)]
            del exact[value]
            if not exact:
                del self._exact[(view, source)]
            return
        verify = self._verify[(view, source)]
        verify[value].remove(leaf_id)
        if not verify[value]:
            del verify[value]
        if not verify:
            del self._verify[(view, source)]

    # -- matching -------------------------------------------------------------------------------------

    def leaves_in(self, doc: PaperDocument) -> list[int]:
        """The ids of the leaves present in one paper (a leaf hit by several prefixes may repeat)."""
        found: list[int] = []
        for (view, source), exact in self._exact.items():
            found.extend(map(exact.__getitem__, exact.keys() & _values(doc, view, source)))
        for (view, source), verify in self._verify.items():
            for value in verify.keys() & _values(doc, view, source):
                for leaf_id in verify[value]:
                    leaf = self._leaves[leaf_id]
                    if leaf is not None and leaf.predicate(doc):
                        found.append(leaf_id)
        for view, table in self._prefixes.items():
            table.leaves(doc.views[view].token_set, found)
        return found

    def match_pairs(self, docs: Sequence[PaperDocument]) -> tuple[Ids, Ids]:
        """Every match in a batch, as two aligned arrays: positions in ``docs`` and subscription ids.

        The pairs come grouped by query shape, not sorted. This is the bulk path (``Engine.plan``).
        """
        papers = len(docs)
        if not papers or not self._rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        present = [self.leaves_in(doc) for doc in docs]
        words = -(-papers // 64)
        membership = np.zeros((len(self._leaves), words * 64), dtype=bool)
        counts = [len(leaves) for leaves in present]
        rows = np.fromiter(chain.from_iterable(present), dtype=np.intp, count=sum(counts))
        columns = np.repeat(np.arange(papers), counts)
        membership[rows, columns] = True
        matrix = np.packbits(membership, axis=1, bitorder="little").view(np.uint64)
        valid = np.packbits(np.arange(words * 64) < papers, bitorder="little").view(np.uint64)
        found: list[tuple[Ids, Ids]] = []
        for group in self._groups.values():
            group.evaluate(matrix, valid, papers, found)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return (np.concatenate([paper for paper, _ in found]).astype(np.int64, copy=False),
                np.concatenate([subs for _, subs in found]))

    def match_many(self, docs: Sequence[PaperDocument]) -> list[set[int]]:
        """The ids of the stored queries matching each paper, aligned with ``docs``."""
        result: list[set[int]] = [set() for _ in docs]
        positions, sub_ids = self.match_pairs(docs)
        for position, sub_id in zip(positions.tolist(), sub_ids.tolist(), strict=True):
            result[position].add(sub_id)
        return result

    def match(self, doc: PaperDocument) -> set[int]:
        """The ids of the stored queries matching one paper."""
        return set(self.match_pairs([doc])[1].tolist())
