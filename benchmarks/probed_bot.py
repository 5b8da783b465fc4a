"""``python -m benchmarks.probed_bot run --config PATH``: ``paperbot run`` with a lag probe on its event loop.

The probe's ticks go to the file named by ``$PAPERBOT_LAG_FILE`` (see :mod:`benchmarks.lag`). Nothing else
differs from ``python -m bot run``: the probe is started by an event-loop policy, so the bot's code is untouched.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from benchmarks.lag import LagProbe
from bot.__main__ import main

_probes: list[asyncio.Task[None]] = []  # the loop holds tasks weakly


class _ProbedLoops(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        probe = LagProbe(path=Path(os.environ["PAPERBOT_LAG_FILE"]))
        loop.call_soon(lambda: _probes.append(loop.create_task(probe.run())))
        return loop


if __name__ == "__main__":
    asyncio.set_event_loop_policy(_ProbedLoops())
    sys.exit(main(sys.argv[1:]))
