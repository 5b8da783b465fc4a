"""On either driver the full-text search only narrows: every paper the exact matcher accepts is a candidate, so
SQLite and PostgreSQL give the same results once the matcher has filtered (accents, stems, prefixes, fields)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.matching import document_for, matches, parse_query
from tests.conftest import T0, make_paper

PAPERS = [
    make_paper(1, title="Schrödinger bridges for happy diffusion", abstract="Relational models of happiness."),
    make_paper(2, title="Transformers are studied", abstract="We study agreed-upon long-context attention."),
    make_paper(3, title="Graph networks", abstract="Nothing here.", authors=("Zoë Müller", "Alan Turing")),
    make_paper(4, title="GPT4 evals", abstract="Results on x86 and 3D scenes.", ai_keywords=("Retrieval", "RAG")),
]
QUERIES = [
    "schrodinger",
    "happiness",
    "happy",
    "relate",
    "transformer",
    "transformers*",
    "transf*",
    "study",
    '"long context"',
    "long-context attention",
    "author:muller",
    'author:"zoe muller"',
    "title:graph OR abstract:relational",
    "gpt4 -x86",
    "retrieval",
    "3d",
    "agreed",
    "cat:cs.CL attention",
]


@pytest.fixture
async def stored(store):
    await store.ingest(PAPERS, lambda new, recheck: (), T0)
    return store


@pytest.mark.parametrize("text", QUERIES)
async def test_full_text_candidates_are_a_superset_of_exact_matches(stored, text):
    query = parse_query(text)
    expected = {p.id for p in PAPERS if matches(query, document_for(p))}
    seen = await stored.papers_seen_since(T0 - timedelta(days=1), root=query.root)
    assert expected <= {p.id for p in seen}
    found = await stored.search_papers(query.root, 50)
    if found is not None:
        assert expected <= {p.id for p, _ in found}
    # After the exact matcher, both drivers agree with it exactly.
    assert {p.id for p in seen if matches(query, document_for(p))} == expected


async def test_a_merged_paper_is_found_by_its_new_words(stored):
    await stored.ingest([make_paper(3, abstract="Now about hypernetworks.")], lambda new, recheck: (), T0)
    found = await stored.search_papers(parse_query("hypernetworks").root, 10)
    assert found is not None and [p.id for p, _ in found] == ["2411.00003"]


async def test_a_paper_with_an_overlong_word_is_stored_and_found(store):
    # PostgreSQL refuses a lexeme over 2,046 bytes: one such word must not fail the listing, nor hide the paper.
    word = "ж" * 1500  # 3,000 bytes in UTF-8
    await store.ingest([make_paper(9, abstract=f"{word} tokens")], lambda new, recheck: (), T0)
    for text in ("tokens", f"{word[:250]}*", f"abs:{word[:250]}* -survey"):
        query = parse_query(text)
        found = await store.search_papers(query.root, 10)
        assert found is not None and [p.id for p, _ in found] == ["2411.00009"], text[-20:]


async def test_a_paper_too_large_for_a_full_text_vector_is_stored_and_found(store):
    # PostgreSQL refuses a vector over 1 MiB: such a paper must not fail the listing, nor be missing from search.
    words = " ".join(f"w{n:06d}x" for n in range(150_000))  # 1.3 MB of distinct words
    papers = [make_paper(9, abstract=f"{words} hyperbolic"), make_paper(10, title="Graph networks")]
    await store.ingest(papers, lambda new, recheck: (), T0)
    for text, want in (("hyperbolic", {"2411.00009"}), ("w000123x", {"2411.00009"}), ("graph", {"2411.00010"})):
        query = parse_query(text)
        found = await store.search_papers(query.root, 10)
        assert found is not None
        assert {p.id for p, _ in found if matches(query, document_for(p))} == want, text
