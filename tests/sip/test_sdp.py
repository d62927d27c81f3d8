"""SDP (RFC 4566) parsing of real-looking peers' descriptions, offer/answer (RFC 3264) for G.711 and
T.38 (T.38 Annex D attributes), and property tests of the parser."""

from __future__ import annotations

import contextlib

import pytest
from faxgw.sip.sdp import (
    CODECS,
    DEFAULT_T38,
    LOCAL_TCF,
    T38_UDP_FEC,
    T38_UDP_NO_EC,
    T38_UDP_REDUNDANCY,
    MediaDescription,
    NegotiatedMedia,
    NotAcceptable,
    Origin,
    SdpError,
    SessionDescription,
    T38Params,
    answer_offer,
    audio_offer,
    negotiated_from_answer,
    t38_offer,
)
from hypothesis import given
from hypothesis import strategies as st


def sdp(text: str, eol: str = "\r\n") -> bytes:
    return eol.join(line.strip() for line in text.strip().splitlines()).encode() + eol.encode()


ASTERISK_AUDIO = sdp("""
    v=0
    o=- 1997383004 1997383004 IN IP4 192.0.2.10
    s=Asterisk
    c=IN IP4 192.0.2.10
    t=0 0
    m=audio 14006 RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=maxptime:150
    a=sendrecv
""")

ASTERISK_T38 = sdp("""
    v=0
    o=- 1997383004 1997383006 IN IP4 192.0.2.10
    s=Asterisk
    c=IN IP4 192.0.2.10
    t=0 0
    m=image 4002 udptl t38
    a=T38FaxVersion:0
    a=T38MaxBitRate:14400
    a=T38FaxRateManagement:transferredTCF
    a=T38FaxMaxDatagram:400
    a=T38FaxUdpEC:t38UDPRedundancy
""")

FREESWITCH_T38_LF = sdp(
    """
    v=0
    o=FreeSWITCH 1700000000 1700000001 IN IP4 203.0.113.5
    s=FreeSWITCH
    c=IN IP4 203.0.113.5
    t=0 0
    m=image 26540 udptl t38
    a=T38FaxVersion:0
    a=T38MaxBitRate:9600
    a=T38FaxFillBitRemoval
    a=T38FaxRateManagement:transferredTCF
    a=T38FaxMaxBuffer:2000
    a=T38FaxMaxDatagram:400
    a=T38FaxUdpEC:t38UDPRedundancy
""",
    eol="\n",
)

CISCO_AUDIO0_IMAGE = sdp("""
    v=0
    o=CiscoSystemsSIP-GW-UserAgent 6376 7640 IN IP4 198.51.100.20
    s=SIP Call
    c=IN IP4 198.51.100.20
    t=0 0
    m=audio 0 RTP/AVP 18
    c=IN IP4 198.51.100.20
    m=image 17512 udptl t38
    c=IN IP4 198.51.100.21
    a=T38FaxVersion:0
    a=T38MaxBitRate:14400
    a=T38FaxFillBitRemoval:0
    a=T38FaxTranscodingMMR:0
    a=T38FaxTranscodingJBIG:1
    a=T38FaxRateManagement:transferredTCF
    a=T38FaxMaxBuffer:200
    a=T38FaxMaxDatagram:320
    a=T38FaxUdpEC:t38UDPRedundancy
""")

ATA_LOWERCASE_FEC = sdp("""
    v=0
    o=Grandstream 8000 8001 IN IP4 10.0.0.50
    s=SIP Call
    c=IN IP4 10.0.0.50
    t=0 0
    m=image 50004 UDPTL t38
    a=t38faxversion:1
    a=t38maxbitrate:33600
    a=t38faxratemanagement:TRANSFERREDTCF
    a=t38faxmaxbuffer:512
    a=t38faxmaxdatagram:262
    a=T38FaxUdpEc:t38UDPFEC
""")

