"""SIP messages on the wire (RFC 3261 sections 7, 19, 20 and 25): URIs, addresses, Via, header fields,
requests and responses, and the framing of a TCP/TLS byte stream.

Parsing is pure and tolerant of what real trunks, PBXs and ATAs send (RFC 3261 7.3.1, the RFC 4475 torture
messages): any header-name case, compact forms, folded lines, LF-only line ends, LWS around separators.
Whatever it cannot make sense of raises SipParseError, and nothing else: a server answers a bad request with
``error.status`` (400, or 416 / 505) and ``str(error)`` as the reason.

Header values are kept as text, exactly as received (unfolded, outer whitespace stripped), and parsed into
SipUri / Address / Via on demand, so a proxy-style copy (Via, Record-Route) never changes a byte.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

__all__ = [
    "BRANCH_MAGIC_COOKIE",
    "MAX_HEADER_BYTES",
    "REASONS",
    "SIP_VERSION",
    "Address",
    "Headers",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "decimal",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "response_to",
]

SIP_VERSION = "SIP/2.0"
#: RFC 3261 8.1.1.7: a branch that starts with this was made by an RFC 3261 element, unique per transaction.
BRANCH_MAGIC_COOKIE = "z9hG4bK"
#: The largest header section a stream may send before its blank line (more is an attack or garbage).
MAX_HEADER_BYTES = 64 * 1024
#: The largest body a stream message may announce; SIP bodies (SDP, multipart) are a few KiB.
MAX_BODY_BYTES = 1024 * 1024

#: Reason phrases: RFC 3261 section 21 and the later RFCs' codes in the IANA SIP response code registry.
REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    424: "Bad Location Information",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}
_CLASS_REASONS = {
    1: "Session Progress",
    2: "OK",
    3: "Redirected",
    4: "Bad Request",
    5: "Server Error",
    6: "Decline",
}


class SipParseError(ValueError):
    """Input that is not a valid SIP message (or URI, address, Via); str(error) says what is wrong.

    ``status`` is the response a server answers such a request with: 400 unless the RFC names another
    (416 Unsupported URI Scheme for the Request-URI, 505 Version Not Supported).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- lexical pieces (RFC 3261 25.1) ---------------------------------------------------------------

#: LWS as header values use it; only ASCII space and tab (Python's str.strip() would also eat \x1c, \x85...).
_WS = " \t"
_WS_RUN = re.compile(r"[ \t]+")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HOST = re.compile(r"[A-Za-z0-9_.\-]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
_PORT = re.compile(r"[0-9]{1,5}")
#: A URI is printable ASCII (RFC 3986 2); '<', '>' and '"' delimit it in header fields, so never inside it.
_URI_BAD_CHAR = re.compile(r'[^\x21-\x7e]|[<>"]')
#: user = 1*( unreserved / escaped / user-unreserved ); quote() always keeps letters, digits and "_.-~".
_USER_SAFE = "!*'()&=+$,;?/"
_PASSWORD_SAFE = "!*'()&=+$,"


def _snip(text: str, limit: int = 40) -> str:
    """A short, single-line rendering of a bad input for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def _split_quoted(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside quoted strings (RFC 3261 25.1 quoted-string, with quoted-pair)."""
    parts: list[str] = []
    start = 0
    in_quote = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_quote:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif char == separator:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError(f"unbalanced quotes in {_snip(text)}")
    parts.append(text[start:])
    return parts


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped content of the quoted string at text[start] == '"', and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise SipParseError(f"unterminated quoted string in {_snip(text)}")


def _quote_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    """``*( SEMI generic-param )`` as in RFC 3261 20.10 / 20.42, LWS allowed around ';' and '='.

    Names are case-insensitive and kept lower-case; values are kept as written (a quoted value keeps
    its quotes), so that writing them back is exact.
    """
    segments = _split_quoted(text, ";")
    if segments[0].strip(_WS):
        raise SipParseError(f"unexpected {_snip(segments[0].strip(_WS))} in {what}")
    params: dict[str, str | None] = {}
    for segment in segments[1:]:
        segment = segment.strip(_WS)
        if not segment:
            continue  # ";;" is harmless
        name, equals, value = segment.partition("=")
        name = name.strip(_WS).lower()
        if not _is_token(name):
            raise SipParseError(f"bad parameter name {_snip(name)} in {what}")
        params[name] = value.strip(_WS) if equals else None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params.items())


