"""SDP (RFC 4566) and offer/answer (RFC 3264) for the media of a fax call: G.711 audio (m=audio RTP/AVP
with PCMU/PCMA, telephone-event and RFC 2198 redundancy) and T.38 (m=image udptl t38, attributes of
ITU-T T.38 Annex D).

Pure code. ``SessionDescription.parse`` takes what real peers send (LF-only lines, trailing spaces,
unknown lines and attributes, IPv6, a= before the first m=) and keeps everything it does not
understand, in order, so ``str()`` gives an equivalent description back (CRLF line ends). Lines are
written in RFC 4566 5 order.

Offer/answer: ``audio_offer``, ``t38_offer`` (the re-INVITE to T.38), ``answer_offer`` (for the
answerer) and ``negotiated_from_answer`` (for the offerer) all end in one ``NegotiatedMedia``: the
stream to run. ``NotAcceptable`` means no stream could be accepted: answer SIP 488.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

Attribute = tuple[str, str | None]


class SdpError(ValueError):
    """Text that is not a session description we can read, or parameters we cannot write."""


class NotAcceptable(SdpError):
    """No stream of the offer (or answer) can be used: SIP 488 Not Acceptable Here (RFC 3261 21.4.26)."""


#: RFC 4566 6: media direction attributes; sendrecv when none is given.
SENDRECV, SENDONLY, RECVONLY, INACTIVE = "sendrecv", "sendonly", "recvonly", "inactive"
DIRECTIONS = (SENDRECV, SENDONLY, RECVONLY, INACTIVE)
#: RFC 3264 6.1: the answer's direction for each offered one.
_ANSWER_DIRECTION = {SENDRECV: SENDRECV, SENDONLY: RECVONLY, RECVONLY: SENDONLY, INACTIVE: INACTIVE}

#: RFC 3551 6, table 4: static audio payload types (encoding name, clock rate).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    5: ("DVI4", 8000),
    6: ("DVI4", 16000),
    7: ("LPC", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    10: ("L16", 44100),
    11: ("L16", 44100),
    12: ("QCELP", 8000),
    13: ("CN", 8000),
    14: ("MPA", 90000),
    15: ("G728", 8000),
    16: ("DVI4", 11025),
    17: ("DVI4", 22050),
    18: ("G729", 8000),
}
#: The codecs we carry: name -> (static payload type, clock rate) (RFC 3551 4.5.14).
CODECS: dict[str, tuple[int, int]] = {"PCMU": (0, 8000), "PCMA": (8, 8000)}
#: RFC 4733 7.1.1: DTMF events; a dynamic payload type, 101 by custom; events 0-15 (DTMF) and 16 (flash).
TELEPHONE_EVENT = "telephone-event"
TELEPHONE_EVENT_PT = 101
TELEPHONE_EVENT_EVENTS = "0-16"
#: RFC 2198 5 (registered by RFC 4102): redundant audio, "red"; a dynamic payload type per G.711 law we
#: offer, from 96 on, its a=fmtp naming the law twice ("0/0": PCMU with one redundant PCMU block).
RED = "red"
RED_FIRST_PT = 96
#: Our packetisation: 20 ms, 160 G.711 samples (RFC 3551 4.5).
PTIME = 20
RTP_AVP = "RTP/AVP"

#: T.38 Annex D (and RFC 4612): the media line and its attributes, spelled as the standard spells them.
T38_MEDIA, T38_PROTOCOL, T38_FORMAT = "image", "udptl", "t38"
T38_FAX_VERSION = "T38FaxVersion"
T38_MAX_BIT_RATE = "T38MaxBitRate"
T38_FAX_RATE_MANAGEMENT = "T38FaxRateManagement"
T38_FAX_MAX_BUFFER = "T38FaxMaxBuffer"
T38_FAX_MAX_DATAGRAM = "T38FaxMaxDatagram"
T38_FAX_UDP_EC = "T38FaxUdpEC"
T38_FAX_FILL_BIT_REMOVAL = "T38FaxFillBitRemoval"
T38_FAX_TRANSCODING_MMR = "T38FaxTranscodingMMR"
T38_FAX_TRANSCODING_JBIG = "T38FaxTranscodingJBIG"
TRANSFERRED_TCF, LOCAL_TCF = "transferredTCF", "localTCF"
T38_UDP_REDUNDANCY, T38_UDP_FEC, T38_UDP_NO_EC = "t38UDPRedundancy", "t38UDPFEC", "t38UDPNoEC"
_RATE_MANAGEMENTS = {v.lower(): v for v in (TRANSFERRED_TCF, LOCAL_TCF)}
_UDP_ECS = {v.lower(): v for v in (T38_UDP_REDUNDANCY, T38_UDP_FEC, T38_UDP_NO_EC)}

#: RFC 4566 5: line order. Lines kept as ``extra`` are written at their place: these before c=,
#: these after c=, these after t=; any other (k=, unknown letters) just before the a= lines.
_SESSION_BEFORE_C, _SESSION_AFTER_C, _SESSION_AFTER_T = "iuep", "cb", "trz"
_MEDIA_BEFORE_C, _MEDIA_AFTER_C = "i", "cb"

_NUMBER = re.compile(r"[0-9]+")
_PORT = re.compile(r"([0-9]+)(?:/([0-9]+))?")


def _number(text: str, what: str) -> int:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise SdpError(f"{what}: {text!r} is not a number")
    return int(text)


def _address_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _parse_connection(value: str) -> str:
    """``IN IP4 <address>`` (RFC 4566 5.7): the address, with any /ttl or /count suffix. The address
    type is not kept: it is IP6 exactly when the address has a colon."""
    parts = value.split()
    if len(parts) != 3 or parts[0].upper() != "IN":
        raise SdpError(f"c={value!r}: expected 'IN <addrtype> <address>'")
    return parts[2]


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not name:
        raise SdpError(f"a={value!r}: no attribute name")
    return (name, rest if colon else None)


def _format_attribute(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


def _direction(attributes: list[Attribute]) -> str | None:
    found = None
    for name, value in attributes:
        if value is None and name.lower() in DIRECTIONS:
            found = name.lower()
    return found


def _lines(extra: list[tuple[str, str]], letters: str | None, exclude: str = "") -> list[str]:
    """Extra lines whose type is in ``letters`` (or, with None, not in ``exclude``), in stored order."""
    if letters is None:
        return [f"{kind}={value}" for kind, value in extra if kind not in exclude]
    return [f"{kind}={value}" for kind, value in extra if kind in letters]


@dataclass
class Origin:
    """The o= line (RFC 4566 5.2). Same origin, same version: the same description (RFC 3264 8)."""

    username: str
    session_id: int
    session_version: int
    address: str
    address_type: str = "IP4"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(f"o={value!r}: expected 6 fields")
        username, session_id, session_version, _nettype, address_type, address = parts
        return cls(
            username,
            _number(session_id, "o= session id"),
            _number(session_version, "o= session version"),
            address,
            address_type,
        )

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} IN {self.address_type} {self.address}"
        )


@dataclass
class MediaDescription:
    """One m= section (RFC 4566 5.14): its c= address if it has one, its attributes in order (unknown
    ones kept), and any other lines (i=, b=, k=, further c=) in ``extra``."""

    media: str
    port: int
    protocol: str
    formats: list[str] = field(default_factory=list)
    connection: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    port_count: int | None = None
    extra: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def _parse_m_line(cls, value: str) -> MediaDescription:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(f"m={value!r}: expected '<media> <port> <proto> <fmt> ...'")
        port = _PORT.fullmatch(parts[1])
        if port is None or int(port.group(1)) > 0xFFFF:
            raise SdpError(f"m={value!r}: bad port {parts[1]!r}")
        count = int(port.group(2)) if port.group(2) is not None else None
        return cls(parts[0], int(port.group(1)), parts[2], parts[3:], port_count=count)

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        lines = [" ".join([f"m={self.media}", port, self.protocol, *self.formats])]
        lines += _lines(self.extra, _MEDIA_BEFORE_C)
        if self.connection is not None:
            lines.append(f"c=IN {_address_type(self.connection)} {self.connection}")
        lines += _lines(self.extra, _MEDIA_AFTER_C)
        lines += _lines(self.extra, None, exclude=_MEDIA_BEFORE_C + _MEDIA_AFTER_C)
        lines += [_format_attribute(attribute) for attribute in self.attributes]
        return lines

    def attribute(self, name: str) -> str | None:
        """The value of the first attribute of that name (case-insensitive); None if absent or valueless."""
        name = name.lower()
        return next((value for key, value in self.attributes if key.lower() == name), None)

    def has_attribute(self, name: str) -> bool:
        name = name.lower()
        return any(key.lower() == name for key, _ in self.attributes)

    @property
    def direction(self) -> str:
        """This section's own direction attribute, sendrecv if it has none (see also
        ``SessionDescription.media_direction``, which falls back on the session level)."""
        return _direction(self.attributes) or SENDRECV

    @property
    def rtpmap(self) -> dict[int, tuple[str, int]]:
        """payload type -> (encoding name, clock rate): the a=rtpmap lines, and for listed static payload
        types without one, RFC 3551's. Malformed rtpmap lines are skipped."""
        result: dict[int, tuple[str, int]] = {}
        for name, value in self.attributes:
            if name.lower() != "rtpmap" or value is None:
                continue
            match = re.fullmatch(r"\s*([0-9]+)\s+([^/\s]+)/([0-9]+)(?:/\S*)?\s*", value)
            if match and int(match.group(1)) <= 127:
                result.setdefault(int(match.group(1)), (match.group(2), int(match.group(3))))
        for fmt in self.formats:
            if _NUMBER.fullmatch(fmt) and int(fmt) in STATIC_PAYLOAD_TYPES:
                result.setdefault(int(fmt), STATIC_PAYLOAD_TYPES[int(fmt)])
        return result

    @property
    def fmtp(self) -> dict[str, str]:
        """format -> its a=fmtp parameters."""
        result: dict[str, str] = {}
        for name, value in self.attributes:
            if name.lower() == "fmtp" and value:
                fmt, _, params = value.strip().partition(" ")
                result.setdefault(fmt, params.strip())
        return result

    @property
    def ptime(self) -> int | None:
        """a=ptime in milliseconds (RFC 4566 6), None if absent or unreadable."""
        value = self.attribute("ptime")
        try:
            return round(float(value)) if value is not None else None
        except (ValueError, OverflowError):
            return None

    @property
    def is_t38(self) -> bool:
        """m=image <port> udptl t38 (T.38 Annex D; the protocol is case-insensitive in practice)."""
        return (
            self.media.lower() == T38_MEDIA
            and self.protocol.lower() == T38_PROTOCOL
            and any(fmt.lower() == T38_FORMAT for fmt in self.formats)
        )

    @property
    def is_rtp_audio(self) -> bool:
        return self.media.lower() == "audio" and self.protocol.upper() == RTP_AVP


