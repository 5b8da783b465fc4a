"""The emulator's judge of requests: Discord's OpenAPI specification (bot/devtools/emulator/openapi.py), and
the suite's fixture that fails a test whose requests break it (tests/spec_conformance.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.devtools.emulator.openapi import EXEMPTIONS, DiscordSpec
from tests.spec_conformance import SPEC_PATH, SpecViolations

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "/channels/1234567890123456789"


@pytest.fixture
def spec(spec_violations: SpecViolations) -> DiscordSpec:
    if spec_violations.spec is None:
        pytest.skip(f"../shared/discord-api-spec not present: {spec_violations.unavailable}")
    return spec_violations.spec


def test_paths_methods_and_literal_segments(spec: DiscordSpec) -> None:
    assert spec.match("PATCH", "/webhooks/1/tok/messages/@original") == (
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        {"webhook_id": "1", "webhook_token": "tok"},
    )
    assert spec.match("PATCH", "/webhooks/1/tok/messages/2") == (
        "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        {"webhook_id": "1", "webhook_token": "tok", "message_id": "2"},
    )
    assert spec.match("POST", "/users/@me/channels") == ("/users/@me/channels", {})
    [unknown] = spec.check("GET", "/nowhere", {})
    assert unknown.part == "path" and unknown.template is None
    [wrong_method] = spec.check("PUT", f"{CHANNEL}/typing", {})
    assert wrong_method.part == "method" and wrong_method.template == "/channels/{channel_id}/typing"
    [bad_id] = spec.check("GET", "/channels/general", {})
    assert bad_id.part == "path parameter channel_id" and "does not match" in bad_id.error


def test_query_parameters_are_read_as_discord_reads_them(spec: DiscordSpec) -> None:
    assert spec.check("GET", f"{CHANNEL}/messages", {"limit": "100", "before": "123"}) == []
    assert spec.check("POST", "/interactions/1/tok/callback", {"with_response": "true"}, **_json({"type": 5})) == []
    [too_many] = spec.check("GET", f"{CHANNEL}/messages", {"limit": "101"})
    assert too_many.part == "query parameter limit" and "greater than the maximum of 100" in too_many.error
    [unknown] = spec.check("GET", f"{CHANNEL}/messages", {"newest": "1"})
    assert unknown.part == "query parameter newest" and unknown.error == "not a parameter of this operation"
    [not_bool] = spec.check("POST", "/webhooks/1/tok", {"wait": "maybe"}, **_json({"content": "hi"}))
    assert not_bool.part == "query parameter wait"


def test_json_bodies(spec: DiscordSpec) -> None:
    ok = {"content": "hi", "embeds": [{"title": "t", "footer": {"text": "arXiv 2403.01234"}}], "nonce": "n1"}
    assert spec.check("POST", f"{CHANNEL}/messages", {}, **_json(ok)) == []
    [long_title] = spec.check("POST", f"{CHANNEL}/messages", {}, **_json({"embeds": [{"title": "x" * 257}]}))
    assert long_title.part == "body" and long_title.error.startswith("['embeds'][0]['title']: ")
    assert len(long_title.error) < 400  # the offending value is shortened
    assert "request body:" in str(long_title) and f"POST {CHANNEL}/messages" in str(long_title)
    [missing] = spec.check("POST", f"{CHANNEL}/messages", {})
    assert (missing.part, missing.error) == ("body", "required but missing")
    [no_body] = spec.check("POST", f"{CHANNEL}/typing", {}, **_json({"x": 1}))
    assert no_body.error == "this operation takes no body"
    [bad_type] = spec.check("POST", f"{CHANNEL}/messages", {}, content_type="text/plain", body="hi")
    assert "content type 'text/plain' not accepted" in bad_type.error


def test_a_value_found_invalid_before_is_reported_again_with_its_own_error(spec: DiscordSpec) -> None:
    # Verdicts are remembered (valid and invalid) so that a message's components are not checked against every
    # other component type each time; the errors reported must not come from that memory.
    good = {"type": 1, "components": [{"type": 2, "style": 1, "label": "y", "custom_id": "c"}]}
    bad = {"type": 1, "components": [{"type": 2, "style": 1, "label": "y", "custom_id": "c", "emoji": 3}]}
    answers = [
        spec.check("POST", f"{CHANNEL}/messages", {}, **_json(body))
        for body in ({"components": [good]}, {"components": [bad]}, {"components": [good, bad]}, {"components": [bad]})
    ]
    assert answers[0] == [] and answers[1] and answers[2] and answers[3]
    assert answers[1][0].error == answers[3][0].error and "not valid against" not in answers[1][0].error
    assert answers[2][0].error.startswith("['components'][1]")
    title = {"embeds": [{"title": "x" * 257}], "components": [good]}
    for _ in range(2):
        [long_title] = spec.check("POST", f"{CHANNEL}/messages", {}, **_json(title))
        assert long_title.error.startswith("['embeds'][0]['title']: ") and long_title.error.endswith("is too long")
    assert spec.check("POST", f"{CHANNEL}/messages", {}, **_json({"components": [good], "nonce": "n2"})) == []


def test_multipart_requests_are_checked_on_payload_json(spec: DiscordSpec) -> None:
    ctype = "multipart/form-data; boundary=x"
    fields = ["payload_json", "files[0]"]
    good = {"content": "paper", "attachments": [{"id": "0", "filename": "a.pdf"}]}
    assert spec.check("POST", f"{CHANNEL}/messages", {}, content_type=ctype, body=good, form_fields=fields) == []
    bad = {"content": "x" * 4001}
    found = spec.check("POST", f"{CHANNEL}/messages", {}, content_type=ctype, body=bad, form_fields=[*fields, "x"])
    assert [v.part for v in found] == ["multipart", "payload_json"]
    assert "unexpected part 'x'" in found[0].error and "is too long" in found[1].error


def test_exemptions_are_one_field_of_one_route(spec: DiscordSpec) -> None:
    assert all(e.reason and e.field_path for e in EXEMPTIONS)
    # discord.py's integer recipient_id passes on its route, and only that field is read leniently ...
    assert spec.check("POST", "/users/@me/channels", {}, **_json({"recipient_id": 1234})) == []
    [other] = spec.check("POST", "/users/@me/channels", {}, **_json({"recipient_id": 1234, "access_tokens": 5}))
    assert other.error.startswith("['access_tokens']")
    # ... and an integer snowflake anywhere else is still a violation.
    [elsewhere] = spec.check("POST", f"{CHANNEL}/messages", {}, **_json({"sticker_ids": [1234]}))
    assert elsewhere.error.startswith("['sticker_ids'][0]")


def _json(body: object) -> dict[str, object]:
    return {"content_type": "application/json", "body": body}


CONFTEST = """
import tests.spec_conformance as conformance
from tests.spec_conformance import pytest_terminal_summary, spec_violations