def _parse_hostport(text: str, what: str) -> tuple[str, int | None]:
    """hostport (RFC 3261 25.1): hostname, IPv4 or [IPv6], then an optional port. IPv6 comes back bare."""
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else ""
        if not _IPV6.fullmatch(host):
            raise SipParseError(f"bad IPv6 reference {_snip(text)} in {what}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipParseError(f"bad IPv6 address {_snip(host)} in {what}") from None
        after = text[end + 1 :]
        if after and not after.startswith(":"):
            raise SipParseError(f"unexpected {_snip(after)} after the host in {what}")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_after = text.partition(":")
        port_text = port_text_after if colon else None
        if not _HOST.fullmatch(host):
            raise SipParseError(f"bad host {_snip(host)} in {what}")
    port = None
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
            raise SipParseError(f"bad port {_snip(port_text)} in {what}")
        port = int(port_text)
    return host, port


def _format_hostport(host: str, port: int | None) -> str:
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


# --- URI, address, Via ----------------------------------------------------------------------------


@dataclass(kw_only=True)
class SipUri:
    """A sip: or sips: URI (RFC 3261 19.1).

    ``user`` and ``password`` are unescaped ("%23" reads as "#") and escaped again by str(). ``host`` is
    bare: an IPv6 address is written in brackets but stored without them. Parameter names are lower-case;
    parameter and header values are kept as written.
    """

    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip(_WS)
        if _URI_BAD_CHAR.search(text):
            raise SipParseError(f"bad character in URI {_snip(text)}")
        scheme, colon, rest = text.partition(":")
        if not colon or not scheme:
            raise SipParseError(f"not a URI: {_snip(text)}")
        if scheme.lower() not in ("sip", "sips"):
            raise SipParseError(f"unsupported URI scheme {_snip(scheme)}", status=416)
        user = password = None
        # RFC 3261 19.1.1: userinfo ends at the '@'; the user part may hold ';' and '?' (telephone-subscriber
        # parameters), never an unescaped '@'.
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user_text, colon, password_text = userinfo.partition(":")
            if not user_text:
                raise SipParseError(f"empty user part in URI {_snip(text)}")
            user = unquote(user_text, errors="replace")
            password = unquote(password_text, errors="replace") if colon else None
        delimiter = re.search(r"[;?]", rest)
        hostport = rest[: delimiter.start()] if delimiter else rest
        host, port = _parse_hostport(hostport, "URI")
        params_text, qmark, headers_text = rest[len(hostport) :].partition("?")
        params: dict[str, str | None] = {}
        for segment in params_text.split(";"):
            if not segment:
                continue
            name, equals, value = segment.partition("=")
            if not name:
                raise SipParseError(f"empty parameter name in URI {_snip(text)}")
            params[name.lower()] = value if equals else None
        headers: dict[str, str] = {}
        for segment in headers_text.split("&") if qmark else ():
            if not segment:
                continue
            name, _, value = segment.partition("=")
            if not name:
                raise SipParseError(f"empty header name in URI {_snip(text)}")
            headers[name] = value
        return cls(
            scheme=scheme.lower(),
            user=user,
            password=password,
            host=host,
            port=port,
            params=params,
            headers=headers,
        )

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = quote(self.user, safe=_USER_SAFE)
            if self.password is not None:
                userinfo += ":" + quote(self.password, safe=_PASSWORD_SAFE)
            userinfo += "@"
        text = (
            f"{self.scheme}:{userinfo}{_format_hostport(self.host, self.port)}{_format_params(self.params)}"
        )
        if self.headers:
            text += "?" + "&".join(f"{name}={value}" for name, value in self.headers.items())
        return text

    @property
    def hostport(self) -> str:
        """host[:port] as written in a URI or Via: "[2001:db8::1]:5060", "example.com"."""
        return _format_hostport(self.host, self.port)


@dataclass
class Address:
    """name-addr / addr-spec (RFC 3261 20.10, 25.1) as From, To, Contact, Route and Refer-To use it.

    ``params`` are the header parameters after the URI (tag, expires, q, +sip.instance...): names lower-case,
    values as written (quoted values keep their quotes). str() always writes the <...> form.
    """

    display_name: str | None
    uri: SipUri
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip(_WS)
        if text == "*":
            raise SipParseError("'*' is a wildcard, not an address")
        display_name: str | None = None
        if text.startswith('"'):
            display_name, end = _read_quoted(text, 0)
            rest = text[end:].lstrip(_WS)
            if not rest.startswith("<"):
                raise SipParseError(f"expected <URI> after the display name in {_snip(text)}")
        else:
            less = text.find("<")
            semicolon = text.find(";")
            if less >= 0 and (semicolon < 0 or less < semicolon):
                # RFC 4475 3.1.1.6: no LWS is needed between a display name and '<'.
                display_name = text[:less].strip(_WS) or None
                rest = text[less:]
            else:
                rest = ""
        if rest:
            greater = rest.find(">")
            if greater < 0:
                raise SipParseError(f"missing '>' in {_snip(text)}")
            uri = SipUri.parse(rest[1:greater])
            params_text = rest[greater + 1 :]
        else:
            # RFC 3261 20.10: without angle brackets, every ';' parameter after the URI belongs to the
            # header, not to the URI (only the user part may hold a ';' of its own).
            at = text.find("@")
            semicolon = text.find(";", at + 1)
            uri_text = text if semicolon < 0 else text[:semicolon]
            params_text = "" if semicolon < 0 else text[semicolon:]
            uri = SipUri.parse(uri_text)
        return cls(display_name=display_name, uri=uri, params=_parse_params(params_text, "address"))

    def __str__(self) -> str:
        text = f"<{self.uri}>{_format_params(self.params)}"
        return text if self.display_name is None else f"{_quote_string(self.display_name)} {text}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> Address:
        """A copy with ``tag`` set (replacing any tag), e.g. the To of a UAS's first response."""
        return Address(
            display_name=self.display_name, uri=copy.deepcopy(self.uri), params={**self.params, "tag": tag}
        )


_SENT_PROTOCOL = re.compile(r"([^ \t/]+)[ \t]*/[ \t]*([^ \t/]+)[ \t]*/[ \t]*([^ \t/]+)[ \t]+(.*)", re.S)


@dataclass
class Via:
    """One via-parm (RFC 3261 20.42): SIP/2.0/<transport> sent-by and parameters (branch, received, rport...).

    ``transport`` is upper-case; ``host`` is bare (IPv6 without brackets); parameter names are lower-case.
    """

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        # RFC 4475 3.1.1.1: LWS may surround the '/' of the sent-protocol and the ';' and '=' of parameters.
        match = _SENT_PROTOCOL.fullmatch(text.strip(_WS))
        if match is None:
            raise SipParseError(f"bad Via {_snip(text)}")
        name, version, transport, rest = match.groups()
        if name.upper() != "SIP" or version != "2.0":
            raise SipParseError(f"bad sent-protocol {name}/{version} in Via")
        if not _is_token(transport):
            raise SipParseError(f"bad transport {_snip(transport)} in Via")
        semicolon = rest.find(";")
        sent_by = (rest if semicolon < 0 else rest[:semicolon]).strip(_WS)
        host, port = _parse_hostport(sent_by, "Via")
        params = _parse_params("" if semicolon < 0 else rest[semicolon:], "Via")
        rport = params.get("rport")
        # RFC 3581: rport is bare in a request, rport=<port> once the server has filled it in.
        if rport and not (_PORT.fullmatch(rport) and int(rport) <= 65535):
            raise SipParseError(f"bad rport {_snip(rport)} in Via")
        return cls(transport=transport.upper(), host=host, port=port, params=params)

    def __str__(self) -> str:
        sent_by = _format_hostport(self.host, self.port)
        return f"{SIP_VERSION}/{self.transport} {sent_by}{_format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | bool | None:
        """The rport parameter (RFC 3581): None when absent, True when bare, else the port."""
        if "rport" not in self.params:
            return None
        value = self.params["rport"]
        return int(value) if value else True


# --- header fields --------------------------------------------------------------------------------

#: RFC 3261 7.3.3 and the later RFCs' compact forms (IANA "Header Fields" registry).
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_CANONICAL_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        *[
            "Accept",
            "Accept-Encoding",
            "Accept-Language",
            "Accept-Resource-Priority",
            "Alert-Info",
            "Allow",
            "Answer-Mode",
            "Authentication-Info",
            "Authorization",
            "Call-Info",
            "Content-Disposition",
            "Content-Language",
            "CSeq",
            "Date",
            "Diversion",
            "Error-Info",
            "Expires",
            "History-Info",
            "In-Reply-To",
            "Join",
            "Max-Forwards",
            "MIME-Version",
            "Min-Expires",
            "Min-SE",
            "Organization",
            "P-Access-Network-Info",
            "P-Asserted-Identity",
            "P-Called-Party-ID",
            "P-Charging-Vector",
            "P-Early-Media",
            "P-Preferred-Identity",
            "Path",
            "Priority",
            "Privacy",
            "Proxy-Authenticate",
            "Proxy-Authorization",
            "Proxy-Require",
            "RAck",
            "Reason",
            "Record-Route",
            "Remote-Party-ID",
            "Replaces",
            "Reply-To",
            "Require",
            "Resource-Priority",
            "Retry-After",
            "Route",
            "RSeq",
            "Security-Client",
            "Security-Server",
            "Security-Verify",
            "Server",
            "Service-Route",
            "SIP-ETag",
            "SIP-If-Match",
            "Subscription-State",
            "Target-Dialog",
            "Timestamp",
            "Unsupported",
            "User-Agent",
            "Warning",
            "WWW-Authenticate",
        ],
    )
}

