"""The syntax tree's own walks: describe() (the query as understood, which must parse back to the
same query) and matches_empty_paper() (the parser's "needs a positive term" rule)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.matching import And, Node, Not, Or, QueryError, document_for, matches, parse_query
from bot.matching.matcher import compile_node
from bot.matching.nodes import matches_empty_paper
from bot.matching.query import MAX_QUERY_LENGTH, _Parser
from bot.models import Paper
from tests.matching.factories import doc
from tests.matching.strategies import any_queries, papers, positive_terms


@pytest.mark.parametrize(
    ("text", "described"),
    [
        (
            '("long context" OR "attention sink") AND NOT title:survey',
            '("long context" OR "attention sink") AND NOT title:survey',
        ),
        (
            '("Long Context" or "attention SINK") -ti:survey',
            '("long context" OR "attention sink") AND NOT title:survey',
        ),
        ("llm -survey", "llm AND NOT survey"),
        ("a b OR c", "(a AND b) OR c"),
        ("a (b OR c)", "a AND (b OR c)"),
        ("NOT (a OR b) c", "NOT (a OR b) AND c"),
        ("ti:(llm OR rag)", "title:llm OR title:rag"),
        ("abs:x au:Müller", "abstract:x AND author:muller"),
        ('au:"Yann LeCun"', 'author:"yann lecun"'),
        ("au:jean-pierre", 'author:"jean pierre"'),
        ("cat:cs.CL OR cat:cs.*", "category:cs.cl OR category:cs.*"),
        ("Long-Context", "long-context"),
        ("GPT-4", "gpt-4"),
        ("Transform*", "transform*"),
        ('"LLMs"', '"llms"'),
        ("or.", '"or"'),
        ("ti:NOT", 'title:"not"'),
        ("a NOT NOT b", "a AND b"),
    ],
)
def test_describe(text: str, described: str) -> None:
    assert parse_query(text).describe() == described


@pytest.mark.parametrize(
    "text",
    [
        '("long context" OR "attention sink") AND NOT title:survey',
        "a b OR c -(d OR ti:ee*) au:müller cat:cs.*",
        "LLMs long-context OR (GPT-4 -survey)",
        'ti:(llm OR "attention sink") NOT abs:(rag OR retrieval)',
        "or. and! NOT(x)",
    ],
)
def test_describe_round_trips(text: str) -> None:
    query = parse_query(text)
    again = parse_query(query.describe())
    assert again.root == query.root
    assert again.describe() == query.describe()
    sample = [
        doc(title="Long-context LLMs", abstract="GPT-4 survey"),
        doc(title="attention sink", authors=("T. Müller",), categories=("cs.CL",)),
        doc(title="A", abstract="b c or and", categories=("math.AG",)),
    ]
    assert [matches(again, d) for d in sample] == [matches(query, d) for d in sample]


@settings(max_examples=300, deadline=None)
@given(any_queries(), st.lists(papers(), min_size=1, max_size=5))
def test_describe_matches_the_same_papers(text: str, sample: list[Paper]) -> None:
    assume(len(text) <= MAX_QUERY_LENGTH)
    try:
        query = parse_query(text)
    except QueryError as error:
        # Generated expressions are well-formed: the only way to fail is having no positive term.
        assert "positive term" in error.message
        return
    again = parse_query(query.describe())
    for paper in sample:
        document = document_for(paper)
        assert matches(again, document) == matches(query, document)


EMPTY_PAPER = document_for(Paper(id="", title="", abstract=""))
TERMS = positive_terms.map(lambda text: parse_query(text).root)
# Any tree, including ones the parser never builds (NOT NOT a, an AND directly inside an AND).
TREES: st.SearchStrategy[Node] = st.recursive(
    TERMS,
    lambda children: st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=4).map(lambda nodes: And(tuple(nodes))),
        st.lists(children, min_size=2, max_size=4).map(lambda nodes: Or(tuple(nodes))),
    ),
    max_leaves=10,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("llm", False), ("-llm", True), ("llm -survey", False), ("llm OR -survey", True), ("NOT (a OR -b)", False)],
)
def test_matches_empty_paper(text: str, expected: bool) -> None:
    assert matches_empty_paper(_Parser(text).parse()) is expected


@settings(max_examples=500, deadline=None)
@given(TREES)
def test_matches_empty_paper_agrees_with_evaluating_one(node: Node) -> None:
    assert matches_empty_paper(node) == compile_node(node)(EMPTY_PAPER)


@settings(max_examples=500, deadline=None)
@given(any_queries())
def test_parsed_queries_are_refused_exactly_when_they_match_an_empty_paper(text: str) -> None:
    assume(len(text) <= MAX_QUERY_LENGTH)
    root = _Parser(text).parse()
    try:
        parse_query(text)
    except QueryError as error:
        assert "positive term" in error.message
        assert compile_node(root)(EMPTY_PAPER)
    else:
        assert not compile_node(root)(EMPTY_PAPER)
