"""The subscription index must return exactly what brute-force matching returns."""

from __future__ import annotations

from random import Random
from unittest.mock import patch

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.matching import Field, Node, Not, Or, Query, QueryError, Term, document_for, matches, parse_query, shapes
from bot.matching import index as index_module
from bot.matching.index import SubscriptionIndex
from bot.models import Paper
from tests.matching.factories import paper
from tests.matching.strategies import any_queries, papers, valid_queries


def brute_force(queries: dict[int, Query], item: Paper) -> set[int]:
    document = document_for(item)
    return {sub_id for sub_id, query in queries.items() if matches(query, document)}


def matched(index: SubscriptionIndex, batch: list[Paper]) -> list[set[int]]:
    """The ids of the stored queries matching each paper of ``batch``, by ``match_papers`` (the engine's call)."""
    found: list[set[int]] = [set() for _ in batch]
    result = index.match_papers(batch)
    positions, sub_ids = result.pairs()
    for position, sub_id in zip(positions.tolist(), sub_ids.tolist(), strict=True):
        found[position].add(sub_id)
    # Planning's call: the same pairs, each paper's subscription ids in order.
    assert [ids.tolist() for ids in result.by_paper()] == [sorted(ids) for ids in found]
    return found


def assert_index_agrees(index: SubscriptionIndex, queries: dict[int, Query], sample: list[Paper]) -> None:
    expected = [brute_force(queries, item) for item in sample]
    assert len(index) == len(queries)
    assert [matched(index, [item])[0] for item in sample] == expected  # a paper at a time
    assert matched(index, sample) == expected  # the whole batch at once


def parse_all(texts: list[str]) -> dict[int, Query]:
    queries: dict[int, Query] = {}
    for sub_id, text in enumerate(texts):
        try:
            queries[sub_id] = parse_query(text)
        except QueryError:
            continue
    return queries


def indexed(queries: dict[int, Query]) -> SubscriptionIndex:
    index = SubscriptionIndex()
    for sub_id, query in queries.items():
        index.add(sub_id, query)
    return index


@settings(max_examples=50, deadline=None)
@given(st.lists(valid_queries(), min_size=1, max_size=30), st.lists(papers(), min_size=9, max_size=70))
def test_batches_past_a_byte_and_a_word_of_papers_match_brute_force(texts: list[str], sample: list[Paper]) -> None:
    queries = parse_all(texts)
    assert matched(indexed(queries), sample) == [brute_force(queries, item) for item in sample]


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_queries(), min_size=1, max_size=30), st.lists(papers(), min_size=1, max_size=8))
def test_index_matches_brute_force(texts: list[str], sample: list[Paper]) -> None:
    queries = parse_all(texts)
    index = SubscriptionIndex()
    for sub_id, query in queries.items():
        index.add(sub_id, query)
    assert_index_agrees(index, queries, sample)


@settings(max_examples=150, deadline=None)
@given(st.lists(any_queries(), min_size=1, max_size=30), st.lists(papers(), min_size=1, max_size=8))
def test_index_matches_brute_force_with_negations_everywhere(texts: list[str], sample: list[Paper]) -> None:
    queries = parse_all(texts)
    assume(queries)
    index = SubscriptionIndex()
    for sub_id, query in queries.items():
        index.add(sub_id, query)
    assert_index_agrees(index, queries, sample)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 9), valid_queries()),
        st.tuples(st.just("remove"), st.integers(0, 9), st.just("")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations, st.lists(papers(), min_size=1, max_size=6))
def test_add_and_remove_sequences(steps: list[tuple[str, int, str]], sample: list[Paper]) -> None:
    index = SubscriptionIndex()
    queries: dict[int, Query] = {}
    for action, sub_id, text in steps:
        if action == "remove":
            index.remove(sub_id)
            queries.pop(sub_id, None)
            continue
        try:
            query = parse_query(text)
        except QueryError:
            continue
        index.add(sub_id, query)
        queries[sub_id] = query
    assert_index_agrees(index, queries, sample)
    for sub_id in list(queries):
        index.remove(sub_id)
    assert len(index) == 0
    # Every leaf, lookup table and group is released with the last query that used it.
    leaves = index._leaves
    assert not leaves._ids and not leaves._slots and not leaves._prefixes and not index._groups
    assert all(leaf is None for leaf in index._leaves.leaves)


def test_add_with_an_existing_id_replaces() -> None:
    index = SubscriptionIndex()
    index.add(1, parse_query("diffusion"))
    index.add(1, parse_query("llm"))
    assert len(index) == 1
    assert matched(index, [paper(title="LLMs"), paper(title="Diffusion")]) == [{1}, set()]


def test_remove_unknown_id_is_harmless() -> None:
    index = SubscriptionIndex()
    index.remove(42)
    assert len(index) == 0
    assert 42 not in index


def test_unanchored_query_is_evaluated_for_every_paper() -> None:
    # parse_query rejects such queries, but a hand-built Query must still be handled correctly.
    index = SubscriptionIndex()
    index.add(7, Query("-survey", Not(Term(Field.TEXT, ("survey",), stemmed=True))))
    index.add(8, parse_query("llm"))
    batch = [paper(title="LLM"), paper(title="A survey"), paper(title="Other")]
    assert [matched(index, [item])[0] for item in batch] == [{7, 8}, set(), {7}]
    assert matched(index, batch) == [{7, 8}, set(), {7}]