IPV6_AUDIO = sdp(
    """
    v=0
    o=alice 2890844526 2890844526 IN IP6 2001:db8::1
    s=-
    c=IN IP6 2001:db8::1
    t=0 0
    a=sendonly
    m=audio 49170 RTP/AVP 8 0 101
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
""",
    eol="\n",
)

# G.729 first, a dynamic codec, bandwidth, session info, an unknown y= line and trailing spaces
MIXED_AUDIO = (
    b"v=0\r\no=user 1 2 IN IP4 192.0.2.33 \r\ns=call  \r\ni=a fax line\r\nc=IN IP4 192.0.2.33\r\n"
    b"b=AS:84\r\nt=0 0\r\ny=0123456789\r\na=tool:softphone 1.0\r\n"
    b"m=audio 5004 RTP/AVP 18 96 8 100\r\nb=TIAS:64000\r\n"
    b"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-15\r\na=ptime:30\r\na=x-unknown\r\n"
)

# SIPp prototypes/sip/sipp/uac_t38_v3.xml: audio and image both with a port
SIPP_BOTH = sdp("""
    v=0
    o=sipp 53655765 2353687638 IN IP4 127.0.0.1
    s=-
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 6000 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
    m=image 6190 udptl t38
    a=T38FaxVersion:0
    a=T38MaxBitRate:14400
    a=T38FaxRateManagement:transferredTCF
    a=T38FaxMaxBuffer:262
    a=T38FaxMaxDatagram:176
    a=T38FaxUdpEC:t38UDPRedundancy
""")

SAMPLES = [ASTERISK_AUDIO, ASTERISK_T38, FREESWITCH_T38_LF, CISCO_AUDIO0_IMAGE, ATA_LOWERCASE_FEC]
SAMPLES += [IPV6_AUDIO, MIXED_AUDIO, SIPP_BOTH]


def answer(offer: bytes, **kwargs):
    args = dict(address="192.0.2.99", audio_port=20000, image_port=20002, session_id=7, version=1)
    args.update(kwargs)
    return answer_offer(SessionDescription.parse(offer), **args)


# --- parsing ---------------------------------------------------------------------------------------------


def test_parse_asterisk_audio():
    desc = SessionDescription.parse(ASTERISK_AUDIO)
    assert desc.origin == Origin("-", 1997383004, 1997383004, "192.0.2.10")
    assert desc.session_name == "Asterisk" and desc.connection == "192.0.2.10" and desc.time == "0 0"
    (m,) = desc.media
    assert (m.media, m.port, m.protocol, m.formats) == ("audio", 14006, "RTP/AVP", ["0", "8", "101"])
    assert m.rtpmap == {0: ("PCMU", 8000), 8: ("PCMA", 8000), 101: ("telephone-event", 8000)}
    assert m.fmtp == {"101": "0-16"} and m.ptime == 20 and m.direction == "sendrecv"
    assert ("maxptime", "150") in m.attributes
    assert desc.media_address(m) == "192.0.2.10"


def test_parse_lf_only_and_flag_attribute():
    desc = SessionDescription.parse(FREESWITCH_T38_LF)
    (m,) = desc.media
    assert m.is_t38 and ("T38FaxFillBitRemoval", None) in m.attributes
    assert str(desc).count("\r\n") == len(FREESWITCH_T38_LF.splitlines())


def test_parse_media_level_connection_overrides_session():
    desc = SessionDescription.parse(CISCO_AUDIO0_IMAGE)
    audio, image = desc.media
    assert audio.port == 0 and audio.connection == "198.51.100.20"
    assert desc.media_address(image) == "198.51.100.21"


def test_parse_ipv6_and_session_level_direction():
    desc = SessionDescription.parse(IPV6_AUDIO)
    assert desc.origin.address_type == "IP6" and desc.connection == "2001:db8::1"
    assert desc.attributes == [("sendonly", None)]
    (m,) = desc.media
    assert m.direction == "sendrecv" and desc.media_direction(m) == "sendonly"
    assert "c=IN IP6 2001:db8::1\r\n" in str(desc)


