"""Typed settings read from TOML and the environment, validated once at start.

The tables are frozen msgspec Structs: msgspec checks every key's type (and rejects unknown keys), and
:func:`settings_from_dict` turns its errors into one line that names the key (``sources.arxiv.poll_interval: ...``).
Checks across keys (URL schemes, feed names, categories) follow; :func:`settings_warnings` lists what is allowed but
unwise, beside the settings rather than inside them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec

from bot.delivery.render import DIGEST_CAP

DEFAULT_CONFIG_PATH = "config.toml"
CONFIG_ENV = "PAPERBOT_CONFIG"
MIN_POLL_SECONDS = 1.0
WARN_POLL_SECONDS = 60.0
MIN_KEEP_DAYS = 7

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration is invalid; the message names the key and why."""


def _seconds(value: object, minimum: float) -> float:
    """Seconds from a number or a string such as ``"15m"``, ``"1h"``, ``"90s"``; ValueError saying why not."""
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


class PollSeconds(float):
    """A duration given as seconds or as a string such as ``"15m"``, at least ``MINIMUM`` seconds."""

    MINIMUM: ClassVar[float] = MIN_POLL_SECONDS

    @classmethod
    def parse(cls, value: object) -> float:
        return cls(_seconds(value, cls.MINIMUM))


class ShortSeconds(PollSeconds):
    """The outbox drain may run often and a request may time out quickly; polls may not."""

    MINIMUM = 0.1


class GapSeconds(PollSeconds):
    """The arXiv request gap may be lowered (for a local mirror or tests), never below zero."""

    MINIMUM = 0.0


