"""JSON request bodies, parsed so that every failure is a ``BadJson`` with a message for the client
(never a RecursionError or an OverflowError reaching the server)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any


class BadJson(ValueError):
    """A body that is not acceptable JSON; the message says why."""


def _reject_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number: write null for a missing value")


def load_json(body: bytes | str, what: str = "body", max_depth: int | None = 32, constants: bool = False) -> Any:
    """A JSON document. Nesting deeper than ``max_depth`` levels is refused (None: only what
    the parser itself can nest, about 1000 levels), and so are the non-standard constants
    NaN, Infinity and -Infinity unless ``constants``."""
    try:
        value = json.loads(body) if constants else json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise BadJson(f"{what} is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadJson(f"{what} is not UTF-8") from None
    except BadJson as exc:
        raise BadJson(f"{what}: {exc}") from None
    except ValueError as exc:
        raise BadJson(f"{what} is not JSON: {exc}") from None
    if max_depth is not None and nesting_depth(value) > max_depth:
        raise BadJson(f"{what} is nested deeper than {max_depth} levels")
    return value


def nesting_depth(value: Any) -> int:
    """How many lists and objects deep ``value`` goes (walked without recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
Convert = Callable[[str, str, Any], Any]


def load_object(text: str, nested: tuple[str, ...], convert: Convert, what: str = "body") -> dict[str, Any]:
    """The JSON object ``text``, parsed a member at a time. Each member of the members named in
    ``nested`` (when they are objects) goes through ``convert(member, name, value)`` as soon as
    it is parsed, so a large document never exists whole as Python objects."""

    def member(key: str, pos: int) -> int:
        if key in nested and text.startswith("{", pos):
            inner: dict[str, Any] = {}

            def inner_member(name: str, at: int) -> int:
                value, end = _DECODER.raw_decode(text, at)
                inner[name] = convert(key, name, value)
                return end

            end = _members(text, pos, inner_member)
            out[key] = inner
            return end
        out[key], end = _DECODER.raw_decode(text, pos)
        return int(end)

    out: dict[str, Any] = {}
    try:
        end = _members(text, _skip(text, 0), member)
        if _skip(text, end) != len(text):
            raise json.JSONDecodeError("extra data after the object", text, end)
    except RecursionError:
        raise BadJson(f"{what} is nested too deeply") from None
    except BadJson as exc:
        raise BadJson(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadJson(f"{what} is not a JSON object: {exc}") from None
    return out


def _skip(text: str, pos: int) -> int:
    """Where the whitespace at ``pos`` ends."""
    m = _SPACE.match(text, pos)
    return m.end() if m else pos


def _members(text: str, pos: int, member: Callable[[str, int], int]) -> int:
    """Hands each member of the object at ``pos`` to ``member(name, value position)``, which
    returns where the value ends; returns where the object ends."""
    if not text.startswith("{", pos):
        raise json.JSONDecodeError("expecting an object", text, pos)
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        return pos + 1
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError("expecting a member name in double quotes", text, pos)
        name, pos = scanstring(text, pos + 1)
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("expecting ':'", text, pos)
        pos = _skip(text, member(name, _skip(text, pos + 1)))
        if text.startswith("}", pos):
            return pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("expecting ',' or '}'", text, pos)
        pos = _skip(text, pos + 1)
