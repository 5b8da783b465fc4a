"""Workload sizes for the full run and the ``--quick`` run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    subscriptions: int  # stored queries in the index / database
    day_papers: int  # figure 1: one arXiv day
    day_repeats: int  # figure 1: timed runs (fresh papers each), median reported
    brute_sample: int  # figure 1: papers checked by brute force, extrapolated to the day
    poll_papers: int  # figure 2: one HF poll
    poll_batches: int  # figure 2: timed polls (fresh papers each), median reported
    perq_docs: int  # figure 3: documents matched by both engines
    channels: int  # figure 4: channels, one match-everything subscription each
    delivery_papers: int  # figure 4: papers queued for every channel
    stored_papers: int  # figures 5-6: papers in the database
    invocations: int  # figure 5: timed invocations per command

    @property
    def quick(self) -> bool:
        return self.name == "quick"


FULL = Scale(
    name="full",
    subscriptions=100_000,
    day_papers=2_500,
    day_repeats=3,
    brute_sample=40,
    poll_papers=10,
    poll_batches=30,
    perq_docs=1_000,
    channels=60,
    delivery_papers=100,
    stored_papers=200_000,
    invocations=50,
)
QUICK = Scale(
    name="quick",
    subscriptions=20_000,
    day_papers=500,
    day_repeats=2,
    brute_sample=15,
    poll_papers=10,
    poll_batches=20,
    perq_docs=300,
    channels=60,
    delivery_papers=20,
    stored_papers=20_000,
    invocations=20,
)


def count(n: int) -> str:
    """``100000`` → ``100k``, ``2500`` → ``2,500``."""
    return f"{n // 1000}k" if n >= 10_000 and n % 1000 == 0 else f"{n:,}"
