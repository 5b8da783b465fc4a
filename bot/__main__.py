"""Command line: ``paperbot run`` starts the bot; ``paperbot check`` validates config and database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import discord

from bot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings, settings_warnings
from bot.store import Store
from bot.store.postgres.database import redact
from bot.store.store import is_postgres_url

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paperbot", description="Deliver new research papers to Discord.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("run", "run the bot"), ("check", "validate the config and prepare the database")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument(
            "--config",
            metavar="PATH",
            help=f"config file (default: ${CONFIG_ENV} or ./{DEFAULT_CONFIG_PATH}; none = defaults)",
        )
    return parser


def _fail(message: str) -> int:
    print(f"paperbot: {message}", file=sys.stderr)
    return EXIT_USAGE


def _directory_problem(path: str) -> str | None:
    """A directory given as the database file (SQLite would only say "unable to open database file")."""
    if not Path(path).is_dir():
        return None
    example = str(Path(path) / "paperbot.db")
    return f"storage.path: {path!r} is a directory; name a database file in it, e.g. {example!r}"


async def _open_store(location: str) -> Store | str:
    """The store at ``location`` (created or migrated), or one line saying why it cannot be opened."""
    if is_postgres_url(location):
        try:
            return await Store.open(location)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            return f"storage.url: cannot open the database {redact(location)!r}: {exc}"
    try:
        return await Store.open(location)
    except (sqlite3.Error, OSError) as exc:
        return f"storage.path: cannot open the database {location!r}: {exc}"


async def _storage_problem(location: str) -> str | None:
    """Why the database at ``location`` cannot be used, or None (it is then created or migrated, and closed)."""
    store = await _open_store(location)
    if isinstance(store, str):
        return store
    await store.close()
    return None


async def _check(settings: Settings) -> int:
    store = await _open_store(settings.storage.location())
    if isinstance(store, str):
        return _fail(store)
    try:
        version = await store.schema_version()
        papers = await store.count_papers()
        subs = len(await store.active_subscriptions())
    finally:
        await store.close()
    hf = settings.sources.huggingface
    print("configuration OK")
    print(f"  database: {store.path} (schema v{version}, {papers} papers, {subs} active subscriptions)")
    print(f"  token: from ${settings.discord.token_env} ({'set' if settings.token() else 'NOT set'})")
    print(f"  huggingface: {'enabled' if hf.enabled else 'disabled'}, {hf.url}, every {hf.poll_interval:g}s")
    if settings.discord.dev_guild_id:
        print(f"  commands sync to dev guild {settings.discord.dev_guild_id}")
    for warning in settings_warnings(settings):
        print(f"  warning: {warning}")
    return 0


def _run(settings: Settings) -> int:
    token = settings.token()
    if token is None:
        return _fail(
            f"no bot token: set the environment variable {settings.discord.token_env} "
            f"(e.g. export {settings.discord.token_env}=...) — see README, 'Discord application setup'"
        )
    if problem := asyncio.run(_storage_problem(settings.storage.location())):
        return _fail(problem)
    from bot.app import PaperBot, point_client_at  # imported late: `check` and errors stay fast

    discord.utils.setup_logging(level=logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job run at INFO
    for warning in settings_warnings(settings):
        logging.getLogger("bot").warning(warning)
    point_client_at(settings)
    bot = PaperBot(settings)
    try:
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        return _fail(f"Discord rejected the token in {settings.discord.token_env}; check it and try again")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(f"invalid configuration: {exc}")
    if not settings.storage.url.strip() and (problem := _directory_problem(settings.storage.path)):
        return _fail(problem)
    if args.command == "check":
        return asyncio.run(_check(settings))
    return _run(settings)


if __name__ == "__main__":
    sys.exit(main())
