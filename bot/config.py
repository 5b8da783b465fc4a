"""Typed settings read from TOML and the environment, validated once at start.

The tables are pydantic dataclasses: pydantic checks every key's type (and rejects unknown keys), and
:func:`settings_from_dict` turns its errors into one line that names the key (``sources.arxiv.poll_interval: ...``).
Checks across keys (URL schemes, feed names, categories) follow; :func:`settings_warnings` lists what is allowed but
unwise, beside the settings rather than inside them.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from bot.delivery.render import DIGEST_CAP

DEFAULT_CONFIG_PATH = "config.toml"
CONFIG_ENV = "PAPERBOT_CONFIG"
MIN_POLL_SECONDS = 1.0
WARN_POLL_SECONDS = 60.0

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration is invalid; the message names the key and why."""


def _seconds(minimum: float) -> BeforeValidator:
    """A duration given as seconds or as a string such as ``"15m"``, at least ``minimum`` seconds."""

    def parse(value: object) -> float:
        if isinstance(value, bool):
            raise ValueError(f'expected seconds or a duration like "15m", got {value!r}')
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
        else:
            raise ValueError(f'expected seconds or a duration like "15m" or "1h", got {value!r}')
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g} second(s), got {value!r}")
        return seconds

    return BeforeValidator(parse)


def _words(value: object) -> object:
    """A list of non-blank strings, stripped (other values are left for pydantic to reject)."""
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    if isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return value


PollSeconds = Annotated[float, _seconds(MIN_POLL_SECONDS)]
# The outbox drain may run often, and a request may time out quickly; polls may not. The arXiv gap may be lowered
# only for a local mirror or tests.
ShortSeconds = Annotated[float, _seconds(0.1)]
GapSeconds = Annotated[float, _seconds(0.0)]
Count = Annotated[StrictInt, Field(ge=0)]
Words = Annotated[tuple[str, ...], BeforeValidator(_words)]
_TABLE = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True, config=_TABLE)
class DiscordSettings:
    token_env: StrictStr = "DISCORD_TOKEN"
    api_base_url: StrictStr = ""
    gateway_url: StrictStr = ""
    dev_guild_id: Count = 0


@dataclass(frozen=True, slots=True, config=_TABLE)
class StorageSettings:
    path: StrictStr = "paperbot.db"


@dataclass(frozen=True, slots=True, config=_TABLE)
class HuggingFaceSettings:
    enabled: StrictBool = True
    url: StrictStr = "https://huggingface.co/api/daily_papers"
    poll_interval: PollSeconds = 900.0
    timeout: ShortSeconds = 30.0


@dataclass(frozen=True, slots=True, config=_TABLE)
class ArxivSettings:
    enabled: StrictBool = False
    url: StrictStr = "https://rss.arxiv.org/rss"
    categories: Words = ("cs.CL", "cs.LG")
    poll_interval: PollSeconds = 3600.0
    announce_types: Words = ("new", "cross")
    timeout: ShortSeconds = 30.0
    min_request_gap: GapSeconds = 3.0


@dataclass(frozen=True, slots=True, config=_TABLE)
class FeedSettings:
    """One generic RSS/Atom feed (``[[sources.feeds]]``)."""

    name: StrictStr = ""
    url: StrictStr = ""
    poll_interval: PollSeconds = 3600.0
    timeout: ShortSeconds = 30.0


@dataclass(frozen=True, slots=True, config=_TABLE)
class SourcesSettings:
    huggingface: HuggingFaceSettings = field(default_factory=HuggingFaceSettings)
    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    feeds: tuple[FeedSettings, ...] = ()
    degraded_after: Count = 5


@dataclass(frozen=True, slots=True, config=_TABLE)
class DeliverySettings:
    interval: ShortSeconds = 5.0
    max_backfill: Count = 10
    digest_cap: Count = DIGEST_CAP


@dataclass(frozen=True, slots=True, config=_TABLE)
class LimitsSettings:
    subscriptions_per_guild: Count = 50
    alerts_per_user: Count = 20


@dataclass(frozen=True, slots=True, config=_TABLE)
class Settings:
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)

    def token(self) -> str | None:
        """The bot token from the configured environment variable, or None when unset/blank."""
        value = os.environ.get(self.discord.token_env, "").strip()
        return value or None


def parse_duration(value: object, key: str, minimum: float = MIN_POLL_SECONDS) -> float:
    """Seconds from a number or a string such as ``"15m"``, ``"1h"``, ``"90s"``; ConfigError naming ``key``."""
    try:
        seconds: float = TypeAdapter(Annotated[float, _seconds(minimum)]).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(f"{key}: {_reason(exc.errors()[0])}") from None
    return seconds


_SETTINGS = TypeAdapter(Settings)


def _key(location: tuple[int | str, ...]) -> str:
    """pydantic's error location as the TOML key: ``sources.feeds[0].url``."""
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else f"{'.' if key else ''}{part}"
    return key


def _reason(error: Any) -> str:
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key"
    if error["loc"] == ("sources", "feeds"):
        return "expected a list of [[sources.feeds]] tables"
    if error["type"] in ("dataclass_type", "dataclass_exact_type", "dict_type"):
        return f"expected a table, got {error['input']!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if "got " in message else f"{message[:1].lower()}{message[1:]}, got {error['input']!r}"


def settings_from_dict(raw: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document into Settings (raises ConfigError naming the bad key)."""
    try:
        settings = _SETTINGS.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{_key(error['loc'])}: {_reason(error)}") from None
    _check(settings)
    return settings


def settings_warnings(settings: Settings) -> list[str]:
    """What the settings allow but should not: polling faster than the sources like."""
    warnings = []
    if settings.sources.huggingface.poll_interval < WARN_POLL_SECONDS:
        warnings.append(
            f"sources.huggingface.poll_interval is {settings.sources.huggingface.poll_interval:g}s; "
            "below 60s risks Hugging Face rate limits"
        )
    if settings.sources.arxiv.min_request_gap < 3:
        warnings.append("sources.arxiv.min_request_gap is below 3s: arXiv's terms allow one request every 3 s")
    return warnings


def _check(settings: Settings) -> None:
    """The checks across keys, after every key has its type."""
    if not settings.discord.token_env.strip():
        raise ConfigError("discord.token_env: must name an environment variable")
    if not settings.storage.path.strip():
        raise ConfigError("storage.path: must not be empty")
    urls = [
        ("discord.api_base_url", settings.discord.api_base_url),
        ("discord.gateway_url", settings.discord.gateway_url),
        ("sources.huggingface.url", settings.sources.huggingface.url),
        ("sources.arxiv.url", settings.sources.arxiv.url),
    ]
    urls += [(f"sources.feeds[{i}].url", feed.url or "<missing>") for i, feed in enumerate(settings.sources.feeds)]
    for key, url in urls:
        if url and not re.match(r"^(https?|wss?)://", url):
            raise ConfigError(f"{key}: expected an http(s):// or ws(s):// URL, got {url!r}")
    _check_sources(settings.sources)
    if settings.delivery.max_backfill > 10:
        raise ConfigError("delivery.max_backfill: at most 10")


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
