"""``[discord] shard_count``/``shard_ids`` and the ownership rule every sharded process applies."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, settings_from_dict
from bot.models import Scope
from bot.sharding import Shards, owns_guild, process_shards, shard_of

ROOT = Path(__file__).resolve().parent.parent
# Guild ids whose timestamp part (id >> 22) is 0, 1, 2, 3: shards 0, 1, 2, 0 of 3.
GUILDS = [(n << 22) | 4242 for n in range(4)]


def test_shard_of_is_discords_formula():
    assert [shard_of(g, 3) for g in GUILDS] == [0, 1, 2, 0]
    # A real snowflake (discord.py's docs example server): (id >> 22) % count.
    assert shard_of(81384788765712384, 7) == (81384788765712384 >> 22) % 7


def test_owns_guild():
    assert [owns_guild(g, 3, {1, 2}) for g in GUILDS] == [False, True, True, False]
    assert all(owns_guild(g, 3, None) for g in GUILDS)  # no shard_ids: all shards, every guild


def test_dms_belong_to_the_process_with_shard_0():
    assert Shards(2, frozenset({0})).owns(Scope.USER, 12345)
    assert not Shards(2, frozenset({1})).owns(Scope.USER, 12345)
    assert Shards(3, frozenset({0, 2})).owns(Scope.GUILD, GUILDS[2])
    assert not Shards(3, frozenset({0, 2})).owns(Scope.GUILD, GUILDS[1])


def test_process_shards():
    assert process_shards(0, ()) is None  # Discord's recommendation, all here
    assert process_shards(3, ()) is None
    assert process_shards(3, (2, 0, 1)) is None  # all shards listed: nothing to filter
    assert process_shards(3, (1,)) == Shards(3, frozenset({1}))
    with pytest.raises(ValueError, match="subset"):
        Shards(2, frozenset({2}))


def test_shard_settings():
    settings = settings_from_dict({"discord": {"shard_count": 4, "shard_ids": [1, 3]}})
    assert (settings.discord.shard_count, settings.discord.shard_ids) == (4, (1, 3))
    default = settings_from_dict({})
    assert (default.discord.shard_count, default.discord.shard_ids) == (0, ())
    assert settings_from_dict({"discord": {"shard_count": 2, "shard_ids": []}}).discord.shard_ids == ()


@pytest.mark.parametrize(
    ("discord", "message"),
    [
        ({"shard_ids": [0]}, r"^discord\.shard_ids: requires discord\.shard_count >= 1"),
        ({"shard_count": 0, "shard_ids": [0]}, r"^discord\.shard_ids: requires discord\.shard_count >= 1"),
        ({"shard_count": 2, "shard_ids": [1, 2]}, r"^discord\.shard_ids: \[2\] not below discord\.shard_count \(2\)"),
        ({"shard_count": 2, "shard_ids": [1, 1]}, r"^discord\.shard_ids: \[1, 1\] lists a shard twice"),
        ({"shard_count": 2, "shard_ids": [-1]}, r"^discord\.shard_ids\[0\]: expected int >= 0"),
        ({"shard_count": 2, "shard_ids": 1}, r"^discord\.shard_ids: expected array"),
        ({"shard_count": -1}, r"^discord\.shard_count: expected int >= 0"),
        ({"shard_count": "2"}, r"^discord\.shard_count: expected int"),
    ],
)
def test_bad_shard_settings_name_the_key(discord, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"discord": discord})


@pytest.mark.parametrize(
    ("discord", "line"),
    [
        ("", "  shards: as many as Discord recommends, all in this process"),
        ("shard_count = 3\n", "  shards: all 3 in this process"),
        (
            "shard_count = 4\nshard_ids = [3, 1]\n",
            "  shards: 1, 3 of 4 in this process; DMs in the process running shard 0",
        ),
        ("shard_count = 4\nshard_ids = [0]\n", "  shards: 0 of 4 in this process; DMs here"),
    ],
)
def test_check_says_which_shards_this_process_runs(tmp_path, discord, line):
    (tmp_path / "c.toml").write_text(f'[discord]\n{discord}[storage]\npath = "p.db"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--config", "c.toml"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert line in result.stdout.splitlines()
