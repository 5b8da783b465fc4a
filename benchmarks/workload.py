"""Reproducible benchmark workloads built from the seed vocabulary (the 71 fixture titles and abstracts).

Everything here is a pure function of a seed: the same seed gives the same queries and papers, so runs
on different machines or commits measure the same work.

Queries imitate what people subscribe to: a few content words (not stopwords), real phrases that occur
in the fixture text, ORs, groups, fields (``ti:``, ``abs:``, ``au:``, ``cat:``), negations and prefixes.
Papers have real-length abstracts made of shuffled fixture sentences, titles recombined from fixture
titles, authors recombined from fixture names, and arXiv categories.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from bot.devtools.fakes.huggingface import fixture_items
from bot.matching import And, Node, Or, Query, Term, parse_query
from bot.matching.nodes import Field
from bot.matching.text import normalize, split_tokens, stem
from bot.models import Paper

CATEGORIES = ("cs.CL", "cs.LG", "cs.CV", "cs.AI", "cs.IR", "stat.ML", "cs.RO", "cs.SE", "eess.AS", "cs.HC")
# Rough shares of ML listings per primary category.
CATEGORY_WEIGHTS = (30, 25, 20, 10, 4, 4, 3, 2, 1, 1)

# Words nobody subscribes to on their own (and that the parser would treat as operators).
_STOPWORDS_TEXT = """
    a an and are as at be been but by can do does for from has have how in into is it its not of on or our
    such that the their them then there these they this those to was we were what when where which while
    with within without also both each more most other than through over under between among us via may
    using use used based new show shows shown propose proposed paper approach method methods results work
    however further well one two three first second different various many across only able thus
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class Vocabulary:
    """What the generators draw from, all taken from the fixture."""

    words: tuple[str, ...]  # content words, by descending document frequency
    word_weights: tuple[float, ...]
    phrases: tuple[str, ...]  # adjacent word pairs/triples that occur at least twice
    title_words: tuple[str, ...]
    sentences: tuple[str, ...]
    abstract_lengths: tuple[int, ...]
    titles: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    keywords: tuple[str, ...]


