"""The functions user SQL may call: the reviewed list in ``sql_functions.txt``, resolved the way
ClickHouse resolves names (exact first, then case-insensitively for functions registered so, and
aggregate combinators such as ``-If`` or ``-State`` down to their base aggregate)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

# system.aggregate_function_combinators of 24.8 and 26.x ("Tuple" is 26.x only).
COMBINATORS = (
    "SimpleState", "OrDefault", "Distinct", "Resample", "ForEach", "ArgMax", "ArgMin", "OrNull", "Tuple",
    "Merge", "State", "Array", "Null", "Map", "If",
)  # fmt: skip
_MAX_COMBINATORS = 4  # sumIfArrayMergeState-like chains; deeper ones are refused

_PAIRS = "its work is the product of its arguments' lengths and the time cap cannot stop a call"
_EDIT = _PAIRS + " (ClickHouse's own cap of 65,536 bytes a string still allows 7.6 s for one pair)"
_HYPERSCAN = "it compiles its patterns when the query runs, in time that grows faster than the patterns (2,000: 7 s)"
# Functions whose work for one row grows faster than the length of their arguments, with no cap
# that keeps one call short. ClickHouse checks the time cap between blocks of rows, never inside
# a call, so one such call (or a block of 8,192 of them) runs on for minutes past
# api.sql_max_seconds. gen_sql_functions.py leaves them out of the list; a refusal says why.
UNBOUNDED_WORK = {
    "arrayLevenshteinDistance": _PAIRS + " (two 150,000-element arrays: 70 s)",
    "arrayLevenshteinDistanceWeighted": _PAIRS,
    "arraySimilarity": _PAIRS,
    "editDistance": _EDIT,
    "editDistanceUTF8": _EDIT,
    "levenshteinDistance": _EDIT,
    "levenshteinDistanceUTF8": _EDIT,
    "damerauLevenshteinDistance": _EDIT,
    "hasAny": _PAIRS + " (two 100,000-element arrays: 7 s); arrayExists(x -> has(b, x), a) answers the same "
    "within the memory cap",
    "hasAll": _PAIRS + " (two 100,000-element arrays: 7 s); arrayAll(x -> has(a, x), b) answers the same "
    "within the memory cap",
    "arrayFold": "each step copies its accumulator, so an array or string accumulator makes its work quadratic "
    "and the time cap cannot stop a call (60,000 elements: 2.7 s)",
    "multiMatchAny": _HYPERSCAN,
    "multiMatchAnyIndex": _HYPERSCAN,
    "multiMatchAllIndices": _HYPERSCAN,
    "multiFuzzyMatchAny": _HYPERSCAN,
    "multiFuzzyMatchAnyIndex": _HYPERSCAN,
    "multiFuzzyMatchAllIndices": _HYPERSCAN,
}


@dataclass(frozen=True)
class FunctionAllowlist:
    scalar: frozenset[str]
    aggregate: frozenset[str]
    folded: dict[str, str]
    """Lower-cased names of the case-insensitive functions -> their listed name."""

    def allows(self, name: str) -> bool:
        return self._kind(name) is not None or self._aggregate_with_combinators(name, _MAX_COMBINATORS)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.allows(name)

    def __repr__(self) -> str:
        return f"FunctionAllowlist({len(self.scalar)} scalar, {len(self.aggregate)} aggregate)"

    def __len__(self) -> int:
        return len(self.scalar) + len(self.aggregate)

    def _kind(self, name: str) -> str | None:
        listed = name if name in self.scalar or name in self.aggregate else self.folded.get(name.lower())
        if listed is None:
            return None
        return "a" if listed in self.aggregate else "s"

    def _aggregate_with_combinators(self, name: str, depth: int) -> bool:
        if depth == 0:
            return False
        for suffix in COMBINATORS:
            base = name[: -len(suffix)]
            if (
                name.endswith(suffix)
                and base
                and (self._kind(base) == "a" or self._aggregate_with_combinators(base, depth - 1))
            ):
                return True
        return False


def parse(text: str) -> FunctionAllowlist:
    scalar: set[str] = set()
    aggregate: set[str] = set()
    folded = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] not in ("s", "a") or parts[2] not in ("0", "1"):
            raise ValueError(f"sql_functions.txt:{number}: expected 'name s|a 0|1', got {line!r}")
        name, kind, ci = parts
        (aggregate if kind == "a" else scalar).add(name)
        if ci == "1":
            folded[name.lower()] = name
    return FunctionAllowlist(frozenset(scalar), frozenset(aggregate), folded)


@cache
def allowlist() -> FunctionAllowlist:
    """The packaged list, read once."""
    return parse(resources.files(__package__).joinpath("sql_functions.txt").read_text(encoding="utf-8"))
