"""The promises README.md makes to a newcomer stay true: its two set-up commands (the quick start and the
test run) name programs, sub-commands, options and files that exist, its fast subset names a declared
marker, and CI runs exactly its test command."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def shell_blocks(markdown: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", markdown, re.S)]


@functools.cache
def help_refusal(program: str, *arguments: str) -> str:
    """Installed programs say themselves what they take: ``--help`` after the arguments exits 0 (argparse,
    pytest) or names what it refuses."""
    answer = subprocess.run(
        [ROOT / program, *arguments, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    return (
        "" if answer.returncode == 0 else answer.stderr.strip()[-300:] or f"exit status {answer.returncode}"
    )


def step_problems(step: str) -> list[str]:
    """What is wrong with one command of a set-up line: a program that is neither the checkout's own nor
    installed into .venv by scripts/install, an option or sub-command it does not take, a missing file."""
    program, *arguments = shlex.split(step)
    path = ROOT / program
    if not (path.is_file() and os.access(path, os.X_OK)):
        return [f"{program}: no such program"]
    problems = [
        f"{program}: no file {argument}"
        for argument in arguments
        if "/" in argument and not argument.startswith("-") and not (ROOT / argument).exists()
    ]
    if program.startswith(".venv/bin/"):
        refusal = help_refusal(program, *arguments)
        if refusal:
            problems.append(f"{step}: {refusal}")
    else:
        # The checkout's scripts are not run here (scripts/install installs Debian packages): each option
        # must be one the script tests for.
        script = path.read_text()
        problems += [
            f"{program} takes no {argument}"
            for argument in arguments
            if argument.startswith("-") and f'"{argument}"' not in script
        ]
    return problems


def readme_problems(readme: str) -> list[str]:
    """Everything wrong with the README's set-up commands; nothing when it keeps its promises."""
    blocks = shell_blocks(readme)
    if len(blocks) < 2:
        return ["the first two sh blocks must be the quick start and the test command"]
    quick_start, test_command = blocks[:2]
    problems = [
        problem
        for line in (quick_start, test_command)
        for step in line.split("&&")
        for problem in step_problems(step.strip())
    ]
    if "pytest" not in test_command:
        problems.append(f"the second sh block runs no tests: {test_command}")
    ci_commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    if test_command not in ci_commands:
        problems.append(f".ci/run does not run the README's test command {test_command!r}")
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    declared = {marker.split(":")[0] for marker in markers}
    fast = re.findall(r'`\.venv/bin/pytest -m "not (\w+)"`', readme)
    if not fast:
        problems.append('no fast subset (`.venv/bin/pytest -m "not slow"`)')
    problems += [
        f"the fast subset leaves out {name}, a marker pyproject.toml does not declare"
        for name in set(fast) - declared
    ]
    return problems


def test_the_readme_keeps_its_promises() -> None:
    assert readme_problems(README) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "scripts/install && .venv/bin/faxgw demo",
            "scripts/setup && .venv/bin/faxgw demo",
            "scripts/setup: no such program",
        ),
        (".venv/bin/faxgw demo\n", ".venv/bin/faxgw dmeo\n", "invalid choice: 'dmeo'"),
        (".venv/bin/faxgw demo\n", ".venv/bin/fax demo\n", ".venv/bin/fax: no such program"),
        ("scripts/install --test &&", "scripts/install --tests &&", "scripts/install takes no --tests"),
        (
            "&& .venv/bin/faxgw demo",
            "&& .venv/bin/faxgw demo samples/missing.pdf",
            "no file samples/missing.pdf",
        ),
        ("--test && .venv/bin/pytest\n", "--test && .venv/bin/pytest -x\n", ".ci/run does not run"),
        ('-m "not slow"', '-m "not slwo"', "slwo, a marker pyproject.toml does not declare"),
        ('-m "not slow"', "", "no fast subset"),
    ],
)
def test_a_broken_promise_is_found(old: str, new: str, problem: str) -> None:
    """The check above can fail: each promise, broken in a copy of the README's text, is reported."""
    assert old in README
    problems = readme_problems(README.replace(old, new, 1))
    assert any(problem in found for found in problems), problems


def test_a_readme_without_its_commands_is_found() -> None:
    assert readme_problems(README.split("```sh")[0]) != []
