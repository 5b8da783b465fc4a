import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    apply_env_overrides,
    load_settings,
    parse_duration,
    settings_from_dict,
    settings_warnings,
)
from bot.store.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_when_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERBOT_CONFIG", raising=False)
    settings = load_settings()
    assert settings.storage.path == "paperbot.db"
    assert settings.sources.huggingface.poll_interval == 900
    assert settings.discord.token_env == "DISCORD_TOKEN"


def test_example_config_is_valid_and_complete():
    import tomllib

    raw = tomllib.loads((ROOT / "config.example.toml").read_text())
    settings = settings_from_dict(raw)
    assert settings.sources.huggingface.url == "https://huggingface.co/api/daily_papers"
    assert set(raw) == {"discord", "storage", "sources", "delivery", "limits", "ops"}


@pytest.mark.parametrize(("value", "seconds"), [(900, 900), ("15m", 900), ("1h", 3600), ("90s", 90), (1, 1)])
def test_durations(value, seconds):
    assert parse_duration(value, "k") == seconds


@pytest.mark.parametrize("value", [0, 0.5, "fast", "", True, "-5m"])
def test_bad_durations(value):
    with pytest.raises(ConfigError, match=r"^k:"):
        parse_duration(value, "k")


def test_short_poll_interval_warns():
    settings = settings_from_dict({"sources": {"huggingface": {"poll_interval": 5}}})
    assert any("below 60s" in w for w in settings_warnings(settings))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"discord": {"dev_guild_id": "x"}}, "discord.dev_guild_id"),
        ({"discord": {"bogus": 1}}, "discord.bogus"),
        ({"sources": {"huggingface": {"enabled": "yes"}}}, "sources.huggingface.enabled"),
        ({"sources": {"huggingface": {"url": "ftp://x"}}}, "sources.huggingface.url"),
        ({"storage": "x.db"}, "storage"),
        ({"storage": {"url": "mysql://db/paperbot"}}, "storage.url"),
        ({"nope": {}}, "nope"),
    ],
)
def test_invalid_config_names_the_key(raw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        settings_from_dict(raw)


def _cli(*args, env_extra=None, cwd):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN" and not k.startswith("PAPERBOT_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def test_run_without_token_exits_2_with_one_line(tmp_path):
    result = _cli("run", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_custom_token_env_is_named(tmp_path):
    (tmp_path / "c.toml").write_text('[discord]\ntoken_env = "MY_TOKEN"\n')
    result = _cli("run", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "MY_TOKEN" in result.stderr


def test_invalid_config_exits_2(tmp_path):
    (tmp_path / "config.toml").write_text("[storage]\npath = 5\n")
    result = _cli("run", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x"})
    assert result.returncode == 2 and "storage.path" in result.stderr and "Traceback" not in result.stderr


def test_check_creates_database(tmp_path):
    (tmp_path / "c.toml").write_text('[storage]\npath = "data/p.db"\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert f"schema v{len(MIGRATIONS)}" in result.stdout
    assert (tmp_path / "data" / "p.db").exists()


def test_config_env_var_is_used(tmp_path):
    (tmp_path / "elsewhere.toml").write_text('[storage]\npath = "e.db"\n')
    result = _cli(
        "check", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT), "PAPERBOT_CONFIG": str(tmp_path / "elsewhere.toml")}
    )
    assert result.returncode == 0 and "e.db" in result.stdout


def test_example_config_documents_every_key():
    import tomllib

    import msgspec

    from bot.config import FeedSettings, Settings

    text = (ROOT / "config.example.toml").read_text()
    raw = tomllib.loads(text)

    def keys(cls: type, prefix: str) -> set[str]:
        out = set()
        for f in msgspec.structs.fields(cls):
            default = getattr(cls(), f.name)
            if isinstance(default, msgspec.Struct):
                out |= keys(type(default), f"{prefix}{f.name}.")
            else:
                out.add(f"{prefix}{f.name}")
        return out

    def present(cls: type, table: dict, prefix: str) -> set[str]:
        out = set()
        for name, value in table.items():
            if isinstance(value, dict):
                out |= present(cls, value, f"{prefix}{name}.")
            else:
                out.add(f"{prefix}{name}")
        return out

    documented = present(Settings, raw, "") | {"sources.feeds"}  # the feeds table is shown commented out
    assert keys(Settings, "") <= documented, keys(Settings, "") - documented
    for field in msgspec.structs.fields(FeedSettings):
        assert f"# {field.name} = " in text
    readme = (ROOT / "README.md").read_text()
    for key in keys(Settings, ""):
        if key != "sources.feeds":
            assert f"`{key}`" in readme, f"README does not document {key}"


# -- operator mistakes: one clear line and exit 2, never a traceback or a secret echoed (issue 16, items 9, 15) ---

PASTED_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_"
OFFLINE = '[discord]\napi_base_url = "http://127.0.0.1:9"\ngateway_url = "ws://127.0.0.1:9"\n'  # never the internet


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_token_pasted_as_token_env_is_recognised_and_never_echoed(tmp_path, command):
    (tmp_path / "c.toml").write_text(f'[discord]\ntoken_env = "{PASTED_TOKEN}"\napi_base_url = "http://127.0.0.1:9"\n')
    result = _cli(command, "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    error = _one_line_failure(result)
    assert "discord.token_env" in error and "looks like a bot token" in error
    for part in PASTED_TOKEN.split("."):
        assert part not in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["my token", "DISCORD-TOKEN", "1ABC", " Bot abc.def "])
def test_token_env_must_be_a_variable_name_and_is_not_echoed(tmp_path, value):
    (tmp_path / "c.toml").write_text(f'[discord]\ntoken_env = "{value}"\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    error = _one_line_failure(result)
    assert "discord.token_env" in error and "name of an environment variable" in error
    assert value.strip() not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(OFFLINE.encode() + b'[storage]\npath = ":memory:"\n', ["storage.path", ":memory:"], id="memory"),
        pytest.param(OFFLINE.encode() + b'[storage]\npath = "data"\n', ["storage.path", "is a directory"], id="dir"),
        pytest.param(b'[storage]\npath = "caf\xe9.db"\n', ["c.toml", "UTF-8"], id="latin-1"),
    ],
)
def test_storage_and_file_mistakes_get_one_line(tmp_path, command, config, expected):
    (tmp_path / "data").mkdir()
    (tmp_path / "c.toml").write_bytes(config)
    env = {"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x"}
    error = _one_line_failure(_cli(command, "--config", "c.toml", cwd=tmp_path, env_extra=env))
    assert all(text in error for text in expected), error


def test_check_never_prints_a_credential_in_a_source_url(tmp_path):
    url = "https://reader:hunter2@hf.example/api/daily_papers?token=SECRET"
    (tmp_path / "c.toml").write_text(f'[storage]\npath = "p.db"\n[sources.huggingface]\nurl = "{url}"\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "https://hf.example/api/daily_papers?…" in result.stdout
    assert "SECRET" not in result.stdout + result.stderr and "hunter2" not in result.stdout + result.stderr


def test_check_with_a_postgresql_url_migrates_it_and_never_prints_the_password(tmp_path, pg_cluster):
    url = pg_cluster.create_database().replace("paperbot@", "paperbot:hunter2@")  # trust auth ignores it
    (tmp_path / "c.toml").write_text(f'[storage]\nurl = "{url}"\npath = ""\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "schema v" in result.stdout and "postgresql://paperbot:***@" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize("where", ["no database", "no server"])
def test_an_unreachable_postgresql_database_is_one_line(tmp_path, pg_cluster, where):
    port = pg_cluster.port if where == "no database" else _closed_port()
    url = f"postgresql://paperbot:hunter2@127.0.0.1:{port}/no_such_database"
    (tmp_path / "c.toml").write_text(f'[storage]\nurl = "{url}"\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "storage.url: cannot open the database" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket closes


def test_keep_papers_days():
    assert settings_from_dict({}).storage.keep_papers_days == 180
    assert settings_from_dict({"storage": {"keep_papers_days": 0}}).storage.keep_papers_days == 0
    with pytest.raises(ConfigError, match=r"storage.keep_papers_days: at least 7"):
        settings_from_dict({"storage": {"keep_papers_days": 3}})
    with pytest.raises(ConfigError, match=r"storage.keep_papers_days"):
        settings_from_dict({"storage": {"keep_papers_days": -1}})


def test_the_environment_overrides_the_storage_url_and_shards():
    raw = {"discord": {"shard_count": 2, "shard_ids": [0]}, "storage": {"path": "p.db"}}
    env = {
        "PAPERBOT_STORAGE_URL": "postgresql://u@db/paperbot",
        "PAPERBOT_SHARD_COUNT": "3",
        "PAPERBOT_SHARD_IDS": "1, 2",
    }
    settings = settings_from_dict(apply_env_overrides(raw, env))
    assert settings.storage.url == "postgresql://u@db/paperbot" and settings.storage.path == "p.db"
    assert settings.discord.shard_count == 3 and settings.discord.shard_ids == (1, 2)
    assert raw["discord"] == {"shard_count": 2, "shard_ids": [0]}  # the file's own values are left alone
    unset = settings_from_dict(apply_env_overrides(raw, {"PAPERBOT_SHARD_IDS": " "}))  # blank: not set
    assert unset.discord.shard_ids == (0,) and unset.storage.url == ""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PAPERBOT_SHARD_COUNT": "three"}, "PAPERBOT_SHARD_COUNT: expected a whole number, got 'three'"),
        ({"PAPERBOT_SHARD_COUNT": "1,2"}, "PAPERBOT_SHARD_COUNT: expected a whole number"),
        ({"PAPERBOT_SHARD_IDS": "0;1"}, "PAPERBOT_SHARD_IDS: expected whole numbers separated by commas"),
        ({"PAPERBOT_SHARD_COUNT": "2", "PAPERBOT_SHARD_IDS": "2"}, "discord.shard_ids: [2] not below"),
    ],
)
def test_a_bad_environment_override_is_one_line(tmp_path, env, expected):
    (tmp_path / "c.toml").write_text('[storage]\npath = "p.db"\n')
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT), **env})
    assert expected in _one_line_failure(result)


def test_check_reports_the_shards_and_database_the_environment_gives(tmp_path, pg_cluster):
    (tmp_path / "c.toml").write_text('[storage]\npath = "p.db"\n')
    env = {"PAPERBOT_STORAGE_URL": pg_cluster.create_database(), "PAPERBOT_SHARD_COUNT": "3", "PAPERBOT_SHARD_IDS": "1"}
    result = _cli("check", "--config", "c.toml", cwd=tmp_path, env_extra={"PYTHONPATH": str(ROOT), **env})
    assert result.returncode == 0, result.stderr
    assert "shards: 1 of 3 in this process; DMs in the process running shard 0" in result.stdout
    assert f"127.0.0.1:{pg_cluster.port}" in result.stdout and not (tmp_path / "p.db").exists()
