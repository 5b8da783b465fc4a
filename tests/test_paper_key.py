"""How /papers show and explain read the id a person types or pastes (issue 16 item 16)."""

import pytest

from bot.models import paper_key


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("doi:10.1145/3583780.3614920", "doi:10.1145/3583780.3614920"),  # as the embed footer prints it
        ("  DOI:10.1145/3583780.3614920 ", "doi:10.1145/3583780.3614920"),
        ("10.1016/j.jpeds.2018.08.009", "doi:10.1016/j.jpeds.2018.08.009"),
        ("https://doi.org/10.1016/J.JPEDS.2018.08.009", "doi:10.1016/j.jpeds.2018.08.009"),
        ("doi:https://dx.doi.org/10.1101/2023.12.01.569559", "doi:10.1101/2023.12.01.569559"),
        ("rss:0a1b2c3d4e5f6789", "rss:0a1b2c3d4e5f6789"),
        ("2403.01234v2", "2403.01234"),
        ("arXiv 2403.01234", "2403.01234"),
        ("https://arxiv.org/abs/2403.01234v3", "2403.01234"),
        ("https://huggingface.co/papers/2403.01234", "2403.01234"),
        ("hep-ex/0307015v1", "hep-ex/0307015"),
        ("something else", "something else"),
    ],
)
def test_paper_key(typed, stored):
    assert paper_key(typed) == stored
