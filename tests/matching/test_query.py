"""Parsing: operators, precedence, fields, terms, every parser error with its position, and properties
over generated text (only QueryError ever escapes; what parses, parses back from its description)."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.matching import And, Field, Not, Or, QueryError, Term, parse_query
from bot.matching.query import MAX_NESTING, MAX_QUERY_LENGTH
from tests.matching.strategies import valid_queries


def word(text: str, field: Field = Field.TEXT) -> Term:
    return Term(field, (text,), stemmed=field in (Field.TEXT, Field.TITLE, Field.ABSTRACT))


def exact(*tokens: str, field: Field = Field.TEXT) -> Term:
    return Term(field, tokens)


A, B, C, D = word("a"), word("b"), word("c"), word("d")


def root(text: str) -> object:
    return parse_query(text).root


class TestOperators:
    def test_single_word(self) -> None:
        assert root("llm") == word("llm")

    def test_words_side_by_side_are_anded(self) -> None:
        assert root("a b c") == And((A, B, C))

    def test_explicit_and(self) -> None:
        assert root("a AND b") == And((A, B))

    def test_or(self) -> None:
        assert root("a OR b OR c") == Or((A, B, C))

    @pytest.mark.parametrize("text", ["a NOT b", "a -b", "a AND NOT b", "a AND -b"])
    def test_negation_forms(self, text: str) -> None:
        assert root(text) == And((A, Not(B)))

    def test_negated_phrase(self) -> None:
        assert root('a -"case study"') == And((A, Not(exact("case", "study"))))

    def test_negated_group(self) -> None:
        assert root("a -(b OR c)") == And((A, Not(Or((B, C)))))

    def test_double_negation_cancels(self) -> None:
        assert root("a NOT -b") == And((A, B))
        assert root("a NOT (NOT b)") == And((A, B))

    @pytest.mark.parametrize("text", ["a or b", "a Or b", "a oR b"])
    def test_operators_are_case_insensitive(self, text: str) -> None:
        assert root(text) == Or((A, B))

    def test_lowercase_and_not(self) -> None:
        assert root("a and not b") == And((A, Not(B)))

    def test_quoted_operator_is_a_word(self) -> None:
        assert root('"or" a') == And((exact("or"), A))

    def test_operator_word_with_punctuation_is_the_exact_word(self) -> None:
        # Not the operator, and printed back quoted, so it must mean the exact word.
        assert root("a or.") == And((A, exact("or")))

    def test_parentheses_group(self) -> None:
        assert root("(a OR b) c") == And((Or((A, B)), C))

    def test_nested_same_operators_are_flattened(self) -> None:
        assert root("a (b (c d))") == And((A, B, C, D))
        assert root("a OR (b OR (c OR d))") == Or((A, B, C, D))

    def test_redundant_parentheses_vanish(self) -> None:
        assert root("((a))") == A


class TestPrecedence:
    def test_and_binds_tighter_than_or(self) -> None:
        assert root("a b OR c") == Or((And((A, B)), C))
        assert root("a OR b c") == Or((A, And((B, C))))
        assert root("a AND b OR c AND d") == Or((And((A, B)), And((C, D))))

    def test_not_binds_tighter_than_and(self) -> None:
        assert root("NOT a b") == And((Not(A), B))

    def test_not_binds_tighter_than_or(self) -> None:
        assert root("c OR NOT a b") == Or((C, And((Not(A), B))))

    def test_parentheses_override(self) -> None:
        assert root("a (b OR c)") == And((A, Or((B, C))))
        assert root("NOT (a b) c") == And((Not(And((A, B))), C))


class TestTerms:
    def test_bare_word_is_normalized_and_stemmed(self) -> None:
        assert root("LLMs") == Term(Field.TEXT, ("llms",), stemmed=True)

    def test_hyphenated_word_is_an_adjacency_phrase_of_stems(self) -> None:
        assert root("Long-Context") == Term(Field.TEXT, ("long", "context"), stemmed=True)

    @pytest.mark.parametrize(
        ("text", "tokens"),
        [("GPT-4", ("gpt", "4")), ("S^2IP-LLM", ("s", "2ip", "llm")), ("don't", ("don", "t"))],
    )
    def test_punctuation_splits_words(self, text: str, tokens: tuple[str, ...]) -> None:
        assert root(text) == Term(Field.TEXT, tokens, stemmed=True)

    def test_quoted_phrase_is_exact(self) -> None:
        assert root('"Long Context"') == exact("long", "context")

    def test_quoted_single_word_is_exact(self) -> None:
        assert root('"LLMs"') == exact("llms")

    def test_accents_are_folded(self) -> None:
        assert root("naïve") == word("naive")

    def test_prefix(self) -> None:
        assert root("Transform*") == Term(Field.TEXT, ("transform",), prefix=True)

    def test_prefix_after_hyphenated_words(self) -> None:
        assert root("long-con*") == Term(Field.TEXT, ("long", "con"), prefix=True)

    def test_star_inside_quotes_is_punctuation(self) -> None:
        assert root('"transform*"') == exact("transform")


class TestFields:
    @pytest.mark.parametrize(
        ("name", "field"),
        [
            ("title", Field.TITLE),
            ("ti", Field.TITLE),
            ("TI", Field.TITLE),
            ("abstract", Field.ABSTRACT),
            ("abs", Field.ABSTRACT),
            ("author", Field.AUTHOR),
            ("au", Field.AUTHOR),
            ("Category", Field.CATEGORY),
            ("cat", Field.CATEGORY),
        ],
    )
    def test_field_names(self, name: str, field: Field) -> None:
        term = root(f"{name}:x1")
        assert isinstance(term, Term)
        assert term.field is field

    def test_author_words_are_not_stemmed(self) -> None:
        assert root("au:Andrews") == exact("andrews", field=Field.AUTHOR)

    def test_field_applies_to_phrase(self) -> None:
        assert root('ti:"long context"') == exact("long", "context", field=Field.TITLE)

    def test_field_applies_to_prefix(self) -> None:
        assert root("ti:transform*") == Term(Field.TITLE, ("transform",), prefix=True)

    def test_field_applies_to_group(self) -> None:
        assert root("ti:(llm OR rag) b") == And((Or((word("llm", Field.TITLE), word("rag", Field.TITLE))), B))

    def test_field_applies_only_to_next_item(self) -> None:
        assert root("ti:a b") == And((word("a", Field.TITLE), B))

    def test_inner_field_wins(self) -> None:
        assert root("ti:(a abs:b)") == And((word("a", Field.TITLE), word("b", Field.ABSTRACT)))

    def test_negated_field(self) -> None:
        assert root("a -ti:b") == And((A, Not(word("b", Field.TITLE))))
        assert root("a ti:-b") == And((A, Not(word("b", Field.TITLE))))

    def test_operator_words_after_a_field_are_literal(self) -> None:
        assert root("ti:or a") == And((exact("or", field=Field.TITLE), A))

    def test_category_is_a_whole_string(self) -> None:
        assert root("cat:cs.CL") == Term(Field.CATEGORY, ("cs.cl",))
        assert root('cat:"q-bio.NC"') == Term(Field.CATEGORY, ("q-bio.nc",))

    def test_category_prefix(self) -> None:
        assert root("cat:cs.*") == Term(Field.CATEGORY, ("cs.",), prefix=True)

    def test_colon_after_digits_is_not_a_field(self) -> None:
        assert root("ratio 1:2") == And((word("ratio"), Term(Field.TEXT, ("1", "2"), stemmed=True)))

    def test_quoted_colon_is_literal(self) -> None:
        assert root('"foo:bar"') == exact("foo", "bar")


def error_for(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", None, "empty"),
        ("   \t ", None, "empty"),
        ("x" * (MAX_QUERY_LENGTH + 1), MAX_QUERY_LENGTH, "too long"),
        ("a (b OR c", 2, "never closed"),
        ("a b) c", 3, "no matching '('"),
        ("(a))", 3, "no matching '('"),
        (")", 0, "no matching '('"),
        ("a () b", 2, "Empty parentheses"),
        ("OR a", 0, "before it"),
        ("AND a", 0, "before it"),
        ("a OR", 2, "after it"),
        ("a AND", 2, "after it"),
        ("a NOT", 2, "after it"),
        ("NOT", 0, "after it"),
        ("(a OR) b", 3, "after it"),
        ("a (NOT) b", 3, "after it"),
        ("a OR OR b", 5, "Two operators in a row"),
        ("a AND OR b", 6, "Two operators in a row"),
        ("a NOT AND b", 6, "Two operators in a row"),
        ("a -OR b", 3, "Two operators in a row"),
        ("foo:bar", 0, "title: (ti:), abstract: (abs:), author: (au:) or category: (cat:)"),
        ("llm tilte:rag", 4, "Unknown field 'tilte:'"),
        ("ti:", 0, "right after it"),
        ("a ti: b", 2, "right after it"),
        ("(ti:) a", 1, "right after it"),
        ("a*", 0, "too short"),
        ("llm x*", 4, "too short"),
        ("long-c*", 0, "too short"),
        ("*", 0, "'*' must follow"),
        ("a **", 2, "'*' must follow"),
        ('"long cont"*', 11, "cannot follow a quoted phrase"),
        ('au:"long cont"*', 14, "cannot follow a quoted phrase"),
        ('"long cont" *', 12, "'*' must follow"),
        ('"!!"', 0, "no letters or digits"),
        ('llm ""', 4, "no letters or digits"),
        ("llm !!", 4, "no letters or digits"),
        ("cat:c*", 4, "too short"),
        ("cat:*", 4, "'*' must follow"),
        ("cat:cs.CL,", 4, "not a category name"),
        ("cat:!!", 4, "not a category name"),
        ("-survey", None, "positive term"),
        ("NOT survey", None, "positive term"),
        ("NOT a OR -b", None, "positive term"),
        ("(-x) OR y", None, "positive term"),
        ("-(a b)", None, "positive term"),
        ("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1), MAX_NESTING, "nested too deeply"),
    ],
)
def test_errors(text: str, position: int | None, fragment: str) -> None:
    error = error_for(text)
    assert error.position == position
    assert fragment in error.message


def test_maximum_length_is_accepted() -> None:
    assert parse_query("x" * MAX_QUERY_LENGTH)


def test_maximum_nesting_is_accepted() -> None:
    assert root("(" * MAX_NESTING + "a" + ")" * MAX_NESTING) == A


def test_query_keeps_the_text_as_typed() -> None:
    assert parse_query("LLMs  -survey").text == "LLMs  -survey"


@pytest.mark.parametrize("text", ["a -b", "-b a", "a OR (b -c)", "-(-a)", "NOT (a OR -b)", "NOT NOT a", "(-a b) OR c"])
def test_a_positive_term_anywhere_that_must_match_is_enough(text: str) -> None:
    assert parse_query(text)


@pytest.mark.parametrize("text", ["llm OR -survey", "-(a OR -b) OR -c", "NOT (a b)", "--(-a)"])
def test_an_alternative_without_a_positive_term_is_refused(text: str) -> None:
    assert "positive term" in error_for(text).message


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
