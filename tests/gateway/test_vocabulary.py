"""One vocabulary: a fax's status is ``gateway.domain.FaxStatus`` in every layer, a call's end is
``CallStatus``, and the configuration holds ``T38Policy`` and ``EngineKind``; the words on the wire (API
JSON, database columns, webhooks, the CLI's JSON) are the ones they were."""

from __future__ import annotations

import ast
import dataclasses
import pickle
import re
from pathlib import Path

import pytest
from faxgw.gateway.config import Config, ConfigError, EngineKind, load_config
from faxgw.gateway.documents import ConversionError, convert
from faxgw.gateway.domain import PENDING, EventType, FaxStatus
from faxgw.gateway.engines import CallResult, CallStatus
from faxgw.gateway.jobs.status import inbound_status, outbound_status, retryable
from faxgw.sip.fax_terms import T38Policy

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


def test_a_t30_failure_is_a_status_of_its_own_with_its_code() -> None:
    status = FaxStatus.t30_failure(49)
    assert status is FaxStatus("failed_fs_49") and status == "failed_fs_49"
    assert isinstance(status, FaxStatus) and status.t30_code == 49 and not status.pending
    assert pickle.loads(pickle.dumps(status)) is status  # what the media process's pickles keep
    assert f"{status}" == "failed_fs_49" and status.name == "FAILED_FS_49"
    assert status not in list(FaxStatus)  # the fixed statuses only
    assert all(fixed.t30_code is None for fixed in FaxStatus)


@pytest.mark.parametrize(
    "word", ["insufficient_credit", "failed_fs_", "failed_fs_x", "failed_fs_1234", "delivered", "SUCCESS", ""]
)
def test_a_word_that_is_no_status_is_refused(word: str) -> None:
    with pytest.raises(ValueError, match="is not a valid FaxStatus"):
        FaxStatus(word)


def test_pending_statuses() -> None:
    assert {status.value for status in PENDING} == {
        "queued",
        "scheduled",
        "processing",
        "sending",
        "in_progress",
    }
    assert not any(status.pending for status in set(FaxStatus) - PENDING)


def result(status: CallStatus, **fields: object) -> CallResult:
    base = CallResult(status, 200, None, None, "", 0, 2, False, None, None, "", "c@h")
    return dataclasses.replace(base, **fields)


BUSY, NO_ANSWER = "The destination was busy.", "No answer at the destination."
REFUSED, TEMPORARY = "The call was refused by the destination.", "Temporary network issue."


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (result(CallStatus.SUCCESS, pages=2), ("success", None, None)),
        (result(CallStatus.PARTIAL, pages=1), ("partially_sent", "partially_sent", "1 of 2 pages sent")),
        (result(CallStatus.BUSY, sip_code=486), ("failed_user_busy", "failed_user_busy", BUSY)),
        (result(CallStatus.NO_ANSWER, sip_code=408), ("failed_no_answer", "failed_no_answer", NO_ANSWER)),
        (
            result(CallStatus.REJECTED, sip_code=404),
            ("failed_unallocated_number",) * 2 + ("Invalid number.",),
        ),
        (result(CallStatus.REJECTED, sip_code=503), ("failed_normal_temporary_failure",) * 2 + (TEMPORARY,)),
        (result(CallStatus.REJECTED, sip_code=603), ("failed_normal_clearing",) * 2 + (REFUSED,)),
        (result(CallStatus.FAILED, t30_code=49, t30_text="hung up"), ("failed_fs_49",) * 2 + ("hung up",)),
        (result(CallStatus.FAILED, hangup_cause="gateway_error"), ("failed", "failed", "gateway_error")),
    ],
)
def test_a_call_maps_to_the_same_words_as_before(call: CallResult, words: tuple) -> None:
    ending = outbound_status(call)
    assert ending == words and isinstance(ending.status, FaxStatus)
    assert ending.code is None or isinstance(ending.code, FaxStatus)


def test_inbound_and_retries() -> None:
    assert inbound_status(result(CallStatus.PARTIAL, pages=1)).status is FaxStatus.PARTIALLY_RECEIVED
    assert inbound_status(result(CallStatus.FAILED, t30_code=2)).code is FaxStatus.t30_failure(2)
    assert retryable(FaxStatus.t30_failure(2)) and retryable(FaxStatus.FAILED_USER_BUSY)
    assert not retryable(FaxStatus.FAILED_UNALLOCATED_NUMBER) and not retryable(FaxStatus.SUCCESS)


def test_a_document_that_cannot_be_faxed_ends_the_fax_in_a_domain_status(tmp_path: Path) -> None:
    source = tmp_path / "nothing.bin"
    source.write_bytes(b"\x00\x01 not a document")
    with pytest.raises(ConversionError) as caught:
        convert([source], tmp_path / "out.tif")
    assert caught.value.code is FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED


def test_the_configuration_holds_enums_and_names_the_words_it_takes(tmp_path: Path) -> None:
    path = tmp_path / "faxgw.toml"
    path.write_text('t38 = "audio"\nengine = "asterisk"\n')
    config = load_config(path, environ={})
    assert config.t38 is T38Policy.AUDIO and config.engine is EngineKind.ASTERISK
    assert load_config(None, environ={"FAXGW_T38": "t38"}).t38 is T38Policy.T38
    assert load_config(None, environ={}).engine is EngineKind.NATIVE
    for text, says in (
        ('t38 = "fax"\n', "t38 = 'fax': use t38, audio or auto"),
        ("t38 = 38\n", "t38 = 38: use t38, audio or auto"),
        ('engine = "freeswitch"\n', "engine = 'freeswitch': use native or asterisk"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_config(path, environ={})
    # A Config built in code with a word instead of the enum is a mistake, said at once.
    with pytest.raises(
        TypeError, match=r"Config\.t38 holds a T38Policy \(T38Policy\.T38 \.\.\.\), not 'audio'"
    ):
        Config(t38="audio")
    with pytest.raises(TypeError, match=r"Config\.engine holds an EngineKind"):
        dataclasses.replace(Config(), engine="asterisk")


def _literals(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module, without docstrings, text in f-strings (words for people, as in
    "page 2 received") and the values of enum members."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.ClassDef) and any("Enum" in ast.unparse(base) for base in node.bases):
            skip.update(id(item.value) for item in node.body if isinstance(item, ast.Assign))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in ast.walk(node))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_no_status_or_event_is_spelt_outside_its_enum() -> None:
    """A status's or an event's word is written once, in gateway/domain.py; everywhere else it is the enum's
    member. The dialects' tables map members to their providers' words, some of which are ours too
    (Telnyx's "queued", Dropbox's "success"), but never to a failure of ours."""
    words = {member.value for member in (*FaxStatus, *EventType)}
    spelt = [
        f"{path.relative_to(GATEWAY)}:{line}: {word!r}"
        for path in sorted(GATEWAY.rglob("*.py"))
        if path.name != "domain.py"
        for line, word in _literals(path)
        if re.fullmatch(r"failed_\w+|partially_(sent|received)", word)
        or (word in words and path.parent.name != "dialects")
    ]
    assert spelt == []


def test_the_check_finds_a_spelt_status(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""Doc: failed_user_busy."""\n'
        "import enum\n"
        'class Delivery(enum.Enum):\n    FAILED = "failed"\n'
        'STATUS = "failed_user_busy"\n'
        'if event.type == "delivered": pass\n'
        "print(f\"page {n} {'received'}\")\n"
    )
    assert _literals(planted) == [(5, "failed_user_busy"), (6, "delivered")]
