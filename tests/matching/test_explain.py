"""explain(): the verdict, the terms found, and the parts that kept a paper from matching."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.matching import QueryError, document_for, matches, parse_query
from bot.matching.explain import Explanation, explain
from bot.matching.query import MAX_QUERY_LENGTH
from bot.models import Paper
from tests.matching.factories import doc
from tests.matching.strategies import any_queries, papers

PAPER = doc(
    title="Long-context LLMs: a survey",
    abstract="We study attention sinks.",
    authors=("Ada Lovelace",),
    categories=("cs.CL",),
)


@pytest.mark.parametrize(
    ("text", "explanation"),
    [
        ("llm", Explanation(True, ("llm",), ())),
        ("diffusion", Explanation(False, (), ("diffusion is not in the paper",))),
        ("llm -survey", Explanation(False, ("llm",), ("it contains survey, which the query excludes",))),
        ("llm (rag OR diffusion)", Explanation(False, ("llm",), ("none of rag, diffusion is in the paper",))),
        ("(rag OR diffusion) OR llm", Explanation(True, ("llm",), ())),
        (
            "llm -(survey OR rag)",
            Explanation(False, ("llm",), ("it contains survey OR rag, which the query excludes",)),
        ),
        (
            'au:lovelace cat:cs.* "attention sink"',
            Explanation(False, ("author:lovelace", "category:cs.*"), ('"attention sink" is not in the paper',)),
        ),
        ("llm -(diffusion OR -survey)", Explanation(True, ("llm",), ())),
        ("rag OR (llm -survey)", Explanation(False, ("llm",), ("none of rag, llm AND NOT survey is in the paper",))),
    ],
)
def test_explain(text: str, explanation: Explanation) -> None:
    assert explain(parse_query(text), PAPER) == explanation


@settings(max_examples=300, deadline=None)
@given(any_queries(), st.lists(papers(), min_size=1, max_size=3))
def test_the_verdict_is_the_matchers(text: str, sample: list[Paper]) -> None:
    assume(len(text) <= MAX_QUERY_LENGTH)
    try:
        query = parse_query(text)
    except QueryError:
        return
    for paper in sample:
        document = document_for(paper)
        explanation = explain(query, document)
        assert explanation.matched == matches(query, document)
        assert bool(explanation.failures) != explanation.matched
