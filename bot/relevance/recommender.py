"""The learned side of relevance for one store: the shared vocabulary, each target's model, and their refits.

Everything CPU-bound (fitting the vocabulary, fitting a profile, scoring many papers) runs in a worker thread
(``asyncio.to_thread``), so commands and the gateway stay responsive. Models are not persisted: they are a
function of the stored examples and papers, rebuilt at start (a 200-example profile fits in a few ms).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from bot.models import Paper, Target
from bot.store import Store
from bot.store.profiles import LIKED, CorpusPaper

if TYPE_CHECKING:
    from bot.relevance.model import ProfileMatrix, ProfileModel
    from bot.relevance.vocabulary import Vocabulary

log = logging.getLogger(__name__)

CORPUS_PAPERS = 20_000  # newest stored papers the vocabulary is fitted on (and similar papers come from)
REFIT_GROWTH = 1.25  # refit the vocabulary when the stored papers grew by a quarter since the last fit
REFIT_DEBOUNCE = 2.0  # seconds of quiet after a profile's examples change before it is refitted
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Scores:
    """Decision values of some papers for every profile, from one matrix product."""

    row_of: dict[str, int]
    column_of: dict[Target, int]
    values: np.ndarray
    thresholds: np.ndarray

    def get(self, target: Target, paper_id: str) -> float | None:
        """The paper's score for the target; None when the target has no model (or the paper was not scored)."""
        column = self.column_of.get(target)
        row = self.row_of.get(paper_id)
        return None if column is None or row is None else float(self.values[row, column])

    def recommended(self, target: Target, paper_id: str) -> float | None:
        """The paper's score when it is above the target's threshold, else None."""
        score = self.get(target, paper_id)
        return score if score is not None and score > self.thresholds[self.column_of[target]] else None


@dataclass(frozen=True, slots=True)
class ScoreExplanation:
    score: float
    threshold: float
    words: list[tuple[str, float]]
    examples: int