@cache
def vocabulary() -> Vocabulary:
    """Extract the seed vocabulary from the fixture (deterministic: no randomness here)."""
    items = [item["paper"] for item in fixture_items()]
    doc_freq: Counter[str] = Counter()
    pair_freq: Counter[str] = Counter()
    title_words: set[str] = set()
    sentences: list[str] = []
    for paper in items:
        text = f"{paper['title']}. {paper['summary']}"
        tokens = split_tokens(normalize(text))
        doc_freq.update(set(tokens))
        for size in (2, 3):
            grams = {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
            pair_freq.update(g for g in grams if not any(w in STOPWORDS or w.isdigit() for w in g.split()))
        title_words.update(t for t in split_tokens(normalize(paper["title"])) if _content(t))
        sentences.extend(s.strip() for s in SENTENCE_RE.split(" ".join(paper["summary"].split())) if len(s) > 30)
    # Content words: not stopwords, not numbers, at least 3 letters, and not in more than 40% of papers
    # (nobody subscribes to "learning" alone; such words still appear inside phrases).
    limit = 0.4 * len(items)
    words = sorted((w for w in doc_freq if _content(w) and doc_freq[w] <= limit), key=lambda w: (-doc_freq[w], w))
    # Every content word is equally likely: subscriptions name specific topics, and in a real listing
    # most words of the vocabulary are rare.
    weights = tuple(1.0 for _ in words)
    phrases = sorted((p for p, n in pair_freq.items() if n >= 2), key=lambda p: (-pair_freq[p], p))
    names = [a["name"] for paper in items for a in paper.get("authors") or []]
    firsts = sorted({n.split()[0] for n in names if len(n.split()) >= 2})
    lasts = sorted({n.split()[-1] for n in names if len(n.split()) >= 2})
    keywords = sorted({k for paper in items for k in paper.get("ai_keywords") or []})
    return Vocabulary(
        words=tuple(words),
        word_weights=weights,
        phrases=tuple(phrases),
        title_words=tuple(sorted(title_words)),
        sentences=tuple(sentences),
        abstract_lengths=tuple(len(p["summary"]) for p in items),
        titles=tuple(p["title"] for p in items),
        first_names=tuple(firsts),
        last_names=tuple(lasts),
        keywords=tuple(keywords),
    )


def _content(word: str) -> bool:
    return len(word) >= 3 and word not in STOPWORDS and not word.isdigit() and word.isalnum()


# -- queries ------------------------------------------------------------------------------------------


class QueryGenerator:
    """Draws realistic subscription queries from the seed vocabulary."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary()
        self._word_cum = _cumulative(self.vocab.word_weights)

    def word(self) -> str:
        return self.rng.choices(self.vocab.words, cum_weights=self._word_cum)[0]

    def phrase(self) -> str:
        return f'"{self.rng.choice(self.vocab.phrases)}"'

    def item(self) -> str:
        """A word (mostly) or a phrase."""
        return self.phrase() if self.rng.random() < 0.25 else self.word()

    def prefix(self) -> str:
        word = self.rng.choice([w for w in (self.word() for _ in range(8)) if len(w) >= 6] or ["transform"])
        return word[: self.rng.randint(4, min(7, len(word) - 1))] + "*"

    def author(self) -> str:
        if self.rng.random() < 0.2:
            return f"au:{self.rng.choice(self.vocab.last_names).lower()}"
        return f'au:"{self.rng.choice(self.vocab.first_names)} {self.rng.choice(self.vocab.last_names)}"'

    def category(self) -> str:
        if self.rng.random() < 0.2:
            return f"cat:{self.rng.choice(('cs', 'stat', 'eess'))}.*"
        return f"cat:{self.rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]}"

    def query(self) -> str:
        """One query; the mix of shapes is fixed (see the weights below)."""
        rng = self.rng
        shape = rng.choices(_SHAPES, weights=[w for _, w in _SHAPE_WEIGHTS])[0]
        text = shape(self)
        if rng.random() < 0.08:  # negations ride on any shape
            text += f" -{self.word()}" if rng.random() < 0.6 else f" NOT {self.item()}"
        return text

    def queries(self, count: int) -> list[Query]:
        """``count`` parsed queries (a text the parser rejects is replaced by the next one)."""
        out: list[Query] = []
        while len(out) < count:
            try:
                out.append(parse_query(self.query()))
            except ValueError:
                continue
        return out


def _words(g: QueryGenerator) -> str:
    return " ".join(g.word() for _ in range(g.rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]))


def _phrase(g: QueryGenerator) -> str:
    return g.phrase() + (f" {g.word()}" if g.rng.random() < 0.3 else "")


def _or(g: QueryGenerator) -> str:
    return " OR ".join(g.item() for _ in range(g.rng.choices((2, 3, 4), weights=(60, 30, 10))[0]))


def _group(g: QueryGenerator) -> str:
    left = " OR ".join(g.item() for _ in range(g.rng.choice((2, 3))))
    return f"({left}) {g.item()}" if g.rng.random() < 0.6 else f"{g.item()} ({left})"


def _field(g: QueryGenerator) -> str:
    name = g.rng.choice(("ti", "ti", "abs", "title", "abstract"))
    term = g.rng.choice(g.vocab.title_words) if name.startswith("ti") else g.word()
    if g.rng.random() < 0.3:
        return f"{name}:{g.phrase()}"
    return f"{name}:{term}" + (f" {g.word()}" if g.rng.random() < 0.4 else "")


def _author(g: QueryGenerator) -> str:
    return g.author() + (f" {g.item()}" if g.rng.random() < 0.4 else "")


def _category(g: QueryGenerator) -> str:
    return f"{g.category()} {g.item()}" + (f" {g.word()}" if g.rng.random() < 0.3 else "")


def _prefix(g: QueryGenerator) -> str:
    return g.prefix() + (f" {g.word()}" if g.rng.random() < 0.5 else "")


_SHAPE_WEIGHTS: tuple[tuple[Callable[[QueryGenerator], str], int], ...] = (
    (_words, 34),
    (_phrase, 14),
    (_or, 13),
    (_group, 9),
    (_field, 10),
    (_author, 6),
    (_category, 8),
    (_prefix, 6),
)
_SHAPES = [shape for shape, _ in _SHAPE_WEIGHTS]


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def generate_queries(count: int, seed: int = 1) -> list[Query]:
    return QueryGenerator(seed).queries(count)


# -- term-only subset (for perq) ---------------------------------------------------------------------


def term_only_cnf(root: Node) -> list[list[str]] | None:
    """The query as AND-of-OR clauses of stems, if it is made only of bare single words with AND/OR.

    Returns None for anything else (phrases, fields, prefixes, negations). Bare words are stemmed by
    our matcher, so the clauses hold stems and the documents given to perq must hold stems too: then
    both engines decide exactly the same thing.
    """
    if isinstance(root, Term):
        if root.field is not Field.TEXT or root.prefix or not root.stemmed or len(root.tokens) != 1:
            return None
        return [[stem(root.tokens[0])]]
    if isinstance(root, And):
        clauses: list[list[str]] = []
        for child in root.children:
            sub = term_only_cnf(child)
            if sub is None:
                return None
            clauses.extend(sub)
        return clauses
    if isinstance(root, Or):
        # (A1 ∧ A2) ∨ (B1) = (A1 ∨ B1) ∧ (A2 ∨ B1): distribute (queries are small).
        result: list[list[str]] = [[]]
        for child in root.children:
            sub = term_only_cnf(child)
            if sub is None:
                return None
            result = [sorted(set(left) | set(right)) for left in result for right in sub]
        return result
    return None


# -- papers -------------------------------------------------------------------------------------------

EPOCH = datetime(2025, 3, 3, tzinfo=UTC)


class PaperGenerator:
    """Papers with real-length abstracts of shuffled fixture sentences (ids are unique per generator)."""

    def __init__(self, seed: int, id_block: int = 0) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary()
        self.id_block = id_block
        self.count = 0

    def title(self) -> str:
        rng = self.rng
        first, second = rng.sample(self.vocab.titles, 2)
        if ":" in first and rng.random() < 0.7:
            head = first.split(":", 1)[0]
            tail = second.split(":", 1)[-1].strip()
            return f"{head}: {tail}"
        words = second.split()
        cut = rng.randint(max(1, len(words) // 3), max(1, len(words) - 1))
        return " ".join(first.split()[: max(2, cut)] + words[cut:])

    def abstract(self) -> str:
        rng = self.rng
        target = rng.choice(self.vocab.abstract_lengths)
        parts: list[str] = []
        size = 0
        while size < target:
            sentence = rng.choice(self.vocab.sentences)
            parts.append(sentence)
            size += len(sentence) + 1
        return " ".join(parts)

    def authors(self) -> tuple[str, ...]:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4, 5, 6, 8, 12), weights=(5, 12, 18, 20, 16, 12, 10, 7))[0]
        return tuple(f"{rng.choice(self.vocab.first_names)} {rng.choice(self.vocab.last_names)}" for _ in range(count))

    def categories(self) -> tuple[str, ...]:
        rng = self.rng
        primary = rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
        extra = rng.sample(CATEGORIES, rng.choice((0, 0, 1, 1, 2)))
        return tuple(dict.fromkeys([primary, *extra]))

    def paper(self) -> Paper:
        rng = self.rng
        number = self.id_block * 100_000 + self.count
        self.count += 1
        paper_id = f"{2400 + number // 100_000 % 100:04d}.{number % 100_000:05d}"
        keywords = tuple(rng.sample(self.vocab.keywords, rng.choice((0, 0, 3, 5)))) if self.vocab.keywords else ()
        return Paper(
            id=paper_id,
            title=self.title(),
            abstract=self.abstract(),
            authors=self.authors(),
            categories=self.categories(),
            source="huggingface",
            url=f"https://huggingface.co/papers/{paper_id}",
            pdf_url=f"https://arxiv.org/pdf/{paper_id}",
            upvotes=rng.choice((0, 1, 2, 3, 5, 8, 13, 30)),
            ai_keywords=keywords,
            published_at=EPOCH + timedelta(minutes=number),
        )

    def papers(self, count: int) -> list[Paper]:
        return [self.paper() for _ in range(count)]

    def stream(self) -> Iterator[Paper]:
        while True:
            yield self.paper()


def hf_item(paper: Paper) -> dict[str, Any]:
    """A paper in the shape of a Hugging Face ``/api/daily_papers`` item (for the fake HF server)."""
    published = (paper.published_at or EPOCH).isoformat().replace("+00:00", "Z")
    return {
        "paper": {
            "id": paper.id,
            "title": paper.title,
            "summary": paper.abstract,
            "authors": [{"_id": f"a{i}", "name": name, "hidden": False} for i, name in enumerate(paper.authors)],
            "publishedAt": published,
            "upvotes": paper.upvotes,
            "discussionId": paper.id.replace(".", ""),
            "ai_keywords": list(paper.ai_keywords),
        },
        "publishedAt": published,
        "title": paper.title,
        "summary": paper.abstract,
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{paper.id}.png",
        "numComments": 0,
        "submittedBy": {"name": "bench", "fullname": "Benchmark"},
    }
