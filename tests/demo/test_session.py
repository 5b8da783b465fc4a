"""The demo session's building blocks in-process: the script's ``Click`` step finds a paper control by its action
word on the newest message that has one and clicks it through the emulator: the like is stored, the save DMs."""

from __future__ import annotations

import io

from bot.demo.script import Arrive, Click, Type
from bot.demo.session import READER, STAFF, DemoSession
from bot.models import Scope, Target


async def test_click_finds_the_control_by_action_word_and_prints_the_answer():
    out = io.StringIO()
    async with DemoSession(out) as session:
        await Type(STAFF, '/subscriptions add query:"long context" channel:#papers').run(session)
        await Arrive().run(session)
        await Click(READER, "papers", "like").run(session)
        await Click(READER, "papers", "save").run(session)
        await Type(STAFF, "/papers help").run(session)
        assert session.bot is not None
        target = Target(Scope.GUILD, session.channel_id("papers"))
        liked = [
            pid
            for pid in ("2403.10778", "2403.10926", "2403.12517")
            if (await session.bot.store.feedback_counts(target, pid)).likes
        ]
    text = out.getvalue()
    # The newest #papers message holds several papers, so the controls are selects: the first paper is chosen.
    assert len(liked) == 1, liked
    assert "ben clicks like on" in text and "You liked" in text
    assert "Sent" in text and "to your DMs" in text
    assert "ada in #general: /papers help" in text and "Query language" in text
