"""Requirement IDs are defined in docs/requirements.md, and each one that is built has a
test naming it (see tests/requirements.py for what "naming" means)."""

from __future__ import annotations

from tests import requirements


def test_every_id_used_in_the_code_and_tests_is_defined() -> None:
    defined = requirements.defined()
    missing = {rid: sorted(files) for rid, files in requirements.used().items()}
    missing = {rid: files for rid, files in missing.items() if rid not in defined}
    assert missing == {}, "define these in docs/requirements.md"


def test_every_built_requirement_has_a_test_naming_it() -> None:
    tests = requirements.naming_tests()
    untested = [r.id for r in requirements.defined().values() if not r.planned and not tests[r.id]]
    assert untested == []


def test_statuses_are_known_and_built_requirements_list_tests() -> None:
    for requirement in requirements.defined().values():
        assert requirement.status in ("done", "planned"), requirement.id
        assert requirement.rule and requirement.source, requirement.id
        assert requirement.planned or requirement.tests, requirement.id


def test_every_listed_test_exists_and_names_its_requirement() -> None:
    tests = requirements.naming_tests()
    wrong = [
        (r.id, listed)
        for r in requirements.defined().values()
        for listed in r.tests
        if listed not in tests[r.id]
    ]
    assert wrong == []


def test_the_page_defines_every_id_of_the_design() -> None:
    ids = set(requirements.defined())
    for prefix, last in (("C", 6), ("A", 7), ("P", 4), ("M", 3), ("T", 5), ("S", 7)):
        assert {f"{prefix}{n}" for n in range(1, last + 1)} <= ids, prefix
    assert {"R1", "R2", "N1", "D1"} <= ids
