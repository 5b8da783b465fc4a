"""Command line: ``paperbot run`` starts the bot; ``paperbot check`` validates config and database (or verifies a
database file); ``paperbot backup PATH`` copies the database, safely while the bot runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import discord

from bot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings, settings_warnings
from bot.ops.backup import BackupError, FileCheck, backup_database, verify_database
from bot.store import Store
from bot.store.connection import SchemaTooNew

EXIT_USAGE = 2


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
    return parser


def _fail(message: str) -> int:
    print(f"paperbot: {message}", file=sys.stderr)
    return EXIT_USAGE


async def _check(settings: Settings) -> int:
    store = await Store.open(settings.storage.path)
    try:
        version = await store.schema_version()
        papers = await store.count_papers()
        subs = len(await store.active_subscriptions())
    finally:
        await store.close()
    hf = settings.sources.huggingface
    print("configuration OK")
    print(f"  database: {settings.storage.path} (schema v{version}, {papers} papers, {subs} active subscriptions)")
    print(f"  token: from ${settings.discord.token_env} ({'set' if settings.token() else 'NOT set'})")
    print(f"  huggingface: {'enabled' if hf.enabled else 'disabled'}, {hf.url}, every {hf.poll_interval:g}s")
    if settings.discord.dev_guild_id:
        print(f"  commands sync to dev guild {settings.discord.dev_guild_id}")
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


async def _prepare_database(settings: Settings) -> None:
    """Open (creating or upgrading) the database before connecting to Discord, so a problem shows at once."""
    store = await Store.open(settings.storage.path)
    await store.close()


def _run(settings: Settings) -> int:
    token = settings.token()
    if token is None:
        return _fail(
            f"no bot token: set the environment variable {settings.discord.token_env} "
            f"(e.g. export {settings.discord.token_env}=...) — see README, 'Discord application setup'"
        )
    asyncio.run(_prepare_database(settings))
    from bot.app import PaperBot, point_client_at  # imported late: `check` and errors stay fast
    from bot.ops.lifecycle import serve

    discord.utils.setup_logging(level=logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job run at INFO
    for warning in settings_warnings(settings):
        logging.getLogger("bot").warning(warning)
    point_client_at(settings)
    bot = PaperBot(settings)
    try:
        asyncio.run(serve(bot, token))
    except discord.LoginFailure:
        return _fail(f"Discord rejected the token in {settings.discord.token_env}; check it and try again")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(f"invalid configuration: {exc}")
    try:
        if args.command == "backup":
            check = backup_database(settings.storage.path, args.path)
            print(f"backed up {settings.storage.path} (consistent snapshot, verified)")
            return _print_file_check(check)
        if args.command == "check" and args.database:
            return _print_file_check(verify_database(args.database))
        if args.command == "check":
            return asyncio.run(_check(settings))
        return _run(settings)
    except BackupError as exc:
        return _fail(str(exc))
    except SchemaTooNew as exc:
        return _fail(f"{settings.storage.path}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