def test_matches_are_aligned_with_the_papers() -> None:
    index = SubscriptionIndex()
    index.add(1, parse_query('"attention sink"'))
    index.add(2, parse_query("cat:cs.* transform*"))
    batch = [paper(abstract="attention sinks"), paper(title="Transformers", categories=("cs.LG",)), paper()]
    assert matched(index, batch) == [set(), {2}, set()]
    assert matched(index, []) == []
    assert matched(SubscriptionIndex(), batch) == [set(), set(), set()]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(any_queries(), min_size=1, max_size=30),
    st.lists(papers(), min_size=2, max_size=6),
    st.integers(65, 200),
    st.randoms(),
)
def test_batches_past_one_machine_word_in_small_chunks(
    texts: list[str], distinct: list[Paper], size: int, rng: Random
) -> None:
    # Papers 64+ live in a second 64-bit word.
    queries = parse_all(texts)
    assume(queries)
    index = SubscriptionIndex()
    for sub_id, query in queries.items():
        index.add(sub_id, query)
    picks = [rng.randrange(len(distinct)) for _ in range(size)]
    expected = [brute_force(queries, paper) for paper in distinct]
    # Tiny chunks and boolean blocks: queries 3 at a time, the leaf matrix built 64 papers at a time, matches
    # expanded one part at a time, and
    # candidates always gathered out of their chunk.
    with (
        patch.object(index_module, "CHUNK_ROWS", 3),
        patch.object(index_module, "CHUNK_WORDS", 1),
        patch.object(index_module, "EXPAND_BYTES", 1),
        patch.object(index_module, "BOOL_BLOCK_BYTES", 1),
        patch.object(index_module, "CANDIDATE_SHARE", 2),
    ):
        assert matched(index, [distinct[i] for i in picks]) == [expected[i] for i in picks]


def test_necessary_leaves_follow_lucene_monitor() -> None:
    def anchors(query: str | Node) -> set[str] | None:
        shape, terms = shapes._shape(parse_query(query).root if isinstance(query, str) else query)
        positions = index_module._necessary(shape, iter(range(len(terms))))
        return None if positions is None else {" ".join(terms[p].tokens) for p in positions}

    assert anchors("llm") == {"llm"}
    assert anchors("llm agents") in ({"llm"}, {"agents"})  # AND: one part is enough
    assert anchors("llm OR agents OR rag") == {"llm", "agents", "rag"}  # OR: every part
    assert anchors("llm -survey") == {"llm"}  # NOT contributes nothing
    assert anchors("(llm OR rag) agents") == {"agents"}  # the smallest part of the AND
    assert anchors("llm OR (agents -survey)") == {"llm", "agents"}
    # Unanchorable (parse_query refuses such a query, as it matches an empty paper): evaluated for every batch.
    survey, llm = (Term(Field.TEXT, (word,), stemmed=True) for word in ("survey", "llm"))
    assert anchors(Or((Not(survey), llm))) is None


def test_only_candidates_are_evaluated_but_unanchorable_queries_always_are() -> None:
    index = SubscriptionIndex()
    index.add(1, parse_query("diffusion"))
    index.add(2, Query("-survey", Not(Term(Field.TEXT, ("survey",), stemmed=True))))
    # One paper per batch, so that "diffusion" is a candidate only where the paper has it.
    assert matched(index, [paper(title="Graphs")]) == [{2}]
    assert matched(index, [paper(title="Diffusion survey")]) == [{1}]


def test_words_no_live_query_uses_are_reclaimed():
    index = SubscriptionIndex()
    index.add(0, parse_query("attention sink"))
    baseline = index.words
    for n in range(2000):  # every cycle brings four new words
        index.add(1, parse_query(f'zeta{n} "omega{n} theta{n}" OR ti:kappa{n}'))
        index.remove(1)
    assert index.words == baseline == 2
    assert matched(index, [paper(title="Attention sink study")]) == [{0}]


def test_a_full_vocabulary_refuses_an_add_without_changing_anything():
    index = SubscriptionIndex(max_words=8)  # ids 0 and 1 are reserved: room for six words
    queries = parse_all(["alpha beta", '"gamma delta" OR epsilon'])
    for sub_id, query in queries.items():
        index.add(sub_id, query)
    sample = [paper(title="Alpha beta gamma delta"), paper(title="Epsilon"), paper(title="Zeta eta theta")]
    before = matched(index, sample)
    with pytest.raises(OverflowError):
        index.add(2, parse_query("zeta eta theta"))  # three new words, one slot left
    assert 2 not in index and index.words == 5 and matched(index, sample) == before
    with pytest.raises(OverflowError):
        index.add(1, parse_query("zeta eta theta"))  # replacing a stored query fails whole too
    assert matched(index, sample) == before
    index.remove(1)  # frees gamma, delta, epsilon: their ids are reused
    index.add(2, parse_query("zeta eta theta"))
    assert_index_agrees(index, {0: queries[0], 2: parse_query("zeta eta theta")}, sample)
