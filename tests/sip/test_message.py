"""SIP wire format: real-world samples, RFC 4475 torture cases, round trips, and properties: parsing never
raises anything but SipParseError."""

from __future__ import annotations

import re

import pytest
from faxgw.sip.message import (
    REASONS,
    Address,
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    StreamFramer,
    Via,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    response_to,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire(head: str, body: bytes = b"", *, length: bool = True) -> bytes:
    """A message from a readable template: LF becomes CRLF and, unless told not to, the true Content-Length
    is appended to the headers."""
    text = head.strip("\n").replace("\n", "\r\n")
    if length:
        text += f"\r\nContent-Length: {len(body)}"
    return text.encode() + b"\r\n\r\n" + body


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


ATA_SDP = crlf(
    """v=0
o=201 8000 8000 IN IP4 192.168.1.50
s=SIP Call
c=IN IP4 192.168.1.50
t=0 0
m=audio 5004 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
"""
)

# What a Grandstream-style ATA sends its trunk when the fax machine behind it dials out.
ATA_INVITE = wire(
    """
INVITE sip:+4930123456@trunk.example.net SIP/2.0
Via: SIP/2.0/UDP 192.168.1.50:5060;branch=z9hG4bK1468823795;rport
From: "Fax Machine" <sip:201@trunk.example.net>;tag=1130519281
To: <sip:+4930123456@trunk.example.net>
Call-ID: 1771478493-5060-1@BJC.BGI.B.BAC
CSeq: 20 INVITE
Contact: <sip:201@192.168.1.50:5060>
Max-Forwards: 70
User-Agent: Grandstream HT802 1.0.43.11
Privacy: none
P-Preferred-Identity: <sip:201@trunk.example.net>
Supported: replaces, path, timer, eventlist
Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE
Content-Type: application/sdp
Accept: application/sdp, application/dtmf-relay
""",
    ATA_SDP,
)

T38_SDP = crlf(
    """v=0
o=- 1 2 IN IP4 198.51.100.20
s=-
c=IN IP4 198.51.100.20
t=0 0
m=image 40000 udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
"""
)

OK_WITH_RECORD_ROUTE = wire(
    """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKnashds8;received=198.51.100.7;rport=40122
Record-Route: <sip:203.0.113.1;lr;ftag=as7d9f8e>, <sip:10.0.0.1;lr>
Record-Route: <sip:edge.carrier.example;transport=tcp;lr>
From: <sip:+15551230001@gw.example.org>;tag=9fxced76sl
To: <sip:+15551239999@carrier.example>;tag=314159
Call-ID: 3848276298220188511@gw.example.org
CSeq: 2 INVITE
Contact: <sip:+15551239999@198.51.100.20:5060;transport=udp>
Allow: INVITE,ACK,CANCEL,BYE,OPTIONS
Supported: timer
Session-Expires: 1800;refresher=uas
Server: Carrier SBC v3.2, build 1017
Content-Type: application/sdp
""",
    T38_SDP,
)

COMPACT_INVITE = wire(
    """
INVITE sip:fax@gw.example.org SIP/2.0
v: SIP/2.0/TCP pbx.example.com:5060;branch=z9hG4bK776asdhds
f: "PBX" <sip:100@pbx.example.com>;tag=1928301774
t: <sip:fax@gw.example.org>
i: a84b4c76e66710@pbx.example.com
CSeq: 314159 INVITE
m: <sip:100@pbx.example.com;transport=tcp>
k: timer, 100rel
s: fax for accounts
c: application/sdp
""",
    ATA_SDP,
    length=False,
).replace(b"\r\n\r\n", f"\r\nl: {len(ATA_SDP)}\r\n\r\n".encode(), 1)

FOLDED_OPTIONS = wire(
    """
OPTIONS sip:gw.example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK.fold
From: <sip:monitor@example.net>;
 tag=aa11
To:
  <sip:gw.example.org>
Call-ID: fold-1@192.0.2.10
CSeq: 7
\tOPTIONS
Subject: a subject
  continued here
"""
)

MANY_VIAS_BYE = wire(
    """
BYE sip:fax@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK72, SIP/2.0/UDP p1.example;branch=z9hG4bK2d;received=192.0.2.1
Via: SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKnashds8;rport=5061
Max-Forwards: 68
From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
To: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 231 BYE
"""
)

TWO_CHALLENGES = wire(
    """
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK.reg1;received=203.0.113.9;rport=5060
From: <sip:4930123456@sip.example.net>;tag=reg-1
To: <sip:4930123456@sip.example.net>;tag=as1f3e
Call-ID: reg-aa4b@192.0.2.50
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="sip.example.net", nonce="4f1a0c", algorithm=SHA-256, qop="auth"
WWW-Authenticate: Digest realm="sip.example.net", nonce="4f1a0c", algorithm=MD5, qop="auth"
Date: Sat, 13 Nov 2010 23:29:00 GMT
"""
)

WSINV_SDP = crlf(
    """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

# RFC 4475 3.1.1.1 "A Short Tortuous INVITE": LWS everywhere, folding, odd case, compact forms.
WSINV = (
    crlf(
        r"""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : LENGTH
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"""
    ).replace(b"LENGTH", str(len(WSINV_SDP)).encode())
    + WSINV_SDP
)

SAMPLES = [
    ATA_INVITE,
    OK_WITH_RECORD_ROUTE,
    COMPACT_INVITE,
    FOLDED_OPTIONS,
    MANY_VIAS_BYE,
    TWO_CHALLENGES,
    WSINV,
]


# --- real-world samples ---------------------------------------------------------------------------


def test_ata_invite() -> None:
    invite = parse_message(ATA_INVITE)
    assert isinstance(invite, SipRequest)
    assert invite.method == "INVITE"
    assert invite.uri == SipUri(user="+4930123456", host="trunk.example.net")
    assert invite.call_id == "1771478493-5060-1@BJC.BGI.B.BAC"
    assert invite.cseq == (20, "INVITE")
    assert invite.from_address.display_name == "Fax Machine"
    assert invite.from_address.tag == "1130519281"
    assert invite.to_address.tag is None
    (via,) = invite.vias
    assert (via.transport, via.host, via.port) == ("UDP", "192.168.1.50", 5060)
    assert via.branch == "z9hG4bK1468823795"
    assert via.rport is True
    assert invite.content_type == "application/sdp"
    assert invite.body == ATA_SDP
    assert invite.headers.get_all("Allow")[:3] == ["INVITE", "ACK", "OPTIONS"]
    assert len(invite.headers.get_all("allow")) == 10
    assert invite.headers.get("Supported") == "replaces"
    assert invite.headers.get("Max-Forwards") == "70"
    assert "Content-Length" not in invite.headers  # framing, recomputed by bytes()
    assert parse_message(bytes(invite)) == invite


def test_ok_with_record_route_and_t38_answer() -> None:
    ok = parse_message(OK_WITH_RECORD_ROUTE)
    assert isinstance(ok, SipResponse)
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.headers.get_all("Record-Route") == [
        "<sip:203.0.113.1;lr;ftag=as7d9f8e>",
        "<sip:10.0.0.1;lr>",
        "<sip:edge.carrier.example;transport=tcp;lr>",
    ]
    routes = [Address.parse(value).uri for value in ok.headers.get_all("Record-Route")]
    assert routes[0].params == {"lr": None, "ftag": "as7d9f8e"}
    assert routes[2].params["transport"] == "tcp"
    # Record-Route lines keep their exact text, so a dialog's route set is copied byte for byte.
    lines = [value for name, value in ok.headers if name == "Record-Route"]
    assert lines[0] == "<sip:203.0.113.1;lr;ftag=as7d9f8e>, <sip:10.0.0.1;lr>"
    via = ok.vias[0]
    assert (via.received, via.rport) == ("198.51.100.7", 40122)
    assert ok.to_address.tag == "314159"
    assert Address.parse(ok.headers.get("Contact") or "").uri.port == 5060
    assert ok.headers.get("Server") == "Carrier SBC v3.2, build 1017"  # never split
    assert ok.headers.get("Session-Expires") == "1800;refresher=uas"
    assert b"m=image 40000 udptl t38" in ok.body
    assert parse_message(bytes(ok)) == ok


def test_compact_forms_become_canonical_names() -> None:
    invite = parse_message(COMPACT_INVITE)
    names = [name for name, _ in invite.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Type",
    ]
    assert invite.vias[0].transport == "TCP"
    assert invite.call_id == "a84b4c76e66710@pbx.example.com"
    assert invite.headers.get_all("k") == ["timer", "100rel"]
    assert invite.headers.get("s") == "fax for accounts"
    assert invite.body == ATA_SDP  # from "l:"
    out = bytes(invite)
    assert b"\r\nCall-ID: a84b4c76e66710@pbx.example.com\r\n" in out
    assert f"\r\nContent-Length: {len(ATA_SDP)}\r\n\r\n".encode() in out


def test_folded_headers_are_unfolded() -> None:
    options = parse_message(FOLDED_OPTIONS)
    assert options.from_address.tag == "aa11"
    assert str(options.to_address) == "<sip:gw.example.org>"
    assert options.cseq == (7, "OPTIONS")
    assert options.headers.get("Subject") == "a subject continued here"
    assert options.body == b""


def test_multiple_vias_in_one_header_and_several_headers() -> None:
    bye = parse_message(MANY_VIAS_BYE)
    vias = bye.vias
    assert [v.host for v in vias] == ["p2.example.com", "p1.example", "2001:db8::9"]
    assert [v.transport for v in vias] == ["UDP", "UDP", "TLS"]
    assert vias[1].received == "192.0.2.1"
    assert vias[2].port == 5061
    assert str(vias[2]) == "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKnashds8;rport=5061"
    assert bye.headers.get("Via") == str(vias[0])
    assert len([name for name, _ in bye.headers if name == "Via"]) == 2  # lines, as received


def test_401_with_two_challenges_keeps_each_whole() -> None:
    challenge = parse_message(TWO_CHALLENGES)
    assert (challenge.status, challenge.reason) == (401, "Unauthorized")
    values = challenge.headers.get_all("www-authenticate")
    assert len(values) == 2
    assert values[0].startswith("Digest ") and "algorithm=SHA-256" in values[0] and 'qop="auth"' in values[0]
    assert challenge.headers.get("WWW-Authenticate") == values[0]
    assert challenge.headers.get("Date") == "Sat, 13 Nov 2010 23:29:00 GMT"


def test_lf_only_leading_crlf_and_no_content_length_on_udp() -> None:
    text = ATA_INVITE.replace(b"\r\n", b"\n").replace(f"Content-Length: {len(ATA_SDP)}\n".encode(), b"")
    invite = parse_message(b"\r\n\r\n" + text)
    assert invite.body == ATA_SDP.replace(b"\r\n", b"\n")  # the rest of the datagram
    assert invite.headers == parse_message(ATA_INVITE).headers
    assert parse_message(bytes(invite)) == invite


def test_message_without_blank_line_has_no_body() -> None:
    head = MANY_VIAS_BYE.split(b"\r\n\r\n")[0].replace(b"Content-Length: 0\r\n", b"")
    assert parse_message(head).body == b""
    assert parse_message(head + b"\r\n").body == b""


def test_headers_in_any_case() -> None:
    text = ATA_INVITE.replace(b"Call-ID:", b"cALL-iD:").replace(b"CSeq:", b"CSEQ  :")
    invite = parse_message(text)
    assert invite.call_id == "1771478493-5060-1@BJC.BGI.B.BAC"
    assert invite.cseq == (20, "INVITE")


# --- RFC 4475 torture messages --------------------------------------------------------------------


def test_rfc4475_wsinv() -> None:
    invite = parse_message(WSINV)
    assert isinstance(invite, SipRequest)
    assert invite.uri.params == {"unknownparam": None}
    to = invite.to_address
    assert (to.display_name, str(to.uri), to.tag) == (
        None,
        "sip:vivekg@chair-dnrc.example.com",
        "1918181833n",
    )
    sender = invite.from_address
    assert sender.display_name == 'J Rosenberg \\"'
    assert sender.tag == "98asjd8"
    assert invite.headers.get("Max-Forwards") == "0068"
    assert invite.cseq == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in invite.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert invite.headers.get("Subject") == ""
    assert invite.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert invite.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    route = Address.parse(invite.headers.get("Route") or "")
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    contact = Address.parse(invite.headers.get("Contact") or "")
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert invite.body == WSINV_SDP
    assert parse_message(bytes(invite)) == invite


def test_rfc4475_escaped_uris() -> None:
    # 3.1.1.3 esc01: escapes in the Request-URI user part, in To, From and Contact.
    message = wire(
        """
INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
"""
    )
    invite = parse_message(message)
    assert invite.uri.user == "sips:user@example.com"
    assert str(invite.uri) == "sip:sips%3Auser%40example.com@example.net"
    assert invite.to_address.uri.user == "user"
    assert invite.from_address.uri.user == "I have spaces"
    contact = Address.parse(invite.headers.get("m") or "")
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}  # kept as written
    assert parse_message(bytes(invite)) == invite


def test_rfc4475_escaped_nul_and_semicolon_in_user_part() -> None:
    # 3.1.1.4 escnull and 3.1.1.9 semiuri.
    assert SipUri.parse("sip:null-%00-null@example.com").user == "null-\x00-null"
    uri = SipUri.parse("sip:user;par=u%40example.net@example.com")
    assert (uri.user, uri.host, uri.params) == ("user;par=u@example.net", "example.com", {})
    assert SipUri.parse(str(uri)) == uri


def test_rfc4475_display_name_without_space_before_bracket() -> None:
    # 3.1.1.6 lwsdisp
    address = Address.parse("caller<sip:caller@example.com>;tag=323")
    assert (address.display_name, address.uri.user, address.tag) == ("caller", "caller", "323")


def test_rfc4475_exotic_tokens() -> None:
    # 3.1.1.2 intmeth: a method and header names made of every token character.
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    user = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    password = "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    message = wire(
        f"""
{method} sip:{user}:{password}@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:{user}@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\
"работающий";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}}{{
CSeq: 139122385 {method}
Max-Forwards: 255
extensionHeader-!.%*+_`'~:﻿大停電
"""
    )
    request = parse_message(message)
    assert request.method == method
    assert (request.uri.user, request.uri.password) == (user, password)
    assert request.to_address.uri.user == user
    assert request.to_address.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert request.from_address.display_name == "token1~` token2'+_ token3*%!.-"
    assert request.from_address.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert request.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert parse_message(bytes(request)) == request


def test_rfc4475_extra_octets_after_content_length_are_dropped() -> None:
    # 3.1.1.8 dblreq: a UDP datagram carrying more than Content-Length announces.
    message = parse_message(
        wire("""
REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
""")
        + b"INVITE sip:joe@example.com SIP/2.0\r\n"
    )
    assert message.body == b""


def test_rfc4475_reason_phrases() -> None:
    # 3.1.1.12 unreason (UTF-8 and odd characters), 3.1.1.13 noreason.
    tail = (
        "\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
    )
    tail += "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
    weird = "= 2**3 * 5**2 но сто девяносто девять - простое"
    response = parse_message(wire(f"SIP/2.0 200 {weird}{tail}"))
    assert isinstance(response, SipResponse)
    assert response.reason == weird
    assert parse_message(bytes(response)) == response
    for start in ("SIP/2.0 100", "SIP/2.0 100 "):
        response = parse_message(wire(start + tail))
        assert isinstance(response, SipResponse)
        assert (response.status, response.reason) == (100, "")


BASE = """
OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK.t
From: <sip:caller@example.net>;tag=1
To: <sip:user@example.com>
Call-ID: torture@192.0.2.1
CSeq: 1 OPTIONS
Max-Forwards: 70
"""


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        # 3.1.2.4 clerr / body shorter than Content-Length
        (
            wire(BASE, length=False).replace(b"\r\n\r\n", b"\r\nContent-Length: 9999\r\n\r\n") + b"v=0",
            "larger",
        ),
        # 3.1.2.5 ncl: negative Content-Length
        (
            wire(BASE, length=False).replace(b"\r\n\r\n", b"\r\nContent-Length: -999\r\n\r\n"),
            "Content-Length",
        ),
        # 3.1.2.6 scalarlg: CSeq beyond 2**31
        (wire(BASE.replace("CSeq: 1 OPTIONS", "CSeq: 36893488147419103232 OPTIONS")), "CSeq"),
        (wire(BASE.replace("CSeq: 1 OPTIONS", "CSeq: 2147483648 OPTIONS")), "2**31"),
        # 3.1.2.7 quotbal: unterminated quoted display name
        (wire(BASE.replace("From: <sip", 'From: "Bell, Alexander <sip')), "From"),
        # 3.1.2.8 ltgtruri: Request-URI in angle brackets
        (wire(BASE.replace("OPTIONS sip:user@example.com", "OPTIONS <sip:user@example.com>")), "Request"),
        # 3.1.2.9 lwsruri: spaces inside the Request-URI
        (wire(BASE.replace("sip:user@example.com SIP", "sip:user@example.com; lr SIP")), "Request-Line"),
        # 3.1.2.14 mcl01: conflicting Content-Length
        (
            wire(BASE, length=False).replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\nl: 3\r\n\r\nabc"),
            "conflicting",
        ),
        # 3.1.2.15 insuf: mandatory headers missing
        (wire(BASE.replace("Call-ID: torture@192.0.2.1\n", "")), "missing Call-ID"),
        (wire(BASE.replace("From: <sip:caller@example.net>;tag=1\n", "")), "missing From"),
        (wire(BASE.replace("To: <sip:user@example.com>\n", "")), "missing To"),
        (wire(BASE.replace("CSeq: 1 OPTIONS\n", "")), "missing CSeq"),
        (wire("\n".join(line for line in BASE.split("\n") if not line.startswith("Via"))), "missing Via"),
        # 3.1.2.16 mismatch01: CSeq method differs from the Request-Line
        (wire(BASE.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")), "does not match"),
        # 3.1.2.19 multi01: several values for single-value headers
        (wire(BASE + "To: <sip:other@example.com>\n"), "more than one To"),
        (wire(BASE + "Call-ID: again@192.0.2.1\n"), "more than one Call-ID"),
        # bad start lines
        (
            wire(BASE.replace("OPTIONS sip:user@example.com SIP/2.0", "OPTIONS sip:user@example.com")),
            "Request-Line",
        ),
        (wire(BASE.replace("OPTIONS sip:user@example.com SIP/2.0", "SIP/2.0 99 Odd")), "status code"),
        (wire(BASE.replace("OPTIONS sip:user@example.com SIP/2.0", "SIP/2.0 2000 OK")), "status code"),
        (wire(BASE.replace("OPTIONS sip:user@example.com SIP/2.0", "SIP/2.0")), "status code"),
        (wire(BASE.replace("OPTIONS", "OP(TIONS", 1)), "Request-Line"),
        # header lines
        (wire(BASE + "No colon here\n"), "colon"),
        (wire(BASE.replace("Via:", " Via:")), "continuation"),
        (wire(BASE + "Bad Name: x\n"), "header name"),
        (wire(BASE.replace("Via: SIP/2.0/UDP 192.0.2.1", "Via: SIP/2.0 192.0.2.1")), "Via"),
        (wire(BASE.replace("Call-ID: torture@192.0.2.1", "Call-ID: two words")), "Call-ID"),
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
    ],
)
def test_rfc4475_and_other_invalid_messages(message: bytes, complaint: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(complaint)) as error:
        parse_message(message)
    assert error.value.status == 400
    assert "\n" not in str(error.value)  # fit for a reason phrase


def test_unsupported_version_and_scheme_carry_their_status() -> None:
    # 3.1.2.13 badvers -> 505; a tel: Request-URI -> 416
    with pytest.raises(SipParseError, match="version") as error:
        parse_message(wire(BASE.replace("SIP/2.0\n", "SIP/7.0\n", 1)))
    assert error.value.status == 505
    with pytest.raises(SipParseError, match="scheme") as error:
        parse_message(wire(BASE.replace("OPTIONS sip:user@example.com", "OPTIONS tel:+15551234")))
    assert error.value.status == 416
    with pytest.raises(SipParseError):  # a tel: From is a bad header, not a Request-URI problem
        parse_message(wire(BASE.replace("From: <sip:caller@example.net>", "From: <tel:+15551234>")))


def test_request_and_response_parse_check_the_kind() -> None:
    assert SipRequest.parse(ATA_INVITE).method == "INVITE"
    assert SipResponse.parse(TWO_CHALLENGES).status == 401
    with pytest.raises(SipParseError):
        SipResponse.parse(ATA_INVITE)
    with pytest.raises(SipParseError):
        SipRequest.parse(TWO_CHALLENGES)


# --- URI, Address, Via ----------------------------------------------------------------------------


def test_sip_uri_parts() -> None:
    uri = SipUri.parse(
        "SIPS:alice:secret@[2001:db8::1]:5061;transport=TLS;lr;User=phone?Subject=fax&Priority=urgent"
    )
    assert uri.scheme == "sips"
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "2001:db8::1", 5061)
    assert uri.params == {"transport": "TLS", "lr": None, "user": "phone"}
    assert uri.headers == {"Subject": "fax", "Priority": "urgent"}
    assert (
        str(uri)
        == "sips:alice:secret@[2001:db8::1]:5061;transport=TLS;lr;user=phone?Subject=fax&Priority=urgent"
    )
    assert str(SipUri(host="example.com")) == "sip:example.com"
    assert str(SipUri(user="*31#", host="10.0.0.1", port=5060)) == "sip:*31%23@10.0.0.1:5060"
    assert SipUri.parse("sip:+15551234;phone-context=example.com@gw.example.com;user=phone").user == (
        "+15551234;phone-context=example.com"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "example.com",
        "http://example.com/",
        "sip:@example.com",
        "sip:alice@",
        "sip:alice@exa mple.com",
        "sip:alice@example.com:99999",
        "sip:alice@example.com:50x",
        "sip:[2001:db8::1",
        "sip:[not:an:ipv6::address:at:all:x]",
        "sip:alice@example.com;=x",
        "sip:<alice@example.com>",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_address_forms() -> None:
    plain = Address.parse("sip:alice@example.com;tag=88sja8x")
    assert plain.uri.params == {} and plain.tag == "88sja8x"
    assert str(plain) == "<sip:alice@example.com>;tag=88sja8x"
    named = Address.parse('  "Alice \\"Al\\" Smith"   <sip:alice@example.com;transport=tcp> ;Expires=60 ')
    assert named.display_name == 'Alice "Al" Smith'
    assert named.uri.params == {"transport": "tcp"}
    assert named.params == {"expires": "60"}
    assert str(named) == '"Alice \\"Al\\" Smith" <sip:alice@example.com;transport=tcp>;expires=60'
    unquoted = Address.parse("Alice Smith <sip:alice@example.com>")
    assert unquoted.display_name == "Alice Smith"
    instance = Address.parse(
        '<sip:fax@192.0.2.4>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";q=0.7'
    )
    assert instance.params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    assert Address.parse(str(instance)) == instance
    assert Address.parse('"" <sip:a@b>').display_name == ""


def test_address_and_uri_construction() -> None:
    uri = SipUri(user="fax", host="2001:db8::4", port=5062, params={"transport": "tcp"})
    assert uri.hostport == "[2001:db8::4]:5062"
    assert str(Address(None, uri, {"tag": "x"})) == "<sip:fax@[2001:db8::4]:5062;transport=tcp>;tag=x"
    assert str(Address("Fax", SipUri(host="example.com"))) == '"Fax" <sip:example.com>'
    with pytest.raises(TypeError):
        SipUri("fax", None, "example.com")  # type: ignore[misc]  # keyword-only: fields are easy to swap


def test_with_tag_copies() -> None:
    to = Address.parse("<sip:fax@gw.example.org>;foo=bar")
    tagged = to.with_tag("abc")
    assert tagged.tag == "abc" and to.tag is None
    assert str(tagged) == "<sip:fax@gw.example.org>;foo=bar;tag=abc"
    tagged.uri.params["x"] = "1"
    assert to.uri.params == {}
    assert tagged.with_tag("def").tag == "def"


@pytest.mark.parametrize(
    "text",
    ["*", "", "<sip:a@b", '"unterminated <sip:a@b>', '"name" sip:a@b', "<sip:a@b> junk", "<sip:a@b>;=1"],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(SipParseError):
        Address.parse(text)


def test_via_parts() -> None:
    via = Via.parse("SIP/2.0/udp 192.0.2.1:5060;Branch=z9hG4bK74bf9;received=203.0.113.7;rport=40000")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5060)
    assert (via.branch, via.received, via.rport) == ("z9hG4bK74bf9", "203.0.113.7", 40000)
    assert Via.parse("SIP/2.0/TCP host").rport is None
    assert Via.parse("SIP/2.0/TCP host;rport").rport is True
    built = Via("WS", "df7jal23ls0d.invalid", params={"branch": "z9hG4bKhjhs8ass877", "rport": None})
    assert str(built) == "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKhjhs8ass877;rport"
    assert Via.parse(str(built)) == built


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP :5060",
    ],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


# --- header map -----------------------------------------------------------------------------------


def test_headers_multimap() -> None:
    headers = Headers(
        [("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("route", "<sip:p1;lr>"), ("Route", "<sip:p2;lr>")]
    )
    headers.add("x-custom-thing", "one")
    assert list(headers) == [
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"),
        ("Route", "<sip:p1;lr>"),
        ("Route", "<sip:p2;lr>"),
        ("x-custom-thing", "one"),
    ]
    assert "VIA" in headers and "X-Custom-Thing" in headers and "Contact" not in headers
    assert headers.get("X-CUSTOM-THING") == "one"
    assert headers.get("Contact") is None and headers.get_all("Contact") == []
    copied = headers.copy()
    headers.set("route", "<sip:p3;lr>")
    assert headers.get_all("Route") == ["<sip:p3;lr>"]
    assert [name for name, _ in headers][:2] == ["Via", "Route"]  # set() keeps the place
    assert copied.get_all("Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    headers.set("Max-Forwards", "70")
    assert list(headers)[-1] == ("Max-Forwards", "70")
    headers.remove("ROUTE")
    assert "Route" not in headers and len(headers) == 3
    headers.remove("Route")  # absent: no error
    assert Headers([("call-id", "x")]) == Headers([("i", "x")])
    assert Headers([("a", "1"), ("b", "2")]) != Headers([("b", "2"), ("a", "1")])


def test_header_values_cannot_inject_lines() -> None:
    headers = Headers()
    for value in ("a\r\nVia: evil", "a\nb", "a\rb"):
        with pytest.raises(ValueError):
            headers.add("Subject", value)
    with pytest.raises(ValueError):
        headers.add("Bad Name", "x")
    with pytest.raises(ValueError):
        headers.set("", "x")


def test_list_headers_split_outside_quotes_and_brackets() -> None:
    headers = Headers()
    headers.add("Contact", '"Doe, John" <sip:jd@example.com;x=1,2>;q=0.5, <sip:a@b>,,')
    headers.add("Contact", "sip:c@d")
    assert headers.get_all("Contact") == [
        '"Doe, John" <sip:jd@example.com;x=1,2>;q=0.5',
        "<sip:a@b>",
        "sip:c@d",
    ]
    headers.add("Supported", "")
    assert headers.get_all("Supported") == [] and headers.get("Supported") == ""
    headers.add("Warning", '399 gw.example.org "Incompatible, really", 301 isi.edu "x"')
    assert len(headers.get_all("Warning")) == 2
    for name in ("WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization", "Date"):
        headers.add(name, 'Digest realm="a", nonce="b"')
        assert headers.get_all(name) == ['Digest realm="a", nonce="b"']
    for name in ("User-Agent", "Server", "X-Unknown"):
        headers.add(name, "Foo/1.0 (a, b), Bar")
        assert headers.get_all(name) == ["Foo/1.0 (a, b), Bar"]


# --- response_to, identifiers ---------------------------------------------------------------------


def test_response_to_copies_what_8_2_6_says() -> None:
    bye = parse_message(MANY_VIAS_BYE)
    assert isinstance(bye, SipRequest)
    bye.headers.add("Timestamp", "54")
    ok = response_to(bye, 200)
    assert (ok.status, ok.reason) == (200, "OK")
    assert [name for name, _ in ok.headers] == ["Via", "Via", "From", "To", "Call-ID", "CSeq"]
    assert [v for n, v in ok.headers if n == "Via"] == [v for n, v in bye.headers if n == "Via"]
    assert ok.to_address.tag == "1928301774"  # already tagged: kept
    assert (ok.call_id, ok.cseq) == (bye.call_id, (231, "BYE"))
    assert parse_message(bytes(ok)) == ok

    invite = parse_message(ATA_INVITE)
    assert isinstance(invite, SipRequest)
    invite.headers.add("Timestamp", "54 0.5")
    ringing = response_to(invite, 180, to_tag="z12")
    assert ringing.reason == "Ringing"
    assert ringing.headers.get("To") == "<sip:+4930123456@trunk.example.net>;tag=z12"
    assert "Timestamp" not in ringing.headers
    trying = response_to(invite, 100)
    assert trying.headers.get("Timestamp") == "54 0.5" and trying.to_address.tag is None
    assert response_to(invite, 488, "Not Acceptable Here (no T.38)").reason == "Not Acceptable Here (no T.38)"
    assert response_to(invite, 499).reason == "Bad Request"
    assert bytes(response_to(invite, 603)).startswith(b"SIP/2.0 603 Decline\r\nVia: ")
    with pytest.raises(ValueError):
        response_to(invite, 700)
    options = parse_message(FOLDED_OPTIONS)
    assert isinstance(options, SipRequest)
    assert response_to(options, 200, to_tag="t1").to_address.tag == "t1"


def test_reason_table() -> None:
    expected = {
        100: "Trying",
        180: "Ringing",
        183: "Session Progress",
        200: "OK",
        401: "Unauthorized",
        407: "Proxy Authentication Required",
        415: "Unsupported Media Type",
        420: "Bad Extension",
        422: "Session Interval Too Small",
        480: "Temporarily Unavailable",
        481: "Call/Transaction Does Not Exist",
        486: "Busy Here",
        487: "Request Terminated",
        488: "Not Acceptable Here",
        491: "Request Pending",
        500: "Server Internal Error",
        501: "Not Implemented",
        503: "Service Unavailable",
        603: "Decline",
    }
    assert {code: REASONS[code] for code in expected} == expected


def test_identifiers() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100
    assert all(b.startswith("z9hG4bK") and re.fullmatch(r"[A-Za-z0-9]+", b) for b in branches)
    assert len({new_tag() for _ in range(100)}) == 100
    call_id = new_call_id("gw.example.org")
    assert call_id.endswith("@gw.example.org") and new_call_id("gw.example.org") != call_id


def test_bytes_are_crlf_with_true_content_length() -> None:
    invite = parse_message(ATA_INVITE)
    invite.body = b"changed"
    invite.headers.set("Content-Length", "999")  # ignored: always recomputed
    out = bytes(invite)
    assert out.count(b"Content-Length") == 1 and out.endswith(b"\r\nContent-Length: 7\r\n\r\nchanged")
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert str(invite).startswith("INVITE sip:+4930123456@trunk.example.net SIP/2.0\r\n")


# --- stream framing -------------------------------------------------------------------------------


def test_stream_framer_splits_and_skips_keepalives() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + ATA_INVITE + b"\r\n\r\n" + OK_WITH_RECORD_ROUTE + MANY_VIAS_BYE[:30]
    assert framer.feed(stream) == [ATA_INVITE, OK_WITH_RECORD_ROUTE]
    assert framer.pending == 30
    assert framer.feed(MANY_VIAS_BYE[30:]) == [MANY_VIAS_BYE]
    assert framer.feed(b"\r\n") == [] and framer.pending == 0
    out: list[bytes] = []
    for i in range(len(COMPACT_INVITE)):
        out += framer.feed(COMPACT_INVITE[i : i + 1])
    assert out == [COMPACT_INVITE]
    assert parse_message(out[0]) == parse_message(COMPACT_INVITE)


def test_stream_framer_errors() -> None:
    without_length = MANY_VIAS_BYE.replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError, match="missing Content-Length"):
        StreamFramer().feed(without_length)
    with pytest.raises(SipParseError, match="header section"):
        StreamFramer().feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X-Filler: " + b"a" * 70000)
    with pytest.raises(SipParseError, match="header section"):
        StreamFramer(max_header_bytes=100).feed(MANY_VIAS_BYE)
    with pytest.raises(SipParseError, match="over"):
        StreamFramer(max_body_bytes=10).feed(ATA_INVITE)


@PROPERTY
@given(st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=4), st.data())
def test_stream_framer_any_chunking(messages: list[bytes], data: st.DataObject) -> None:
    stream = b"\r\n".join(messages)  # with a keep-alive CRLF between some
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = StreamFramer()
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += framer.feed(stream[start:end])
    assert out == messages


# --- properties -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_samples_round_trip(sample: bytes) -> None:
    message = parse_message(sample)
    assert parse_message(bytes(message)) == message
    assert bytes(parse_message(bytes(message))) == bytes(message)


def check_parse(data: bytes) -> None:
    """parse_message raises SipParseError or gives a message that round-trips and whose fields all work."""
    try:
        message = parse_message(data)
    except SipParseError as error:
        assert isinstance(error.status, int)
        return
    again = parse_message(bytes(message))
    assert again == message
    assert message.call_id and message.vias
    message.cseq, message.from_address, message.to_address, message.content_type  # noqa: B018
    for via in message.vias:
        assert Via.parse(str(via)) == via
    for address in (message.from_address, message.to_address):
        assert Address.parse(str(address)) == address
    if isinstance(message, SipRequest):
        assert SipUri.parse(str(message.uri)) == message.uri


@PROPERTY
@given(st.binary(max_size=1500))
def test_random_bytes_only_raise_parse_error(data: bytes) -> None:
    check_parse(data)


SIPPISH = st.text(
    alphabet=st.sampled_from(list(" \t\r\n:;,<>\"\\@=?[]/.%sipSIP2.0UDPabcxyz0159-_*'é")), max_size=400
)


@PROPERTY
@given(SIPPISH)
def test_sip_like_text_only_raises_parse_error(text: str) -> None:
    check_parse(wire(BASE)[:60] + text.encode())
    check_parse(text.encode())


MUTATION = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 2000), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 2000), st.binary(min_size=1, max_size=12)),
    st.tuples(
        st.just("replace"), st.integers(0, 2000), st.sampled_from(list(b' \t\r\n:;,<>"\\@=?[]%\x00\xff0aZ'))
    ),
    st.tuples(
        st.just("token"),
        st.integers(0, 2000),
        st.sampled_from(
            [b"\r\n ", b"\n", b";", b",", b'"', b"<", b">", b"@", b"sip:", b"[::1]", b":99999", b"%"]
        ),
    ),
)


