"""Full-text search agrees with the matcher (issue 16.11): on generated papers and queries — ligatures, fullwidth
and mathematical letters, ß, superscripts, Indic and Greek scripts included — every paper the exact matcher
matches is a full-text candidate on both drivers, and on SQLite an exact full-text expression finds exactly the
matches.

SQLite's papers go through the real schema (every migration, the triggers and the registered SQL functions);
PostgreSQL's through the vector and tsquery the store writes and sends (``document_vector``, ``tsquery``),
evaluated by the server."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.matching import document_for, matches, parse_query
from bot.matching.errors import QueryError
from bot.models import Paper
from bot.store.fts import SQL_FUNCTIONS, exact_fts_expression, fts_expression
from bot.store.migrations import MIGRATIONS
from bot.store.paper_rows import paper_params
from bot.store.papers import _INSERT_PAPER
from bot.store.postgres.dialect import document_vector, tsquery
from tests.matching import strategies

# Each pair spells one word two ways that normalize alike: the matcher treats them as one word.
SPECIAL = [
    "Eﬃcient",
    "efficient",
    "ＬＬＭ",
    "LLM",
    "𝐋𝐋𝐌s",
    "Straße",
    "strasse",
    "x²",
    "x2",
    "ﬁne-tuning",
    "fine-tuned",
    "हिन्दी",
    "हिंदी",
    "தமிழ்",
    "Ωmega",
    "ωmega",
    "naïve",
    "İstanbul",
    "ǅemal",
    "Ⅻ",
    "①",
    "ﬀt",
    "œuvre",
    "Øresund",
]
WORDS = strategies.WORDS + SPECIAL
SEPARATORS = [" ", " ", "-", ", ", ": ", "/", "·", "\u200b", "’s "]

NOW = datetime(2026, 11, 2, tzinfo=UTC)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def texts(draw: st.DrawFn, max_words: int = 10) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=max_words))
    separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words)))
    return "".join(w + s for w, s in zip(words, separators, strict=False)).strip()


@st.composite
def papers(draw: st.DrawFn, number: int) -> Paper:
    return Paper(
        id=f"2611.{number:05d}",
        title=draw(texts(max_words=6)),
        abstract=draw(texts()),
        authors=tuple(draw(st.lists(st.sampled_from([*strategies.NAMES, "Ｙａｎｎ Ｌｅ", "Ærø Straße"]), max_size=3))),
        categories=tuple(draw(st.lists(st.sampled_from(strategies.CATEGORIES), max_size=2))),
        ai_keywords=tuple(draw(st.lists(texts(max_words=2), max_size=3))),
    )


special_terms = st.one_of(
    st.sampled_from(SPECIAL),
    st.sampled_from(SPECIAL).map(lambda w: f'"{w}"'),
    st.tuples(st.sampled_from(SPECIAL), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    st.tuples(st.sampled_from(SPECIAL), st.sampled_from(SPECIAL)).map("-".join),
    st.sampled_from(["eﬃ*", "ＬＬ*", "stra*", "हिन*", "ωm*", "ﬁne-tun*", "x²*"]),
    st.tuples(st.sampled_from(["ti:", "abs:", "au:"]), st.sampled_from(SPECIAL)).map("".join),
)


@st.composite
def queries(draw: st.DrawFn) -> str:
    first = draw(st.one_of(special_terms, strategies.positive_terms))
    rest = draw(st.lists(st.one_of(special_terms, strategies.positive_terms), max_size=3))
    text = first
    for term in rest:
        text += draw(st.sampled_from([" ", " OR ", " AND ", " -", " NOT "])) + term
    return text


def _database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    for name, function in SQL_FUNCTIONS.items():
        db.create_function(name, 1, function, deterministic=True)
    for script in MIGRATIONS:
        db.executescript(script)
    return db


def _fts_ids(db: sqlite3.Connection, expression: str) -> set[str]:
    rows = db.execute(
        "SELECT p.id FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid WHERE papers_fts MATCH ?",
        (expression,),
    )
    return {row["id"] for row in rows}


@SETTINGS
@given(st.data())
def test_full_text_candidates_are_a_superset_of_matches_and_exact_expressions_are_exact(data):
    db = _database()
    stored = [data.draw(papers(n)) for n in range(data.draw(st.integers(1, 8)))]
    db.executemany(_INSERT_PAPER, [paper_params(p, NOW) for p in stored])
    for _ in range(5):
        try:
            query = parse_query(data.draw(queries()))
        except QueryError:
            continue
        matched = {p.id for p in stored if matches(query, document_for(p))}
        superset = fts_expression(query.root)
        if superset is not None:
            assert matched <= _fts_ids(db, superset), (query.text, superset)
        exact = exact_fts_expression(query.root)
        if exact is not None:
            assert _fts_ids(db, exact) == matched, (query.text, exact)
    # Merges and deletes keep the index right (a contentless table deletes by the values it was given).
    db.execute("UPDATE papers SET title = abstract, abstract = title")
    db.execute("DELETE FROM papers WHERE rowid % 2 = 0")
    kept = [p for n, p in enumerate(stored) if (n + 1) % 2]
    swapped = {p.id: document_for(replace(p, title=p.abstract, abstract=p.title)) for p in kept}
    try:
        query = parse_query(data.draw(queries()))
    except QueryError:
        return
    exact = exact_fts_expression(query.root)
    if exact is not None:
        assert _fts_ids(db, exact) == {i for i, doc in swapped.items() if matches(query, doc)}
    assert db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('integrity-check')") is not None


async def _pg_hits(url: str, vectors: list[str], query: str) -> set[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS v(vector, n) "
            "WHERE CAST(vector AS tsvector) @@ CAST($2 AS tsquery)",
            vectors,
            query,
        )
    finally:
        await conn.close()
    return {int(row["n"]) - 1 for row in rows}


def test_postgresql_candidates_are_a_superset_of_matches(pg_cluster):
    url = pg_cluster.create_database()

    @SETTINGS
    @given(st.data())
    def check(data):
        stored = [data.draw(papers(n)) for n in range(data.draw(st.integers(1, 8)))]
        vectors = [document_vector(p) for p in stored]
        for _ in range(5):
            try:
                query = parse_query(data.draw(queries()))
            except QueryError:
                continue
            expression = tsquery(query.root)
            if expression is None:
                continue
            matched = {n for n, p in enumerate(stored) if matches(query, document_for(p))}
            assert matched <= asyncio.run(_pg_hits(url, vectors, expression)), (query.text, expression)

    check()
