"""The paper controls stay within Discord's component limits and carry the contract's custom_ids."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.controls import ACTIONS, BUTTON_TEMPLATE, SELECT_TEMPLATE, paper_controls
from tests.conftest import make_paper


def _within_limits(rows):
    assert len(rows) <= 5
    for row in rows:
        assert row["type"] == 1 and 1 <= len(row["components"]) <= 5
        for item in row["components"]:
            assert 1 <= len(item["custom_id"]) <= 100
            if item["type"] == 3:
                assert len(row["components"]) == 1
                assert 1 <= len(item["options"]) <= 25
                assert len({o["value"] for o in item["options"]}) == len(item["options"])
                for option in item["options"]:
                    assert 1 <= len(option["label"]) <= 100 and len(option["value"]) <= 100


def test_one_paper_gets_four_buttons_with_action_and_arxiv_id():
    (row,) = paper_controls([make_paper(1)])
    ids = [b["custom_id"] for b in row["components"]]
    assert ids == [f"paper:{a}:2411.00001" for a in ACTIONS]
    assert all(re.fullmatch(BUTTON_TEMPLATE, i) for i in ids)


def test_several_papers_get_one_select_per_action_listing_the_first_25():
    papers = [make_paper(n) for n in range(1, 31)]
    rows = paper_controls(papers)
    _within_limits(rows)
    assert [r["components"][0]["custom_id"] for r in rows] == [f"papers:{a}" for a in ACTIONS]
    assert all(re.fullmatch(SELECT_TEMPLATE, r["components"][0]["custom_id"]) for r in rows)
    assert [o["value"] for o in rows[0]["components"][0]["options"]] == [p.id for p in papers[:25]]


def test_papers_whose_ids_do_not_fit_get_no_control():
    long_doi = "doi:10.1000/" + "x" * 120
    assert paper_controls([make_paper(1, id=long_doi)]) == []
    rows = paper_controls([make_paper(1, id=long_doi), make_paper(2)])
    assert [o["value"] for o in rows[0]["components"][0]["options"]] == ["2411.00002"]


@given(st.lists(st.text(min_size=0, max_size=400), min_size=1, max_size=40))
def test_any_titles_stay_within_limits(titles):
    papers = [make_paper(n, title=t) for n, t in enumerate(titles, start=1)]
    _within_limits(paper_controls(papers))
