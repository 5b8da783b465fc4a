import asyncio
import itertools
import random

import pytest

from bot import pacing
from bot.pacing import FairSlots, RatePacer


class _LateClock:
    """A fake monotonic clock whose sleeps overshoot by a chosen lag, as a busy event loop's do."""

    def __init__(self, lags):
        self.now = 100.0
        self.lags = iter(lags)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + next(self.lags, 0.0)


def _busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def _turns(pacer: RatePacer, clock: _LateClock, n: int, stall_every: int = 0) -> list[float]:
    times = []
    for i in range(n):
        if stall_every and i % stall_every == 0:
            clock.now += 0.7  # the loop was busy elsewhere
        await pacer.acquire()
        times.append(clock.now)
    return times


async def test_late_wakeups_do_not_lower_the_rate(monkeypatch):
    clock = _LateClock([0.002] * 1000)
    monkeypatch.setattr(pacing.asyncio, "sleep", clock.sleep)
    times = await _turns(RatePacer(48, clock), clock, 481)
    assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(48, rel=0.005)
    assert _busiest_second(times) <= 49


async def test_no_second_holds_more_than_rate_plus_one_whatever_the_lag(monkeypatch):
    rng = random.Random(4)
    clock = _LateClock([rng.choice([0.0, 0.001, 0.004, 0.02, 0.3]) for _ in range(2000)])
    monkeypatch.setattr(pacing.asyncio, "sleep", clock.sleep)
    times = await _turns(RatePacer(48, clock), clock, 600, stall_every=97)
    assert _busiest_second(times) <= 49
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.75 / 48 - 1e-9


async def test_owners_take_turns_for_a_free_slot():
    slots = FairSlots(1)
    served: list[str] = []

    async def work(owner: str, name: str) -> None:
        async with slots.turn(owner):
            served.append(name)
            await asyncio.sleep(0)

    await asyncio.gather(*(work("big", f"big{n}") for n in range(4)), work("small", "small0"))
    assert served == ["big0", "big1", "small0", "big2", "big3"]


async def test_a_cancelled_waiter_leaves_no_slot_behind():
    slots = FairSlots(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.turn("a"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    async with asyncio.timeout(1), slots.turn("b"):
        pass


async def test_a_slot_granted_as_its_waiter_is_cancelled_passes_on():
    slots = FairSlots(1)
    served: list[str] = []

    async def take(name: str) -> None:
        async with slots.turn(name):
            served.append(name)

    async with slots.turn("first"):
        unlucky, last = asyncio.create_task(take("unlucky")), asyncio.create_task(take("last"))
        await asyncio.sleep(0)
    unlucky.cancel()  # its slot was handed over on leaving the block, but the task has not run since
    async with asyncio.timeout(1):
        await asyncio.gather(unlucky, last, return_exceptions=True)
    assert served == ["last"] and unlucky.cancelled()
