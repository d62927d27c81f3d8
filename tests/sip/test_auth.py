"""Digest authentication: the RFC example vectors, challenge parsing and choice, client <-> server."""

from __future__ import annotations

import contextlib
import re

import pytest
from faxgw.sip.auth import (
    AuthError,
    Challenge,
    DigestClient,
    DigestServer,
    Verdict,
    choose_challenge,
    parse_auth_header,
)
from faxgw.sip.message import parse_message
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.clock import FakeClock

# RFC 7616 section 3.9.1: the same request answered with SHA-256 and with MD5.
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def params(header_value: str) -> dict[str, str]:
    return parse_auth_header(header_value)[1]


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    challenge = Challenge.parse(RFC7616_CHALLENGE.format(algorithm=algorithm))
    assert challenge.qop == ("auth", "auth-int")
    client = DigestClient("Mufasa", "Circle of Life")
    value = client.authorization(challenge, "GET", "/dir/index.html", cnonce=RFC7616_CNONCE)
    assert value.startswith("Digest ")
    got = params(value)
    assert got == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "uri": "/dir/index.html",
        "response": response,
        "algorithm": algorithm,
        "cnonce": RFC7616_CNONCE,
        "qop": "auth",
        "nc": "00000001",
        "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    }
    assert re.search(r"\bqop=auth, nc=00000001\b", value)  # qop and nc unquoted (RFC 3261 25.1)
    again = params(client.authorization(challenge, "GET", "/dir/index.html", cnonce=RFC7616_CNONCE))
    assert again["nc"] == "00000002" and again["response"] != response


def test_rfc2617_example() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm == "MD5"
    value = DigestClient("Mufasa", "Circle Of Life").authorization(
        challenge, "GET", "/dir/index.html", cnonce="0a4f113b"
    )
    assert params(value)["response"] == "6629fae49393a05397450978507c4ef1"


