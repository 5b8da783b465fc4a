"""Why a query did or did not match a paper: which terms hit, and which part failed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.matching.document import PaperDocument
from bot.matching.matcher import compile_term
from bot.matching.nodes import And, Node, Not, Term
from bot.matching.query import Query, describe


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
    if isinstance(node, Term):
        found = compile_term(node)(doc)
        if found:
            hits.append(describe(node))
        else:
            failures.append(f"{describe(node)} is not in the paper")
        return found
    if isinstance(node, Not):
        inner_hits: list[str] = []
        present = _walk(node.child, doc, inner_hits, [])
        if present:
            failures.append(f"it contains {describe(node.child)}, which the query excludes")
        return not present
    if isinstance(node, And):
        results = [_walk(child, doc, hits, failures) for child in node.children]
        return all(results)
    child_failures: list[str] = []
    results = [_walk(child, doc, hits, child_failures) for child in node.children]
    if not any(results):
        failures.append("none of " + ", ".join(describe(c) for c in node.children) + " is in the paper")
    return any(results)
