"""The README's first screen tells the truth: its demo command runs and prints the sample shown under it, its test
command is the one CI runs, and its links lead somewhere.

When the bot's texts change, the sample goes stale and this fails naming the lines. Regenerate it with

    python -m tests.test_readme

which runs the README's demo command and replaces each stale sample line by the closest line the demo now prints
(a line ending in `…` stays a shortened prefix); check the diff of README.md before committing it.
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ELLIPSIS = "…"


def fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """Every fenced code block: (index of its first line in the file, info string, its lines)."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            info, start = lines[i][3:].strip(), i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
            blocks.append((start, info, lines[start:end]))
            i = end
        i += 1
    return blocks


def quick_start(text: str) -> tuple[str, str, tuple[int, list[str]]]:
    """The quick start's demo command, its test command, and the demo's sample (first line index, lines)."""
    section = text.index("\n## Quick start")
    blocks = [b for b in fenced_blocks(text) if text.count("\n", 0, section) < b[0]]
    demo = next(i for i, b in enumerate(blocks) if b[1] == "sh" and "qunbot simulate" in "\n".join(b[2]))
    tests = next(b for b in blocks[demo + 1:] if b[1] == "sh")
    sample = next(b for b in blocks[demo + 1:] if b[1] == "text")
    assert len(blocks[demo][2]) == 1 and len(tests[2]) == 1, "each command is one line"
    return blocks[demo][2][0], tests[2][0], (sample[0], sample[2])


def run_demo(command: str) -> list[str]:
    """Run the `qunbot simulate ...` part of the README's demo command here (qunbot is installed already)."""
    argv = shlex.split(command.rsplit("&&", 1)[-1])
    assert argv[0] == "qunbot", command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_", "WECOM_"))}
    # From a directory of its own, so what it writes (the owners' report chart) stays out of the checkout.
    args = [str(ROOT / a) if (ROOT / a).is_file() else a for a in argv[1:]]
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True,
                                encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")


def is_elision(line: str) -> bool:
    return line.strip() == ELLIPSIS


def matches(sample: str, printed: str) -> bool:
    """A sample line is a printed line, or (ending in …) the start of one."""
    if sample.endswith(ELLIPSIS) and not is_elision(sample):
        return printed.startswith(sample[:-1])
    return printed == sample


def stale_lines(sample: list[str], printed: list[str]) -> list[tuple[int, str]]:
    """Sample lines (index, text) not found among the printed lines, in order, after the previous one found."""
    stale, at = [], 0
    for i, line in enumerate(sample):
        if is_elision(line):
            continue
        found = next((j for j in range(at, len(printed)) if matches(line.rstrip(), printed[j])), None)
        if found is None:
            stale.append((i, line))
        else:
            at = found + 1
    return stale


def closest(line: str, printed: list[str]) -> str:
    """The printed line most like a stale sample line, shortened the same way."""
    best = max(printed, key=lambda p: difflib.SequenceMatcher(None, line, p).ratio())
    if line.endswith(ELLIPSIS) and len(best) > len(line):
        return best[:len(line) - 1] + ELLIPSIS
    return best


# ---- the tests ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_demo_command_installs_and_runs_the_chat_transcript(readme):
    demo, _, _ = quick_start(readme)
    assert demo.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && qunbot simulate ")
    assert "--format chat" in demo and "examples/demo.jsonl" in demo


def test_the_test_command_is_what_ci_runs(readme):
    _, tests, _ = quick_start(readme)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert ci[-1] == tests


def test_every_sample_line_is_what_the_demo_prints(readme):
    demo, _, (_, sample) = quick_start(readme)
    assert 10 <= sum(not is_elision(line) for line in sample) <= 20, "keep the sample to one screen"
    printed = run_demo(demo)
    stale = stale_lines(sample, printed)
    assert stale == [], ("README sample lines the demo no longer prints (regenerate: python -m tests.test_readme):\n"
                         + "\n".join(f"  {line!r}\n    closest: {closest(line, printed)!r}" for _, line in stale))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_sections_lead_to_headings(readme):
    outside_code = re.sub(r"```.*?```", "", readme, flags=re.S)
    anchors = {github_anchor(m) for m in re.findall(r"^#+ (.*)$", outside_code, flags=re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", outside_code)
    assert len(links) >= 10
    assert sorted(set(links) - anchors) == []


def test_links_to_files_lead_to_files(readme):
    targets = re.findall(r"\]\(((?!#|https?:)[^)]+)\)", readme)
    assert targets and [t for t in targets if not (ROOT / t).exists()] == []


# ---- regenerating the sample ----------------------------------------------------------------------------------

def command_table(text: str) -> str:
    """The rows of the README's command table (the section "## Commands")."""
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.split("\n") if line.startswith("| `/"))


def test_every_name_of_every_command_is_in_the_command_table(readme):
    from bot.app import ROUTERS
    from bot.commands import CommandTable

    table = command_table(readme)
    missing = []
    for spec in CommandTable(s for r in ROUTERS for s in r.commands).specs:
        parents = [spec.name, *spec.aliases]
        missing += [f"/{name}" for name in parents if f"`/{name}`" not in table and f"`/{name} " not in table]
        for verb in spec.subcommands:
            missing += [f"/{spec.aliases[0]} {name}" for name in (verb.name, *verb.aliases)
                        if not any(f"`/{parent} {name}`" in table for parent in parents)]
    assert missing == [], f"add these to the README's command table: {missing}"


def regenerate() -> int:
    """Replace the stale lines of the README's sample by what the demo prints now; the number replaced."""
    text = README.read_text(encoding="utf-8")
    demo, _, (first, sample) = quick_start(text)
    printed = run_demo(demo)
    lines = text.split("\n")
    stale = stale_lines(sample, printed)
    for i, line in stale:
        new = closest(line, printed)
        print(f"- {line}\n+ {new}")
        lines[first + i] = new
    README.write_text("\n".join(lines), encoding="utf-8")
    return len(stale)


if __name__ == "__main__":
    print(f"{regenerate()} line(s) of README.md's demo sample replaced")