def test_legacy_rfc2069_without_qop() -> None:
    # RFC 2069 2.4's example: response = MD5(HA1:nonce:HA2) with no qop, cnonce or nc.
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'
    )
    value = DigestClient("Mufasa", "CircleOfLife").authorization(challenge, "GET", "/dir/index.html")
    got = params(value)
    assert got["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert not {"qop", "nc", "cnonce", "opaque"} & got.keys()


def test_challenge_parsing_is_tolerant() -> None:
    challenge = Challenge.parse(
        '  digest   REALM = "sip.example.net" ,nonce=abc123,ALGORITHM=sha-256 , qop = "AUTH" ,, '
        'opaque="a \\"quoted\\" one", stale=TRUE, domain="sip:example.net"'
    )
    assert challenge == Challenge(
        realm="sip.example.net",
        nonce="abc123",
        algorithm="SHA-256",
        qop=("auth",),
        opaque='a "quoted" one',
        stale=True,
    )
    assert Challenge.parse(str(challenge)) == challenge
    plain = Challenge.parse('Digest realm="asterisk",nonce="1700000000/7f3e"')
    assert (plain.algorithm, plain.qop, plain.opaque, plain.stale) == ("MD5", (), None, False)


@pytest.mark.parametrize(
    "value",
    [
        "",
        'Basic realm="x"',
        'Digest nonce="abc"',
        'Digest realm="x"',
        'Digest realm="x, nonce="abc"',
        "Digest realm",
        'Digest realm="x", =1, nonce="y"',
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(AuthError):
        Challenge.parse(value)


def test_choose_challenge_prefers_sha256() -> None:
    md5 = 'Digest realm="sip.example.net", nonce="n1", algorithm=MD5, qop="auth"'
    sha = 'Digest realm="sip.example.net", nonce="n1", algorithm=SHA-256, qop="auth"'
    assert choose_challenge([md5, sha]).algorithm == "SHA-256"
    assert choose_challenge([sha, md5]).algorithm == "SHA-256"
    assert choose_challenge(['Basic realm="x"', md5]).algorithm == "MD5"
    unusable = [
        'Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"',
        'Digest realm="r", nonce="n", qop="auth-int"',
        'Digest realm="r", nonce="n", algorithm=MD5-sess',
        "Negotiate abc",
        "garbage",
    ]
    with pytest.raises(AuthError):
        choose_challenge(unusable)
    with pytest.raises(AuthError):
        choose_challenge([])
    assert choose_challenge([*unusable, md5]).algorithm == "MD5"


def test_choose_from_a_real_401() -> None:
    response = parse_message(
        b"SIP/2.0 401 Unauthorized\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK.reg1;rport=5060\r\n"
        b"From: <sip:4930123456@sip.example.net>;tag=reg-1\r\n"
        b"To: <sip:4930123456@sip.example.net>;tag=as1f3e\r\n"
        b"Call-ID: reg-aa4b@192.0.2.50\r\n"
        b"CSeq: 1 REGISTER\r\n"
        b'WWW-Authenticate: Digest realm="sip.example.net", nonce="4f1a0c", algorithm=MD5, qop="auth"\r\n'
        b'www-authenticate: Digest realm="sip.example.net", nonce="4f1a0c", algorithm=SHA-256, qop="auth"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    challenge = choose_challenge(response.headers.get_all("WWW-Authenticate"))
    assert (challenge.realm, challenge.algorithm) == ("sip.example.net", "SHA-256")


def test_auth_int_only_is_refused() -> None:
    challenge = Challenge.parse('Digest realm="r", nonce="n", qop="auth-int"')
    with pytest.raises(AuthError, match="auth-int"):
        DigestClient("u", "p").authorization(challenge, "INVITE", "sip:x@y", b"v=0\r\n")
    with pytest.raises(AuthError):
        DigestClient("u", "p").authorization(Challenge("r", "n", "SHA3-256"), "INVITE", "sip:x@y")


def test_password_stays_out_of_repr() -> None:
    assert "secret" not in repr(DigestClient("alice", "secret"))


# --- client <-> server ----------------------------------------------------------------------------


USERS = {"alice": "wonderland", "fax": "t.38 rules"}


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_client_server_round_trip(algorithm: str, clock: FakeClock) -> None:
    server = DigestServer("gw.example.org", USERS.get, algorithm, clock=clock)
    header = server.challenge()
    challenge = Challenge.parse(header)
    assert (challenge.realm, challenge.algorithm, challenge.qop, challenge.stale) == (
        "gw.example.org",
        algorithm,
        ("auth",),
        False,
    )
    client = DigestClient("fax", USERS["fax"])
    uri = "sip:+4930123456@gw.example.org"
    first = client.authorization(challenge, "INVITE", uri)
    assert server.check(first, "INVITE", uri=uri) is Verdict.OK
    clock.now += 60
    second = client.authorization(challenge, "BYE", uri)  # the nonce is reused with nc=2
    assert params(second)["nc"] == "00000002"
    assert server.verify(second, "BYE")
    assert server.check(second, "INVITE") is Verdict.BAD_RESPONSE  # the method is part of the digest
    assert server.check(first, "INVITE", uri="sip:other@gw.example.org") is Verdict.MALFORMED


def test_stale_nonce(clock: FakeClock) -> None:
    server = DigestServer("gw.example.org", USERS.get, clock=clock)
    challenge = Challenge.parse(server.challenge())
    client = DigestClient("alice", USERS["alice"])
    clock.now += 301
    late = client.authorization(challenge, "REGISTER", "sip:gw.example.org")
    assert server.check(late, "REGISTER") is Verdict.STALE
    assert not server.verify(late, "REGISTER")
    fresh = Challenge.parse(server.challenge(stale=True))
    assert fresh.stale and fresh.nonce != challenge.nonce
    assert server.verify(client.authorization(fresh, "REGISTER", "sip:gw.example.org"), "REGISTER")
    wrong = DigestClient("alice", "guess").authorization(challenge, "REGISTER", "sip:gw.example.org")
    assert server.check(wrong, "REGISTER") is Verdict.BAD_RESPONSE  # stale only when the password was right


def test_wrong_password_unknown_user_and_forged_nonce(clock: FakeClock) -> None:
    server = DigestServer("gw.example.org", USERS.get, "SHA-256", clock=clock)
    challenge = Challenge.parse(server.challenge())
    wrong = DigestClient("alice", "looking-glass").authorization(challenge, "INVITE", "sip:x@gw.example.org")
    assert server.check(wrong, "INVITE") is Verdict.BAD_RESPONSE
    stranger = DigestClient("mallory", "x").authorization(challenge, "INVITE", "sip:x@gw.example.org")
    assert server.check(stranger, "INVITE") is Verdict.UNKNOWN_USER
    forged = Challenge("gw.example.org", challenge.nonce[:-2] + "AA", "SHA-256", ("auth",))
    value = DigestClient("alice", USERS["alice"]).authorization(forged, "INVITE", "sip:x@gw.example.org")
    assert server.check(value, "INVITE") is Verdict.BAD_NONCE
    other = DigestServer("gw.example.org", USERS.get, "SHA-256", clock=clock)  # another secret
    good = DigestClient("alice", USERS["alice"]).authorization(challenge, "INVITE", "sip:x@gw.example.org")
    assert other.check(good, "INVITE") is Verdict.BAD_NONCE
    assert server.check(good, "INVITE") is Verdict.OK


def test_replayed_nonce_count(clock: FakeClock) -> None:
    server = DigestServer("gw.example.org", USERS.get, clock=clock)
    challenge = Challenge.parse(server.challenge())
    client = DigestClient("alice", USERS["alice"])
    value = client.authorization(challenge, "INVITE", "sip:x@gw.example.org")
    assert server.check(value, "INVITE") is Verdict.OK
    assert server.check(value, "INVITE") is Verdict.REPLAY
    later = client.authorization(challenge, "INVITE", "sip:x@gw.example.org")
    assert server.check(later, "INVITE") is Verdict.OK
    clock.now += 400  # expired nonces are forgotten, and answer STALE rather than REPLAY
    assert server.check(value, "INVITE") is Verdict.STALE


def test_server_rejects_what_it_did_not_offer(clock: FakeClock) -> None:
    server = DigestServer("gw.example.org", USERS.get, clock=clock)
    challenge = Challenge.parse(server.challenge())
    client = DigestClient("alice", USERS["alice"])
    legacy = client.authorization(Challenge(challenge.realm, challenge.nonce), "INVITE", "sip:x@y")
    assert server.check(legacy, "INVITE") is Verdict.MALFORMED  # no qop: not what we asked for
    sha = client.authorization(
        Challenge(challenge.realm, challenge.nonce, "SHA-256", ("auth",)), "INVITE", "sip:x@y"
    )
    assert server.check(sha, "INVITE") is Verdict.MALFORMED
    other_realm = client.authorization(
        Challenge("elsewhere", challenge.nonce, qop=("auth",)), "INVITE", "sip:x@y"
    )
    assert server.check(other_realm, "INVITE") is Verdict.MALFORMED
    assert server.check("Basic YWxpY2U6d29uZGVybGFuZA==", "INVITE") is Verdict.MALFORMED
    with pytest.raises(ValueError):
        DigestServer("r", USERS.get, "SHA-512")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_garbage_never_raises_anything_but_auth_error(text: str) -> None:
    with contextlib.suppress(AuthError):
        Challenge.parse(text)
    for value in (text, "Digest " + text):
        with contextlib.suppress(AuthError):
            choose_challenge([value])
    server = DigestServer("r", USERS.get)
    assert server.check(text, "INVITE") is not Verdict.OK
    assert server.check("Digest " + text, "INVITE") is not Verdict.OK


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
    st.text(max_size=20),
    st.sampled_from(["INVITE", "REGISTER", "BYE"]),
)
def test_any_credentials_round_trip(username: str, password: str, method: str) -> None:
    server = DigestServer('a "quoted" realm', {username: password}.get, "SHA-256")
    challenge = Challenge.parse(server.challenge())
    value = DigestClient(username, password).authorization(challenge, method, "sip:fax@[2001:db8::1]")
    assert server.verify(value, method)
    assert params(value)["username"] == username
