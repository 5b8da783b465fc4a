"""The subscription index: which of many stored queries match a paper (a "percolator").

Each query is filed under its necessary keys (see :mod:`bot.matching.anchors`). For one paper,
the index gathers the queries filed under the paper's keys and runs the exact matcher on those
candidates only. For a large batch of papers it evaluates the candidate queries over the whole
batch at once with bitsets (:mod:`bot.matching.batch`). Both paths give exactly the results of
``matches(query, doc)`` for every query, which the property tests check against brute force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.matching.anchors import FAMILY_SOURCES, Family, Key, anchor_keys, document_keys, exact_key
from bot.matching.batch import FEW_BITS, Batch, Lookups, MaskFunction, compile_mask
from bot.matching.document import PaperDocument
from bot.matching.matcher import Predicate
from bot.matching.query import Query

# From this many papers on, match_many() switches to bitset evaluation over the batch. Below it,
# per-paper candidate checks are cheaper. Measured with 100k queries, the crossover is ~100 papers
# when queries are selective but ~20 when they match many papers, where the per-paper path gets
# much slower (the bitset path degrades gracefully), so the threshold leans low.
DEFAULT_BATCH_THRESHOLD = 32
# In batches this large nearly every query has a key in some paper (~80% at 2,500 papers), so
# selecting candidates costs more than evaluating every query's bitset outright.
ALL_QUERIES_FROM = 500


class SubscriptionIndex:
    """Stored queries keyed by subscription id, matched against papers in bulk. Not thread-safe."""

    def __init__(self, batch_threshold: int = DEFAULT_BATCH_THRESHOLD) -> None:
        self.batch_threshold = batch_threshold
        self._queries: dict[int, Query] = {}
        self._predicates: dict[int, Predicate] = {}
        self._masks: dict[int, MaskFunction] = {}
        self._keys: dict[int, frozenset[Key] | None] = {}
        self._postings: dict[Family, dict[str, set[int]]] = {family: {} for family in Family}
        # Queries that are exactly one key (a single word, a two-word phrase, an author token, a
        # category): a paper carrying the key matches, so match() skips evaluating them.
        self._sure: dict[Family, dict[str, set[int]]] = {family: {} for family in Family}
        self._sure_ids: set[int] = set()
        # Queries without keys must be checked against every paper (parse_query never makes one).
        self._unanchored: set[int] = set()
        self._lookups = Lookups()

    def __len__(self) -> int:
        return len(self._predicates)

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._predicates

    def add(self, sub_id: int, query: Query) -> None:
        """Index ``query`` under ``sub_id``, replacing any query already stored under that id."""
        if sub_id in self._predicates:
            self.remove(sub_id)
        sure_key = exact_key(query.root)
        keys = anchor_keys(query.root) if sure_key is None else frozenset({sure_key})
        self._queries[sub_id] = query
        self._lookups.add(query.root)
        self._predicates[sub_id] = query.predicate
        self._masks[sub_id] = compile_mask(query.root)
        self._keys[sub_id] = keys
        if keys is None:
            self._unanchored.add(sub_id)
            return
        postings = self._postings
        if sure_key is not None:
            postings = self._sure
            self._sure_ids.add(sub_id)
        for family, value in keys:
            postings[family].setdefault(value, set()).add(sub_id)

    def remove(self, sub_id: int) -> None:
        """Forget the query stored under ``sub_id`` (no error if there is none)."""
        if sub_id not in self._predicates:
            return
        del self._predicates[sub_id], self._masks[sub_id]
        self._lookups.remove(self._queries.pop(sub_id).root)
        keys = self._keys.pop(sub_id)
        if keys is None:
            self._unanchored.discard(sub_id)
            return
        filed = self._sure if sub_id in self._sure_ids else self._postings
        self._sure_ids.discard(sub_id)
        for family, value in keys:
            postings = filed[family]
            ids = postings[value]
            ids.discard(sub_id)
            if not ids:
                del postings[value]

    def _families_in_use(self) -> list[Family]:
        return [family for family in Family if self._postings[family] or self._sure[family]]

    def match(self, doc: PaperDocument) -> set[int]:
        """Return the ids of the stored queries that match one paper."""
        matched: set[int] = set()
        candidates = set(self._unanchored)
        for family in self._families_in_use():
            values = document_keys(doc, family)
            # Intersecting in C first keeps the Python loops to the values that are filed.
            sure = self._sure[family]
            for value in sure.keys() & values:
                matched |= sure[value]
            postings = self._postings[family]
            for value in postings.keys() & values:
                candidates |= postings[value]
        predicates = self._predicates
        matched.update(sub_id for sub_id in candidates if predicates[sub_id](doc))
        return matched

    def match_many(self, docs: Sequence[PaperDocument]) -> list[set[int]]:
        """Match a batch of papers; the result is aligned with ``docs`` (``result[i]`` is for ``docs[i]``).

        Small batches are matched paper by paper; larger ones with bitsets over the whole batch.
        """
        if len(docs) < self.batch_threshold:
            return [self.match(doc) for doc in docs]
        batch = Batch(docs, self._lookups)
        found: list[list[int]] = [[] for _ in docs]
        # Bound methods, looked up once: distributing matches is the hot loop for big batches
        # (list.append, then one set() per paper, is cheaper than set.add per match).
        adders = [ids.append for ids in found]
        masks = self._masks
        candidates = masks.keys() if len(docs) >= ALL_QUERIES_FROM else self._batch_candidates(batch)
        for sub_id in candidates:
            mask = masks[sub_id](batch)
            if mask:
                _distribute(sub_id, mask, adders)
        return [set(ids) for ids in found]

    def _batch_candidates(self, batch: Batch) -> set[int]:
        """Queries filed under a key that some paper of the batch carries, plus the unanchored ones."""
        candidates = set(self._unanchored)
        for family in self._families_in_use():
            view, prefixes = FAMILY_SOURCES[family]
            values: set[str] | None = None
            # In a batch, exact queries are evaluated with bitsets like the others.
            for postings in (self._postings[family], self._sure[family]):
                hits: Iterable[str]
                if prefixes:
                    # Checking each filed prefix against the batch's sorted vocabulary is much
                    # cheaper than listing every prefix of every token of every paper.
                    hits = [key for key in postings if batch.has_prefix(view, key)]
                else:
                    if values is None:
                        values = (
                            batch.union_of_stem_pairs(view)
                            if family is Family.TEXT_PAIR
                            else batch.union(view, stems=family is Family.TEXT)
                        )
                    hits = postings.keys() & values
                for key in hits:
                    candidates |= postings[key]
        return candidates


def _distribute(sub_id: int, mask: int, adders: list[Callable[[int], None]]) -> None:
    """Call ``adders[j](sub_id)`` for every set bit ``j`` of ``mask``.

    This is :func:`~bot.matching.batch.set_bits` inlined: it runs once per (paper, query) match,
    where a generator's per-item cost shows.
    """
    if not mask & (mask - 1):
        # One matching paper: the common case for a selective subscription.
        adders[mask.bit_length() - 1](sub_id)
    elif mask.bit_count() <= FEW_BITS:
        while mask:
            lowest = mask & -mask
            adders[lowest.bit_length() - 1](sub_id)
            mask ^= lowest
    else:
        # Dense masks: str.find skips the zero bits in C.
        digits = bin(mask)[:1:-1]
        number = digits.find("1")
        while number >= 0:
            adders[number](sub_id)
            number = digits.find("1", number + 1)
