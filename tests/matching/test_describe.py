"""describe(): the query as understood, which must parse back to the same query."""

from __future__ import annotations

import pytest

from bot.matching import matches, parse_query
from tests.matching.factories import doc


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
