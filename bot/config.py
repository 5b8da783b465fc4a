"""Typed settings read from TOML and the environment, validated once at start."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from bot.delivery.render import DIGEST_CAP

DEFAULT_CONFIG_PATH = "config.toml"
CONFIG_ENV = "PAPERBOT_CONFIG"
MIN_POLL_SECONDS = 1.0
WARN_POLL_SECONDS = 60.0

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration is invalid; the message names the key and why."""


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token_env: str = "DISCORD_TOKEN"
    api_base_url: str = ""
    gateway_url: str = ""
    dev_guild_id: int = 0


@dataclass(frozen=True, slots=True)
class StorageSettings:
    path: str = "paperbot.db"


@dataclass(frozen=True, slots=True)
class HuggingFaceSettings:
    enabled: bool = True
    url: str = "https://huggingface.co/api/daily_papers"
    poll_interval: float = 900.0
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ArxivSettings:
    enabled: bool = False
    url: str = "https://rss.arxiv.org/rss"
    categories: tuple[str, ...] = ("cs.CL", "cs.LG")
    poll_interval: float = 3600.0
    announce_types: tuple[str, ...] = ("new", "cross")
    timeout: float = 30.0
    min_request_gap: float = 3.0


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """One generic RSS/Atom feed (``[[sources.feeds]]``)."""

    name: str = ""
    url: str = ""
    poll_interval: float = 3600.0
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SourcesSettings:
    huggingface: HuggingFaceSettings = field(default_factory=HuggingFaceSettings)
    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    feeds: tuple[FeedSettings, ...] = ()
    degraded_after: int = 5


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    interval: float = 5.0
    max_backfill: int = 10
    digest_cap: int = DIGEST_CAP


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    subscriptions_per_guild: int = 50
    alerts_per_user: int = 20


@dataclass(frozen=True, slots=True)
class Settings:
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    warnings: tuple[str, ...] = ()

    def token(self) -> str | None:
        """The bot token from the configured environment variable, or None when unset/blank."""
        value = os.environ.get(self.discord.token_env, "").strip()
        return value or None


def parse_duration(value: object, key: str, minimum: float = MIN_POLL_SECONDS) -> float:
    """Seconds from a number or a string such as ``"15m"``, ``"1h"``, ``"90s"``."""
    if isinstance(value, bool):
        raise ConfigError(f'{key}: expected seconds or a duration like "15m", got {value!r}')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ConfigError(f'{key}: expected seconds or a duration like "15m" or "1h", got {value!r}')
    if seconds < minimum:
        raise ConfigError(f"{key}: must be at least {minimum:g} second(s), got {value!r}")
    return seconds


def _key(prefix: str, name: str) -> str:
    return name if prefix == "" else f"{prefix}.{name}"


_DURATION_KEYS = {"poll_interval", "interval", "timeout", "min_request_gap"}
# The outbox drain may run often; polls may not. The arXiv gap may be lowered only for a local mirror or tests.
_DURATION_MINIMUMS = {"interval": 0.1, "min_request_gap": 0.0}


