"""The request validation Discord answers with 400 (50035 Invalid Form Body, 50006 empty message)."""

from __future__ import annotations

import re
from typing import Any

from bot.devtools.emulator.model import JSON
from bot.devtools.emulator.protocol import ApiError, form_error


def validate_message(body: Any, *, require_content: bool = True) -> None:
    """Discord's checks on a message body: content, nonce and embed limits, and (unless editing) that
    there is something to send."""
    if not isinstance(body, dict):
        raise form_error([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    content = body.get("content")
    if content is not None and len(str(content)) > 2000:
        raise form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    nonce = body.get("nonce")
    if nonce is not None and len(str(nonce)) > 25:
        raise form_error(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    embeds = body.get("embeds") or []
    if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
        raise form_error(["embeds"], "LIST_TYPE_CONVERT", "Only iterables of objects may be used here")
    if len(embeds) > 10:
        raise form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    limits = {"title": 256, "description": 4096}
    for i, embed in enumerate(embeds):
        for key, limit in limits.items():
            text = str(embed.get(key) or "")
            total += len(text)
            if len(text) > limit:
                raise form_error(["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(fld.get(key) or "")
                total += len(text)
                if not text:
                    raise form_error(["embeds", i, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                if len(text) > limit:
                    raise form_error(
                        ["embeds", i, "fields", j, key],
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {limit} or fewer in length.",
                    )
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = str((embed.get(key) or {}).get(sub) or "")
            total += len(text)
            if len(text) > limit:
                raise form_error(
                    ["embeds", i, key, sub], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                )
    if total > 6000:
        raise form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    if require_content and not (
        content or embeds or body.get("sticker_ids") or body.get("components") or body.get("poll") or body.get("_files")
    ):
        raise ApiError(400, 50006)


def validate_command(cmd: JSON, path: list[str | int]) -> None:
    """Light validation of names, descriptions and option counts, like Discord's 50035s."""
    name = str(cmd.get("name") or "")
    is_chat = int(cmd.get("type") or 1) == 1  # options are validated as chat-input names too
    if not 1 <= len(name) <= 32:
        raise form_error([*path, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    if is_chat and (not re.fullmatch(r"[-_'\w]{1,32}", name) or name != name.lower()):
        raise form_error([*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if is_chat and not 1 <= len(str(cmd.get("description") or "")) <= 100:
        raise form_error([*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    options = cmd.get("options") or []
    if len(options) > 25:
        raise form_error([*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for j, opt in enumerate(options):
        if len(opt.get("choices") or []) > 25:
            raise form_error([*path, "options", j, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        validate_command({**opt, "type": 1}, [*path, "options", j])
