from bot.matching import parse_query
from bot.matching.nodes import And, Field, Not, Or, Term
from bot.store.fts import fts_expression

TEXT = "{title_stems abstract_stems keyword_stems}"  # bare words are looked up by their stems
WORDS = "{title abstract ai_keywords}"  # phrases and prefixes by their exact tokens
ATTENTION = Term(Field.TEXT, ("attention",), stemmed=True)
SINKS = Term(Field.TEXT, ("sinks",), stemmed=True)
CATEGORY = Term(Field.CATEGORY, ("cs.cl",))


def test_a_word_searches_the_stems_of_the_text_columns_quoted():
    assert fts_expression(ATTENTION) == f'{TEXT} : "attent"'
    assert fts_expression(Term(Field.TEXT, ("attention",))) == f'{WORDS} : "attention"'


def test_fielded_phrases_and_prefixes():
    assert fts_expression(Term(Field.TITLE, ("long", "context"))) == '{title} : "long context"'
    assert fts_expression(Term(Field.ABSTRACT, ("diffus",), prefix=True)) == '{abstract} : "diffus" *'
    assert fts_expression(Term(Field.AUTHOR, ("ada", "lovelace"))) == '{authors} : "ada lovelace"'


def test_what_the_index_cannot_narrow_is_unconstrained():
    assert fts_expression(CATEGORY) is None  # categories are not in the full-text index
    assert fts_expression(Term(Field.TEXT, ())) is None
    assert fts_expression(Not(ATTENTION)) is None  # the exact matcher applies negations


def test_or_needs_every_child_constrained():
    assert fts_expression(Or((ATTENTION, SINKS))) == f'({TEXT} : "attent") OR ({TEXT} : "sink")'
    assert fts_expression(Or((ATTENTION, CATEGORY))) is None


def test_and_keeps_only_its_constrainable_children():
    assert fts_expression(And((ATTENTION, Not(SINKS), CATEGORY))) == f'({TEXT} : "attent")'
    assert fts_expression(And((CATEGORY, Not(SINKS)))) is None


def test_nested_nodes():
    node = And((Or((ATTENTION, SINKS)), Term(Field.TITLE, ("graph",))))
    assert fts_expression(node) == f'(({TEXT} : "attent") OR ({TEXT} : "sink")) AND ({{title}} : "graph")'


def test_parsed_text_reaches_fts5_only_as_quoted_tokens():
    # Raw, "long-context" would read as a column filter and "cs.CL" is an FTS5 syntax error.
    expression = fts_expression(parse_query("long-context cat:cs.CL").root)
    assert expression is not None and "cs" not in expression and '"long context"' in expression
