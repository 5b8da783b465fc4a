"""The subscription index must return exactly what brute-force matching returns."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.matching import Field, Not, Query, QueryError, Term, document_for, matches, parse_query
from bot.matching import index as index_module
from bot.matching.anchors import Family, anchor_keys, exact_key
from bot.matching.batch import set_bits
from bot.matching.index import SubscriptionIndex
from bot.models import Paper
from tests.matching.factories import doc
from tests.matching.strategies import any_queries, papers, valid_queries


def brute_force(queries: dict[int, Query], paper: Paper) -> set[int]:
    document = document_for(paper)
    return {sub_id for sub_id, query in queries.items() if matches(query, document)}


def assert_index_agrees(index: SubscriptionIndex, queries: dict[int, Query], sample: list[Paper]) -> None:
    documents = [document_for(paper) for paper in sample]
    expected = [brute_force(queries, paper) for paper in sample]
    assert len(index) == len(queries)
    assert [index.match(document) for document in documents] == expected
    for threshold in (0, len(documents) + 1):
        # Forces the bitset batch path, then the per-paper path.
        index.batch_threshold = threshold
        assert index.match_many(documents) == expected
    # Big batches skip candidate selection and evaluate every query: check that path too.
    index.batch_threshold = 0
    with patch.object(index_module, "ALL_QUERIES_FROM", 0):
        assert index.match_many(documents) == expected


def parse_all(texts: list[str]) -> dict[int, Query]:
    queries: dict[int, Query] = {}
    for sub_id, text in enumerate(texts):
        try:
            queries[sub_id] = parse_query(text)
        except QueryError:
            continue
    return queries


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
    assert all(not postings for postings in index._postings.values())
    assert all(not postings for postings in index._sure.values())


def test_add_with_an_existing_id_replaces() -> None:
    index = SubscriptionIndex()
    index.add(1, parse_query("diffusion"))
    index.add(1, parse_query("llm"))
    assert len(index) == 1
    assert index.match(doc(title="LLMs")) == {1}
    assert index.match(doc(title="Diffusion")) == set()


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
    papers_ = [doc(title="LLM"), doc(title="A survey"), doc(title="Other")]
    assert [index.match(d) for d in papers_] == [{7, 8}, set(), {7}]
    index.batch_threshold = 0
    assert index.match_many(papers_) == [{7, 8}, set(), {7}]


def test_match_many_result_is_aligned_with_docs() -> None:
    index = SubscriptionIndex(batch_threshold=0)
    index.add(1, parse_query('"attention sink"'))
    index.add(2, parse_query("cat:cs.* transform*"))
    papers_ = [doc(abstract="attention sinks"), doc(title="Transformers", categories=("cs.LG",)), doc()]
    assert index.match_many(papers_) == [set(), {2}, set()]
    assert index.match_many([]) == []


class TestAnchors:
    def keys(self, text: str) -> set[tuple[Family, str]] | None:
        keys = anchor_keys(parse_query(text).root)
        return None if keys is None else set(keys)

    def test_and_keeps_the_most_selective_part(self) -> None:
        assert self.keys("model diffusion") == {(Family.TEXT, "diffus")}

    def test_or_needs_every_part(self) -> None:
        assert self.keys("llm OR au:lecun") == {(Family.TEXT, "llm"), (Family.AUTHOR, "lecun")}

    def test_negation_contributes_nothing(self) -> None:
        assert self.keys("llm -diffusion") == {(Family.TEXT, "llm")}

    def test_negated_disjunction_is_pushed_down(self) -> None:
        assert self.keys("NOT (survey OR review) llm") == {(Family.TEXT, "llm")}
        assert self.keys("NOT (-llm OR survey)") == {(Family.TEXT, "llm")}

    def test_phrase_uses_its_most_selective_pair(self) -> None:
        assert self.keys('"the attention sink"') == {(Family.TEXT_PAIR, "attent sink")}
        assert self.keys("long-context") == {(Family.TEXT_PAIR, "long context")}

    def test_phrase_with_a_prefix_uses_a_word_or_the_prefix(self) -> None:
        assert self.keys("diffusion-tr*") == {(Family.TEXT, "diffus")}

    def test_prefix_keys(self) -> None:
        assert self.keys("transf*") == {(Family.TEXT_PREFIX, "trans")}
        assert self.keys("tra*") == {(Family.TEXT_PREFIX, "tra")}
        assert self.keys("ti:ab*") == {(Family.TEXT_PREFIX, "ab")}
        assert self.keys("au:lo*") == {(Family.AUTHOR_PREFIX, "lo")}
        assert self.keys("cat:cs.*") == {(Family.CATEGORY_PREFIX, "cs.")}

    def test_exact_keys(self) -> None:
        def exact(text: str) -> tuple[Family, str] | None:
            return exact_key(parse_query(text).root)

        assert exact("LLMs") == (Family.TEXT, "llm")
        assert exact("long-context") == (Family.TEXT_PAIR, "long context")
        assert exact("au:lecun") == (Family.AUTHOR, "lecun")
        assert exact("cat:cs.CL") == (Family.CATEGORY, "cs.cl")
        for inexact in ['"LLMs"', "ti:llm", "a-b-c", "llm*", "cat:cs.*", "a b", "a OR b", 'au:"yann lecun"']:
            assert exact(inexact) is None, inexact

    def test_category_key(self) -> None:
        assert self.keys("cat:cs.CL") == {(Family.CATEGORY, "cs.cl")}

    def test_exact_words_are_keyed_by_stem(self) -> None:
        assert self.keys('"LLMs"') == {(Family.TEXT, "llm")}


@given(st.integers(min_value=0, max_value=(1 << 3000) - 1))
def test_set_bits(mask: int) -> None:
    assert list(set_bits(mask)) == [i for i in range(mask.bit_length()) if mask >> i & 1]
