"""Property tests: the parser never fails with anything but QueryError, and valid queries round-trip."""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.matching import QueryError, document_for, matches, parse_query
from bot.matching.query import MAX_QUERY_LENGTH
from bot.models import Paper
from tests.matching.strategies import any_queries, papers, valid_queries

# Fragments that make up queries, weighted towards syntax so that the parser's corners are hit.
FRAGMENTS = st.sampled_from(
    [
        " ",
        "  ",
        "(",
        ")",
        '"',
        "-",
        "*",
        ":",
        "OR",
        "or",
        "AND",
        "and",
        "NOT",
        "not",
        "ti:",
        "au:",
        "cat:",
        "abs:",
        "foo:",
        "llm",
        "a",
        "x1",
        "long-context",
        "cs.CL",
        "cs.*",
        "müller",
        "İ",
        "ß",
        "ﬁ",
        "＊",
        "（",
        "＂",
        "\u0301",
        "\t",
        "\n",
        "½",
        "²",
        "_",
        "!!",
        "日本",
        "ǅ",
        "\x00",
    ]
)
QUERYISH = st.lists(FRAGMENTS, max_size=25).map("".join)


def parse_or_reject(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as error:
        assert error.message
        assert error.position is None or 0 <= error.position <= len(text)
        assert str(error)
        error.with_caret()
        return
    described = query.describe()
    assert parse_query(described).root == query.root, described


@settings(max_examples=1500, deadline=None)
@given(QUERYISH)
@example("((((a")
@example('ti:"')
@example("cat:a＊*")
def test_queryish_text_parses_or_raises_query_error(text: str) -> None:
    parse_or_reject(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=MAX_QUERY_LENGTH + 20))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    parse_or_reject(text)


@settings(max_examples=1000, deadline=None)
@given(valid_queries())
def test_generated_valid_queries_never_raise(text: str) -> None:
    assume(len(text) <= MAX_QUERY_LENGTH)
    query = parse_query(text)
    assert parse_query(query.describe()).root == query.root


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


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.lists(st.text(), max_size=3), st.lists(st.text(), max_size=3))
def test_any_paper_text_can_be_prepared_and_matched(
    title: str, abstract: str, authors: list[str], categories: list[str]
) -> None:
    document = document_for(
        Paper(id="x", title=title, abstract=abstract, authors=tuple(authors), categories=tuple(categories))
    )
    for text in ["llm", '"long context"', "tr*", "au:li", "cat:cs.*", "x -y"]:
        matches(parse_query(text), document)


@given(st.text(min_size=1))
def test_a_quoted_word_matches_a_title_made_of_it(word: str) -> None:
    # Whatever the characters, normalization is applied the same way to queries and papers.
    assume('"' not in word)
    try:
        query = parse_query(f'"{word}"')
    except QueryError:
        return
    assert matches(query, document_for(Paper(id="x", title=word, abstract="")))
