"""Fault injection: the next N matching requests fail, seeded random failures, errors after the request
took effect, and channels whose message posts always fail."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.devtools.emulator.core import EmulatorCore
from bot.devtools.emulator.protocol import ERROR_MESSAGES


@dataclass
class InjectedFault:
    """A queued error for requests matching ``method`` and ``pattern``."""

    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    remaining: int
    retry_after: float
    global_: bool


@dataclass
class RandomFaults:
    """State of ``fail_randomly``: one RNG drives both the "fail?" and the "which fault?" draws."""

    method: str
    pattern: re.Pattern[str]
    rate: float
    faults: tuple[tuple[int, int], ...]
    rng: random.Random
    retry_after: float
    limit: int | None
    injected: int = 0


class FaultInjection(EmulatorCore):
    """Queues and draws the errors the REST plumbing answers instead of (or after) a route's handler."""

    def __init__(self) -> None:
        super().__init__()
        self._faults: list[InjectedFault] = []
        self._after_create_faults: list[InjectedFault] = []
        self._random_faults: RandomFaults | None = None
        self._channel_errors: dict[int, tuple[int, int, str]] = {}
        #: (method, path, status) of every injected fault (``fail_next``, ``fail_randomly``,
        #: ``fail_after_create_next``), in order.
        self.injected_faults: list[tuple[str, str, int]] = []

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int,
        code: int = 0,
        message: str = "",
        times: int = 1,
        retry_after: float = 0.05,
        global_: bool = False,
    ) -> None:
        """Answer the next ``times`` requests with that method (``*`` = any) whose path (without
        /api/v10) fully matches ``path_pattern`` with this error, without letting them take effect (no
        message is created). 429s carry what discord.py needs to retry (JSON body with ``retry_after`` and
        ``global``, ``Via``, ``X-RateLimit-*`` with scope "user"); with ``global_=True`` the body says
        ``"global": true`` and the headers ``X-RateLimit-Global: true`` / ``X-RateLimit-Scope: global``, and
        discord.py holds back every new request (any route) until ``retry_after`` has passed.
        Other statuses get ``{"message", "code"}``. Checked before ``fail_randomly``."""
        self._faults.append(
            InjectedFault(method.upper(), re.compile(path_pattern), status, code, message, times, retry_after, global_)
        )

    def fail_after_create_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 502,
        times: int = 1,
        *,
        code: int = 0,
        message: str = "",
    ) -> None:
        """Let the next ``times`` matching requests take effect (the message is created, the edit applied)
        and then answer them with this error -- Discord timing out after it committed. discord.py retries
        500/502/504 (after 1 s, 3 s, ...); a message POST retried with the same nonce (discord.py sends a
        random one with every ``send`` and ``enforce_nonce``) gets the existing message back, a retry
        without a nonce creates a duplicate. Only requests the emulator would have answered with a 2xx are
        turned into errors, and only they use up ``times``."""
        self._after_create_faults.append(
            InjectedFault(method.upper(), re.compile(path_pattern), status, code, message, times, 0.05, False)
        )

    def fail_randomly(
        self,
        method: str,
        path_pattern: str,
        *,
        rate: float,
        faults: Sequence[tuple[int, int]] = ((429, 0), (502, 0)),
        seed: int = 0,
        retry_after: float = 0.05,
        limit: int | None = None,
    ) -> None:
        """Fail matching requests at random, reproducibly. Each request with that method (``*`` = any) whose
        path (without /api/v10) fully matches ``path_pattern`` fails with probability ``rate``; the fault,
        one ``(status, code)`` of ``faults``, is picked by the same ``random.Random(seed)``, so the same
        sequence of matching requests gets the same faults. Failed requests take no effect (nothing is
        created). 429s look like ``fail_next``'s (``retry_after``, ``Via``, ``X-RateLimit-*``, scope
        "user"); other statuses get a JSON ``{"message", "code"}`` body. ``limit``: inject at most that many
        faults. Replaces an earlier ``fail_randomly``; ``fail_next`` faults are served first. Every injected
        fault is appended to ``injected_faults``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        if not faults:
            raise ValueError("faults must not be empty")
        for status, _code in faults:
            if status < 400:
                raise ValueError(f"a fault needs an error status, not {status}")
        self._random_faults = RandomFaults(
            method.upper(),
            re.compile(path_pattern),
            rate,
            tuple((int(s), int(c)) for s, c in faults),
            random.Random(seed),
            retry_after,
            limit,
        )

    def stop_failing_randomly(self) -> None:
        """Turn ``fail_randomly`` off (``injected_faults`` keeps the record)."""
        self._random_faults = None

    def set_channel_error(self, channel_id: int, status: int, code: int, message: str = "") -> None:
        """Every message post to that channel fails with this error until cleared."""
        self._channel_errors[channel_id] = (status, code, message or ERROR_MESSAGES.get(code, "Error"))

    def clear_channel_error(self, channel_id: int) -> None:
        """Let message posts to that channel through again."""
        self._channel_errors.pop(channel_id, None)

    @staticmethod
    def _take_fault(faults: list[InjectedFault], method: str, path: str) -> InjectedFault | None:
        for fault in faults:
            if fault.remaining > 0 and fault.method in ("*", method) and fault.pattern.fullmatch(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None

    def _take_random_fault(self, method: str, path: str) -> InjectedFault | None:
        rf = self._random_faults
        if rf is None or (rf.limit is not None and rf.injected >= rf.limit):
            return None
        if rf.method not in ("*", method) or not rf.pattern.fullmatch(path):
            return None
        if rf.rng.random() >= rf.rate:
            return None
        status, code = rf.faults[rf.rng.randrange(len(rf.faults))]
        rf.injected += 1
        return InjectedFault(rf.method, rf.pattern, status, code, "", 1, rf.retry_after, False)