def _build(cls: type, raw: object, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking each key's type against its default."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}: expected a table, got {type(raw).__name__}")
    known = [f.name for f in fields(cls) if f.name != "warnings"]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{_key(prefix, unknown[0])}: unknown key (valid keys: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    defaults = cls()
    for name in known:
        if name not in raw:
            continue
        key = _key(prefix, name)
        value = raw[name]
        default = getattr(defaults, name)
        if is_dataclass(default):
            values[name] = _build(type(default), value, key)
        elif name in _DURATION_KEYS:
            values[name] = parse_duration(value, key, _DURATION_MINIMUMS.get(name, MIN_POLL_SECONDS))
        elif name == "feeds":
            if not isinstance(value, list):
                raise ConfigError(f"{key}: expected a list of [[sources.feeds]] tables")
            values[name] = tuple(_build(FeedSettings, item, f"{key}[{i}]") for i, item in enumerate(value))
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
            values[name] = tuple(v.strip() for v in value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}: expected true or false, got {value!r}")
            values[name] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{key}: expected a whole number >= 0, got {value!r}")
            values[name] = value
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ConfigError(f"{key}: expected a string, got {value!r}")
            values[name] = value
        else:  # pragma: no cover - every field type is handled above
            raise AssertionError(f"unhandled setting type for {key}")
    return cls(**values)


def settings_from_dict(raw: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document into Settings (raises ConfigError naming the bad key)."""
    settings: Settings = _build(Settings, raw, "")
    warnings = []
    hf = settings.sources.huggingface
    if hf.poll_interval < WARN_POLL_SECONDS:
        warnings.append(
            f"sources.huggingface.poll_interval is {hf.poll_interval:g}s; below 60s risks Hugging Face rate limits"
        )
    if settings.sources.arxiv.min_request_gap < 3:
        warnings.append("sources.arxiv.min_request_gap is below 3s: arXiv's terms allow one request every 3 s")
    if not settings.discord.token_env.strip():
        raise ConfigError("discord.token_env: must name an environment variable")
    if not settings.storage.path.strip():
        raise ConfigError("storage.path: must not be empty")
    urls = [
        ("discord.api_base_url", settings.discord.api_base_url),
        ("discord.gateway_url", settings.discord.gateway_url),
        ("sources.huggingface.url", hf.url),
        ("sources.arxiv.url", settings.sources.arxiv.url),
    ]
    urls += [(f"sources.feeds[{i}].url", feed.url or "<missing>") for i, feed in enumerate(settings.sources.feeds)]
    for key, url in urls:
        if url and not re.match(r"^(https?|wss?)://", url):
            raise ConfigError(f"{key}: expected an http(s):// or ws(s):// URL, got {url!r}")
    _check_sources(settings.sources)
    if settings.delivery.max_backfill > 10:
        raise ConfigError("delivery.max_backfill: at most 10")
    return Settings(
        discord=settings.discord,
        storage=settings.storage,
        sources=settings.sources,
        delivery=settings.delivery,
        limits=settings.limits,
        warnings=tuple(warnings),
    )


ARXIV_ANNOUNCE_TYPES = {"new", "cross", "replace", "replace-cross"}
_CATEGORY_RE = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
_FEED_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _check_sources(sources: SourcesSettings) -> None:
    arxiv = sources.arxiv
    for category in arxiv.categories:
        if not _CATEGORY_RE.match(category):
            raise ConfigError(f"sources.arxiv.categories: {category!r} is not an arXiv category like cs.CL")
    if arxiv.enabled and not arxiv.categories:
        raise ConfigError('sources.arxiv.categories: list at least one category, e.g. ["cs.CL"]')
    if unknown := set(arxiv.announce_types) - ARXIV_ANNOUNCE_TYPES:
        raise ConfigError(f"sources.arxiv.announce_types: unknown {sorted(unknown)}; use new, cross")
    names = set()
    for i, feed in enumerate(sources.feeds):
        if not _FEED_NAME_RE.match(feed.name):
            raise ConfigError(
                f'sources.feeds[{i}].name: expected a short lowercase name like "jmlr", got {feed.name!r}'
            )
        if feed.name in names or feed.name in ("huggingface", "arxiv"):
            raise ConfigError(f"sources.feeds[{i}].name: {feed.name!r} is used twice")
        names.add(feed.name)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from ``path`` (default: $PAPERBOT_CONFIG or ./config.toml); no file → defaults.

    An explicitly given path that does not exist is an error; the default path may be absent.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    chosen = Path(path if path is not None else os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH))
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"config file {str(chosen)!r} does not exist")
        return settings_from_dict({})
    try:
        raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML ({exc})") from exc
    return settings_from_dict(raw)