def test_parse_keeps_unknown_lines_and_trims_trailing_spaces():
    desc = SessionDescription.parse(MIXED_AUDIO)
    assert desc.origin.address == "192.0.2.33" and desc.session_name == "call"
    assert desc.extra == [("i", "a fax line"), ("b", "AS:84"), ("y", "0123456789")]
    assert desc.attributes == [("tool", "softphone 1.0")]
    (m,) = desc.media
    assert m.extra == [("b", "TIAS:64000")] and ("x-unknown", None) in m.attributes
    assert m.rtpmap[96] == ("opus", 48000) and m.rtpmap[18] == ("G729", 8000) and m.ptime == 30
    text = str(desc)
    assert text.index("i=a fax line") < text.index("c=IN IP4") < text.index("b=AS:84") < text.index("t=0 0")
    assert text.index("t=0 0") < text.index("y=0123456789") < text.index("a=tool")
    assert SessionDescription.parse(text) == desc


@pytest.mark.parametrize("data", SAMPLES)
def test_samples_round_trip(data):
    desc = SessionDescription.parse(data)
    assert SessionDescription.parse(bytes(desc)) == desc
    assert str(desc).endswith("\r\n") and "\n" not in str(desc).replace("\r\n", "")


def test_static_payload_types_without_rtpmap():
    m = SessionDescription.parse(
        sdp("""
        v=0
        o=- 1 1 IN IP4 192.0.2.1
        s=-
        c=IN IP4 192.0.2.1
        t=0 0
        m=audio 1000 RTP/AVP 8 0 13
    """)
    ).media[0]
    assert m.rtpmap == {8: ("PCMA", 8000), 0: ("PCMU", 8000), 13: ("CN", 8000)}


def test_multicast_suffix_port_count_and_missing_connection():
    desc = SessionDescription.parse(
        sdp("""
        v=0
        o=- 1 1 IN IP4 192.0.2.1
        s=-
        t=0 0
        m=audio 49170/2 RTP/AVP 0
        c=IN IP4 224.2.1.1/127
        m=audio 5000 RTP/AVP 0
    """)
    )
    first, second = desc.media
    assert first.port == 49170 and first.port_count == 2
    assert desc.media_address(first) == "224.2.1.1"
    assert "m=audio 49170/2 RTP/AVP 0" in str(desc)
    with pytest.raises(SdpError, match="no c= line"):
        desc.media_address(second)


def test_minimal_tolerance_missing_s_and_t():
    desc = SessionDescription.parse(
        b"v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\n"
    )
    assert desc.session_name == "-" and desc.time == "0 0"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "starts with v="),
        (b"o=- 1 1 IN IP4 a\r\nv=0\r\n", "starts with v="),
        (b"v=1\r\no=- 1 1 IN IP4 a\r\n", "version"),
        (b"v=0\r\ns=-\r\n", "no o= line"),
        (b"v=0\r\no=- 1 1 IN IP4\r\n", "6 fields"),
        (b"v=0\r\no=- x 1 IN IP4 a\r\n", "not a number"),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\no=- 1 1 IN IP4 a\r\n", "second o="),
        (b"v=0\r\nv=0\r\n", "second v="),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\nhello\r\n", "not an SDP line"),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\nc=IP4 a\r\n", "c="),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio\r\n", "m="),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n", "bad port"),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio -1 RTP/AVP 0\r\n", "bad port"),
        (b"v=0\r\no=- 1 1 IN IP4 a\r\na=:x\r\n", "attribute name"),
        (b"v=0\r\no=\xff\r\n", "UTF-8"),
    ],
)
def test_malformed(data, reason):
    with pytest.raises(SdpError, match=reason):
        SessionDescription.parse(data)


# --- property tests --------------------------------------------------------------------------------------

token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._+", min_size=1, max_size=12)
value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20) | st.builds(
    lambda a, b: f"{a} {b}", token, token
)
address = token | st.sampled_from(["192.0.2.1", "2001:db8::7", "224.2.1.1/127", "ff15::101/3"])
attribute_name = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12
)
attributes = st.lists(st.tuples(attribute_name, st.none() | value | st.just("")), max_size=5)
_RANK = {k: i for i, k in enumerate("iuepcbtrzk")}


