"""The test suite's own rule: no test module imports another test module or a conftest.py. What tests
share is in tests/helpers/ (plain code) and in conftest.py fixtures (which pytest hands over by name)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
HELPERS = "tests.helpers"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def foreign_imports(path: Path, source: str) -> list[str]:
    """The modules of tests/ that ``source`` (the file at ``path``) imports, other than tests.helpers."""
    package = module_name(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            # From a package (``from . import x``, ``from tests.sip import x``) the names are its modules.
            package_dir = TESTS.parent.joinpath(*module.split("."))
            names = [f"{module}.{alias.name}" for alias in node.names] if package_dir.is_dir() else [module]
        else:
            continue
        found += [
            name
            for name in names
            if (name == "tests" or name.startswith("tests."))
            and name != HELPERS
            and not name.startswith(HELPERS + ".")
        ]
    return found


def test_tests_import_shared_code_only_from_helpers() -> None:
    offenders = {
        str(path.relative_to(TESTS)): names
        for path in sorted(TESTS.rglob("*.py"))
        if (names := foreign_imports(path, path.read_text()))
    }
    assert offenders == {}


def test_an_import_of_another_test_module_is_found() -> None:
    """The check above can fail: each way of importing a test module or a conftest is caught."""
    path = TESTS / "sip" / "test_planted.py"
    planted = {
        "from tests.sip.test_auth import USERS": ["tests.sip.test_auth"],
        "from .conftest import LOCALHOST": ["tests.sip.conftest"],
        "from ..gateway import test_jobs": ["tests.gateway.test_jobs"],
        "from . import test_rtp": ["tests.sip.test_rtp"],
        "import tests.webhooks.conftest": ["tests.webhooks.conftest"],
        "def f():\n    from .test_sdp import offer": ["tests.sip.test_sdp"],
        "from tests.helpers.sip import Pair": [],
        "from faxgw.sip.ua import UserAgent": [],
    }
    for source, expected in planted.items():
        assert foreign_imports(path, source) == expected, source
