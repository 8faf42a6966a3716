"""``python -m tests.prepare`` on a machine without Chromium: the suite's browser tests
could not run, so it stops at once and says how to get the browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.sandbox import Sandbox
from tests import prepare


def test_prepare_without_chromium_names_dev_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    def no_build(self: object) -> None:
        raise AssertionError("the sandbox was built without a browser to test with")

    monkeypatch.setattr(Sandbox, "ensure_built", no_build)

    assert prepare.main() == 1
    message = capsys.readouterr().err
    assert "'chromium' is not on the PATH" in message
    assert "./dev test" in message and "apt-get install chromium" in message