def extra_lines(letters: str):
    lines = st.lists(st.tuples(st.sampled_from(letters), value), max_size=4)
    return lines.map(lambda xs: sorted(xs, key=lambda kv: _RANK.get(kv[0], 99)))


media = st.builds(
    MediaDescription,
    media=token,
    port=st.integers(0, 65535),
    protocol=token,
    formats=st.lists(token, max_size=4),
    connection=st.none() | address,
    attributes=attributes,
    port_count=st.none() | st.integers(0, 8),
    extra=extra_lines("ibkxy"),
)
descriptions = st.builds(
    SessionDescription,
    origin=st.builds(Origin, token, st.integers(0, 2**64), st.integers(0, 2**64), address, st.just("IP4")),
    session_name=token | st.just(""),
    connection=st.none() | address,
    media=st.lists(media, max_size=3),
    attributes=attributes,
    time=st.sampled_from(["0 0", "3034423619 3042462419"]),
    extra=extra_lines("iuepbrzky"),
)


@given(descriptions)
def test_round_trip_property(desc):
    assert SessionDescription.parse(str(desc)) == desc
    assert SessionDescription.parse(bytes(desc)) == desc


@given(st.text(max_size=200))
def test_random_text_raises_only_sdp_error(text):
    with contextlib.suppress(SdpError):
        SessionDescription.parse(text)


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_sdp_error(data):
    with contextlib.suppress(SdpError):
        SessionDescription.parse(data)


line_soup = st.lists(
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(["v=", "o=", "s=", "c=", "t=", "m=", "a=", "b=", "c=IN IP4 ", "a=ptime:"])
        | st.sampled_from(["m=audio 1 RTP/AVP ", "m=image 1 udptl t38 ", "a=rtpmap:", "a=fmtp:"])
        | st.sampled_from(["a=T38FaxVersion:", "a=T38FaxUdpEC:", "a=T38FaxFillBitRemoval:"]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=25),
    ),
    max_size=12,
)


@given(line_soup)
def test_structured_garbage_raises_only_sdp_error(lines):
    text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n" + "\r\n".join(lines)
    try:
        desc = SessionDescription.parse(text)
    except SdpError:
        return
    for m in desc.media:  # the helpers never raise on what the parser accepted
        _ = (m.rtpmap, m.fmtp, m.ptime, m.direction, m.is_t38)
        try:
            T38Params.from_attributes(m.attributes)
            answer_offer(desc, address="192.0.2.9", audio_port=1, image_port=2, session_id=1, version=1)
        except SdpError:
            pass


# --- T.38 parameters -------------------------------------------------------------------------------------


def test_t38_params_from_asterisk():
    m = SessionDescription.parse(ASTERISK_T38).media[0]
    assert T38Params.from_attributes(m.attributes) == T38Params(
        version=0, max_bit_rate=14400, max_buffer=None, max_datagram=400, udp_ec=T38_UDP_REDUNDANCY
    )


def test_t38_params_case_variants_and_fec():
    m = SessionDescription.parse(ATA_LOWERCASE_FEC).media[0]
    params = T38Params.from_attributes(m.attributes)
    assert params == T38Params(
        version=1, max_bit_rate=33600, max_buffer=512, max_datagram=262, udp_ec=T38_UDP_FEC
    )


def test_t38_booleans_bare_zero_one():
    cisco = T38Params.from_attributes(SessionDescription.parse(CISCO_AUDIO0_IMAGE).media[1].attributes)
    assert (cisco.fill_bit_removal, cisco.transcoding_mmr, cisco.transcoding_jbig) == (False, False, True)
    freeswitch = T38Params.from_attributes(SessionDescription.parse(FREESWITCH_T38_LF).media[0].attributes)
    assert freeswitch.fill_bit_removal and freeswitch.max_bit_rate == 9600 and freeswitch.max_buffer == 2000
    assert T38Params.from_attributes([("T38FaxTranscodingMMR", "true")]).transcoding_mmr


