"""Office documents made by LibreOffice itself, for the conversion tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.documents import write_docx, write_xlsx


@pytest.fixture(scope="session")
def soffice() -> str:
    """The LibreOffice binary. Office tests skip (visibly, with this reason) when it is not installed."""
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    if binary is None:
        pytest.skip(
            "LibreOffice (soffice) not installed: apt install libreoffice-writer-nogui libreoffice-calc-nogui"
        )
    return binary


@pytest.fixture(scope="session")
def office_samples(soffice: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """DOCX, XLSX and RTF written by hand; ODT, DOC, ODS and XLS made from them by LibreOffice itself."""
    directory = tmp_path_factory.mktemp("office")
    samples = {
        "docx": write_docx(
            directory / "letter.docx", ["First page of a DOCX written by hand.", "Second page."]
        ),
        "xlsx": write_xlsx(directory / "sheet.xlsx", [["Item", "Amount"], ["Paper", 12], ["Toner", 3]]),
        "rtf": directory / "note.rtf",
    }
    samples["rtf"].write_text(
        r"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}\f0\fs24 An RTF note.\par Second line.\par}"
    )
    profile = (directory / "profile").as_uri()
    for source, target in (("docx", "odt"), ("docx", "doc"), ("xlsx", "ods"), ("xlsx", "xls")):
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                target,
                "--outdir",
                str(directory),
                str(samples[source]),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        samples[target] = samples[source].with_suffix(f".{target}")
        assert samples[target].is_file(), f"LibreOffice did not write the {target} fixture"
    return samples