@dataclass
class SessionDescription:
    """A whole session description (RFC 4566). ``connection`` is the session-level c= address."""

    origin: Origin
    session_name: str = "-"
    connection: str | None = None
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    time: str = "0 0"
    extra: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | bytes | bytearray | memoryview) -> SessionDescription:
        if not isinstance(text, str):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as error:
                raise SdpError(f"not UTF-8: {error}") from None
        lines = [line.strip() for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines or not lines[0].startswith("v="):
            raise SdpError("a session description starts with v=")
        if lines[0][2:].strip() != "0":
            raise SdpError(f"SDP version {lines[0][2:]!r}, expected 0")
        origin = session_name = connection = time = None
        attributes: list[Attribute] = []
        extra: list[tuple[str, str]] = []
        media: list[MediaDescription] = []
        for line in lines[1:]:
            if len(line) < 2 or line[1] != "=" or not line[0].isascii() or not line[0].isalpha():
                raise SdpError(f"not an SDP line: {line[:60]!r}")
            kind, value = line[0], line[2:].strip()
            if kind == "m":
                media.append(MediaDescription._parse_m_line(value))
            elif media:
                section = media[-1]
                if kind == "c" and section.connection is None:
                    section.connection = _parse_connection(value)
                elif kind == "a":
                    section.attributes.append(_parse_attribute(value))
                else:
                    section.extra.append((kind, value))
            elif kind == "v":
                raise SdpError("a second v= line")
            elif kind == "o":
                if origin is not None:
                    raise SdpError("a second o= line")
                origin = Origin.parse(value)
            elif kind == "s" and session_name is None:
                session_name = value
            elif kind == "c" and connection is None:
                connection = _parse_connection(value)
            elif kind == "t" and time is None:
                time = value
            elif kind == "a":
                attributes.append(_parse_attribute(value))
            else:
                extra.append((kind, value))
        if origin is None:
            raise SdpError("no o= line")
        return cls(
            origin=origin,
            session_name="-" if session_name is None else session_name,
            connection=connection,
            media=media,
            attributes=attributes,
            time="0 0" if time is None else time,
            extra=extra,
        )

    def __str__(self) -> str:
        lines = ["v=0", f"o={self.origin}", f"s={self.session_name or ' '}"]
        lines += _lines(self.extra, _SESSION_BEFORE_C)
        if self.connection is not None:
            lines.append(f"c=IN {_address_type(self.connection)} {self.connection}")
        lines += _lines(self.extra, _SESSION_AFTER_C)
        lines.append(f"t={self.time}")
        lines += _lines(self.extra, _SESSION_AFTER_T)
        lines += _lines(self.extra, None, exclude=_SESSION_BEFORE_C + _SESSION_AFTER_C + _SESSION_AFTER_T)
        lines += [_format_attribute(attribute) for attribute in self.attributes]
        for section in self.media:
            lines += section.lines()
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def media_address(self, m: MediaDescription) -> str:
        """Where the stream goes: the section's c= address, else the session's (RFC 4566 5.7), without
        any /ttl suffix."""
        address = m.connection or self.connection
        if address is None:
            raise SdpError(f"no c= line for m={m.media}")
        return address.split("/")[0]

    def media_direction(self, m: MediaDescription) -> str:
        """The section's direction, else the session-level one, else sendrecv (RFC 4566 6)."""
        return _direction(m.attributes) or _direction(self.attributes) or SENDRECV


# --- T.38 parameters --------------------------------------------------------------------------------


def _t38_bool(name: str, value: str | None) -> bool:
    """T.38 Annex D booleans: present without a value means true; ':1' / ':0' are common too."""
    if value is None:
        return True
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise SdpError(f"{name}:{value}: not a boolean")


@dataclass(frozen=True)
class T38Params:
    """The T.38 session parameters of T.38 Annex D (as SDP attributes; RFC 4612 registers them).

    ``max_buffer`` and ``max_datagram`` describe the receiver of the SDP that carries them: what the
    side that wrote it can take in (octets of buffer; the largest UDPTL datagram). None: not stated.
    The defaults are ours: version 0, 14400 bit/s, transferred TCF (the one method that works over
    UDP), 2000 octets of buffer and 400-octet datagrams (we take in any size), redundancy.
    """

    version: int = 0
    max_bit_rate: int = 14400
    rate_management: str = TRANSFERRED_TCF
    max_buffer: int | None = 2000
    max_datagram: int | None = 400
    udp_ec: str = T38_UDP_REDUNDANCY
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False

    def __post_init__(self) -> None:
        if self.rate_management not in _RATE_MANAGEMENTS.values():
            raise SdpError(f"T38FaxRateManagement {self.rate_management!r}: {TRANSFERRED_TCF} or {LOCAL_TCF}")
        if self.udp_ec not in _UDP_ECS.values():
            raise SdpError(f"T38FaxUdpEC {self.udp_ec!r}: one of {', '.join(_UDP_ECS.values())}")
        numbers = (self.version, self.max_bit_rate, self.max_buffer or 0, self.max_datagram or 0)
        if min(numbers) < 0:
            raise SdpError("T.38 numeric parameters are not negative")

    @classmethod
    def from_attributes(cls, attributes: list[Attribute]) -> T38Params:
        """Read the T.38 attributes of an m=image section. Names are case-insensitive (T38FaxVersion,
        t38faxversion, T38FaxUdpEc all occur); the first of each counts. Absent: version 0, 14400 bit/s,
        transferredTCF, buffer and datagram not stated, and t38UDPRedundancy, which every
        implementation receives whatever it says; an unknown T38FaxUdpEC value reads the same way.
        T38FaxMaxBitRate (a common misspelling) is read as T38MaxBitRate."""
        seen: dict[str, str | None] = {}
        for name, value in attributes:
            seen.setdefault(name.lower(), value)

        def number(name: str) -> int | None:
            key = name.lower()
            if key not in seen:
                return None
            value = seen[key]
            if value is None:
                raise SdpError(f"{name} without a value")
            return _number(value, name)

        def flag(name: str) -> bool:
            key = name.lower()
            return key in seen and _t38_bool(name, seen[key])

        rate = seen.get(T38_FAX_RATE_MANAGEMENT.lower()) or TRANSFERRED_TCF
        if rate.strip().lower() not in _RATE_MANAGEMENTS:
            raise SdpError(f"{T38_FAX_RATE_MANAGEMENT}:{rate}: {TRANSFERRED_TCF} or {LOCAL_TCF}")
        udp_ec = (seen.get(T38_FAX_UDP_EC.lower()) or "").strip().lower()
        bit_rate = number(T38_MAX_BIT_RATE)
        if bit_rate is None:
            bit_rate = number("T38FaxMaxBitRate")
        version = number(T38_FAX_VERSION)
        return cls(
            version=0 if version is None else version,
            max_bit_rate=14400 if bit_rate is None else bit_rate,
            rate_management=_RATE_MANAGEMENTS[rate.strip().lower()],
            max_buffer=number(T38_FAX_MAX_BUFFER),
            max_datagram=number(T38_FAX_MAX_DATAGRAM),
            udp_ec=_UDP_ECS.get(udp_ec, T38_UDP_REDUNDANCY),
            fill_bit_removal=flag(T38_FAX_FILL_BIT_REMOVAL),
            transcoding_mmr=flag(T38_FAX_TRANSCODING_MMR),
            transcoding_jbig=flag(T38_FAX_TRANSCODING_JBIG),
        )

    def to_attributes(self) -> list[Attribute]:
        """The attributes in the usual order; booleans bare when true (Annex D), left out when false."""
        attributes: list[Attribute] = [
            (T38_FAX_VERSION, str(self.version)),
            (T38_MAX_BIT_RATE, str(self.max_bit_rate)),
        ]
        for name, on in (
            (T38_FAX_FILL_BIT_REMOVAL, self.fill_bit_removal),
            (T38_FAX_TRANSCODING_MMR, self.transcoding_mmr),
            (T38_FAX_TRANSCODING_JBIG, self.transcoding_jbig),
        ):
            if on:
                attributes.append((name, None))
        attributes.append((T38_FAX_RATE_MANAGEMENT, self.rate_management))
        if self.max_buffer is not None:
            attributes.append((T38_FAX_MAX_BUFFER, str(self.max_buffer)))
        if self.max_datagram is not None:
            attributes.append((T38_FAX_MAX_DATAGRAM, str(self.max_datagram)))
        attributes.append((T38_FAX_UDP_EC, self.udp_ec))
        return attributes

    def answer(self, local: T38Params) -> T38Params:
        """Our answer to these offered parameters, given what we (``local``) support. T.38 Annex D:

        - version and max bit rate: the lower of the two (the answer may only go down);
        - rate management: the offerer's, echoed (it is not negotiable). Over UDPTL it should be
          transferredTCF; an offer of localTCF is still answered localTCF, and the engine has to set
          SpanDSP's t38_set_data_rate_management_method to match (SpanDSP has both methods);
        - max buffer and max datagram: ours. They are declarative, each side stating what it can
          receive, not a minimum to agree on: we do not copy or lower to the offer's values. The
          offer's max datagram is instead the bound on what we send (``UdptlSender(max_datagram)``);
        - error correction: none if either side wants none; FEC only if both offer FEC; else
          redundancy (an FEC offer is answered with redundancy unless ``local`` says FEC);
        - fill bit removal, MMR and JBIG transcoding: only if both sides have them.
        """
        if T38_UDP_NO_EC in (self.udp_ec, local.udp_ec):
            udp_ec = T38_UDP_NO_EC
        elif self.udp_ec == local.udp_ec == T38_UDP_FEC:
            udp_ec = T38_UDP_FEC
        else:
            udp_ec = T38_UDP_REDUNDANCY
        return T38Params(
            version=min(self.version, local.version),
            max_bit_rate=min(self.max_bit_rate, local.max_bit_rate),
            rate_management=self.rate_management,
            max_buffer=local.max_buffer,
            max_datagram=local.max_datagram,
            udp_ec=udp_ec,
            fill_bit_removal=self.fill_bit_removal and local.fill_bit_removal,
            transcoding_mmr=self.transcoding_mmr and local.transcoding_mmr,
            transcoding_jbig=self.transcoding_jbig and local.transcoding_jbig,
        )


DEFAULT_T38 = T38Params()


# --- offer / answer (RFC 3264) ------------------------------------------------------------------------


@dataclass(frozen=True)
class NegotiatedMedia:
    """The stream a call runs after offer/answer.

    ``kind`` is "audio" (``payload_type``/``codec``: the G.711 codec to send, ``telephone_event``:
    its payload type if both sides have RFC 4733 events, ``red``: the payload type of RFC 2198
    redundant ``codec`` if both sides have it) or "t38" (``t38``: the agreed version, bit
    rate, rate management, error correction and options, with ``max_buffer``/``max_datagram`` being the
    far end's, i.e. the bounds on what we send). ``ptime``: the far end's a=ptime, if any.
    """

    kind: str
    remote_address: str
    remote_port: int
    payload_type: int | None = None
    codec: str | None = None
    telephone_event: int | None = None
    t38: T38Params | None = None
    ptime: int | None = None
    red: int | None = None  # payload type of RFC 2198 redundancy of ``codec``, when both sides agreed on it


def _session(
    address: str, session_id: int, version: int, media: list[MediaDescription]
) -> SessionDescription:
    origin = Origin("-", session_id, version, address, _address_type(address))
    return SessionDescription(origin=origin, connection=address, media=media)


def _codec_pt(name: str) -> tuple[str, int, int]:
    try:
        pt, clock = CODECS[name.upper()]
    except KeyError:
        raise SdpError(f"codec {name!r}: we carry {', '.join(CODECS)}") from None
    return name.upper(), pt, clock


def audio_offer(
    address: str,
    port: int,
    *,
    session_id: int,
    version: int,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    telephone_event: bool = True,
    redundancy: bool = True,
) -> SessionDescription:
    """An offer of G.711 audio: m=audio RTP/AVP with ``codecs`` in order of preference, with
    ``redundancy`` RFC 2198 redundant audio of each (payload types 96, 97 ...: V.152 offers it for
    voiceband data, and a peer that does not know it leaves it out of its answer), telephone-event on
    payload type 101 (events 0-16), ptime 20, sendrecv."""
    media = MediaDescription("audio", port, RTP_AVP)
    laws = [_codec_pt(name) for name in codecs]
    for name, pt, clock in laws:
        media.formats.append(str(pt))
        media.attributes.append(("rtpmap", f"{pt} {name}/{clock}"))
    if redundancy:
        for red, (_, pt, clock) in enumerate(laws, start=RED_FIRST_PT):
            media.formats.append(str(red))
            media.attributes += [("rtpmap", f"{red} {RED}/{clock}"), ("fmtp", f"{red} {pt}/{pt}")]
    if telephone_event:
        media.formats.append(str(TELEPHONE_EVENT_PT))
        media.attributes += [
            ("rtpmap", f"{TELEPHONE_EVENT_PT} {TELEPHONE_EVENT}/8000"),
            ("fmtp", f"{TELEPHONE_EVENT_PT} {TELEPHONE_EVENT_EVENTS}"),
        ]
    media.attributes += [("ptime", str(PTIME)), (SENDRECV, None)]
    return _session(address, session_id, version, [media])


def t38_offer(
    address: str, port: int, *, session_id: int, version: int, params: T38Params = DEFAULT_T38
) -> SessionDescription:
    """An offer of T.38: m=image <port> udptl t38 with ``params`` (the re-INVITE that switches a call to
    T.38: one m= line, taking the place of the audio one, as Asterisk and most gateways send it)."""
    media = MediaDescription(T38_MEDIA, port, T38_PROTOCOL, [T38_FORMAT], attributes=params.to_attributes())
    return _session(address, session_id, version, [media])


def _find_codec(m: MediaDescription, codecs: tuple[str, ...]) -> tuple[int, str] | None:
    wanted = {name.upper() for name in codecs}
    rtpmap = m.rtpmap
    for fmt in m.formats:
        if not _NUMBER.fullmatch(fmt) or int(fmt) not in rtpmap:
            continue
        name, clock = rtpmap[int(fmt)]
        if name.upper() in wanted and name.upper() in CODECS and clock == CODECS[name.upper()][1]:
            return int(fmt), name.upper()
    return None


def _find_telephone_event(m: MediaDescription) -> int | None:
    rtpmap = m.rtpmap
    for fmt in m.formats:
        if _NUMBER.fullmatch(fmt) and int(fmt) in rtpmap:
            name, clock = rtpmap[int(fmt)]
            if name.lower() == TELEPHONE_EVENT and clock == 8000:
                return int(fmt)
    return None


def _find_red(m: MediaDescription, payload_type: int) -> int | None:
    """The payload type of RFC 2198 redundancy of ``payload_type`` in ``m``: a red/8000 format whose
    a=fmtp names only that payload type (RFC 2198 5: "0/0" is PCMU with PCMU redundancy); one without
    a=fmtp is taken as redundancy of the codec it goes with."""
    rtpmap = m.rtpmap
    fmtp = m.fmtp
    for fmt in m.formats:
        if not _NUMBER.fullmatch(fmt) or int(fmt) not in rtpmap:
            continue
        name, clock = rtpmap[int(fmt)]
        if name.lower() != RED or clock != 8000:
            continue
        params = fmtp.get(fmt)
        if params is None or all(part.strip() == str(payload_type) for part in params.split("/")):
            return int(fmt)
    return None


def _rejected(m: MediaDescription) -> MediaDescription:
    """RFC 3264 6: a refused stream stays in the answer, with port 0."""
    return MediaDescription(m.media, 0, m.protocol, list(m.formats))


def answer_offer(
    offer: SessionDescription,
    *,
    address: str,
    audio_port: int,
    image_port: int,
    session_id: int,
    version: int,
    accept_t38: bool = True,
    t38: T38Params = DEFAULT_T38,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    redundancy: bool = True,
) -> tuple[SessionDescription, NegotiatedMedia]:
    """Answer an offer (RFC 3264 6) with one accepted stream.

    We take the first m=image udptl t38 stream with a port (when ``accept_t38``; whatever else the offer
    has, as in the T.38 re-INVITE shapes "m=image" alone and "m=audio 0" + "m=image"), else the first
    m=audio RTP/AVP stream with a codec of ``codecs`` (the first in the offer's order; telephone-event
    kept if offered, and with ``redundancy`` RFC 2198 redundancy of that codec if offered). The answer
    has the offer's m= lines in the offer's order; all but the accepted one with port 0. Raises
    ``NotAcceptable`` when nothing can be accepted.
    """
    chosen: tuple[int, MediaDescription, NegotiatedMedia] | None = None
    if accept_t38:
        chosen = _accept_t38(offer, t38, image_port)
    if chosen is None:
        chosen = _accept_audio(offer, codecs, audio_port, redundancy)
    if chosen is None:
        raise NotAcceptable("no acceptable stream in the offer (G.711 audio or T.38 over UDPTL)")
    index, accepted, negotiated = chosen
    media = [accepted if i == index else _rejected(m) for i, m in enumerate(offer.media)]
    return _session(address, session_id, version, media), negotiated


def _accept_t38(
    offer: SessionDescription, local: T38Params, port: int
) -> tuple[int, MediaDescription, NegotiatedMedia] | None:
    for index, m in enumerate(offer.media):
        if m.port == 0 or not m.is_t38:
            continue
        try:
            remote = T38Params.from_attributes(m.attributes)
            address = offer.media_address(m)
        except SdpError:
            continue
        ours = remote.answer(local)
        attributes = ours.to_attributes()
        direction = _ANSWER_DIRECTION[offer.media_direction(m)]
        if direction != SENDRECV:
            attributes.append((direction, None))
        answer = MediaDescription(m.media, port, m.protocol, [T38_FORMAT], attributes=attributes)
        agreed = replace(ours, max_buffer=remote.max_buffer, max_datagram=remote.max_datagram)
        return index, answer, NegotiatedMedia("t38", address, m.port, t38=agreed)
    return None


def _accept_audio(
    offer: SessionDescription, codecs: tuple[str, ...], port: int, redundancy: bool
) -> tuple[int, MediaDescription, NegotiatedMedia] | None:
    for index, m in enumerate(offer.media):
        if m.port == 0 or not m.is_rtp_audio:
            continue
        codec = _find_codec(m, codecs)
        if codec is None:
            continue
        try:
            address = offer.media_address(m)
        except SdpError:
            continue
        pt, name = codec
        event = _find_telephone_event(m)
        answer = MediaDescription("audio", port, m.protocol, [str(pt)])
        answer.attributes.append(("rtpmap", f"{pt} {name}/8000"))
        red = _find_red(m, pt) if redundancy else None
        if red is not None:
            answer.formats.append(str(red))
            answer.attributes += [("rtpmap", f"{red} {RED}/8000"), ("fmtp", f"{red} {pt}/{pt}")]
        if event is not None:
            answer.formats.append(str(event))
            answer.attributes += [
                ("rtpmap", f"{event} {TELEPHONE_EVENT}/8000"),
                ("fmtp", f"{event} {m.fmtp.get(str(event)) or TELEPHONE_EVENT_EVENTS}"),
            ]
        answer.attributes += [("ptime", str(PTIME)), (_ANSWER_DIRECTION[offer.media_direction(m)], None)]
        negotiated = NegotiatedMedia("audio", address, m.port, pt, name, event, ptime=m.ptime, red=red)
        return index, answer, negotiated
    return None


def removes_every_stream(offer: SessionDescription) -> bool:
    """A re-offer with port 0 on every m= line (or none): the streams are removed (RFC 3264 8.2), which
    is answered, not refused. Only for an offer inside a session: an initial one needs a stream."""
    return all(m.port == 0 for m in offer.media)


def answer_removal(
    offer: SessionDescription, *, address: str, session_id: int, version: int
) -> SessionDescription:
    """The answer to ``removes_every_stream``: every m= line of the offer, in order, with port 0."""
    return _session(address, session_id, version, [_rejected(m) for m in offer.media])


def negotiated_from_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedMedia:
    """For the offerer: the stream the answer accepted (the first T.38 one, else the first G.711 one).
    Answers with fewer m= lines than the offer (seen in the wild) are read as far as they go.
    Raises ``NotAcceptable`` when every stream was refused (port 0) or none can be used."""
    for index, m in enumerate(answer.media):
        if m.port == 0 or not m.is_t38:
            continue
        offered = offer.media[index] if index < len(offer.media) else None
        theirs = T38Params.from_attributes(m.attributes)
        ours = T38Params.from_attributes(offered.attributes) if offered and offered.is_t38 else theirs
        agreed = replace(
            theirs,
            version=min(ours.version, theirs.version),
            max_bit_rate=min(ours.max_bit_rate, theirs.max_bit_rate),
            fill_bit_removal=ours.fill_bit_removal and theirs.fill_bit_removal,
            transcoding_mmr=ours.transcoding_mmr and theirs.transcoding_mmr,
            transcoding_jbig=ours.transcoding_jbig and theirs.transcoding_jbig,
        )
        return NegotiatedMedia("t38", answer.media_address(m), m.port, t38=agreed)
    for index, m in enumerate(answer.media):
        if m.port == 0 or not m.is_rtp_audio:
            continue
        codec = _find_codec(m, tuple(CODECS))
        if codec is None:
            continue
        pt, name = codec
        offered = offer.media[index] if index < len(offer.media) else None
        # Only redundancy we offered: an answer may not add a format (RFC 3264 6.1).
        red = _find_red(m, pt) if offered is not None and _find_red(offered, pt) is not None else None
        return NegotiatedMedia(
            "audio",
            answer.media_address(m),
            m.port,
            pt,
            name,
            _find_telephone_event(m),
            ptime=m.ptime,
            red=red,
        )
    raise NotAcceptable("the answer accepted no stream we can use")
