"""Discord's official OpenAPI 3.1 specification as a judge of every REST request the bot sends.

``DiscordSpec.load(path)`` reads the specification once (it is over 1 MB) and answers ``check(...)`` for a
request: does the path exist with that method, are the path and query parameters and the JSON body (or a
multipart request's ``payload_json`` part) valid against its schemas? Schemas are checked with ``jsonschema``
(Draft 2020-12), every ``$ref`` resolved through a ``referencing`` registry that holds the whole document, and
each operation's validators are built on first use and kept. The emulator records what ``check`` finds
(``DiscordEmulator.spec_violations``); the test suite fails the test that caused one.

A few deliberate exceptions (``EXEMPTIONS``) cover what discord.py sends differently from the letter of the
specification while Discord accepts it; each names one field of one route, and why.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is a dev dependency: emulators that check nothing run without it
    from jsonschema import Draft202012Validator

_DOCUMENT_URI = "urn:discord-api-spec:openapi"
_METHODS = ("get", "put", "post", "patch", "delete")
_MAX_REMEMBERED = 100_000  # (schema, value) pairs known valid; forgotten all at once beyond this
_FILE_FIELD = re.compile(r"files\[\d+\]")
#: Discord reads a boolean query string as Python's truthiness of these words (docs: "Boolean Query Strings").
_QUERY_BOOLEANS = {"true": True, "True": True, "1": True, "false": False, "False": False, "0": False}


def _as_string(value: Any) -> Any:
    """An integer id read as the string Discord's schema declares (Discord parses either)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class Exemption:
    """One deliberate exception: on ``method template``, the body field at ``field_path`` is read through
    ``read`` before validation. Everything else in the request is still checked."""

    method: str
    template: str
    field_path: tuple[str, ...]
    read: Callable[[Any], Any]
    reason: str


#: Keep this list short and every entry as narrow as one field of one route.
EXEMPTIONS: tuple[Exemption, ...] = (
    Exemption(
        "POST",
        "/users/@me/channels",
        ("recipient_id",),
        _as_string,
        "discord.py's start_private_message sends the user id as a JSON integer; the spec declares a "
        "snowflake string and Discord accepts both",
    ),
)


@dataclass(frozen=True)
class SpecViolation:
    """A request that breaks the specification: where (``part``: path, query parameter, body) and why."""

    method: str
    path: str
    template: str | None
    part: str
    error: str
    body: Any = None

    def __str__(self) -> str:
        route = f" (spec: {self.method} {self.template})" if self.template else ""
        text = f"{self.method} {self.path}{route}: {self.part}: {self.error}"
        if self.body is not None:
            shown = json.dumps(self.body, default=str)
            text += f"\n    request body: {shown[:600]}{' ...' if len(shown) > 600 else ''}"
        return text


@dataclass
class _Operation:
    """One (method, path template) of the specification: where its schemas live in the document."""

    template: str
    method: str
    params: dict[tuple[str, str], tuple[str, bool]]  # (location, name) -> (JSON pointer of schema, required)
    bodies: dict[str, str]  # content type -> JSON pointer of schema
    body_required: bool
    exemptions: list[Exemption] = field(default_factory=list)