#: Headers whose grammar is a comma-separated list (RFC 3261 7.3.1: "Contact: a, b" is two Contact
#: headers). Everything else - Authorization and the other challenge/credential headers, Date, User-Agent,
#: Server, unknown extensions - is one value per line, commas and all.
LIST_HEADERS = frozenset(
    [
        "accept",
        "accept-contact",
        "accept-encoding",
        "accept-language",
        "accept-resource-priority",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "diversion",
        "error-info",
        "history-info",
        "in-reply-to",
        "p-asserted-identity",
        "p-preferred-identity",
        "path",
        "proxy-require",
        "reason",
        "record-route",
        "reject-contact",
        "remote-party-id",
        "request-disposition",
        "require",
        "resource-priority",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    ]
)


def _canonical_name(name: str) -> str:
    name = name.strip(_WS)
    if not _is_token(name):
        raise SipParseError(f"bad header name {_snip(name)}")
    lower = name.lower()
    return COMPACT_FORMS.get(lower) or _CANONICAL_NAMES.get(lower, name)


def _split_list(value: str) -> list[str]:
    """The elements of a comma-separated header value, commas inside quotes or <...> not counting."""
    elements: list[str] = []
    start = 0
    in_quote = False
    depth = 0
    i = 0
    while i < len(value):
        char = value[i]
        if in_quote:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            elements.append(value[start:i])
            start = i + 1
        i += 1
    elements.append(value[start:])
    return [element.strip(_WS) for element in elements if element.strip(_WS)]


