"""Numbers in SIP headers and parameters come from strangers: DIGIT is ASCII (RFC 3261 25.1), so a
superscript or another script's digit, which ``str.isdigit()`` accepts and ``int()`` may refuse, is none."""

from __future__ import annotations

import pytest
from faxgw.sip import session_timer
from faxgw.sip.message import SipResponse, SipUri, decimal, parse_message
from faxgw.sip.ua import _granted_expires

STRANGE = ["²", "٣", "\uff11\uff12", "-1", "+5", " 5", "", "12345678901"]


@pytest.mark.parametrize("text", STRANGE)
def test_only_ascii_digits_are_numbers(text: str) -> None:
    assert decimal(text) is None


def test_numbers_and_bounds() -> None:
    assert decimal("0") == 0 and decimal("1800") == 1800 and decimal(None) is None
    assert decimal("65536", 65535) is None and decimal("65535", 65535) == 65535


def _response(header: str) -> SipResponse:
    message = parse_message(
        (
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: n@127.0.0.1\r\n"
            f"CSeq: 1 REGISTER\r\n{header}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SipResponse)
    return message


@pytest.mark.parametrize("text", ["²", "٣"])
def test_headers_with_other_digits_are_unreadable_not_fatal(text: str) -> None:
    assert session_timer.min_se_from_422(_response(f"Min-SE: {text}")) is None
    ours = SipUri.parse("sip:a@127.0.0.1")
    assert _granted_expires(_response(f"Expires: {text}"), 3600, ours) == 3600
    assert _granted_expires(_response(f"Contact: <sip:a@127.0.0.1>;expires={text}"), 60, ours) == 60
    with pytest.raises(ValueError, match="bad Session-Expires"):
        session_timer.parse_session_expires(f"{text};refresher=uac")