def _remember(known: set[tuple[str, bytes]], key: tuple[str, bytes]) -> None:
    if len(known) >= _MAX_REMEMBERED:
        known.clear()
    known.add(key)


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class DiscordSpec:
    """The specification's operations, with validators compiled on first use and kept for the session."""

    def __init__(self, document: Mapping[str, Any], source: str = "openapi.json") -> None:
        self.source = source
        self.checked = 0  # requests checked so far
        self.seconds = 0.0  # time spent checking them
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        resource: Resource[Any] = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, resource)
        self._validators: dict[tuple[str, bool], Draft202012Validator] = {}
        self._valid_refs: set[tuple[str, bytes]] = set()
        self._invalid_refs: set[tuple[str, bytes]] = set()
        self._validator_classes = {
            verdict: self._memoizing_validator_class(verdict_only=verdict) for verdict in (False, True)
        }
        self._operations: dict[tuple[str, str], _Operation] = {}
        self._templates: list[tuple[str, list[str]]] = []
        for template, item in document.get("paths", {}).items():
            self._templates.append((template, template.strip("/").split("/")))
            shared = item.get("parameters", [])
            for method in _METHODS:
                if method in item:
                    self._operations[(method.upper(), template)] = self._operation(template, method, item, shared)
        for exemption in EXEMPTIONS:
            self._operations[(exemption.method, exemption.template)].exemptions.append(exemption)

    @classmethod
    def load(cls, path: Path) -> DiscordSpec:
        """Read the specification file (``OSError``/``ValueError`` if it is missing or not JSON)."""
        return cls(json.loads(path.read_text(encoding="utf-8")), source=str(path))

    def _operation(self, template: str, method: str, item: Mapping[str, Any], shared: list[Any]) -> _Operation:
        op = item[method]
        params: dict[tuple[str, str], tuple[str, bool]] = {}
        lists = (((template, "parameters"), shared), ((template, method, "parameters"), op.get("parameters", [])))
        for where, plist in lists:
            for index, param in enumerate(plist):
                pointer = _pointer("paths", *where, str(index), "schema")
                params[(param["in"], param["name"])] = (pointer, bool(param.get("required")))
        body = op.get("requestBody") or {}
        bodies = {
            ctype: _pointer("paths", template, method, "requestBody", "content", ctype, "schema")
            for ctype in body.get("content", {})
        }
        return _Operation(template, method.upper(), params, bodies, bool(body.get("required")))

    def _validator(self, pointer: str, *, verdict_only: bool = False) -> Draft202012Validator:
        validator = self._validators.get((pointer, verdict_only))
        if validator is None:
            cls = self._validator_classes[verdict_only]
            validator = cls({"$ref": f"{_DOCUMENT_URI}#{pointer}"}, registry=self._registry)
            self._validators[(pointer, verdict_only)] = validator
        return validator

    def _memoizing_validator_class(self, *, verdict_only: bool) -> type[Draft202012Validator]:
        """Draft 2020-12, except that a ``$ref`` already found valid for an equal value is not checked again:
        the same embeds go to many channels and every bot start syncs the same commands, and checking a
        command list costs ~0.2 s. The full validator keeps only successes (an error's paths are rewritten as
        it rises); the ``verdict_only`` one, asked only whether a value is valid, keeps failures too, as one
        bare error: a message's components fail every other branch of a ``oneOf`` each time, which cost
        ~10 ms a message and, on the emulator's event loop, delayed the requests behind it."""
        from jsonschema import Draft202012Validator, ValidationError, validators

        check_ref = Draft202012Validator.VALIDATORS["$ref"]
        valid, invalid = self._valid_refs, self._invalid_refs

        def ref(validator: Any, ref: str, instance: Any, schema: Any) -> Iterator[Any]:
            if not isinstance(instance, dict | list):
                yield from check_ref(validator, ref, instance, schema)
                return
            key = (ref, hashlib.blake2b(json.dumps(instance, sort_keys=True, default=str).encode()).digest())
            if key in valid:
                return
            if verdict_only and key in invalid:
                yield ValidationError(f"not valid against {ref} (found before)")
                return
            errors = list(check_ref(validator, ref, instance, schema))
            if not errors:
                _remember(valid, key)
            elif verdict_only:
                _remember(invalid, key)
            yield from errors

        extended: type[Draft202012Validator] = validators.extend(Draft202012Validator, {"$ref": ref})
        return extended

    def _error(self, pointer: str, instance: Any) -> str | None:
        from jsonschema.exceptions import best_match

        if self._validator(pointer, verdict_only=True).is_valid(instance):
            return None
        error = best_match(self._validator(pointer).iter_errors(instance))
        if error is None:
            return None
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        message = error.message  # it quotes the offending value: keep its start and the verdict at the end
        if len(message) > 300:
            message = f"{message[:150]} ... {message[-120:]}"
        return f"{where or 'the value'}: {message}"

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """The specification's path template for ``path`` (literal segments win over ``{parameters}``) and
        the parameter values, or None when no template has that shape."""
        segments = path.strip("/").split("/")
        best: tuple[int, str, dict[str, str]] | None = None
        for template, parts in self._templates:
            if len(parts) != len(segments):
                continue
            values: dict[str, str] = {}
            literal = 0
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{") and part.endswith("}"):
                    values[part[1:-1]] = segment
                elif part == segment:
                    literal += 1
                else:
                    break
            else:
                score = literal * 2 + ((method, template) in self._operations)
                if best is None or score > best[0]:
                    best = (score, template, values)
        return None if best is None else (best[1], best[2])

    def check(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        *,
        content_type: str = "",
        body: Any = None,
        form_fields: list[str] | None = None,
    ) -> list[SpecViolation]:
        """Every way this request breaks the specification (empty: it conforms). ``path`` is without
        ``/api/v10``; a multipart request passes its ``payload_json`` as ``body`` and its part names as
        ``form_fields``."""
        started = time.perf_counter()
        try:
            return self._check(method, path, query, content_type, body, form_fields)
        finally:
            self.checked += 1
            self.seconds += time.perf_counter() - started

    def _check(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        content_type: str,
        body: Any,
        form_fields: list[str] | None,
    ) -> list[SpecViolation]:
        found = self.match(method, path)
        if found is None:
            return [SpecViolation(method, path, None, "path", "no such path in Discord's API", body)]
        template, values = found
        op = self._operations.get((method, template))
        if op is None:
            return [SpecViolation(method, path, template, "method", f"{method} is not allowed on this path", body)]

        def violation(part: str, error: str) -> SpecViolation:
            return SpecViolation(method, path, template, part, error, body)

        out: list[SpecViolation] = []
        for name, value in values.items():
            pointer = op.params.get(("path", name), (None, True))[0]
            error = self._error(pointer, value) if pointer else None
            if error:
                out.append(violation(f"path parameter {name}", error))
        for name, raw in query.items():
            if ("query", name) not in op.params:
                out.append(violation(f"query parameter {name}", "not a parameter of this operation"))
                continue
            error = self._query_error(op.params[("query", name)][0], raw)
            if error:
                out.append(violation(f"query parameter {name}", error))
        for (where, name), (_, required) in op.params.items():
            if where == "query" and required and name not in query:
                out.append(violation(f"query parameter {name}", "required but missing"))
        out.extend(violation(part, error) for part, error in self._body_errors(op, content_type, body, form_fields))
        return out

    def _query_error(self, pointer: str, raw: str) -> str | None:
        """A query string is text: it conforms if it does as text, as a number or as one of Discord's
        boolean words."""
        candidates: list[Any] = [raw]
        if re.fullmatch(r"-?\d+", raw):
            candidates.append(int(raw))
        if raw in _QUERY_BOOLEANS:
            candidates.append(_QUERY_BOOLEANS[raw])
        errors = [self._error(pointer, candidate) for candidate in candidates]
        return None if None in errors else errors[-1]

    def _body_errors(
        self, op: _Operation, content_type: str, body: Any, form_fields: list[str] | None
    ) -> list[tuple[str, str]]:
        ctype = content_type.split(";")[0].strip().lower()
        if body is None and form_fields is None:
            return [("body", "required but missing")] if op.body_required else []
        if not op.bodies:
            return [("body", "this operation takes no body")]
        if ctype not in op.bodies:
            return [("body", f"content type {ctype or 'none'!r} not accepted (accepted: {sorted(op.bodies)})")]
        out: list[tuple[str, str]] = []
        part = "body"
        if form_fields is not None:
            part = "payload_json"
            out.extend(
                ("multipart", f"unexpected part {name!r}")
                for name in form_fields
                if name != "payload_json" and not _FILE_FIELD.fullmatch(name)
            )
        error = self._error(op.bodies[ctype], self._exempted(op, body))
        if error:
            out.append((part, error))
        return out

    @staticmethod
    def _exempted(op: _Operation, body: Any) -> Any:
        """The body as validated: each exemption's field read through its ``read``."""
        if not op.exemptions or not isinstance(body, dict):
            return body
        body = json.loads(json.dumps(body))
        for exemption in op.exemptions:
            *parents, last = exemption.field_path
            node: Any = body
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and last in node:
                node[last] = exemption.read(node[last])
        return body


_default_spec: DiscordSpec | None = None
_listener: Callable[[list[SpecViolation]], None] | None = None


def use_by_default(spec: DiscordSpec | None, listener: Callable[[list[SpecViolation]], None] | None = None) -> None:
    """Make every emulator created from now on check requests against ``spec`` (None: stop checking), and
    tell ``listener`` what any of them finds (the test suite fails the test during which it was found)."""
    global _default_spec, _listener
    _default_spec, _listener = spec, listener


def default_spec() -> DiscordSpec | None:
    """The specification a new emulator checks against (None unless ``use_by_default`` set one)."""
    return _default_spec


def report(violations: list[SpecViolation]) -> None:
    """Pass an emulator's findings to the listener ``use_by_default`` set."""
    if violations and _listener is not None:
        _listener(violations)
