"""Signatures: what a receiver's verify() accepts, and everything it must refuse without raising."""

from __future__ import annotations

import hashlib
import hmac

from faxgw.gateway.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from hypothesis import given
from hypothesis import strategies as st

SECRET = "whsec_signing"
BODY = b'{"id":"evt_1","type":"delivered","created_at":"2023-11-14T22:13:20.000Z","fax_id":"fax_1","data":{}}'
NOW = 1_700_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    headers = sign(BODY, SECRET, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {SIGNATURE_HEADER: f"t={NOW},v1={expected}", TIMESTAMP_HEADER: str(NOW)}


def test_verify_accepts_what_sign_made() -> None:
    assert verify(BODY, sign(BODY, SECRET, NOW), SECRET, now=NOW + 10)


def test_verify_accepts_any_header_case() -> None:
    headers = {name.lower(): value for name, value in sign(BODY, SECRET, NOW).items()}
    assert verify(BODY, headers, SECRET, now=NOW)


def test_tampered_body_fails() -> None:
    headers = sign(BODY, SECRET, NOW)
    assert not verify(BODY.replace(b"delivered", b"failed"), headers, SECRET, now=NOW)
    assert not verify(BODY + b" ", headers, SECRET, now=NOW)


def test_wrong_secret_fails() -> None:
    assert not verify(BODY, sign(BODY, "whsec_other", NOW), SECRET, now=NOW)


def test_stale_or_future_timestamp_fails() -> None:
    headers = sign(BODY, SECRET, NOW)
    assert verify(BODY, headers, SECRET, now=NOW + 300)
    assert not verify(BODY, headers, SECRET, now=NOW + 301)
    assert not verify(BODY, headers, SECRET, now=NOW - 301)
    assert verify(BODY, headers, SECRET, tolerance=3600, now=NOW + 3000)


def test_replayed_signature_with_a_fresh_timestamp_fails() -> None:
    # Moving the timestamp forward to get past the tolerance check breaks the signature.
    old = sign(BODY, SECRET, NOW)
    digest = old[SIGNATURE_HEADER].split("v1=")[1]
    later = NOW + 1000
    forged = {SIGNATURE_HEADER: f"t={later},v1={digest}", TIMESTAMP_HEADER: str(later)}
    assert not verify(BODY, forged, SECRET, now=later)


def test_timestamp_header_must_agree_with_signed_timestamp() -> None:
    headers = sign(BODY, SECRET, NOW)
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    assert not verify(BODY, headers, SECRET, now=NOW)


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    new = sign(BODY, "whsec_new", NOW)[SIGNATURE_HEADER]
    old = sign(BODY, SECRET, NOW)[SIGNATURE_HEADER].split(",")[1]
    assert verify(BODY, {SIGNATURE_HEADER: f"{new},{old}"}, SECRET, now=NOW)
    assert verify(BODY, {SIGNATURE_HEADER: f"{new},{old}"}, "whsec_new", now=NOW)


def test_missing_or_malformed_headers_fail() -> None:
    good = sign(BODY, SECRET, NOW)[SIGNATURE_HEADER]
    digest = good.split("v1=")[1]
    malformed = ["", "garbage", f"v1={digest}", f"t={NOW}", f"t=abc,v1={digest}", f"t={NOW},t=1,v1={digest}"]
    for value in malformed:
        assert not verify(BODY, {SIGNATURE_HEADER: value}, SECRET, now=NOW), value
    assert not verify(BODY, {}, SECRET, now=NOW)
    assert not verify(BODY, {SIGNATURE_HEADER: f"t={NOW},v1=\u00e9{digest[1:]}"}, SECRET, now=NOW)


@given(st.binary(max_size=64), st.text(max_size=80), st.text(max_size=20))
def test_arbitrary_headers_never_raise(body: bytes, signature: str, timestamp: str) -> None:
    assert verify(body, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp}, SECRET, now=NOW) in (
        True,
        False,
    )
