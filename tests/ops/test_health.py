"""/healthz's verdict from the gateway's and the sources' state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, settings_from_dict
from bot.models import SourceState
from bot.ops.health import SourceCheck, health_problems
from tests.conftest import T0


def _state(last_success=None, failures=0, error=None) -> SourceState:
    return SourceState(
        source="huggingface",
        last_attempt_at=T0,
        last_success_at=last_success,
        consecutive_failures=failures,
        last_error=error,
        successes=1 if last_success else 0,
        degraded=False,
        next_attempt_at=None,
    )


def test_healthy_when_connected_and_every_source_polled_within_three_intervals():
    recent = SourceCheck("huggingface", 60, _state(T0 - timedelta(seconds=170)))
    assert health_problems(connected=True, sources=[recent], now=T0, started_at=T0 - timedelta(hours=1)) == []


def test_gateway_down_and_a_stale_source_say_why():
    stale = SourceCheck("arxiv", 60, _state(T0 - timedelta(seconds=181), failures=4, error="HTTP 503"))
    problems = health_problems(connected=False, sources=[stale], now=T0, started_at=T0 - timedelta(hours=1))
    assert problems[0] == "gateway: not connected to Discord"
    assert problems[1].startswith("arxiv: no successful poll since") and "4 failure(s)" in problems[1]
    assert "HTTP 503" in problems[1]


def test_a_fresh_start_has_three_intervals_for_the_first_poll():
    never = SourceCheck("huggingface", 60, None)
    old = SourceCheck("huggingface", 60, _state(T0 - timedelta(days=2)))  # the bot was down for two days
    started = T0 - timedelta(seconds=100)
    assert health_problems(connected=True, sources=[never, old], now=T0, started_at=started) == []
    later = T0 + timedelta(seconds=100)
    assert len(health_problems(connected=True, sources=[never, old], now=later, started_at=started)) == 2


@pytest.mark.parametrize("listen", ["9108", "localhost", "127.0.0.1:0", "127.0.0.1:99999", ":9108", "host:port"])
def test_ops_listen_must_be_host_and_port(listen):
    with pytest.raises(ConfigError, match=r"^ops.listen: expected \"host:port\""):
        settings_from_dict({"ops": {"listen": listen}})


def test_ops_listen_accepts_ipv4_ipv6_and_names():
    for listen in ("127.0.0.1:9108", "[::1]:9108", "0.0.0.0:9108", "paperbot:9108"):
        assert settings_from_dict({"ops": {"listen": listen}}).ops.listen == listen
    assert settings_from_dict({}).ops.listen == ""
