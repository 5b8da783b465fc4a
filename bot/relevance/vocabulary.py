"""One TF-IDF vocabulary over the stored papers, shared by every profile and by "similar papers".

Sharing one fitted ``TfidfVectorizer`` (rather than one per profile, or hashing) puts every profile's weights in
the same column space, so a day's papers are scored against all profiles as one sparse matrix product, and every
column has a word to explain a score with. It is refitted rarely (at start, and when the stored papers grew by a
quarter); profiles are refitted after it, since their weights index its columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.models import Paper

MAX_FEATURES = 30_000  # words kept; more only adds rare terms no profile can learn from
SIMILAR_LIMIT = 10


def paper_text(paper: Paper) -> str:
    """What a paper's relevance is computed from: title (twice: it says most), abstract, HF keywords."""
    return relevance_text(paper.title, paper.abstract, paper.ai_keywords)


def relevance_text(title: str, abstract: str, keywords: Sequence[str]) -> str:
    """:func:`paper_text` from the fields alone (the store's corpus rows are not whole papers)."""
    return " ".join((title, title, abstract, " ".join(keywords)))


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(
        stop_words="english",
        ngram_range=(1, 1),
        max_features=MAX_FEATURES,
        min_df=1,
        max_df=0.5,  # words in half the papers ("model", "paper") tell no topic apart
        sublinear_tf=True,
        dtype=np.float32,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b",
    )


@dataclass
class Vocabulary:
    """A fitted vectorizer plus the stored papers' rows (L2-normalised, so a dot product is a cosine)."""

    vectorizer: TfidfVectorizer
    ids: list[str]
    matrix: sp.csr_matrix  # stored papers × words
    words: np.ndarray
    row_of: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, papers: Sequence[Paper]) -> Vocabulary:
        """Fit on ``papers`` (CPU-bound: call it in a thread). Needs at least one paper with a word in it."""
        return cls.fit_texts([p.id for p in papers], [paper_text(p) for p in papers])

    @classmethod
    def fit_texts(cls, ids: list[str], texts: Sequence[str]) -> Vocabulary:
        """Fit on papers given as their ids and :func:`paper_text` (as :meth:`fit`)."""
        vectorizer = _vectorizer()
        try:
            matrix = sp.csr_matrix(vectorizer.fit_transform(texts))
        except ValueError:  # every word was a stop word, or too common: fall back to keeping them all
            vectorizer.set_params(max_df=1.0, stop_words=None)
            matrix = sp.csr_matrix(vectorizer.fit_transform(texts))
        return cls(vectorizer, ids, matrix, vectorizer.get_feature_names_out(), {pid: i for i, pid in enumerate(ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def transform(self, papers: Sequence[Paper]) -> sp.csr_matrix:
        """Rows for papers (stored or not) in this vocabulary's columns."""
        return sp.csr_matrix(self.vectorizer.transform([paper_text(p) for p in papers]))

    def rows(self, ids: Sequence[str]) -> sp.csr_matrix:
        """The stored rows of these ids (unknown ids are skipped)."""
        return self.matrix[[self.row_of[i] for i in ids if i in self.row_of]]

    def similar(self, paper: Paper, limit: int = SIMILAR_LIMIT) -> list[tuple[str, float, list[str]]]:
        """The stored papers most like ``paper`` (TF-IDF cosine), best first, not itself: (id, cosine, the
        words they share that weigh most)."""
        row = self.matrix[self.row_of[paper.id]] if paper.id in self.row_of else self.transform([paper])
        cosines = np.asarray((self.matrix @ row.T).todense()).ravel()
        if paper.id in self.row_of:
            cosines[self.row_of[paper.id]] = 0.0
        count = min(limit, int(np.count_nonzero(cosines > 0)))
        if count == 0:
            return []
        best = np.argpartition(-cosines, count - 1)[:count]
        best = best[np.argsort(-cosines[best], kind="stable")]
        return [(self.ids[i], float(cosines[i]), self.shared_words(row, self.matrix[i])) for i in best]

    def shared_words(self, a: sp.csr_matrix, b: sp.csr_matrix, limit: int = 5) -> list[str]:
        """The words two rows share, by how much each adds to their cosine."""
        product = a.multiply(b).tocoo()
        order = np.argsort(-product.data, kind="stable")[:limit]
        return [str(self.words[product.col[i]]) for i in order]

    def with_papers(self, papers: Sequence[Paper]) -> Vocabulary:
        """A copy that also holds these papers' rows (in the same columns); papers already held are skipped."""
        new = [p for p in dict((p.id, p) for p in papers).values() if p.id not in self.row_of]
        if not new:
            return self
        ids = [*self.ids, *(p.id for p in new)]
        matrix = sp.csr_matrix(sp.vstack([self.matrix, self.transform(new)], format="csr"))
        return Vocabulary(self.vectorizer, ids, matrix, self.words, {pid: i for i, pid in enumerate(ids)})
