"""``faxgw mail-queue``: the operator sees the mails not sent, pending (with when they are tried next) and
failed, each with its attempts and last error, and not the sent ones; as text and as JSON, read from the
database the configuration names, by the real command in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faxgw.gateway.mail import MailOutbox, MailStatus
from faxgw.gateway.store import Store, database

from tests.helpers.mail import a_mail


def faxgw(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "faxgw.gateway.cli", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_lists_pending_and_failed_mails_with_their_errors(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    config = tmp_path / "faxgw.toml"
    url = request.getfixturevalue("postgres_url") if kind == "postgresql" else None
    config.write_text(f'data_dir = "{tmp_path / "var"}"\n' + (f'database_url = "{url}"\n' if url else ""))
    store = Store(database(url, tmp_path / "var" / "faxgw.sqlite", 1))
    (tmp_path / "var").mkdir()
    await store.open()
    outbox = MailOutbox(store.database)
    for mail_id in ("ev1:fax", "ev2:outcome", "ev3:fax"):
        assert await outbox.add(a_mail(mail_id))
    later = time.time() + 3600
    await outbox.record("ev1:fax", MailStatus.PENDING, "SMTPConnectError: Connection refused", later)
    await outbox.record("ev2:outcome", MailStatus.FAILED, "550 5.1.1 no such mailbox", time.time())
    await outbox.record("ev3:fax", MailStatus.SENT, None, time.time())
    await store.close()

    listed = faxgw("mail-queue", "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    pending, failed = json.loads(listed.stdout)  # the sent mail is not there; the pending one first
    assert (pending["id"], pending["status"], pending["attempts"]) == ("ev1:fax", "pending", 1)
    assert pending["last_error"] == "SMTPConnectError: Connection refused"
    assert pending["fax_id"] == "fx1" and pending["subject"] == "a fax" and "next_attempt_at" in pending
    assert (failed["id"], failed["status"], failed["last_error"]) == (
        "ev2:outcome",
        "failed",
        "550 5.1.1 no such mailbox",
    )

    told = faxgw("mail-queue", "--config", str(config))
    assert told.returncode == 0, told.stderr
    assert told.stdout.index("pending  ev1:fax") < told.stdout.index("failed   ev2:outcome"), told.stdout
    assert "last error: 550 5.1.1 no such mailbox" in told.stdout and "ev3:fax" not in told.stdout


def test_an_empty_queue_and_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "faxgw.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    empty = faxgw("mail-queue", "--config", str(config))
    assert (empty.returncode, empty.stdout.strip()) == (0, "no mail waiting or failed")
    config.write_text("[mail]\nsmtp_starttls = false\n")
    refused = faxgw("mail-queue", "--config", str(config))
    assert refused.returncode == 2 and "smtp_security" in refused.stderr and "Traceback" not in refused.stderr
    limit = faxgw("mail-queue", "--config", str(config), "--limit", "0")
    assert limit.returncode == 2 and "--limit" in limit.stderr
