"""Command line: ``paperbot run`` starts the bot; ``paperbot check`` validates config and database (or verifies a
database file); ``paperbot backup PATH`` copies the database, safely while the bot runs; ``paperbot demo`` plays a
session against the built-in Discord emulator."""

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
from bot.logs import FORMATS, LEVELS, configure
from bot.ops.backup import BackupError, FileCheck, backup_database, verify_database
from bot.sources.base import redact_url
from bot.store import Store
from bot.store.connection import SchemaTooNew
from bot.store.postgres.database import redact
from bot.store.sole_process import DatabaseInUse, sole_process
from bot.store.store import is_postgres_url

EXIT_USAGE = 2
# Gateway close codes that mean the [discord] shard settings are wrong, and what to do about it.
SHARD_REFUSALS = {
    4010: "4010 Invalid shard: check discord.shard_count and discord.shard_ids; every process of the bot must use "
    "the same shard_count, and no shard may be run by two processes at once",
    4011: "4011 Sharding required: this bot is in too many servers for its shards; raise discord.shard_count (0: as "
    "many as Discord recommends)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paperbot", description="Deliver new research papers to Discord.")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "run": "run the bot",
        "check": "validate the config and prepare the database, or verify a database file (--database)",
        "backup": "copy the database to PATH (safe while the bot runs), verified",
    }
    for name, help_text in commands.items():
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument(
            "--config",
            metavar="PATH",
            help=f"config file (default: ${CONFIG_ENV} or ./{DEFAULT_CONFIG_PATH}; none = defaults)",
        )
    sub.choices["check"].add_argument(
        "--database", metavar="FILE", help="verify this database file (integrity, schema version) without changing it"
    )
    sub.choices["backup"].add_argument("path", metavar="PATH", help="where to write the copy")
    demo = sub.add_parser("demo", help="see paperbot work against a built-in Discord emulator (no token, no network)")
    demo.add_argument("--interactive", action="store_true", help="after the script, type slash commands yourself")
    for cmd, default in ((sub.choices["run"], "INFO"), (demo, "WARNING")):
        cmd.add_argument(
            "--log-level", type=str.upper, choices=LEVELS, default=default, help=f"lowest level logged ({default})"
        )
    sub.choices["run"].add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text (coloured only on a terminal) or json: one object per line with the context fields",
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
    print(
        f"  huggingface: {'enabled' if hf.enabled else 'disabled'}, {redact_url(hf.url)}, every {hf.poll_interval:g}s"
    )
    if settings.discord.dev_guild_id:
        print(f"  commands sync to dev guild {settings.discord.dev_guild_id}")
    print(f"  shards: {_describe_shards(settings.discord.shard_count, settings.discord.shard_ids)}")
    for warning in settings_warnings(settings):
        print(f"  warning: {warning}")
    return 0


def _print_file_check(check: FileCheck) -> int:
    print(f"{check.path}: integrity {'ok' if not check.problems else 'FAILED'}")
    for problem in check.problems[:20]:
        print(f"  {problem}")
    print(f"  schema v{check.schema_version} ({check.schema_verdict})")
    print(f"  {check.papers} papers, {check.subscriptions} subscriptions, {check.deliveries} outbox rows")
    return 0 if check.ok else 1


def _describe_shards(count: int, ids: Sequence[int]) -> str:
    if not count:
        return "as many as Discord recommends, all in this process"
    if not ids or set(ids) == set(range(count)):
        return f"all {count} in this process"
    dms = "; DMs here" if 0 in ids else "; DMs in the process running shard 0"
    return f"{', '.join(map(str, sorted(ids)))} of {count} in this process{dms}"


def _run(settings: Settings, log_level: str, log_format: str) -> int:
    token = settings.token()
    if token is None:
        return _fail(
            f"no bot token: set the environment variable {settings.discord.token_env} "
            f"(e.g. export {settings.discord.token_env}=...) — see README, 'Discord application setup'"
        )
    if problem := asyncio.run(_storage_problem(settings.storage.location())):
        return _fail(problem)
    from bot.app import PaperBot, point_client_at  # imported late: `check` and errors stay fast
    from bot.ops.lifecycle import serve

    configure(log_level, log_format, secret=token)
    for warning in settings_warnings(settings):
        logging.getLogger("bot").warning(warning)
    point_client_at(settings)
    try:
        with sole_process(settings.storage.location()):
            asyncio.run(serve(PaperBot(settings), token))
    except DatabaseInUse as exc:
        return _fail(str(exc))
    except discord.LoginFailure:
        return _fail(f"Discord rejected the token in {settings.discord.token_env}; check it and try again")
    except discord.ConnectionClosed as exc:
        if exc.code not in SHARD_REFUSALS:
            raise
        return _fail(f"Discord closed shard {exc.shard_id}'s gateway connection: {SHARD_REFUSALS[exc.code]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bot.demo import main as demo  # imported late: the emulator is only needed here

        configure(args.log_level)
        if getattr(logging, args.log_level) >= logging.WARNING:
            # discord.py warns at start that voice support is not installed; paperbot has no voice.
            logging.getLogger("discord.client").setLevel(logging.ERROR)
        return demo(interactive=args.interactive)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(f"invalid configuration: {exc}")
    if not settings.storage.url.strip() and (problem := _directory_problem(settings.storage.path)):
        return _fail(problem)
    try:
        if args.command == "backup":
            if settings.storage.url.strip():
                return _fail(
                    "paperbot backup copies a SQLite file; with storage.url the database is PostgreSQL's: back it "
                    "up with pg_dump (see README, 'Operations')"
                )
            check = backup_database(settings.storage.path, args.path)
            print(f"backed up {settings.storage.path} (consistent snapshot, verified)")
            return _print_file_check(check)
        if args.command == "check" and args.database:
            return _print_file_check(verify_database(args.database))
        if args.command == "check":
            return asyncio.run(_check(settings))
        return _run(settings, args.log_level, args.log_format)
    except BackupError as exc:
        return _fail(str(exc))
    except SchemaTooNew as exc:
        return _fail(f"{settings.storage.location()}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
