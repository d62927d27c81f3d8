"""The promises README.md makes to a newcomer stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shell_blocks(markdown: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", markdown, re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    blocks = shell_blocks((ROOT / "README.md").read_text())
    test_command = blocks[1]
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_readme_main_command_uses_a_file_that_exists() -> None:
    main_command = shell_blocks((ROOT / "README.md").read_text())[0]
    for word in main_command.split():
        if word.startswith("samples/"):
            assert (ROOT / word).is_file(), word
