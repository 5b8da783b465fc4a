"""Normalization, tokenization and stemming."""

from __future__ import annotations

import pytest

from bot.matching.text import normalize, stem, stem_all, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Long-Context LLMs", ["long", "context", "llms"]),
        ("GPT-4/Llama_2", ["gpt", "4", "llama", "2"]),
        ("don't stop", ["don", "t", "stop"]),
        ("S^2IP-LLM: a (new) model.", ["s", "2ip", "llm", "a", "new", "model"]),
        ("Müller, Łukasz, Ångström", ["muller", "łukasz", "angstrom"]),
        ("ﬁne-tuning ＧＰＴ x²", ["fine", "tuning", "gpt", "x2"]),
        ("STRASSE straße", ["strasse", "strasse"]),
        ("日本語の論文", ["日本語の論文"]),
        ("", []),
        ("!!! --- ...", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_normalize_strips_accents_and_folds_case() -> None:
    assert normalize("Ÿé ÀÉ") == "ye ae"


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("llms", "llm"),
        ("llm", "llm"),
        ("models", "model"),
        ("transformers", "transform"),
        ("news", "new"),
        ("retrieval", "retriev"),
        # Like SQLite FTS5's porter tokenizer, tokens under three characters are left alone.
        ("s", "s"),
        ("is", "is"),
        ("gpt4", "gpt4"),
    ],
)
def test_stem(token: str, expected: str) -> None:
    assert stem(token) == expected


def test_stem_all_keeps_order() -> None:
    assert stem_all(["models", "llms", "models"]) == ["model", "llm", "model"]
