"""A real Asterisk 22 with res_fax_spandsp for tests: the Debian sid chroot of scripts/asterisk-chroot.

Fixtures:
  asterisk_root  (session)   Path of the chroot, made ready by `scripts/asterisk-chroot ensure` (kept,
                             restored from the cache tarball, or built). Skips, saying why, when the
                             tests do not run as root or the chroot cannot be built here.
  asterisk       (function)  factory: `asterisk(config_files) -> AsteriskInstance` writes the files into
                             a fresh <chroot>/opt/faxtest-<id>/etc (the text "@BASE@" in them becomes
                             /opt/faxtest-<id>; an asterisk.conf pointing every directory there is added
                             when none is given), starts Asterisk with it, and stops it (the PID it
                             started) after the test.

What the tests use besides (the instance, the prototype's configuration) is in tests/helpers/asterisk.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.helpers.asterisk import (
    CANNOT_BUILD,
    INSTANCE_DIRS,
    SCRIPT,
    TIMINGS,
    AsteriskInstance,
    default_asterisk_conf,
    ensure,
)


@pytest.fixture(scope="session")
def asterisk_root() -> Path:
    if os.geteuid() != 0:
        pytest.skip(f"Asterisk runs in a chroot, which needs root; these tests run as uid {os.geteuid()}")
    result = ensure()
    if result.returncode == CANNOT_BUILD:
        pytest.skip(f"no Asterisk chroot on this machine and no cached copy: {result.reason}")
    if result.returncode != 0 or result.root is None:
        pytest.fail(f"scripts/asterisk-chroot ensure failed ({result.returncode}):\n{result.stderr}")
    TIMINGS.append(f"ensure (first call this run): {result.how} in {result.seconds:.2f} s")
    return result.root


@pytest.fixture
def asterisk(asterisk_root: Path) -> Iterator[Callable[[Mapping[str, str]], AsteriskInstance]]:
    started: list[AsteriskInstance] = []

    def start(config_files: Mapping[str, str]) -> AsteriskInstance:
        base_inside = f"/opt/faxtest-{uuid.uuid4().hex[:12]}"
        base = asterisk_root / base_inside.lstrip("/")
        for name in INSTANCE_DIRS:
            (base / name).mkdir(parents=True)
        files = {"asterisk.conf": default_asterisk_conf(), **config_files}
        for name, text in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"config file names are plain names in etc/: {name!r}")
            (base / "etc" / name).write_text(text.replace("@BASE@", base_inside))
        began = time.monotonic()
        proc = subprocess.run(
            [str(SCRIPT), "start", str(asterisk_root), f"{base_inside}/etc"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"scripts/asterisk-chroot start failed ({proc.returncode}):\n{proc.stderr}")
        instance = AsteriskInstance(
            root=asterisk_root,
            base_inside=base_inside,
            pid=int(proc.stdout.split()[-1]),
            boot_seconds=time.monotonic() - began,
        )
        started.append(instance)
        return instance

    yield start

    failures = []
    for instance in started:
        try:
            instance.stop()
        except Exception as exc:
            failures.append(exc)
            continue
        if instance.console_log.exists():
            tail = instance.console_log.read_text(errors="replace").splitlines()[-40:]
            print(f"--- console of asterisk pid {instance.pid} ({instance.base_inside}), last lines:")
            print("\n".join(tail))
            instance.console_log.unlink()
        shutil.rmtree(instance.base, ignore_errors=True)
    if failures:
        raise failures[0]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("Asterisk chroot timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)
