"""The layer rule holds (DESIGN.md, "Layers"): every import-linter contract in pyproject.toml is kept.

lint-imports runs from this venv, next to the interpreter running the tests, so the README's test
command is what enforces the contracts in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = [
    c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
]


def lint_imports(cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """lint-imports' exit status and its report, whitespace folded (it wraps long names)."""
    result = subprocess.run(
        [LINT_IMPORTS, "--config", ROOT / "pyproject.toml", "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def test_every_contract_is_kept() -> None:
    status, report = lint_imports(ROOT)
    assert status == 0, report
    for name in CONTRACTS:
        assert f"{name} KEPT" in report, report


def planted_copy(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of gateway/ and sip/ laid out as the wheel installs them (faxgw/gateway, faxgw/sip), with
    ``line`` added to ``module``; found first on PYTHONPATH, so lint-imports reads the copy."""
    for folder in ("gateway", "sip"):
        shutil.copytree(
            ROOT / folder, tmp_path / "faxgw" / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    planted = tmp_path / "faxgw" / module
    planted.write_text(planted.read_text() + f"\n{line}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("sip/call.py", "from faxgw.sip.ua import UserAgent", "No import cycles"),
        ("sip/media.py", "import sqlite3", "sip knows nothing"),
        ("sip/rtp.py", "from faxgw.gateway import config", "sip knows nothing"),
        ("gateway/store/sqlite.py", "from faxgw.gateway.jobs import status", "Layers"),
        ("gateway/engines/base.py", "from faxgw.gateway.store import Store", "Layers"),
        ("gateway/config.py", "from faxgw.gateway.documents import fetch", "Layers"),
        ("gateway/api/native.py", "from faxgw.gateway.engines import base", "The API's one door"),
        ("gateway/jobs/inbound.py", "from faxgw.sip.fax import Resolution", "Above the engines"),
        ("gateway/api/dialects/telnyx.py", "from faxgw.gateway.api.dialects import faxplus", "Telnyx"),
        (
            "gateway/api/dialects/dropbox.py",
            "from faxgw.gateway.api.app import create_app",
            "Dialects are below",
        ),
    ],
)
def test_a_planted_break_is_reported(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """The check above can fail: each contract catches a break planted in a copy of the tree."""
    (name,) = [name for name in CONTRACTS if name.startswith(contract)]
    env = {**os.environ, "PYTHONPATH": str(planted_copy(tmp_path, module, line))}
    status, report = lint_imports(tmp_path, env)
    assert status == 1, report
    assert f"{name} BROKEN" in report, report