class Headers:
    """An ordered, case-insensitive multi-map of header fields.

    Names are canonical ("call-id", "i" and "CALL-ID" all become "Call-ID"; unknown names keep their
    spelling). Values are the text of each header line (unfolded, outer whitespace stripped). get() and
    get_all() split comma-separated lists for the headers in LIST_HEADERS.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items:
            self.add(name, value)

    @staticmethod
    def _value(value: str) -> str:
        if "\r" in value or "\n" in value:
            raise SipParseError(f"line break in header value {_snip(value)}")
        return value.strip(_WS)

    def add(self, name: str, value: str) -> None:
        self._items.append((_canonical_name(name), self._value(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every header called ``name`` by one, where the first of them was (else at the end)."""
        name = _canonical_name(name)
        value = self._value(value)
        key = name.lower()
        items: list[tuple[str, str]] = []
        placed = False
        for item in self._items:
            if item[0].lower() != key:
                items.append(item)
            elif not placed:
                items.append((name, value))
                placed = True
        if not placed:
            items.append((name, value))
        self._items = items

    def remove(self, name: str) -> None:
        key = _canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != key]

    def get_all(self, name: str) -> list[str]:
        key = _canonical_name(name).lower()
        values = [value for item_name, value in self._items if item_name.lower() == key]
        if key in LIST_HEADERS:
            return [element for value in values for element in _split_list(value)]
        return values

    def get(self, name: str) -> str | None:
        """The first value (the first list element for LIST_HEADERS; "" if present but empty), or None."""
        values = self.get_all(name)
        if values:
            return values[0]
        return "" if name in self else None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _canonical_name(name).lower()
        return any(item_name.lower() == key for item_name, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        headers = Headers()
        headers._items = list(self._items)
        return headers

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(n.lower(), v) for n, v in self._items] == [(n.lower(), v) for n, v in other._items]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