def test_t38_absent_attributes_and_misspelling():
    assert T38Params.from_attributes([]) == T38Params(max_buffer=None, max_datagram=None)
    assert T38Params.from_attributes([("T38FaxMaxBitRate", "9600")]).max_bit_rate == 9600
    assert T38Params.from_attributes([("T38FaxUdpEC", "t38UDPSomething")]).udp_ec == T38_UDP_REDUNDANCY
    assert T38Params.from_attributes([("T38FaxRateManagement", "localTCF")]).rate_management == LOCAL_TCF


@pytest.mark.parametrize(
    "attributes",
    [
        [("T38FaxVersion", "zero")],
        [("T38FaxMaxDatagram", None)],
        [("T38FaxRateManagement", "sometimesTCF")],
        [("T38FaxFillBitRemoval", "maybe")],
    ],
)
def test_t38_bad_values(attributes):
    with pytest.raises(SdpError):
        T38Params.from_attributes(attributes)


def test_t38_to_attributes_order_and_booleans():
    params = T38Params(fill_bit_removal=True)
    assert params.to_attributes() == [
        ("T38FaxVersion", "0"),
        ("T38MaxBitRate", "14400"),
        ("T38FaxFillBitRemoval", None),
        ("T38FaxRateManagement", "transferredTCF"),
        ("T38FaxMaxBuffer", "2000"),
        ("T38FaxMaxDatagram", "400"),
        ("T38FaxUdpEC", "t38UDPRedundancy"),
    ]


t38_params = st.builds(
    T38Params,
    version=st.integers(0, 4),
    max_bit_rate=st.sampled_from([2400, 4800, 9600, 14400, 33600]),
    rate_management=st.sampled_from(["transferredTCF", "localTCF"]),
    max_buffer=st.none() | st.integers(0, 100000),
    max_datagram=st.none() | st.integers(0, 100000),
    udp_ec=st.sampled_from([T38_UDP_REDUNDANCY, T38_UDP_FEC, T38_UDP_NO_EC]),
    fill_bit_removal=st.booleans(),
    transcoding_mmr=st.booleans(),
    transcoding_jbig=st.booleans(),
)


@given(t38_params)
def test_t38_attributes_round_trip(params):
    assert T38Params.from_attributes(params.to_attributes()) == params


@given(t38_params, t38_params)
def test_t38_answer_rules(offered, local):
    ours = offered.answer(local)
    assert ours.version == min(offered.version, local.version)
    assert ours.max_bit_rate == min(offered.max_bit_rate, local.max_bit_rate)
    assert ours.rate_management == offered.rate_management
    assert (ours.max_buffer, ours.max_datagram) == (local.max_buffer, local.max_datagram)
    assert ours.fill_bit_removal == (offered.fill_bit_removal and local.fill_bit_removal)
    assert ours.transcoding_jbig <= local.transcoding_jbig and ours.transcoding_mmr <= offered.transcoding_mmr
    if T38_UDP_NO_EC in (offered.udp_ec, local.udp_ec):
        assert ours.udp_ec == T38_UDP_NO_EC
    elif offered.udp_ec == local.udp_ec == T38_UDP_FEC:
        assert ours.udp_ec == T38_UDP_FEC
    else:
        assert ours.udp_ec == T38_UDP_REDUNDANCY


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (T38_UDP_REDUNDANCY, T38_UDP_REDUNDANCY),
        (T38_UDP_FEC, T38_UDP_REDUNDANCY),
        (T38_UDP_NO_EC, T38_UDP_NO_EC),
    ],
)
def test_t38_error_correction_answer_with_our_defaults(offered, expected):
    assert T38Params(udp_ec=offered).answer(DEFAULT_T38).udp_ec == expected


def test_t38_params_validation():
    with pytest.raises(SdpError):
        T38Params(rate_management="transferredtcf")
    with pytest.raises(SdpError):
        T38Params(udp_ec="fec")
    with pytest.raises(SdpError):
        T38Params(max_datagram=-1)


