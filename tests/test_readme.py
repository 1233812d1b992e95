"""The README's set-up commands and documented commands/variables match the code."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from ruhu.cli import app
from server.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SERVE = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && ruhu serve --demo"
TEST = ('python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" '
        "&& python -m pytest")


def _blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", README, flags=re.S)]


def test_the_two_setup_commands_come_first_each_in_its_own_block():
    assert _blocks()[:2] == [SERVE, TEST]


def test_documented_commands_exist():
    runner = CliRunner()
    for command in ("serve", "migrate", "create-user", "demo", "client"):
        assert f"ruhu {command}" in README
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
    assert "--password-stdin" in runner.invoke(app, ["create-user", "--help"]).output


def test_documented_settings_exist():
    fields = set(Settings.model_fields)
    names = re.findall(r"`RUHU_([A-Z_]+)`", README)
    assert names
    for name in names:
        assert name.lower() in fields, name


def test_exactly_two_setup_commands_and_ci_runs_the_test_one_verbatim():
    assert _blocks() == [SERVE, TEST]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST in ci.splitlines()
