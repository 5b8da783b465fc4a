"""Evaluating queries over a whole batch of papers at once, with bitsets.

Each word maps to a Python int whose bit ``j`` says whether paper ``j`` of the batch contains it;
AND, OR and NOT are then single big-int operations, whatever the batch size. With thousands of
papers and ~100k queries this is far cheaper than evaluating every candidate query per paper.
Phrases and multi-word prefixes are narrowed with bitsets and confirmed per paper, so results
are exactly those of :func:`bot.matching.matcher.compile_node`.

Only the values that stored queries look up are indexed for a batch (a paper has hundreds of
words and word pairs; the queries ask about few of them): :class:`Lookups` keeps that set up to
date as queries come and go.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import pairwise

from bot.matching.document import VIEW_INDEX, FieldView, PaperDocument, pair_key
from bot.matching.matcher import compile_term, term_words
from bot.matching.nodes import And, Field, Node, Not, Or, Term

MaskFunction = Callable[["Batch"], int]

# Tables are numbered by (view, stems?) so that lookups index a list instead of hashing tuples.
_SLOTS = len(VIEW_INDEX) * 2


def _slot(view: int, stems: bool) -> int:
    return view * 2 + stems


# Kinds of lookups.
_WORDS, _PAIRS, _PREFIXES = range(3)


class Lookups:
    """Reference-counted values that stored queries look up, per kind and table slot."""

    def __init__(self) -> None:
        self.words: list[dict[str, int]] = [{} for _ in range(_SLOTS)]
        self.pairs: list[dict[str, int]] = [{} for _ in range(_SLOTS)]
        # Prefixes are matched against tokens, so only the token slots (stems=False) are used.
        self.prefixes: list[dict[str, int]] = [{} for _ in range(_SLOTS)]
        self._kinds = (self.words, self.pairs, self.prefixes)

    def add(self, node: Node) -> None:
        """Count the values ``node`` looks up."""
        for kind, slot, value in _lookups(node):
            counts = self._kinds[kind][slot]
            counts[value] = counts.get(value, 0) + 1

    def remove(self, node: Node) -> None:
        """Uncount the values ``node`` looks up (it must have been added)."""
        for kind, slot, value in _lookups(node):
            counts = self._kinds[kind][slot]
            if counts[value] == 1:
                del counts[value]
            else:
                counts[value] -= 1


def _lookups(node: Node) -> Iterator[tuple[int, int, str]]:
    """The ``(kind, slot, value)`` lookups that evaluating ``node`` over a batch makes."""
    if isinstance(node, Not):
        yield from _lookups(node.child)
        return
    if not isinstance(node, Term):
        for child in node.children:
            yield from _lookups(child)
        return
    view = VIEW_INDEX[node.field]
    words = term_words(node)
    if node.prefix:
        yield _PREFIXES, _slot(view, False), words[-1]
        if node.field is Field.CATEGORY or len(words) == 1:
            return
    whole = words[:-1] if node.prefix else words
    slot = _slot(view, node.stemmed)
    if len(whole) == 1:
        yield _WORDS, slot, whole[0]
    else:
        for first, second in pairwise(whole):
            yield _PAIRS, slot, pair_key(first, second)


class _Table:
    """Which papers of the batch contain each looked-up value of one view (tokens, stems or pairs)."""

    __slots__ = ("_masks",)

    def __init__(self, value_sets: Iterable[frozenset[str]], wanted: set[str]) -> None:
        # Intersecting each paper's values with the wanted ones happens in C, so the Python loop
        # only sees hits. Masks are built directly: ints are not tracked by the cyclic garbage
        # collector, while a list per value would be (and trigger costly full collections).
        masks: dict[str, int] = {}
        get = masks.get
        if not wanted:
            value_sets = ()
        for number, values in enumerate(value_sets):
            bit = 1 << number
            for value in values & wanted:
                masks[value] = get(value, 0) | bit
        self._masks = masks

    def mask(self, value: str) -> int:
        return self._masks.get(value, 0)


class Batch:
    """A batch of prepared papers, with bitset tables built on first use."""

    __slots__ = (
        "_expansions",
        "_lookups",
        "_pair_tables",
        "_tables",
        "_term_masks",
        "_vocabularies",
        "all",
        "docs",
    )

    def __init__(self, docs: Sequence[PaperDocument], lookups: Lookups) -> None:
        self.docs = docs
        self.all = (1 << len(docs)) - 1
        self._lookups = lookups
        self._tables: list[_Table | None] = [None] * _SLOTS
        self._pair_tables: list[_Table | None] = [None] * _SLOTS
        self._expansions: list[dict[str, list[str]] | None] = [None] * _SLOTS
        self._term_masks: dict[str, int] = {}
        self._vocabularies: list[list[str] | None] = [None] * len(VIEW_INDEX)

    def _views(self, view: int) -> Iterator[FieldView]:
        return (doc.views[view] for doc in self.docs)

    def union(self, view: int, stems: bool = False) -> set[str]:
        """All tokens (or stems) of one view across the batch."""
        return set().union(*(v.stem_set if stems else v.token_set for v in self._views(view)))

    def union_of_stem_pairs(self, view: int) -> set[str]:
        """All adjacent stem pairs of one view across the batch."""
        return set().union(*(v.pairs(True) for v in self._views(view)))

    def vocabulary(self, view: int) -> list[str]:
        """All tokens of one view across the batch, sorted (for prefix lookups)."""
        vocabulary = self._vocabularies[view]
        if vocabulary is None:
            vocabulary = self._vocabularies[view] = sorted(self.union(view))
        return vocabulary

    def has_prefix(self, view: int, prefix: str) -> bool:
        """Whether any paper of the batch has a token in ``view`` that starts with ``prefix``."""
        vocabulary = self.vocabulary(view)
        i = bisect_left(vocabulary, prefix)
        return i < len(vocabulary) and vocabulary[i].startswith(prefix)

    def _prefix_expansions(self, slot: int) -> dict[str, list[str]]:
        """For each looked-up prefix, the batch's tokens that start with it."""
        expansions = self._expansions[slot]
        if expansions is None:
            expansions = {}
            prefixes = self._lookups.prefixes[slot]
            if prefixes:
                vocabulary = self.vocabulary(slot // 2)
                for prefix in prefixes:
                    i = bisect_left(vocabulary, prefix)
                    words = expansions[prefix] = []
                    while i < len(vocabulary) and vocabulary[i].startswith(prefix):
                        words.append(vocabulary[i])
                        i += 1
            self._expansions[slot] = expansions
        return expansions

    def table(self, slot: int) -> _Table:
        """Papers per token (even slots; including prefix expansions) or per stem (odd slots)."""
        table = self._tables[slot]
        if table is None:
            wanted = set(self._lookups.words[slot])
            if not slot % 2:
                for words in self._prefix_expansions(slot).values():
                    wanted.update(words)
            views = self._views(slot // 2)
            value_sets = (v.stem_set for v in views) if slot % 2 else (v.token_set for v in views)
            table = self._tables[slot] = _Table(value_sets, wanted)
        return table

    def pair_table(self, slot: int) -> _Table:
        """Papers per adjacent pair of tokens or stems."""
        table = self._pair_tables[slot]
        if table is None:
            stems = bool(slot % 2)
            value_sets = (view.pairs(stems) for view in self._views(slot // 2))
            table = self._pair_tables[slot] = _Table(value_sets, set(self._lookups.pairs[slot]))
        return table

    def word_mask(self, slot: int, word: str) -> int:
        """Papers whose view (``slot``) contains ``word``."""
        table = self._tables[slot]
        if table is None:
            table = self.table(slot)
        return table.mask(word)

    def prefix_mask(self, slot: int, prefix: str) -> int:
        """Papers with a token in the view (``slot``) that starts with ``prefix``."""
        table = self.table(slot)
        mask = 0
        for word in self._prefix_expansions(slot).get(prefix, ()):
            mask |= table.mask(word)
        return mask

    def term_mask(self, key: str, term: Term) -> int:
        """Papers matching a phrase or prefix term, cached by ``key`` for the whole batch."""
        mask = self._term_masks.get(key)
        if mask is None:
            mask = self._term_masks[key] = self._compute_term_mask(term)
        return mask

    def _compute_term_mask(self, term: Term) -> int:
        view = VIEW_INDEX[term.field]
        words = term_words(term)
        if term.prefix and (len(words) == 1 or term.field is Field.CATEGORY):
            return self.prefix_mask(_slot(view, False), words[-1])
        slot = _slot(view, term.stemmed)
        whole = words[:-1] if term.prefix else words
        if len(whole) == 1:
            candidates = self.word_mask(slot, whole[0])
        else:
            pairs = self.pair_table(slot)
            candidates = self.all
            for first, second in pairwise(whole):
                candidates &= pairs.mask(pair_key(first, second))
            if len(words) == 2:
                return candidates  # A two-word phrase is exactly its pair.
        if term.prefix and candidates:
            candidates &= self.prefix_mask(_slot(view, False), words[-1])
        if not candidates:
            return 0
        # Longer phrases and multi-word prefixes: confirm the word order on each candidate.
        predicate = compile_term(term)
        mask = 0
        for number in set_bits(candidates):
            if predicate(self.docs[number]):
                mask |= 1 << number
        return mask


# Up to this many set bits, peeling off the lowest bit beats scanning bin(mask).
FEW_BITS = 8


def set_bits(mask: int) -> Iterator[int]:
    """Yield the positions of the set bits of ``mask``, lowest first."""
    if mask.bit_count() <= FEW_BITS:
        while mask:
            lowest = mask & -mask
            yield lowest.bit_length() - 1
            mask ^= lowest
        return
    # For dense masks, let str.find skip the zero bits in C.
    digits = bin(mask)[:1:-1]
    position = digits.find("1")
    while position >= 0:
        yield position
        position = digits.find("1", position + 1)


def _term_key(term: Term) -> str:
    return f"{term.field}|{term.stemmed:d}{term.prefix:d}|{' '.join(term.tokens)}"


def compile_mask(node: Node) -> MaskFunction:
    """Compile a syntax tree into a function from a batch to the bitset of papers it matches.

    The batch must have been built with a :class:`Lookups` that ``node`` was added to.
    """
    if isinstance(node, Term):
        view = VIEW_INDEX[node.field]
        if len(node.tokens) == 1 and not node.prefix:
            slot = _slot(view, node.stemmed)
            (word,) = term_words(node)
            return lambda batch: batch.word_mask(slot, word)
        key = _term_key(node)
        return lambda batch: batch.term_mask(key, node)
    if isinstance(node, Not):
        child = compile_mask(node.child)
        return lambda batch: batch.all ^ child(batch)
    children = tuple(compile_mask(child) for child in node.children)
    if isinstance(node, And):
        return _intersection(children)
    if isinstance(node, Or):
        return _union(children)
    raise TypeError(f"not a query node: {node!r}")


def _intersection(children: tuple[MaskFunction, ...]) -> MaskFunction:
    first, *rest = children

    def mask(batch: Batch) -> int:
        result = first(batch)
        for child in rest:
            if not result:
                break
            result &= child(batch)
        return result

    return mask


def _union(children: tuple[MaskFunction, ...]) -> MaskFunction:
    def mask(batch: Batch) -> int:
        result = 0
        for child in children:
            result |= child(batch)
        return result

    return mask
