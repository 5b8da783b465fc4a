"""Reading a user's paper library: a BibTeX file or a Zotero CSV export, into (arXiv id, title) entries.

An entry is recognised by its arXiv id (``eprint``, an arxiv.org or huggingface.co/papers URL, a DOI
``10.48550/arXiv.*``, Zotero's ``arXiv:`` note in Extra) or else by its title. Parsing never touches the store.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from bot.models import normalize_arxiv_id

MAX_LIBRARY_BYTES = 1_000_000
MAX_ENTRIES = 5000
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(\S+)", re.IGNORECASE)
_ARXIV_URL = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/)(\S+)", re.IGNORECASE)
_ARXIV_NOTE = re.compile(r"arxiv:\s*(\S+)", re.IGNORECASE)


class LibraryError(ValueError):
    """The file cannot be read as a library; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    arxiv_id: str | None
    title: str

    @property
    def label(self) -> str:
        """How the reply names an entry it did not recognise."""
        return self.title or self.arxiv_id or "(untitled)"


def arxiv_id_of(*, eprint: str = "", url: str = "", doi: str = "", note: str = "") -> str | None:
    """The arXiv id an entry's fields name, if any (URLs and DOIs only when they are arXiv's)."""
    for pattern, text in ((_ARXIV_DOI, doi), (_ARXIV_URL, url), (_ARXIV_NOTE, note)):
        if (found := pattern.search(text)) and (arxiv_id := normalize_arxiv_id(found.group(1))):
            return arxiv_id
    return normalize_arxiv_id(eprint) if eprint.strip() else None


def parse_library(data: bytes, filename: str) -> list[LibraryEntry]:
    """Entries of a ``.bib`` or Zotero ``.csv`` file; LibraryError when it is neither, too big or empty."""
    if len(data) > MAX_LIBRARY_BYTES:
        raise LibraryError(
            f"The file is {len(data):,} bytes; libraries up to {MAX_LIBRARY_BYTES:,} bytes are accepted."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LibraryError("The file is not UTF-8 text; export your library as BibTeX (.bib) or CSV.") from None
    kind = filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""
    if kind == "bib":
        entries = _bibtex(text)
    elif kind == "csv":
        entries = _zotero_csv(text)
    else:
        raise LibraryError(f"{filename!r} is neither a .bib (BibTeX) nor a .csv (Zotero export) file.")
    if not entries:
        raise LibraryError(
            f"No entries found in {filename!r}; is it a {'BibTeX' if kind == 'bib' else 'Zotero CSV'} export?"
        )
    if len(entries) > MAX_ENTRIES:
        raise LibraryError(f"The file has {len(entries):,} entries; at most {MAX_ENTRIES:,} are imported at once.")
    return entries


def _bibtex(text: str) -> list[LibraryEntry]:
    import bibtexparser  # with pyparsing, ~50 ms: imported on the first import, not at start
    from bibtexparser.bparser import BibTexParser

    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False)
    try:
        database = bibtexparser.loads(text, parser=parser)
    except Exception as exc:  # the parser raises whatever its grammar hits; all mean "not BibTeX we can read"
        raise LibraryError(f"This is not valid BibTeX: {str(exc)[:200]}") from None
    return [
        LibraryEntry(
            arxiv_id_of(
                eprint=e.get("eprint", "") if e.get("archiveprefix", "arxiv").casefold() == "arxiv" else "",
                url=e.get("url", ""),
                doi=e.get("doi", ""),
                note=e.get("journal", "") + " " + e.get("note", ""),
            ),
            _clean_title(e.get("title", "")),
        )
        for e in database.entries
    ]


def _zotero_csv(text: str) -> list[LibraryEntry]:
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise LibraryError(f"This is not a valid CSV file: {exc}") from None
    if rows and "Title" not in rows[0]:
        raise LibraryError("This CSV has no Title column; export from Zotero with File → Export Library… → CSV.")
    return [
        LibraryEntry(
            arxiv_id_of(url=r.get("Url") or "", doi=r.get("DOI") or "", note=r.get("Extra") or ""),
            _clean_title(r.get("Title") or ""),
        )
        for r in rows
    ]


def _clean_title(title: str) -> str:
    return " ".join(title.replace("{", "").replace("}", "").split())
