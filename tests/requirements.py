"""Requirement IDs: where the code and the tests use them, and what docs/requirements.md
defines. ``python -m tests.requirements`` prints, per ID, the tests that name it.

A test names an ID in its name, its docstring or its module's docstring.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "requirements.md"
# Never inside a word, so not the hour of a timestamp written like 2026-11-01T09:00.
ID = re.compile(r"(?<![\w}])([ACDMNPRST][1-9][0-9]?)\b")
# One row of the doc's tables: | ID | status | rule | source | tests |
ROW = re.compile(r"^\|\s*\*\*([ACDMNPRST][1-9][0-9]?)\*\*\s*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|")
SOURCES = ("controller", "tests", "bench")


@dataclass(frozen=True)
class Requirement:
    id: str
    status: str
    rule: str
    source: str
    tests: tuple[str, ...]

    @property
    def planned(self) -> bool:
        return self.status == "planned"


def defined() -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        rid, status, rule, source, tests = (part.strip() for part in match.groups())
        if rid in found:
            raise ValueError(f"{rid} is defined twice in {DOC.name}")
        listed = tuple(t.strip(" `") for t in tests.split(",") if t.strip(" `-"))
        found[rid] = Requirement(rid, status, rule, source, listed)
    return found


def used() -> dict[str, set[str]]:
    """ID -> the files of the code and tests that mention it."""
    where: dict[str, set[str]] = defaultdict(set)
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for match in ID.finditer(path.read_text(encoding="utf-8")):
                where[match.group(1)].add(str(path.relative_to(REPO)))
    return where


def _ids(text: str | None) -> set[str]:
    return set(ID.findall(text or ""))


def naming_tests() -> dict[str, set[str]]:
    """ID -> ``path::test`` of every test that names it."""
    tests: dict[str, set[str]] = defaultdict(set)
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = _ids(ast.get_docstring(tree))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"
            ):
                own = _ids(node.name.upper().replace("_", " ")) | _ids(ast.get_docstring(node))
                for rid in own | module:
                    tests[rid].add(f"{path.relative_to(REPO)}::{node.name}")
    return tests


def main() -> None:
    tests = naming_tests()
    for rid in sorted(set(tests) | set(used()), key=lambda r: (r[0], int(r[1:]))):
        print(f"{rid}: {', '.join(sorted(tests.get(rid, ()))) or '-'}")


if __name__ == "__main__":
    main()
