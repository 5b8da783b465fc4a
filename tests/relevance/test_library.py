"""Reading BibTeX and Zotero CSV libraries (``/alerts import``), and the titles they are matched by."""

from __future__ import annotations

import pytest

from bot.relevance.library import MAX_LIBRARY_BYTES, LibraryError, arxiv_id_of, parse_library
from bot.store.profiles import normalise_title


def test_bibtex_entries_are_recognised_by_eprint_url_doi_or_kept_by_title():
    bib = rb"""
    @string{conf = "NeurIPS"}
    @article{a, title={{Attention} Is All You Need}, eprint={1706.03762v7}, archivePrefix={arXiv}}
    @misc{b, title={B}, url={https://huggingface.co/papers/2403.01234}}
    @article{c, title={C}, doi={10.48550/ARXIV.2310.06825}}
    @article{d, title={Not arXiv}, doi={10.1038/nature14539}, url={https://www.nature.com/articles/1234.56789}}
    @inproceedings{e, title={An Old One}, eprint={hep-th/9901001}, booktitle=conf}
    @article{f, title={Elsewhere}, eprint={12345}, archivePrefix={HAL}}
    """
    entries = parse_library(bib, "refs.bib")
    assert [e.arxiv_id for e in entries] == ["1706.03762", "2403.01234", "2310.06825", None, "hep-th/9901001", None]
    assert entries[0].title == "Attention Is All You Need"


def test_a_zotero_csv_export_uses_url_doi_and_the_extra_note():
    csv_text = (
        '\ufeff"Key","Item Type","Title","Url","DOI","Extra"\n'
        '"K1","preprint","Mamba: Linear-Time Sequence Modeling","http://arxiv.org/abs/2312.00752","",""\n'
        '"K2","journalArticle","Some Journal Paper","https://example.org/x","10.1000/xyz","arXiv: 2401.04088"\n'
        '"K3","journalArticle","Just a Title","","",""\n'
    ).encode()
    entries = parse_library(csv_text, "Exported Items.csv")
    assert [(e.arxiv_id, e.title) for e in entries] == [
        ("2312.00752", "Mamba: Linear-Time Sequence Modeling"),
        ("2401.04088", "Some Journal Paper"),
        (None, "Just a Title"),
    ]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"%" * (MAX_LIBRARY_BYTES + 1), "big.bib", "bytes"),
        (b"\xff\xfe\x00bad", "x.bib", "not UTF-8"),
        (b"hello", "notes.txt", "neither a .bib"),
        (b"just some words", "x.bib", "No entries"),
        (b"a,b\n1,2\n", "x.csv", "no Title column"),
        (b"", "empty.csv", "No entries"),
    ],
)
def test_bad_files_get_a_clear_error(data, name, message):
    with pytest.raises(LibraryError, match=message):
        parse_library(data, name)


def test_arxiv_ids_only_from_arxiv_urls_and_dois():
    assert arxiv_id_of(url="https://example.org/2403.01234") is None
    assert arxiv_id_of(doi="10.1234/2403.01234") is None
    assert arxiv_id_of(url="https://arxiv.org/pdf/2403.01234v3") == "2403.01234"


def test_titles_compare_without_case_accents_braces_or_punctuation():
    assert normalise_title("{BERT}: Pre-training of  Deep Bidirectional Transformers") == normalise_title(
        "bert pre training of deep bidirectional transformers"
    )
    assert normalise_title("Café Models") == normalise_title("cafe models")