# --- offers ---------------------------------------------------------------------------------------------


def test_audio_offer():
    offer = audio_offer("192.0.2.5", 30000, session_id=42, version=1)
    assert str(offer) == (
        "v=0\r\no=- 42 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 0 8 96 97 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:96 red/8000\r\na=fmtp:96 0/0\r\na=rtpmap:97 red/8000\r\na=fmtp:97 8/8\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    pcma_only = audio_offer(
        "2001:db8::5",
        30000,
        session_id=42,
        version=2,
        codecs=("pcma",),
        telephone_event=False,
        redundancy=False,
    )
    assert pcma_only.media[0].formats == ["8"] and pcma_only.origin.address_type == "IP6"
    with pytest.raises(SdpError):
        audio_offer("192.0.2.5", 1, session_id=1, version=1, codecs=("G729",))


def test_t38_offer():
    offer = t38_offer("192.0.2.5", 30002, session_id=42, version=2, params=T38Params(max_bit_rate=9600))
    assert str(offer) == (
        "v=0\r\no=- 42 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        "m=image 30002 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:9600\r\n"
        "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:2000\r\na=T38FaxMaxDatagram:400\r\n"
        "a=T38FaxUdpEC:t38UDPRedundancy\r\n"
    )


# --- answering ------------------------------------------------------------------------------------------


