"""The relevance model without a store: vocabulary, per-profile fits, one-product scoring, similar papers."""

from __future__ import annotations

import numpy as np

from bot.relevance.model import ProfileMatrix, fit_profile
from bot.relevance.vocabulary import Vocabulary
from tests.relevance.topics import TOPICS, corpus


def _vocabulary() -> tuple[Vocabulary, dict[str, list[str]]]:
    papers = corpus()
    vocabulary = Vocabulary.fit([p for group in papers.values() for p in group])
    return vocabulary, {topic: [p.id for p in group] for topic, group in papers.items()}


def test_a_profile_ranks_its_liked_topic_above_the_others_and_explains_with_its_words():
    vocabulary, ids = _vocabulary()
    model = fit_profile(vocabulary, ids["diffusion"][:5], background=60)
    assert model is not None and model.positives == 5
    others = [i for topic, group in ids.items() if topic != "diffusion" for i in group]
    liked_scores = model.decision(vocabulary.rows(ids["diffusion"][5:]))
    other_scores = model.decision(vocabulary.rows(others))
    assert liked_scores.min() > other_scores.max()
    assert (liked_scores > model.threshold).all() and (other_scores < model.threshold).mean() > 0.9
    row = vocabulary.rows([ids["diffusion"][10]])
    words = [w for w, _ in model.words(vocabulary, row)]
    assert words and set(words) <= set(TOPICS["diffusion"].split())


def test_dislikes_push_a_topic_down():
    vocabulary, ids = _vocabulary()
    plain = fit_profile(vocabulary, ids["diffusion"][:5], background=60, seed=1)
    disliking = fit_profile(vocabulary, ids["diffusion"][:5], ids["robots"][:5], background=60, seed=1)
    assert plain is not None and disliking is not None
    robots = vocabulary.rows(ids["robots"][5:])
    assert disliking.decision(robots).mean() < plain.decision(robots).mean()


def test_no_liked_paper_no_model():
    vocabulary, ids = _vocabulary()
    assert fit_profile(vocabulary, [], ids["robots"][:3]) is None
    assert fit_profile(vocabulary, ["9999.99999"]) is None  # not stored


def test_scoring_every_profile_at_once_equals_each_profile_alone():
    vocabulary, ids = _vocabulary()
    models = {topic: fit_profile(vocabulary, group[:4], background=40) for topic, group in ids.items()}
    matrix = ProfileMatrix(vocabulary.matrix.shape[1], {k: m for k, m in models.items() if m is not None})
    day = vocabulary.matrix[::7]
    together = matrix.score(day)
    assert together.shape == (day.shape[0], len(ids))
    for topic, model in models.items():
        assert model is not None
        np.testing.assert_allclose(together[:, matrix.column_of[topic]], model.decision(day), rtol=1e-4, atol=1e-5)


def test_similar_papers_share_the_topic_not_the_paper_itself_best_first():
    papers = corpus()
    vocabulary = Vocabulary.fit([p for group in papers.values() for p in group])
    paper = papers["proteins"][3]
    found = vocabulary.similar(paper, limit=5)
    protein_ids = {p.id for p in papers["proteins"]}
    assert len(found) == 5 and paper.id not in {i for i, _, _ in found}
    assert {i for i, _, _ in found} <= protein_ids
    cosines = [c for _, c, _ in found]
    assert cosines == sorted(cosines, reverse=True)
    assert all(words for _, _, words in found)


def test_new_papers_join_the_vocabulary_in_the_same_columns():
    papers = corpus()
    vocabulary = Vocabulary.fit(papers["speech"] + papers["robots"])
    grown = vocabulary.with_papers(papers["speech"][:3] + papers["proteins"][:2])
    assert len(grown) == len(vocabulary) + 2 and grown.matrix.shape[1] == vocabulary.matrix.shape[1]
    assert papers["proteins"][0].id in grown.row_of
