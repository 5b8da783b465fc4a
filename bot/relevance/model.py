"""A profile's model: a linear SVM on TF-IDF rows, as arxiv-sanity-lite trains its per-tag SVMs.

Positives are the profile's liked papers; negatives its disliked papers plus a sample of the other stored
papers (the "background"). Classes are balanced, so a handful of likes counts as much as hundreds of background
papers. Only the largest weights are kept (sparse), which bounds memory per profile and makes the product of a
day's papers with every profile one sparse matrix multiplication.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.svm import LinearSVC

from bot.relevance.vocabulary import Vocabulary

BACKGROUND_SAMPLE = 400  # other stored papers used as negatives
KEPT_WEIGHTS = 400  # largest |weights| kept per profile (3.2 KB); the rest barely move a score
MARGIN = 0.0  # decision value above which a paper is on the liked side of the SVM's margin
TOP_SHARE = 0.02  # ... or, for a cautious model (few examples), among this share of the stored papers' best
HELD_OUT = 5000  # stored papers (not trained on) that set that bar
MIN_HELD_OUT = 200  # fewer than this (a small store): the bar stays at the margin
REGULARISATION = 0.1  # LinearSVC's C (arxiv-sanity-lite uses 0.01 to 0.1): strong shrinkage for few examples


@dataclass(frozen=True, slots=True)
class ProfileModel:
    """One profile's fitted weights, sparse: columns of the shared vocabulary and their weights."""

    columns: np.ndarray  # int32
    weights: np.ndarray  # float32
    intercept: float
    positives: int
    negatives: int
    threshold: float = MARGIN

    @property
    def nbytes(self) -> int:
        return int(self.columns.nbytes + self.weights.nbytes)

    def decision(self, rows: sp.csr_matrix) -> np.ndarray:
        """Decision values (signed distance to the SVM's margin; > 0: the liked side) for these rows."""
        dense = np.zeros(rows.shape[1], dtype=np.float32)
        dense[self.columns] = self.weights
        return np.asarray(rows @ dense).ravel() + self.intercept

    def words(self, vocabulary: Vocabulary, row: sp.csr_matrix, limit: int = 6) -> list[tuple[str, float]]:
        """The words behind a row's score, by contribution (TF-IDF × weight), most positive first."""
        weight_of = dict(zip(self.columns.tolist(), self.weights.tolist(), strict=True))
        coo = row.tocoo()
        parts = [
            (float(v) * weight_of[c], c)
            for c, v in zip(coo.col.tolist(), coo.data.tolist(), strict=True)
            if c in weight_of
        ]
        parts.sort(reverse=True)
        return [(str(vocabulary.words[c]), share) for share, c in parts[:limit] if share > 0]


def fit_profile(
    vocabulary: Vocabulary,
    liked: Sequence[str],
    disliked: Sequence[str] = (),
    *,
    seed: int = 0,
    background: int = BACKGROUND_SAMPLE,
) -> ProfileModel | None:
    """Fit one profile (CPU-bound: call it in a thread); None without a liked paper in the vocabulary."""
    positive = vocabulary.rows(liked)
    if positive.shape[0] == 0:
        return None
    examples = set(liked) | set(disliked)
    rng = np.random.default_rng(seed)
    shuffled = [i for i in rng.permutation(len(vocabulary)).tolist() if vocabulary.ids[i] not in examples]
    others, held_out = shuffled[:background], shuffled[background : background + HELD_OUT]
    negative = sp.vstack([vocabulary.rows(disliked), vocabulary.matrix[others]], format="csr")
    if negative.shape[0] == 0:
        return None
    x = sp.vstack([positive, negative], format="csr")
    y = np.r_[np.ones(positive.shape[0]), np.zeros(negative.shape[0])]
    model = LinearSVC(C=REGULARISATION, class_weight="balanced", max_iter=2000)
    model.fit(x, y)
    coef = model.coef_.ravel().astype(np.float32)
    nonzero = np.flatnonzero(coef)
    if nonzero.size > KEPT_WEIGHTS:
        nonzero = nonzero[np.argpartition(-np.abs(coef[nonzero]), KEPT_WEIGHTS - 1)[:KEPT_WEIGHTS]]
    nonzero.sort()
    fitted = ProfileModel(
        columns=nonzero.astype(np.int32),
        weights=coef[nonzero],
        intercept=float(model.intercept_[0]),
        positives=positive.shape[0],
        negatives=negative.shape[0],
    )
    return replace(fitted, threshold=_threshold(fitted, vocabulary.matrix[held_out]))


def _threshold(model: ProfileModel, held_out: sp.csr_matrix) -> float:
    """The score a paper must beat to be recommended: the liked side of the margin (0), or lower when the model is
    cautious (with few examples the SVM puts even good matches below 0): the score of the best TOP_SHARE of stored
    papers it was not trained on, when there are enough of them (training negatives score too low to set a bar)."""
    if held_out.shape[0] < MIN_HELD_OUT:
        return MARGIN
    return min(MARGIN, float(np.quantile(model.decision(held_out), 1 - TOP_SHARE)))


K = TypeVar("K", bound=Hashable)


class ProfileMatrix(Generic[K]):
    """Every profile's weights as one (words × profiles) sparse matrix, to score papers against all at once."""

    def __init__(self, width: int, models: dict[K, ProfileModel]) -> None:
        self.keys = list(models)
        self.column_of = {key: j for j, key in enumerate(self.keys)}
        cols = [m.columns for m in models.values()]
        data = [m.weights for m in models.values()]
        indptr = np.r_[0, np.cumsum([c.size for c in cols])].astype(np.int64)
        # CSR, not CSC: scipy's sparse product runs ~2.5x faster with both operands row-major here.
        self.weights = sp.csr_matrix(
            sp.csc_matrix(
                (
                    np.concatenate(data) if data else np.zeros(0, np.float32),
                    np.concatenate(cols) if cols else np.zeros(0, np.int32),
                    indptr,
                ),
                shape=(width, len(self.keys)),
            )
        )
        self.intercepts = np.array([m.intercept for m in models.values()], dtype=np.float32)
        self.thresholds = np.array([m.threshold for m in models.values()], dtype=np.float32)

    def score(self, rows: sp.csr_matrix) -> np.ndarray:
        """(papers × profiles) decision values: one sparse product plus the intercepts."""
        product = rows @ self.weights
        scores: np.ndarray = product.toarray()
        return scores + self.intercepts
