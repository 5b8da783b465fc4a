"""Papers on distinct topics, for relevance tests: their words tell them apart, as real abstracts do."""

from __future__ import annotations

import random

from bot.models import Paper
from tests.conftest import make_paper

TOPICS = {
    "diffusion": "diffusion denoising image generation sampler latent score noise schedule pixels guidance",
    "robots": "robot manipulation grasping policy reinforcement reward locomotion controller embodied arm",
    "proteins": "protein folding structure residues molecular binding enzyme sequence biology docking",
    "speech": "speech audio recognition acoustic speaker waveform phoneme transcription voice prosody",
}
COMMON = "we propose method results show approach novel framework experiments benchmark performance"


def topic_paper(n: int, topic: str, seed: int = 0, upvotes: int = 0) -> Paper:
    """Paper ``n`` on ``topic``: a title and abstract mixing its words with common ones (deterministic)."""
    rng = random.Random(f"{topic}-{n}-{seed}")
    words = TOPICS[topic].split()
    title = " ".join(rng.sample(words, 4)).capitalize()
    abstract = " ".join(rng.choice(words) if rng.random() < 0.5 else rng.choice(COMMON.split()) for _ in range(40))
    return make_paper(n, title=title, abstract=abstract, upvotes=upvotes)


def corpus(per_topic: int = 30, start: int = 1) -> dict[str, list[Paper]]:
    """``per_topic`` papers of each topic, numbered from ``start`` without overlaps."""
    out: dict[str, list[Paper]] = {}
    n = start
    for topic in TOPICS:
        out[topic] = [topic_paper(n + i, topic) for i in range(per_topic)]
        n += per_topic
    return out