class Word(str):
    """A non-blank string from a list (a category, an announce type), stripped."""

    @classmethod
    def parse(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a non-blank string, got {value!r}")
        return cls(value.strip())


def _decode(kind: type, value: object) -> object:
    """msgspec's hook for our own value types."""
    if isinstance(kind, type) and issubclass(kind, PollSeconds | Word):
        return kind.parse(value)
    raise NotImplementedError(kind)


Count = Annotated[int, msgspec.Meta(ge=0)]
BodyBytes = Annotated[int, msgspec.Meta(ge=1024)]


class _Table(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A TOML table: typed keys with defaults, unknown keys rejected."""


class DiscordSettings(_Table, frozen=True):
    token_env: str = "DISCORD_TOKEN"
    api_base_url: str = ""
    gateway_url: str = ""
    dev_guild_id: Count = 0
    shard_count: Count = 0
    shard_ids: tuple[Count, ...] = ()  # empty: all of shard_count


class StorageSettings(_Table, frozen=True):
    path: str = "paperbot.db"
    keep_papers_days: Count = 180  # 0: keep every paper forever
    url: str = ""  # postgresql://user:pass@host:5432/db; when set, path is ignored

    def location(self) -> str:
        """Where the store lives: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.url.strip() or self.path


class HuggingFaceSettings(_Table, frozen=True):
    enabled: bool = True
    url: str = "https://huggingface.co/api/daily_papers"
    poll_interval: PollSeconds = PollSeconds(900.0)
    timeout: ShortSeconds = ShortSeconds(30.0)
    max_body_bytes: BodyBytes = 10_000_000


class ArxivSettings(_Table, frozen=True):
    enabled: bool = False
    url: str = "https://rss.arxiv.org/rss"
    categories: tuple[Word, ...] = (Word("cs.CL"), Word("cs.LG"))
    poll_interval: PollSeconds = PollSeconds(3600.0)
    announce_types: tuple[Word, ...] = (Word("new"), Word("cross"))
    timeout: ShortSeconds = ShortSeconds(30.0)
    max_body_bytes: BodyBytes = 10_000_000
    min_request_gap: GapSeconds = GapSeconds(3.0)


class FeedSettings(_Table, frozen=True):
    """One generic RSS/Atom feed (``[[sources.feeds]]``)."""

    name: str = ""
    url: str = ""
    poll_interval: PollSeconds = PollSeconds(3600.0)
    timeout: ShortSeconds = ShortSeconds(30.0)
    max_body_bytes: BodyBytes = 10_000_000


class SourcesSettings(_Table, frozen=True):
    huggingface: HuggingFaceSettings = msgspec.field(default_factory=HuggingFaceSettings)
    arxiv: ArxivSettings = msgspec.field(default_factory=ArxivSettings)
    feeds: tuple[FeedSettings, ...] = ()
    degraded_after: Count = 5


class DeliverySettings(_Table, frozen=True):
    interval: ShortSeconds = ShortSeconds(5.0)
    max_backfill: Count = 10
    digest_cap: Count = DIGEST_CAP


class LimitsSettings(_Table, frozen=True):
    subscriptions_per_guild: Count = 50
    alerts_per_user: Count = 20


class OpsSettings(_Table, frozen=True):
    listen: str = ""  # "host:port" for /healthz and /metrics; empty: off


class Settings(_Table, frozen=True):
    discord: DiscordSettings = msgspec.field(default_factory=DiscordSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    sources: SourcesSettings = msgspec.field(default_factory=SourcesSettings)
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    ops: OpsSettings = msgspec.field(default_factory=OpsSettings)

    def token(self) -> str | None:
        """The bot token from the configured environment variable, or None when unset/blank."""
        value = os.environ.get(self.discord.token_env, "").strip()
        return value or None


def parse_duration(value: object, key: str, minimum: float = MIN_POLL_SECONDS) -> float:
    """Seconds from a number or a string such as ``"15m"``, ``"1h"``, ``"90s"``; ConfigError naming ``key``."""
    try:
        return _seconds(value, minimum)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


_ERROR_RE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN_RE = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")


def _error_line(error: msgspec.ValidationError) -> str:
    """msgspec's message (``Expected `int`, got `str` - at `$.discord.dev_guild_id```) as ``key: what``."""
    match = _ERROR_RE.match(str(error))
    assert match is not None  # the pattern matches any text
    message, key = match["message"], (match["path"] or "").lstrip(".")
    if unknown := _UNKNOWN_RE.match(message):
        return f"{key + '.' if key else ''}{unknown['name']}: unknown key"
    if key == "sources.feeds" and message.startswith("Expected `array`"):
        return f"{key}: expected a list of [[sources.feeds]] tables"
    if message.startswith("Expected `object`"):
        return f"{key}: expected a table"
    message = message.replace("`", "")
    return f"{key}: {message[:1].lower()}{message[1:]}"


def settings_from_dict(raw: dict[str, Any]) -> Settings:
    """Validate a parsed TOML document into Settings (raises ConfigError naming the bad key)."""
    try:
        settings = msgspec.convert(raw, Settings, strict=True, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        raise ConfigError(_error_line(exc)) from None
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


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A Discord bot token: three base64url parts joined by dots (user id, timestamp, HMAC).
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}$")


def _check_token_env(name: str) -> None:
    """``discord.token_env`` must be an environment variable's name. Whatever else it holds is never echoed: it is
    most likely the token itself, pasted where the name belongs."""
    if _ENV_NAME_RE.match(name):
        return
    if _TOKEN_RE.match(name.strip()):
        raise ConfigError(
            "discord.token_env: this looks like a bot token, not the name of an environment variable. Put the "
            "token in an environment variable (export DISCORD_TOKEN=...), set token_env to that name "
            '("DISCORD_TOKEN"), and since the token was written in a file, consider resetting it in the '
            "Developer Portal"
        )
    raise ConfigError(
        "discord.token_env: expected the name of an environment variable (letters, digits and _, not starting "
        'with a digit), e.g. "DISCORD_TOKEN"; the value given is not shown, in case it is a secret'
    )


def _check_shards(discord: DiscordSettings) -> None:
    """``shard_ids`` names this process's part of ``shard_count`` shards (empty: all): each below the count, once."""
    if not discord.shard_ids:
        return
    if discord.shard_count < 1:
        raise ConfigError(
            "discord.shard_ids: requires discord.shard_count >= 1 (the total number of shards across all processes)"
        )
    if too_big := sorted(i for i in discord.shard_ids if i >= discord.shard_count):
        raise ConfigError(
            f"discord.shard_ids: {too_big} not below discord.shard_count ({discord.shard_count}); shard ids run "
            f"from 0 to {discord.shard_count - 1}"
        )
    if len(set(discord.shard_ids)) != len(discord.shard_ids):
        raise ConfigError(f"discord.shard_ids: {list(discord.shard_ids)} lists a shard twice")


def _check(settings: Settings) -> None:
    """The checks across keys, after every key has its type."""
    _check_token_env(settings.discord.token_env)
    _check_shards(settings.discord)
    if settings.storage.url.strip():
        if not settings.storage.url.strip().startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                'storage.url: expected a PostgreSQL URL such as "postgresql://user:pass@host:5432/paperbot" '
                "(leave it out to use the SQLite file in storage.path)"
            )
    elif not settings.storage.path.strip():
        raise ConfigError("storage.path: must not be empty")
    elif settings.storage.path.strip() == ":memory:":
        raise ConfigError(
            'storage.path: ":memory:" would keep every paper, subscription and delivery in memory only (lost on '
            'exit, and not shared between the bot\'s connections); use a file path such as "paperbot.db"'
        )
    if 0 < settings.storage.keep_papers_days < MIN_KEEP_DAYS:
        raise ConfigError(
            f"storage.keep_papers_days: at least {MIN_KEEP_DAYS} (previews and backfill look back a week), or 0 "
            "to keep every paper"
        )
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
    if settings.ops.listen:
        try:
            split_listen(settings.ops.listen)
        except ValueError as exc:
            raise ConfigError(f"ops.listen: {exc}") from None
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


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` or ``"[::1]:9108"`` → (host, port); ValueError saying why not."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'expected "host:port" such as "127.0.0.1:9108", got {listen!r}')
    return host, int(port)


#: Environment variables that override one key of the file each, so that replicas of one image (compose.yaml) can
#: share a config file and differ only in their shards (and keep the database's password out of the file).
ENV_OVERRIDES = {
    "PAPERBOT_STORAGE_URL": ("storage", "url"),
    "PAPERBOT_SHARD_COUNT": ("discord", "shard_count"),
    "PAPERBOT_SHARD_IDS": ("discord", "shard_ids"),
}


def _env_value(name: str, text: str) -> object:
    """An override's value: the URL as given; shard ids as whole numbers separated by commas ("0,2")."""
    if name == "PAPERBOT_STORAGE_URL":
        return text
    parts = [part.strip() for part in text.strip().strip("[]").split(",") if part.strip()]
    single = name == "PAPERBOT_SHARD_COUNT"
    if not all(part.isdigit() for part in parts) or (single and len(parts) != 1):
        expected = "a whole number" if single else 'whole numbers separated by commas ("0,2")'
        raise ConfigError(f"{name}: expected {expected}, got {text!r}")
    return int(parts[0]) if single else [int(part) for part in parts]


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``raw`` with the keys of :data:`ENV_OVERRIDES` whose variables are set (and not blank) replaced."""
    merged = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    for name, (section, key) in ENV_OVERRIDES.items():
        text = environ.get(name, "")
        if text.strip():
            table = merged.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: expected a table")
            table[key] = _env_value(name, text)
    return merged


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from ``path`` (default: $PAPERBOT_CONFIG or ./config.toml; no file → defaults), with the
    environment's overrides (:data:`ENV_OVERRIDES`) on top.

    An explicitly given path that does not exist is an error; the default path may be absent.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    chosen = Path(path if path is not None else os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH))
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"config file {str(chosen)!r} does not exist")
        return settings_from_dict(apply_env_overrides({}, os.environ))
    try:
        raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{chosen}: not UTF-8 text (byte {exc.start} is not valid UTF-8); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{chosen}: cannot be read ({exc.strerror or exc})") from None
    return settings_from_dict(apply_env_overrides(raw, os.environ))