def mutate(data: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    buffer = bytearray(data)
    for kind, position, arg in mutations:
        position %= len(buffer) + 1
        if kind == "delete":
            assert isinstance(arg, int)
            del buffer[position : position + arg]
        elif kind == "replace" and position < len(buffer):
            assert isinstance(arg, int)
            buffer[position] = arg
        elif isinstance(arg, bytes):
            buffer[position:position] = arg
    return bytes(buffer)


@PROPERTY
@given(st.sampled_from(SAMPLES), st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_messages_only_raise_parse_error(
    sample: bytes, mutations: list[tuple[str, int, object]]
) -> None:
    check_parse(mutate(sample, mutations))


@PROPERTY
@given(st.text(max_size=120))
def test_parts_only_raise_parse_error(text: str) -> None:
    for parse in (SipUri.parse, Address.parse, Via.parse):
        try:
            value = parse(text)
        except SipParseError:
            continue
        assert parse(str(value)) == value


TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~", min_size=1, max_size=12)
PARAM_VALUE = st.text(alphabet="abcXYZ0189-._~!*'()[]/:&+$%", max_size=10)
HOST = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}\.){0,3}[a-z]{2,6}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
URIS = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | st.text(min_size=1, max_size=16),
    password=st.none() | st.text(max_size=8),
    host=HOST,
    port=st.none() | st.integers(0, 65535),
    params=st.dictionaries(TOKEN.map(str.lower), st.none() | PARAM_VALUE, max_size=4),
    headers=st.dictionaries(TOKEN, PARAM_VALUE.map(lambda v: v.replace("&", "")), max_size=2),
).filter(lambda uri: uri.user is not None or uri.password is None)


