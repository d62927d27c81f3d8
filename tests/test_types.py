"""mypy, at its default settings (pyproject.toml's [tool.mypy]), finds nothing in faxgw.gateway and faxgw.sip.

The folders install as faxgw.gateway and faxgw.sip (pyproject.toml's package-dir), a mapping mypy cannot
follow through the editable install's import hook: it reads a tree of links named as the wheel names them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def installed_layout(tmp_path: Path) -> Path:
    """A folder holding faxgw/gateway and faxgw/sip as links to the checkout's gateway/ and sip/."""
    faxgw = tmp_path / "faxgw"
    faxgw.mkdir()
    for folder in ("gateway", "sip"):
        (faxgw / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return tmp_path


@pytest.mark.slow
def test_mypy_finds_nothing(tmp_path: Path) -> None:
    layout = installed_layout(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            ROOT / "pyproject.toml",
            "--cache-dir",
            tmp_path / ".mypy_cache",
            "-p",
            "faxgw.gateway",
            "-p",
            "faxgw.sip",
        ],
        cwd=layout,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_reports_a_type_error_it_is_shown(tmp_path: Path) -> None:
    """The check above can fail: the same command finds an error planted in a copy of a module."""
    package = tmp_path / "faxgw" / "sip"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "planted.py").write_text('def port() -> int:\n    return "5060"\n')
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", ROOT / "pyproject.toml", "-p", "faxgw.sip"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "planted.py:2: error" in result.stdout, result.stdout
