"""Matching parsed queries against prepared papers."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.matching import QueryError, document_for, matches, parse_query
from bot.models import Paper
from tests.matching.factories import doc, hit


class TestStemming:
    @pytest.mark.parametrize(
        ("query", "text"),
        [
            ("LLM", "Scaling LLMs"),
            ("LLMs", "An LLM for code"),
            ("model", "Language models"),
            ("models", "A language model"),
            ("transformers", "transform the data"),
            ("retrieval", "retrieval augmented"),
        ],
    )
    def test_bare_words_match_by_stem(self, query: str, text: str) -> None:
        assert hit(query, title=text)

    def test_different_stems_do_not_match(self) -> None:
        assert not hit("model", title="modular networks")


class TestPhrases:
    def test_phrase_matches_consecutive_tokens(self) -> None:
        assert hit('"attention sink"', abstract="we find an Attention Sink in LLMs")

    def test_phrase_is_unstemmed(self) -> None:
        assert not hit('"language model"', abstract="large language models")
        assert hit('"language models"', abstract="large language models")

    def test_single_quoted_word_is_exact(self) -> None:
        assert not hit('"LLM"', title="Scaling LLMs")
        assert hit('"LLMs"', title="Scaling LLMs")

    def test_phrase_needs_adjacency_and_order(self) -> None:
        assert not hit('"attention sink"', abstract="attention to the sink")
        assert not hit('"attention sink"', abstract="sink attention")

    def test_phrase_does_not_span_title_and_abstract(self) -> None:
        assert not hit('"sink attention"', title="A study of the sink", abstract="Attention is all")

    def test_phrase_does_not_span_keywords(self) -> None:
        assert not hit('"diffusion transformer"', keywords=("latent diffusion", "transformer"))
        assert hit('"latent diffusion"', keywords=("latent diffusion", "transformer"))

    def test_repeated_first_word(self) -> None:
        assert hit('"attention sink"', abstract="attention attention heads attention sink")


class TestHyphens:
    @pytest.mark.parametrize("query", ["long-context", '"long context"', "long context", "Long-Context"])
    @pytest.mark.parametrize(
        "title", ["Long-Context Retrieval", "long context retrieval", "LONG CONTEXT", "long/context"]
    )
    def test_hyphens_and_spaces_are_interchangeable(self, query: str, title: str) -> None:
        assert hit(query, title=title)

    def test_hyphenated_word_is_a_phrase_not_two_words(self) -> None:
        assert not hit("long-context", title="context is long")
        assert hit("long context", title="context is long")

    def test_hyphenated_word_is_stemmed(self) -> None:
        assert hit("long-contexts", title="Long-Context Retrieval")

    @pytest.mark.parametrize("title", ["GPT-4 technical report", "gpt 4 report", "GPT4"])
    def test_gpt_4(self, title: str) -> None:
        assert hit("GPT-4", title=title) is (title != "GPT4")

    def test_mixed_token_word(self) -> None:
        assert hit("S^2IP-LLM", title="S^2IP-LLM: Semantic Space Informed Prompt Learning")


class TestFields:
    def test_unfielded_searches_title_abstract_and_keywords(self) -> None:
        assert hit("rag", title="RAG")
        assert hit("rag", abstract="we use RAG")
        assert hit("rag", keywords=("RAG",))
        assert not hit("rag", authors=("Rag Smith",), categories=("rag",))

    def test_title_field(self) -> None:
        assert hit("ti:survey", title="A survey of LLMs")
        assert not hit("ti:survey", abstract="a survey")

    def test_abstract_field(self) -> None:
        assert hit("abs:survey", abstract="a survey")
        assert not hit("abs:survey", title="A survey")
        assert not hit("abs:survey", keywords=("survey",))

    def test_field_on_group(self) -> None:
        assert hit("ti:(llm OR rag)", title="RAG at scale")
        assert not hit("ti:(llm OR rag)", abstract="RAG at scale")

    def test_author_word_matches_any_name_token(self) -> None:
        authors = ("Yann LeCun", "Jean-Pierre Dupont")
        assert hit("au:lecun", authors=authors)
        assert hit("au:yann", authors=authors)
        assert hit("au:pierre", authors=authors)
        assert hit("au:jean-pierre", authors=authors)

    def test_author_words_are_not_stemmed(self) -> None:
        assert not hit("au:andrew", authors=("Julie Andrews",))

    def test_author_accent_folding(self) -> None:
        assert hit("au:muller", authors=("Thomas Müller",))
        assert hit("au:Müller", authors=("Thomas Muller",))
        assert hit("au:Muller", authors=("THOMAS MÜLLER",))

    def test_author_phrase_stays_within_one_name(self) -> None:
        authors = ("Ada Lovelace", "Alan Turing")
        assert hit('au:"ada lovelace"', authors=authors)
        assert not hit('au:"lovelace alan"', authors=authors)

    def test_author_prefix(self) -> None:
        assert hit("au:love*", authors=("Ada Lovelace",))

    def test_category_exact(self) -> None:
        assert hit("cat:cs.CL", categories=("cs.CL", "cs.LG"))
        assert hit("cat:CS.cl", categories=("cs.CL",))
        assert not hit("cat:cs", categories=("cs.CL",))
        assert not hit("cat:cs.C", categories=("cs.CL",))

    def test_category_prefix(self) -> None:
        assert hit("cat:cs.*", categories=("cs.CL",))
        assert hit("cat:q-bio*", categories=("q-bio.NC",))
        assert not hit("cat:cs.*", categories=("math.AG", "stat.ML"))

    def test_categories_are_not_text(self) -> None:
        assert not hit("cat:cs.cl", title="cs.CL")


class TestNegation:
    def test_excluded_word(self) -> None:
        assert hit("llm -survey", title="LLM agents")
        assert not hit("llm -survey", title="LLM agents: a survey")

    def test_excluded_word_is_stemmed(self) -> None:
        assert not hit("llm -surveys", title="LLM survey")

    def test_excluded_phrase(self) -> None:
        assert hit('llm -"case study"', title="LLM study of a case")
        assert not hit('llm -"case study"', title="LLM: a case study")

    def test_excluded_group(self) -> None:
        assert not hit("llm -(survey OR review)", title="LLM review")
        assert hit("llm -(survey review)", title="LLM review")

    def test_excluded_field(self) -> None:
        assert hit("llm -ti:survey", title="LLMs", abstract="a survey")
        assert not hit("llm -ti:survey", title="LLM survey")

    def test_excluded_category(self) -> None:
        assert not hit("llm -cat:cs.CV", title="LLM", categories=("cs.CV",))


class TestPrefixes:
    def test_prefix_matches_unstemmed_tokens(self) -> None:
        assert hit("transform*", title="Transformers")
        assert hit("transform*", title="transform")
        assert not hit("transform*", title="transfer")

    def test_prefix_is_not_stemmed(self) -> None:
        # "retrieval" stems to "retriev", but the prefix is compared with the word as written.
        assert not hit("retrieva*", title="retrieving")

    def test_prefix_after_a_phrase(self) -> None:
        assert hit("long-con*", title="long contexts")
        assert not hit("long-con*", title="long term contexts")

    def test_fielded_prefix(self) -> None:
        assert hit("ti:diffu*", title="Diffusion")
        assert not hit("ti:diffu*", abstract="Diffusion")


class TestCaseAndUnicode:
    @pytest.mark.parametrize("query", ["llm", "LLM", "Llm", '"LLM"'])
    def test_case_insensitive(self, query: str) -> None:
        assert hit(query, title="llm")

    def test_accents_in_text(self) -> None:
        assert hit("naive", abstract="a naïve approach")
        assert hit("naïve", abstract="a naive approach")

    def test_compatibility_forms(self) -> None:
        assert hit("fine-tuning", title="Ｆｉｎｅ-Ｔｕｎｉｎｇ")
        assert hit("efficient", title="eﬃcient")


def test_matches_uses_the_compiled_query() -> None:
    query = parse_query('("long context" OR "attention sink") AND NOT title:survey')
    assert matches(query, doc(title="Attention sinks?", abstract="An attention sink appears."))
    assert not matches(query, doc(title="A survey", abstract="long context"))


@given(st.text(min_size=1))
def test_a_quoted_word_matches_a_title_made_of_it(word: str) -> None:
    # Whatever the characters, normalization is applied the same way to queries and papers.
    assume('"' not in word)
    try:
        query = parse_query(f'"{word}"')
    except QueryError:
        return
    assert matches(query, document_for(Paper(id="x", title=word, abstract="")))
