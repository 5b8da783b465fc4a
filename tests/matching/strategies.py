"""Hypothesis strategies: valid queries and papers drawn from one small vocabulary, so that
generated queries actually match generated papers (and miss them) often."""

from __future__ import annotations

from hypothesis import strategies as st

from bot.models import Paper

# Stems collide on purpose (model/models/modeling, transformer/transformers/transform).
WORDS = [
    "llm",
    "LLMs",
    "model",
    "models",
    "modeling",
    "long",
    "context",
    "attention",
    "sink",
    "survey",
    "diffusion",
    "transformer",
    "Transformers",
    "transform",
    "rag",
    "naïve",
    "naive",
    "gpt",
    "4",
    "or",
]
NAMES = ["Ada Lovelace", "Thomas Müller", "Jean-Pierre Muller", "Yann LeCun", "Li Wei", "Wei Li"]
CATEGORIES = ["cs.CL", "cs.LG", "cs.CV", "stat.ML", "q-bio.NC", "math.AG"]
QUERY_WORDS = [w for w in WORDS if w.casefold() != "or"]
AUTHOR_WORDS = ["ada", "lovelace", "müller", "muller", "jean-pierre", "pierre", "lecun", "li", "wei"]
PREFIXES = ["ll", "mod", "model", "tra", "transf", "con", "di", "su", "lo", "na", "gp"]
FIELDS = ["", "", "", "ti:", "title:", "abs:"]


@st.composite
def texts(draw: st.DrawFn, max_words: int = 12) -> str:
    """Words from the vocabulary joined by a mix of separators (hyphens, punctuation, spaces)."""
    words = draw(st.lists(st.sampled_from(WORDS), max_size=max_words))
    separators = draw(st.lists(st.sampled_from([" ", " ", "-", ", ", ": ", "/"]), min_size=len(words)))
    return "".join(word + separator for word, separator in zip(words, separators, strict=False)).strip()


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    return Paper(
        id=draw(st.from_regex(r"24\d\d\.\d{5}", fullmatch=True)),
        title=draw(texts(max_words=6)),
        abstract=draw(texts()),
        authors=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=3))),
        categories=tuple(draw(st.lists(st.sampled_from(CATEGORIES), max_size=3))),
        ai_keywords=tuple(draw(st.lists(texts(max_words=2), max_size=2))),
    )


def _quoted(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


text_terms = st.one_of(
    st.sampled_from(QUERY_WORDS),
    st.lists(st.sampled_from(QUERY_WORDS), min_size=2, max_size=3).map("-".join),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(_quoted),
    st.sampled_from(PREFIXES).map(lambda prefix: prefix + "*"),
    st.tuples(st.sampled_from(QUERY_WORDS), st.sampled_from(PREFIXES)).map(lambda p: f"{p[0]}-{p[1]}*"),
)

author_terms = st.one_of(
    st.sampled_from(AUTHOR_WORDS),
    st.sampled_from(NAMES).map(lambda name: _quoted([name])),
    st.sampled_from(["lo*", "mü*", "mul*", "wei*", "jean-pi*"]),
)

category_terms = st.one_of(
    st.sampled_from(CATEGORIES),
    st.sampled_from(["cs.*", "cs.C*", "q-bio*", "st*"]),
)

positive_terms = st.one_of(
    st.tuples(st.sampled_from(FIELDS), text_terms).map("".join),
    st.tuples(st.sampled_from(["au:", "author:"]), author_terms).map("".join),
    st.tuples(st.sampled_from(["cat:", "category:"]), category_terms).map("".join),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(" ".join),
        st.tuples(children, children).map(" AND ".join),
        st.tuples(children, children).map(" OR ".join),
        st.tuples(children, children).map(" or ".join),
        children.map(lambda child: f"({child})"),
        children.map(lambda child: f"-({child})"),
        children.map(lambda child: f"NOT ({child})"),
        st.tuples(st.sampled_from(["ti:", "abs:"]), children).map(lambda p: f"{p[0]}({p[1]})"),
    )


expressions = st.recursive(
    st.one_of(positive_terms, positive_terms.map(lambda term: f"-{term}")), _extend, max_leaves=8
)


@st.composite
def valid_queries(draw: st.DrawFn) -> str:
    """A query that is always valid: a positive term AND-ed with any expression keeps it anchored."""
    positive = draw(positive_terms)
    if draw(st.booleans()):
        return positive
    return f"{positive} ({draw(expressions)})"


@st.composite
def any_queries(draw: st.DrawFn) -> str:
    """Any expression, including all-negative ones (which the parser rejects)."""
    return draw(expressions)