class Recommender:
    """Fits and holds one model per target with examples; scores, ranks and explains papers with them."""

    def __init__(self, store: Store, *, corpus: int = CORPUS_PAPERS, debounce: float = REFIT_DEBOUNCE) -> None:
        self.store = store
        self.corpus = corpus
        self.debounce = debounce
        self.vocabulary: Vocabulary | None = None
        self.models: dict[Target, ProfileModel] = {}
        self._fitted_on = 0
        self._matrix: ProfileMatrix[Target] | None = None
        self._lock = asyncio.Lock()
        self._pending: dict[Target, asyncio.Task[None]] = {}
        self._built = asyncio.Event()  # the first refresh (at start) has finished, whatever its outcome

    async def ready(self) -> None:
        """Wait until the models have been rebuilt from the store at start (see :meth:`refresh`)."""
        await self._built.wait()

    async def refresh(self, new: Sequence[Paper] = (), *, wanted: bool = False) -> None:
        """Take in newly stored papers (``new``, from a poll): fit the vocabulary on the newest stored papers (and
        so refit every profile) at first and once it grew by a quarter; otherwise just add the new papers' rows.

        Until something needs the vocabulary (a target with examples, or ``wanted``: similar papers, a refit), it
        is not fitted at all: fitting imports scikit-learn and SciPy (~70 MB) and its transient peak (~150 MB at
        20,000 papers) stays with the process, which a bot whose users never use relevance would pay for nothing.
        """
        try:
            if wanted or self.vocabulary is not None or await self.store.profile_targets():
                await self._refresh(new)
        finally:
            self._built.set()

    async def _refresh(self, new: Sequence[Paper]) -> None:
        async with self._lock:
            vocabulary = self.vocabulary
            if vocabulary is not None and len(vocabulary) + len(new) < REFIT_GROWTH * self._fitted_on:
                if new:  # same columns: the models stay valid
                    self.vocabulary = await asyncio.to_thread(vocabulary.with_papers, new)
                return
            corpus = await self.store.corpus(self.corpus)
            if not corpus:
                return
            try:
                fitted = await asyncio.to_thread(_fit_vocabulary, corpus)
            except ValueError:  # no paper has a single word (only empty titles, say): nothing to learn yet
                log.warning("relevance: the %d stored papers have no words to learn from yet", len(corpus))
                return
            finally:
                del corpus  # the fit's transient memory, now all garbage, goes back to the operating system
                await asyncio.to_thread(release_freed_memory)
            models = {}
            for target in await self.store.profile_targets():
                if (model := await self._fit(target, fitted)) is not None:
                    models[target] = model
            # New columns: the vocabulary and every model are swapped together, never one without the other.
            self.vocabulary, self.models, self._matrix, self._fitted_on = fitted, models, None, len(fitted)
            log.info("relevance: vocabulary of %d papers, %d profiles", len(fitted), len(models))

    async def _fit(self, target: Target, vocabulary: Vocabulary) -> ProfileModel | None:
        examples = await self.store.profile_examples(target)
        liked = [paper for paper, label, _ in examples if label == LIKED]
        disliked = [paper for paper, label, _ in examples if label != LIKED]
        return await asyncio.to_thread(_fit_profile, vocabulary, liked, disliked, target.id % 2**32)

    async def refit(self, target: Target) -> ProfileModel | None:
        """Refit one target's model from its examples now (None when it has no liked paper left). Waits for a
        vocabulary refit in progress, so the model always indexes the current vocabulary's columns."""
        if self.vocabulary is None:
            await self.refresh(wanted=True)  # fitted now, with every target's model from its current examples
            if self.vocabulary is not None:
                return self.models.get(target)
        async with self._lock:
            if self.vocabulary is None:
                return None
            model = await self._fit(target, self.vocabulary)
            if model is None:
                self.models = {k: m for k, m in self.models.items() if k != target}
            else:
                self.models = {**self.models, target: model}  # a new dict: a poll scoring meanwhile keeps its own
            self._matrix = None
            return model

    def schedule_refit(self, target: Target) -> None:
        """Refit after ``debounce`` seconds without another change to this target's examples (feedback clicks)."""
        if (task := self._pending.pop(target, None)) is not None:
            task.cancel()

        async def later() -> None:
            await asyncio.sleep(self.debounce)
            self._pending.pop(target, None)
            await self.refit(target)

        self._pending[target] = asyncio.create_task(later(), name=f"paperbot-refit-{target.id}")

    def close(self) -> None:
        """Cancel pending refits."""
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()

    # -- using the models -------------------------------------------------------------------------------

    def has_profile(self, target: Target) -> bool:
        return target in self.models

    async def score(self, papers: Sequence[Paper]) -> Scores:
        """Every profile's scores for these papers, as one sparse product in a worker thread."""
        vocabulary = self.vocabulary
        if vocabulary is None or not papers or not self.models:
            return Scores({}, {}, np.zeros((0, 0), np.float32), np.zeros(0, np.float32))
        models, cached = self.models, self._matrix

        def run() -> tuple[ProfileMatrix[Target], np.ndarray]:
            from bot.relevance.model import ProfileMatrix

            matrix = cached or ProfileMatrix(vocabulary.matrix.shape[1], models)  # 10,000 profiles: ~0.2 s
            return matrix, matrix.score(vocabulary.transform(papers))

        matrix, values = await asyncio.to_thread(run)
        if self.models is models and self._matrix is None:  # no refit meanwhile: keep it for the next poll
            self._matrix = matrix
        return Scores(
            {p.id: i for i, p in enumerate(papers)},
            {key: j for j, key in enumerate(matrix.keys)},
            values,
            matrix.thresholds,
        )

    def rank(self, target: Target, papers: Sequence[Paper]) -> list[Paper] | None:
        """Papers best first by the target's model (ties: upvotes, then recency); None without a model."""
        model, vocabulary = self.models.get(target), self.vocabulary
        if model is None or vocabulary is None or not papers:
            return None
        scores = model.decision(vocabulary.transform(papers)).tolist()
        order = sorted(
            range(len(papers)),
            key=lambda i: (-round(scores[i], 6), -papers[i].upvotes, -(papers[i].first_seen_at or _EPOCH).timestamp()),
        )
        return [papers[i] for i in order]

    def explain(self, target: Target, paper: Paper) -> ScoreExplanation | None:
        """A paper's score for the target and the words behind it; None without a model."""
        model, vocabulary = self.models.get(target), self.vocabulary
        if model is None or vocabulary is None:
            return None
        row = vocabulary.transform([paper])
        return ScoreExplanation(
            float(model.decision(row)[0]), model.threshold, model.words(vocabulary, row), model.positives
        )

    async def similar(self, paper: Paper, limit: int) -> list[tuple[str, float, list[str]]]:
        """The stored papers most like ``paper``: (id, cosine, shared words), best first."""
        if self.vocabulary is None:
            await self.refresh(wanted=True)  # the first use fits it (a few seconds at 20,000 papers)
        vocabulary = self.vocabulary
        if vocabulary is None:
            return []
        return await asyncio.to_thread(vocabulary.similar, paper, limit)


# scikit-learn and SciPy take seconds to import on a busy machine: they are imported on first use, in a worker
# thread, so the bot starts (and answers commands) without waiting for them.


def _fit_vocabulary(corpus: Sequence[CorpusPaper]) -> Vocabulary:
    from bot.relevance.vocabulary import Vocabulary, relevance_text

    texts = [relevance_text(p.title, p.abstract, p.ai_keywords) for p in corpus]
    return Vocabulary.fit_texts([p.id for p in corpus], texts)


def release_freed_memory() -> None:
    """Give the heap's free pages back to the operating system (glibc's ``malloc_trim``; elsewhere nothing).

    Fitting the vocabulary allocates and frees ~100 MB at 20,000 papers; glibc keeps freed memory for reuse, so
    without this the process stays that much larger (resident) for good."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (TypeError: no CDLL(None) on Windows)
        return
    trim(0)


def _fit_profile(vocabulary: Vocabulary, liked: list[str], disliked: list[str], seed: int) -> ProfileModel | None:
    from bot.relevance.model import fit_profile

    return fit_profile(vocabulary, liked, disliked, seed=seed)