# --- messages -------------------------------------------------------------------------------------

_CSEQ = re.compile(r"([0-9]{1,10})[ \t]+(\S+)")


def _parse_cseq(value: str) -> tuple[int, str]:
    """CSeq (RFC 3261 20.16): a sequence number below 2**31 (8.1.1.5) and a method."""
    match = _CSEQ.fullmatch(value.strip(_WS))
    if match is None or not _is_token(match.group(2)):
        raise SipParseError(f"bad CSeq {_snip(value)}")
    number = int(match.group(1))
    if number >= 2**31:
        raise SipParseError(f"CSeq number {number} is not below 2**31")
    return number, match.group(2)


def _required(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise SipParseError(f"missing {name} header")
    return value


class _MessageFields:
    """What requests and responses share: the fields every message has to carry (RFC 3261 8.1.1)."""

    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return _required(self.headers, "Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        return _parse_cseq(_required(self.headers, "CSeq"))

    @property
    def from_address(self) -> Address:
        return Address.parse(_required(self.headers, "From"))

    @property
    def to_address(self) -> Address:
        return Address.parse(_required(self.headers, "To"))

    @property
    def vias(self) -> list[Via]:
        """Every Via, the topmost (the last hop's) first."""
        return [Via.parse(value) for value in self.headers.get_all("Via")]

    @property
    def content_type(self) -> str | None:
        """The media type, lower-case and without parameters ("application/sdp"), or None."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip(_WS).lower()

    def _wire(self, start_line: str) -> bytes:
        # RFC 3261 7.5 / 20.14: CRLF line ends; Content-Length is always sent and always true.
        lines = [start_line]
        lines += [f"{name}: {value}" for name, value in self.headers if name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __bytes__(self) -> bytes:
        raise NotImplementedError

    def __str__(self) -> str:
        """The message as text, for logs (a binary body shows replacement characters)."""
        return bytes(self).decode(errors="replace")


@dataclass(eq=True)
class SipRequest(_MessageFields):
    method: str
    uri: SipUri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> SipRequest:
        message = parse_message(data)
        if not isinstance(message, SipRequest):
            raise SipParseError("a response where a request was expected")
        return message

    def __bytes__(self) -> bytes:
        return self._wire(f"{self.method} {self.uri} {SIP_VERSION}")


@dataclass(eq=True)
class SipResponse(_MessageFields):
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> SipResponse:
        message = parse_message(data)
        if not isinstance(message, SipResponse):
            raise SipParseError("a request where a response was expected")
        return message

    def __bytes__(self) -> bytes:
        return self._wire(f"{SIP_VERSION} {self.status} {self.reason}")


def _header_lines(data: bytes) -> tuple[list[bytes], int]:
    """The start line and header lines (line ends removed), and where the body starts.

    RFC 3261 7.5: CRLFs before the start line are ignored. LF alone ends a line too (7.3.1 tolerance).
    Without a blank line the message has no body.
    """
    position = 0
    while position < len(data) and data[position] in b"\r\n":
        position += 1
    lines: list[bytes] = []
    while position < len(data):
        newline = data.find(b"\n", position)
        end = len(data) if newline < 0 else newline
        line = data[position:end]
        position = end + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return lines, position
        lines.append(line)
    return lines, len(data)


def _unfold(lines: list[str]) -> list[tuple[str, str]]:
    """(name, value) per header field; a line starting with SP or HTAB continues the one before (7.3.1)."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("continuation line before the first header")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip(_WS)}".strip(_WS))
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {_snip(line)}")
        fields.append((name, value.strip(_WS)))
    return fields


_CONTENT_LENGTH = re.compile(r"[0-9]{1,10}")


def _content_length(values: list[str]) -> int | None:
    if not values:
        return None
    if len(set(values)) > 1:
        raise SipParseError(f"conflicting Content-Length values {', '.join(values)}")
    if not _CONTENT_LENGTH.fullmatch(values[0]):
        raise SipParseError(f"bad Content-Length {_snip(values[0])}")
    return int(values[0])


def _status_line(line: str) -> tuple[int, str]:
    """RFC 3261 7.2 Status-Line; the reason phrase may be empty or missing altogether (RFC 4475 3.1.1.13)."""
    parts = _WS_RUN.split(line.strip(_WS), maxsplit=2)
    if parts[0].upper() != SIP_VERSION:
        raise SipParseError(f"unsupported SIP version {_snip(parts[0])}", status=505)
    if len(parts) < 2 or not re.fullmatch(r"[1-6][0-9][0-9]", parts[1]):
        raise SipParseError(f"bad status code in {_snip(line)}")
    reason = parts[2] if len(parts) > 2 else ""
    if "\r" in reason:
        raise SipParseError("bare CR in the reason phrase")
    return int(parts[1]), reason


def _request_line(line: str) -> tuple[str, SipUri]:
    """RFC 3261 7.1 Request-Line: Method SP Request-URI SP SIP-Version (any run of SP/HTAB tolerated)."""
    parts = _WS_RUN.split(line.strip(_WS))
    if len(parts) != 3 or not _is_token(parts[0]) or not parts[2].upper().startswith("SIP/"):
        raise SipParseError(f"bad Request-Line {_snip(line)}")
    if parts[2].upper() != SIP_VERSION:
        raise SipParseError(f"unsupported SIP version {_snip(parts[2])}", status=505)
    try:
        uri = SipUri.parse(parts[1])
    except SipParseError as error:
        raise SipParseError(f"bad Request-URI: {error}", status=error.status) from None
    return parts[0], uri


def _check(headers: Headers, method: str | None) -> None:
    """The header fields every request and response must carry, well-formed (RFC 3261 8.1.1, 8.2.2)."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name not in headers:
            raise SipParseError(f"missing {name} header")
    for name in ("From", "To", "Call-ID", "CSeq"):
        if len(headers.get_all(name)) > 1:
            raise SipParseError(f"more than one {name} header")  # RFC 4475 3.1.2.19
    vias = headers.get_all("Via")
    if not vias:
        raise SipParseError("empty Via header")
    parts: list[tuple[str, str, type[Via] | type[Address]]] = [("Via", value, Via) for value in vias]
    parts += [(name, _required(headers, name), Address) for name in ("From", "To")]
    for name, value, kind in parts:
        try:
            kind.parse(value)
        except SipParseError as error:
            raise SipParseError(f"bad {name} header: {error}") from None
    call_id = _required(headers, "Call-ID")
    if not call_id or re.search(r"[ \t]", call_id):
        raise SipParseError(f"bad Call-ID {_snip(call_id)}")
    _, cseq_method = _parse_cseq(_required(headers, "CSeq"))
    if method is not None and cseq_method != method:
        # RFC 4475 3.1.2.16: the CSeq method must match the Request-Line.
        raise SipParseError(f"CSeq method {cseq_method} does not match the request method {method}")


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """One SIP message from a datagram, or from StreamFramer (RFC 3261 7, 18.3).

    Content-Length is optional here: without it the body is the rest of the datagram; with it, bytes past
    it are dropped and a body shorter than it is an error. It is not kept in ``headers``: bytes() always
    writes the true one.
    """
    lines, body_start = _header_lines(bytes(data))
    if not lines:
        raise SipParseError("empty message")
    head = b"\n".join(lines)
    try:
        text = head.decode()
    except UnicodeDecodeError:
        text = head.decode("latin-1")  # a Latin-1 display name from an old ATA should not cost the call
    start, *header_lines = text.split("\n")
    headers = Headers()
    lengths: list[str] = []
    for name, value in _unfold(header_lines):
        if _canonical_name(name) == "Content-Length":
            lengths.append(value)
        else:
            headers.add(name, value)
    is_response = start[:4].upper() == "SIP/"
    status_line = _status_line(start) if is_response else None
    request_line = None if is_response else _request_line(start)
    _check(headers, request_line[0] if request_line else None)
    body = bytes(data[body_start:])
    length = _content_length(lengths)
    if length is not None:
        if length > len(body):
            raise SipParseError(f"Content-Length {length} is larger than the body ({len(body)} bytes)")
        body = body[:length]  # RFC 3261 18.3: extra bytes after a datagram's message are discarded
    if request_line is not None:
        return SipRequest(method=request_line[0], uri=request_line[1], headers=headers, body=body)
    assert status_line is not None
    return SipResponse(status=status_line[0], reason=status_line[1], headers=headers, body=body)


def decimal(text: str | None, maximum: int = 2**32 - 1) -> int | None:
    """A number in a header or parameter (RFC 3261 25.1 DIGIT is ASCII only: ``"²".isdigit()`` is true but
    ``int("²")`` fails), or None when ``text`` is not one or is above ``maximum``."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if value <= maximum else None


def response_to(
    request: SipRequest, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> SipResponse:
    """A response to ``request`` carrying what RFC 3261 8.2.6 says it must copy: every Via in order, From,
    To (with ``to_tag`` added when the request's To has none), Call-ID and CSeq; and for a 100 Trying the
    Timestamp (8.2.6.1). Record-Route, Contact and a body are the dialog layer's to add.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status {status} is not a SIP response code")
    if reason is None:
        reason = REASONS.get(status, _CLASS_REASONS[status // 100])
    headers = Headers()
    for name, value in request.headers:
        if name == "Via":
            headers.add(name, value)
    headers.add("From", _required(request.headers, "From"))
    to = _required(request.headers, "To")
    if to_tag is not None and Address.parse(to).tag is None:
        to = f"{to};tag={to_tag}"  # keeps the To exactly as the caller wrote it (addr-spec or name-addr)
    headers.add("To", to)
    headers.add("Call-ID", _required(request.headers, "Call-ID"))
    headers.add("CSeq", _required(request.headers, "CSeq"))
    if status == 100:
        for value in request.headers.get_all("Timestamp"):
            headers.add("Timestamp", value)
    return SipResponse(status=status, reason=reason, headers=headers)


def new_branch() -> str:
    """A Via branch for a new client transaction (RFC 3261 8.1.1.7)."""
    return BRANCH_MAGIC_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    """A From/To tag: 32 random bits at least (RFC 3261 19.3); we use 64."""
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A globally unique Call-ID (RFC 3261 8.1.1.4): random word @ our host."""
    return f"{secrets.token_hex(12)}@{host}" if host else secrets.token_hex(12)


# --- streams --------------------------------------------------------------------------------------

_HEADER_END = re.compile(rb"\r?\n\r?\n")


class StreamFramer:
    """Cuts a TCP/TLS byte stream into whole SIP messages (RFC 3261 18.3: there Content-Length is mandatory).

    CRLF keep-alives between messages (RFC 5626 4.4.1) are skipped. After a SipParseError the stream cannot
    be re-synchronised: close the connection.
    """

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the messages they complete (possibly none, possibly several)."""
        self._buffer += data
        messages: list[bytes] = []
        while True:
            skip = 0
            while self._buffer[skip : skip + 2] == b"\r\n" or self._buffer[skip : skip + 1] == b"\n":
                skip += 2 if self._buffer[skip] == 0x0D else 1
            del self._buffer[:skip]
            end = _HEADER_END.search(self._buffer)
            if end is None:
                if len(self._buffer) > self.max_header_bytes:
                    raise SipParseError(f"header section over {self.max_header_bytes} bytes")
                return messages
            if end.start() > self.max_header_bytes:
                raise SipParseError(f"header section over {self.max_header_bytes} bytes")
            length = self._content_length(bytes(self._buffer[: end.start()]))
            total = end.end() + length
            if len(self._buffer) < total:
                return messages
            messages.append(bytes(self._buffer[:total]))
            del self._buffer[:total]

    def _content_length(self, head: bytes) -> int:
        # Only the framing matters here: a malformed line is parse_message's to reject (with a 400).
        values: list[str] = []
        folding = False
        for line in head.decode("latin-1").split("\n")[1:]:
            line = line.rstrip("\r")
            if line[:1] in (" ", "\t"):
                if folding and not values[-1]:
                    values[-1] = line.strip(_WS)
                continue
            name, colon, value = line.partition(":")
            folding = bool(colon) and name.strip(_WS).lower() in ("content-length", "l")
            if folding:
                values.append(value.strip(_WS))
        length = _content_length(values)
        if length is None:
            raise SipParseError("missing Content-Length on a stream transport")
        if length > self.max_body_bytes:
            raise SipParseError(f"Content-Length {length} over {self.max_body_bytes} bytes")
        return length

    @property
    def pending(self) -> int:
        """Bytes received that are not yet part of a whole message."""
        return len(self._buffer)
