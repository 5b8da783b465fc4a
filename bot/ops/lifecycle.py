"""Run the bot until SIGTERM or SIGINT, then stop it gracefully.

``docker stop`` sends SIGTERM and kills the process 10 s later. On either signal the bot stops taking new
work, lets an in-flight poll or delivery batch finish (``PaperBot.close`` waits at most
``SHUTDOWN_GRACE_SECONDS``), closes the gateway and then the database, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Protocol

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long a thread may hold the interpreter lock while another waits for it (Python's default: 5 ms). Worker
# threads run pure-Python work (loading the index, exact matching, decoding rows) while the event loop waits for
# the lock after every poll of its sockets; at 5 ms per hand-over the loop ran 10-20 ms late through a 100,000-
# subscription index load, at 1 ms 5-7 ms, with the load taking as long (benchmarks/RESULTS.md, row 7a).
LOOP_SWITCH_INTERVAL = 0.001


class Closable(Protocol):
    """What :func:`serve` needs of the bot."""

    async def start(self, token: str) -> None: ...

    async def close(self) -> None: ...


def favour_the_loop() -> None:
    """Make worker threads hand the interpreter lock back to the event loop within :data:`LOOP_SWITCH_INTERVAL`."""
    sys.setswitchinterval(LOOP_SWITCH_INTERVAL)


async def serve(bot: Closable, token: str) -> None:
    """Run ``bot`` until it stops by itself (a login failure is raised) or a stop signal arrives."""
    favour_the_loop()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    running = asyncio.create_task(bot.start(token), name="paperbot-client")
    stopping = asyncio.create_task(stop.wait(), name="paperbot-stop-signal")
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if received:
            log.info("%s received: finishing in-flight work, then stopping", received[0].name)
        started = loop.time()
        await bot.close()
        await asyncio.wait({running})
        if received:
            log.info("stopped cleanly in %.1fs", loop.time() - started)
        running.result()  # a login failure or crash surfaces here
    finally:
        stopping.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
