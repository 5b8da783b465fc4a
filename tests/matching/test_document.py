"""Preparing papers for matching: every field is read, and any text at all can be prepared."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import document_for, matches, parse_query
from bot.models import Paper


def test_document_for_reads_every_field() -> None:
    document = document_for(
        Paper(
            id="2401.00001",
            title="T",
            abstract="A",
            authors=("N. Author",),
            categories=("cs.AI",),
            ai_keywords=("kw",),
        )
    )
    assert document.paper_id == "2401.00001"
    for query in ["t", "a", "kw", "au:author", "cat:cs.ai"]:
        assert matches(parse_query(query), document)


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
