"""The project installs like any library: the wheel built from this checkout, installed into a fresh
virtualenv, gives a ``faxgw`` that works from a directory outside the checkout, with the files it reads
at run time (Asterisk's configuration templates, the demo's sample document) inside the installed package.

No network: the wheel is built with the setuptools and cffi of this venv (--no-build-isolation), and the
new venv sees this venv's site-packages for the project's dependencies (a .pth file), after its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from faxgw.gateway.asterisk import FILES, render_texts
from faxgw.gateway.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "faxgw.sample.toml"

pytestmark = pytest.mark.slow  # compiling the SpanDSP binding into a wheel: ~15 s on 2 cores


def checkout_copy(target: Path) -> Path:
    """What a clean checkout of the working tree holds (tracked and new files, .gitignore respected).
    Built in place, setuptools would leave build/ behind and pack whatever an older build left in
    build/lib into the next wheel, so a module missing from the package list could go unnoticed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted in the working tree is not listed as gone
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def clean_env() -> dict[str, str]:
    """This environment without what would point the installed faxgw back at the checkout or change
    its configuration."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "VIRTUAL_ENV") and not name.startswith("FAXGW_")
    }


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the project's wheel installed in it."""
    base = tmp_path_factory.mktemp("wheel")
    source = checkout_copy(base / "source")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", base / "dist", source], check=True
    )
    (wheel,) = (base / "dist").glob("faxgw-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", wheel], check=True)
    # Only directories are added from a .pth in a directory it names, not that directory's own .pth
    # files: this venv's editable install of the checkout (a .pth import hook) stays out.
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages(venv) / "faxgw-test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(ours))
    )
    return venv


def site_packages(venv: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(installed_python(venv, code, venv))


def installed_python(venv: Path, code: str, cwd: Path) -> str:
    result = subprocess.run(
        [venv / "bin" / "python", "-c", code], cwd=cwd, env=clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_installed_gateway_is_the_wheel(venv: Path, tmp_path: Path) -> None:
    location = Path(installed_python(venv, "import faxgw.gateway; print(faxgw.gateway.__file__)", tmp_path))
    assert location.is_relative_to(venv), location


# Where each folder of the repository is installed (pyproject.toml's package-dir), and what of it.
INSTALLED = {
    "gateway": ("faxgw/gateway", "*.py"),
    "sip": ("faxgw/sip", "*.py"),
    "dialplan": ("faxgw/gateway/dialplan", "*.conf"),
}


def test_every_module_and_template_is_in_the_wheel(venv: Path) -> None:
    site = site_packages(venv)
    missing = [
        str(path.relative_to(ROOT))
        for folder, (package, pattern) in INSTALLED.items()
        for path in (ROOT / folder).rglob(pattern)
        if not (site / package / path.relative_to(ROOT / folder)).is_file()
    ]
    assert not missing, "not in the wheel (pyproject.toml's packages and package-data)"


def test_one_import_package_named_after_the_project(venv: Path) -> None:
    """Only faxgw at the top of site-packages: a top-level ``sip`` would fight Debian's python3-sip
    for the name, silently. Each package says it is typed (PEP 561)."""
    site = site_packages(venv)
    assert not (site / "sip").exists() and not (site / "gateway").exists()
    assert (site / "faxgw" / "gateway" / "py.typed").is_file()
    assert (site / "faxgw" / "sip" / "py.typed").is_file()


def test_asterisk_config_renders_from_the_installed_templates(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in os.environ.keys() - clean_env().keys():
        monkeypatch.delenv(name)  # the checkout renders from the same config as the installed faxgw
    out = tmp_path / "etc"
    result = subprocess.run(
        [venv / "bin" / "faxgw", "asterisk-config", "--config", SAMPLE_CONFIG, "--out", out],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(FILES)
    config = load_config(SAMPLE_CONFIG)
    assert config.trunk and config.trunk in (out / "pjsip.conf").read_text()
    for name, text in render_texts(config).items():
        assert (out / name).read_text() == text, name


def test_demo_default_document_is_the_installed_sample(venv: Path, tmp_path: Path) -> None:
    shown = installed_python(
        venv,
        "from faxgw.gateway.cli import build_parser; print(build_parser().parse_args(['demo']).document)",
        tmp_path,
    )
    document = Path(shown)
    assert document.is_relative_to(venv) and document.is_file(), shown
    assert document.read_bytes() == (ROOT / "samples" / "sample.pdf").read_bytes()


def test_demo_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    """The whole demo, with its default document: ~2 s unpaced."""
    result = subprocess.run(
        [venv / "bin" / "faxgw", "demo", "--data-dir", "data"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (received,) = (tmp_path / "data" / "faxes").glob("*/received.pdf")
    assert received.read_bytes().startswith(b"%PDF")
