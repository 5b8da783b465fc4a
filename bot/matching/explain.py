"""Why a query did or did not match a paper: which terms hit, and which part failed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.matching.document import PaperDocument
from bot.matching.matcher import compile_term
from bot.matching.nodes import And, Node, Not, Or, Term, describe
from bot.matching.query import Query


@dataclass(frozen=True, slots=True)
class Explanation:
    """The verdict, the terms found in the paper, and the parts that kept it from matching."""

    matched: bool
    hits: tuple[str, ...]
    failures: tuple[str, ...]


def explain(query: Query, doc: PaperDocument) -> Explanation:
    """Evaluate ``query`` on ``doc`` term by term, keeping what hit and what failed (as query text)."""
    hits: list[str] = []
    failures: list[str] = []
    matched = _walk(query.root, doc, hits, failures)
    return Explanation(matched, tuple(dict.fromkeys(hits)), tuple(dict.fromkeys(failures)) if not matched else ())


def _walk(node: Node, doc: PaperDocument, hits: list[str], failures: list[str]) -> bool:
    match node:
        case Term():
            found = compile_term(node)(doc)
            if found:
                hits.append(describe(node))
            else:
                failures.append(f"{describe(node)} is not in the paper")
            return found
        case Not(child=child):
            # What the excluded part contains is not a hit, and its failures are the paper's luck.
            present = _walk(child, doc, [], [])
            if present:
                failures.append(f"it contains {describe(child)}, which the query excludes")
            return not present
        case And(children=children):
            results = [_walk(child, doc, hits, failures) for child in children]
            return all(results)
        case Or(children=children):
            # One failing alternative is not a reason: only all of them failing is, said once.
            results = [_walk(child, doc, hits, []) for child in children]
            if not any(results):
                failures.append("none of " + ", ".join(map(describe, children)) + " is in the paper")
            return any(results)