conformance.SPEC_PATH = conformance.SPEC_PATH.parent / {name!r}
"""
TEST_FILE = """
import asyncio

import aiohttp

from bot.devtools.emulator import DiscordEmulator


def test_sends_an_embed_title_too_long():
    async def run():
        emu = DiscordEmulator()
        await emu.start()
        try:
            channel = emu.add_channel(emu.add_guild("g").id, "papers")
            headers = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}
            async with aiohttp.ClientSession() as session:
                url = f"{emu.api_base}/channels/{channel}/messages"
                async with session.post(url, json={"embeds": [{"title": "x" * 300}]}, headers=headers) as resp:
                    assert resp.status == 400  # Discord's own check answers as before
        finally:
            await emu.stop()

    asyncio.run(run())


def test_sends_nothing():
    pass
"""


def _run_suite(tmp_path: Path, spec_name: str, *options: str) -> str:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(name=spec_name))
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(TEST_FILE))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *options, str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two xdist workers"])
def test_a_violation_fails_the_test_that_caused_it(tmp_path: Path, spec: DiscordSpec, workers: list[str]) -> None:
    out = _run_suite(tmp_path, SPEC_PATH.name, *workers)
    assert "2 passed, 1 error" in out, out  # the error: the first test's teardown
    assert "ERROR at teardown of test_sends_an_embed_title_too_long" in out
    assert "['embeds'][0]['title']" in out and "request body:" in out
    assert "requests checked against openapi.json" in out


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two xdist workers"])
def test_without_the_specification_the_summary_says_so(tmp_path: Path, workers: list[str]) -> None:
    out = _run_suite(tmp_path, "absent.json", *workers)
    assert "2 passed" in out, out
    assert "Discord API specification NOT checked" in out and "absent.json not usable" in out
