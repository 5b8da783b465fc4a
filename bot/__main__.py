"""Command line: ``paperbot run`` starts the bot; ``paperbot check`` validates config and database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import discord

from bot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings, settings_warnings
from bot.store import Store

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


def _run(settings: Settings) -> int:
    token = settings.token()
    if token is None:
        return _fail(
            f"no bot token: set the environment variable {settings.discord.token_env} "
            f"(e.g. export {settings.discord.token_env}=...) — see README, 'Discord application setup'"
        )
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
    if args.command == "check":
        return asyncio.run(_check(settings))
    return _run(settings)


if __name__ == "__main__":
    sys.exit(main())
