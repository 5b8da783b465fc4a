"""compose.yaml (no Docker engine here): standard Compose YAML whose bot replicas, each given the example config
and its own environment, make one valid cluster — one PostgreSQL database, one shard count, every shard run by
exactly one replica."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.config import ENV_OVERRIDES, apply_env_overrides, settings_from_dict

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"DISCORD_TOKEN": "token", "POSTGRES_PASSWORD": "secret"}


def _interpolate(value: str) -> str:
    """Compose's ``${NAME:?message}`` with the operator's variables set."""
    return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: SECRETS[m.group(1)], value)


def _replicas(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each bot service's environment (merge keys already resolved by the YAML loader)."""
    return {
        name: {key: _interpolate(str(value)) for key, value in service["environment"].items()}
        for name, service in compose["services"].items()
        if name != "db"
    }


def test_compose_runs_one_bot_on_one_database_with_every_shard_once():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose) <= {"services", "volumes", "networks", "configs", "secrets", "name"} | {
        key for key in compose if key.startswith("x-")
    }
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))  # the image's config
    replicas = _replicas(compose)
    assert len(replicas) >= 2
    shards: list[int] = []
    for name, environment in replicas.items():
        service = compose["services"][name]
        assert service["depends_on"]["db"]["condition"] == "service_healthy", name
        assert set(environment) - {"DISCORD_TOKEN"} <= set(ENV_OVERRIDES), name
        settings = settings_from_dict(apply_env_overrides(example, environment))
        assert settings.storage.url == "postgresql://paperbot:secret@db:5432/paperbot", name
        assert settings.discord.shard_count == len(replicas), name  # one process per shard
        shards.extend(settings.discord.shard_ids)
    assert sorted(shards) == list(range(len(replicas)))
    db_env = db["environment"]
    assert (db_env["POSTGRES_USER"], db_env["POSTGRES_DB"]) == ("paperbot", "paperbot")