@PROPERTY
@given(URIS, st.none() | st.text(max_size=20).filter(lambda t: "\r" not in t and "\n" not in t), st.data())
def test_structured_round_trips(uri: SipUri, display_name: str | None, data: st.DataObject) -> None:
    assert SipUri.parse(str(uri)) == uri
    params = data.draw(st.dictionaries(TOKEN.map(str.lower), st.none() | TOKEN, max_size=3))
    address = Address(display_name=display_name, uri=uri, params=params)
    assert Address.parse(str(address)) == address
    via_params = {name: value for name, value in params.items() if name != "rport"}
    via = Via(data.draw(st.sampled_from(["UDP", "TCP", "TLS"])), uri.host, uri.port, via_params)
    assert Via.parse(str(via)) == via
    request = SipRequest(
        method="INVITE",
        uri=uri,
        headers=Headers(
            [
                ("Via", str(via)),
                ("From", str(address)),
                ("To", str(address)),
                ("Call-ID", new_call_id(uri.host)),
                ("CSeq", "1 INVITE"),
            ]
        ),
        body=data.draw(st.binary(max_size=50)),
    )
    assert parse_message(bytes(request)) == request


@PROPERTY
@given(st.lists(st.text(alphabet="abcdef <>;=:@0123", min_size=1, max_size=12), max_size=5))
def test_list_split_round_trip(elements: list[str]) -> None:
    elements = [e.strip() for e in elements if e.strip() and e.count("<") == e.count(">") == 0]
    headers = Headers([("Allow", ", ".join(elements))])
    assert headers.get_all("Allow") == elements