def test_answer_asterisk_audio():
    desc, negotiated = answer(ASTERISK_AUDIO)
    assert negotiated == NegotiatedMedia("audio", "192.0.2.10", 14006, 0, "PCMU", 101, None, 20)
    assert str(desc) == (
        "v=0\r\no=- 7 1 IN IP4 192.0.2.99\r\ns=-\r\nc=IN IP4 192.0.2.99\r\nt=0 0\r\n"
        "m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def test_answer_picks_the_first_supported_codec_in_the_offer_order():
    desc, negotiated = answer(MIXED_AUDIO)
    assert (negotiated.payload_type, negotiated.codec, negotiated.telephone_event) == (8, "PCMA", 100)
    assert negotiated.ptime == 30
    assert desc.media[0].formats == ["8", "100"] and desc.media[0].fmtp == {"100": "0-15"}
    _, pcmu_only = answer(ASTERISK_AUDIO, codecs=("PCMA",))
    assert pcmu_only.codec == "PCMA" and pcmu_only.payload_type == 8


def test_answer_mirrors_direction_and_ipv6():
    desc, negotiated = answer(IPV6_AUDIO, address="2001:db8::99")
    assert negotiated.remote_address == "2001:db8::1" and negotiated.codec == "PCMA"
    assert desc.media[0].direction == "recvonly"  # offer was sendonly (session level)
    assert desc.origin.address_type == "IP6" and "c=IN IP6 2001:db8::99" in str(desc)


def test_answer_t38_reinvite_asterisk():
    desc, negotiated = answer(ASTERISK_T38)
    assert negotiated.kind == "t38" and (negotiated.remote_address, negotiated.remote_port) == (
        "192.0.2.10",
        4002,
    )
    # agreed values, and the far end's datagram bound for what we send
    assert negotiated.t38 == T38Params(max_buffer=None, max_datagram=400)
    (m,) = desc.media
    assert (m.media, m.port, m.protocol, m.formats) == ("image", 20002, "udptl", ["t38"])
    assert T38Params.from_attributes(m.attributes) == DEFAULT_T38  # ours: buffer 2000, datagram 400


def test_answer_audio0_plus_image_keeps_both_lines():
    desc, negotiated = answer(CISCO_AUDIO0_IMAGE)
    audio, image = desc.media
    assert (audio.media, audio.port, audio.formats) == ("audio", 0, ["18"])
    assert image.port == 20002 and image.is_t38
    assert negotiated.remote_address == "198.51.100.21" and negotiated.remote_port == 17512
    assert negotiated.t38.max_datagram == 320 and negotiated.t38.transcoding_jbig is False
    text = str(desc)
    assert text.index("m=audio 0 RTP/AVP 18") < text.index("m=image 20002 udptl t38")


def test_answer_prefers_t38_over_audio_when_both_offered():
    desc, negotiated = answer(SIPP_BOTH)
    assert negotiated.kind == "t38" and negotiated.remote_port == 6190
    assert [m.port for m in desc.media] == [0, 20002]
    desc, negotiated = answer(SIPP_BOTH, accept_t38=False)
    assert negotiated.kind == "audio" and negotiated.remote_port == 6000
    assert [m.port for m in desc.media] == [20000, 0]


def test_answer_t38_fec_offer_gets_redundancy_and_echoes_protocol_case():
    desc, negotiated = answer(ATA_LOWERCASE_FEC)
    (m,) = desc.media
    assert m.protocol == "UDPTL"
    ours = T38Params.from_attributes(m.attributes)
    assert ours.udp_ec == T38_UDP_REDUNDANCY and ours.version == 0 and ours.max_bit_rate == 14400
    assert negotiated.t38.max_datagram == 262 and negotiated.t38.max_buffer == 512


def test_answer_lf_only_freeswitch():
    _, negotiated = answer(FREESWITCH_T38_LF, t38=T38Params(fill_bit_removal=True))
    assert negotiated.t38.max_bit_rate == 9600 and negotiated.t38.fill_bit_removal


@pytest.mark.parametrize(
    "offer",
    [
        sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 1000 RTP/AVP 18 9
        """),
        sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 1000 RTP/SAVP 0
            a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
        """),
        sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 0 RTP/AVP 0
            m=image 0 udptl t38
        """),
        sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=video 1000 RTP/AVP 96
        """),
        sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            t=0 0
            m=audio 1000 RTP/AVP 0
        """),
    ],
    ids=["g729-g722", "srtp", "all-ports-zero", "video", "no-connection"],
)
def test_not_acceptable(offer):
    with pytest.raises(NotAcceptable):
        answer(offer)


def test_t38_refused_when_not_accepting_and_nothing_else():
    with pytest.raises(NotAcceptable):
        answer(ASTERISK_T38, accept_t38=False)


def test_unreadable_t38_falls_back_to_audio():
    offer = SIPP_BOTH.replace(b"T38FaxRateManagement:transferredTCF", b"T38FaxRateManagement:bogus")
    _, negotiated = answer(offer)
    assert negotiated.kind == "audio"


# --- the offerer's side ---------------------------------------------------------------------------------


def test_negotiated_from_asterisk_audio_answer():
    offer = audio_offer("192.0.2.5", 30000, session_id=42, version=1)
    peer = sdp("""
        v=0
        o=- 99 99 IN IP4 192.0.2.10
        s=Asterisk
        c=IN IP4 192.0.2.10
        t=0 0
        m=audio 14010 RTP/AVP 8 101
        a=rtpmap:8 PCMA/8000
        a=rtpmap:101 telephone-event/8000
        a=fmtp:101 0-16
        a=ptime:20
        a=sendrecv
    """)
    negotiated = negotiated_from_answer(offer, SessionDescription.parse(peer))
    assert negotiated == NegotiatedMedia("audio", "192.0.2.10", 14010, 8, "PCMA", 101, None, 20)


def test_negotiated_from_t38_answer():
    offer = t38_offer("192.0.2.5", 30002, session_id=42, version=2, params=T38Params(fill_bit_removal=True))
    peer = SessionDescription.parse(
        CISCO_AUDIO0_IMAGE.replace(b"m=audio 0 RTP/AVP 18\r\nc=IN IP4 198.51.100.20\r\n", b"")
    )
    negotiated = negotiated_from_answer(offer, peer)
    assert negotiated.kind == "t38" and negotiated.remote_port == 17512
    assert negotiated.t38 == T38Params(max_buffer=200, max_datagram=320)


def test_negotiated_from_refusal():
    offer = t38_offer("192.0.2.5", 30002, session_id=42, version=2)
    refused = SessionDescription.parse(ASTERISK_T38.replace(b"m=image 4002", b"m=image 0"))
    with pytest.raises(NotAcceptable):
        negotiated_from_answer(offer, refused)


@pytest.mark.parametrize("accept_t38", [True, False])
@pytest.mark.parametrize("kind", ["audio", "t38"])
def test_both_sides_agree(kind, accept_t38):
    if kind == "audio":
        offer = audio_offer("192.0.2.5", 30000, session_id=1, version=1, codecs=("PCMA", "PCMU"))
    else:
        offer = t38_offer("192.0.2.5", 30002, session_id=1, version=1, params=T38Params(version=2))
    offer = SessionDescription.parse(bytes(offer))
    try:
        desc, at_answerer = answer(bytes(offer), accept_t38=accept_t38)
    except NotAcceptable:
        assert kind == "t38" and not accept_t38
        return
    at_offerer = negotiated_from_answer(offer, SessionDescription.parse(bytes(desc)))
    assert at_offerer.kind == at_answerer.kind == kind
    assert (at_offerer.remote_address, at_offerer.remote_port) == (
        "192.0.2.99",
        20000 if kind == "audio" else 20002,
    )
    assert (at_answerer.remote_address, at_answerer.remote_port) == (
        "192.0.2.5",
        30000 if kind == "audio" else 30002,
    )
    if kind == "audio":
        assert at_offerer.codec == at_answerer.codec == "PCMA"
        assert at_offerer.telephone_event == at_answerer.telephone_event == 101
        # RFC 2198 redundancy of the chosen law (PCMA, offered first: "96 red/8000", fmtp 8/8).
        assert at_offerer.red == at_answerer.red == 96
        assert desc.media[0].fmtp["96"] == "8/8"
    else:
        assert at_offerer.t38.version == at_answerer.t38.version == 0
        assert at_offerer.t38.udp_ec == at_answerer.t38.udp_ec == T38_UDP_REDUNDANCY


def test_codec_table():
    assert CODECS == {"PCMU": (0, 8000), "PCMA": (8, 8000)}


REDUNDANT_PCMU = sdp("""
    v=0
    o=- 1 1 IN IP4 192.0.2.10
    s=-
    c=IN IP4 192.0.2.10
    t=0 0
    m=audio 14010 RTP/AVP 8 0 98
    a=rtpmap:98 RED/8000
    a=fmtp:98 0/0/0
""")


def test_redundancy_only_of_the_chosen_codec_and_only_when_wanted():
    # 98 is redundancy of PCMU only (RFC 2198 5: "0/0/0"); PCMA is chosen (the offer's first): none.
    desc, negotiated = answer(REDUNDANT_PCMU)
    assert (negotiated.codec, negotiated.red) == ("PCMA", None) and "red" not in str(desc)
    desc, negotiated = answer(REDUNDANT_PCMU, codecs=("PCMU",))
    assert (negotiated.codec, negotiated.red) == ("PCMU", 98)
    assert desc.media[0].formats == ["0", "98"] and desc.media[0].fmtp == {"98": "0/0"}
    # Without a=fmtp: redundancy of whichever codec goes with it.
    assert answer(REDUNDANT_PCMU.replace(b"a=fmtp:98 0/0/0\r\n", b""))[1].red == 98
    assert answer(REDUNDANT_PCMU, codecs=("PCMU",), redundancy=False)[1].red is None


def test_redundancy_in_an_answer_to_an_offer_without_it_is_ignored():
    offer = audio_offer("192.0.2.5", 30000, session_id=1, version=1, codecs=("PCMU",), redundancy=False)
    peer = SessionDescription.parse(REDUNDANT_PCMU.replace(b"RTP/AVP 8 0 98", b"RTP/AVP 0 98"))
    assert negotiated_from_answer(offer, peer).red is None
    offer = audio_offer("192.0.2.5", 30000, session_id=1, version=1, codecs=("PCMU",))
    assert negotiated_from_answer(offer, peer).red == 98
