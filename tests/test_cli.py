"""The `qunbot` command line explains itself: a description on every subcommand's --help, and --version."""
import argparse
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["run", "simulate", "console", "db", "backup", "restore", "export", "gateway"]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_is_listed_with_a_summary_and_has_a_description():
    parser = build_parser()
    assert parser.description and "学习型社群" in parser.description
    subs = subparsers(parser)
    assert sorted(subs) == sorted(SUBCOMMANDS)
    summaries = {a.dest: a.help for a in next(a for a in parser._actions
                                               if isinstance(a, argparse._SubParsersAction))._choices_actions}
    for name, sub in subs.items():
        assert summaries.get(name), name
        assert sub.description and len(sub.description) > len(summaries[name]), name
        for action in sub._actions:                        # every option says what it is for
            assert action.help, (name, action.dest)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_of_each_subcommand_describes_it(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    description = subparsers(build_parser())[command].description
    assert out.startswith(f"usage: qunbot {command} ")
    assert description.split()[0] in out and description.split()[-1] in out     # wrapped, but all there


def test_top_level_help_lists_the_subcommands_and_how_to_try_it(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert f"    {command} " in out
    assert "qunbot simulate --config config.yaml --script examples/demo.jsonl --format chat" in out


def test_simulate_help_names_both_formats(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    assert "--format {jsonl,chat}" in out and "NO_COLOR" in out


def test_version_prints_the_installed_package_version():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_"))}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--version"], cwd=ROOT, env=env,
                            capture_output=True, encoding="utf-8", timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"qunbot {version('qunbot')}\n"


def test_version_when_the_package_is_not_installed(monkeypatch, capsys):
    from importlib.metadata import PackageNotFoundError

    import bot.cli

    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(bot.cli, "version", missing)
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == "qunbot unknown\n"


def test_a_subcommand_is_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
