"""Compiled query forms: what a restarted bot indexes instead of parsing every stored query again."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import QueryError, parse_query
from bot.matching.compiled import VERSION, decode, encode
from bot.matching.index import SubscriptionIndex
from tests.matching.factories import paper
from tests.matching.strategies import valid_queries


@given(valid_queries())
@settings(max_examples=500)
def test_a_form_decodes_to_exactly_what_the_index_files_the_parsed_query_under(text: str) -> None:
    query = parse_query(text)
    assert decode(encode(query)) == query.shape


@pytest.mark.parametrize(
    "text",
    ['ti:"long context" OR au:li*', "cat:cs.* -survey", "abs:(rag OR retrieval) NOT ti:naïve", "or. gpt-4 -(a b)"],
)
def test_every_field_flag_and_operator_round_trips(text: str) -> None:
    query = parse_query(text)
    assert decode(encode(query)) == query.shape


@given(st.text(alphabet="1|LNAO()xtauc0123 .-z", max_size=40))
def test_anything_that_is_not_a_current_form_decodes_to_none_and_never_raises(form: str) -> None:
    decoded = decode(form)
    if decoded is not None:  # it happened to be well formed: then it is a real shape with one term per leaf
        _shape, terms = decoded
        assert form.startswith(f"{VERSION}|") and terms


@pytest.mark.parametrize(
    "form",
    ["0|L|x1llm", "1|L", "1|L|x1llm|x1rag", "1|A(L)|x1llm", "1|A(LL|x1a|x1b", "1|L|q1llm", "1|L|x9llm", "1|L|x1", "1|"],
)
def test_stale_or_malformed_forms_are_ignored(form: str) -> None:
    assert decode(form) is None


def test_an_index_loaded_from_a_form_uses_the_form_and_from_a_stale_one_parses_the_text() -> None:
    attention = paper(title="Attention sinks", paper_id="2401.00001")
    diffusion = paper(title="Diffusion models", paper_id="2401.00002")
    index = SubscriptionIndex()
    # The form decides, not the text: proof that nothing was parsed.
    assert index.add_stored(1, "attention", encode(parse_query("diffusion"))) is None
    rewritten = index.add_stored(2, "attention", "0|L|x1diffusion")  # another version: parsed again
    assert rewritten == encode(parse_query("attention"))
    assert index.add_stored(3, "attention", None) == rewritten
    found = index.match_papers([attention, diffusion])
    positions, sub_ids = found.pairs()
    assert found.count() == 3
    assert sorted(zip(positions.tolist(), sub_ids.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 1)]


def test_a_stored_text_that_no_longer_parses_raises_and_changes_nothing() -> None:
    index = SubscriptionIndex()
    with pytest.raises(QueryError):
        index.add_stored(1, "-survey", None)
    assert 1 not in index and not len(index)
