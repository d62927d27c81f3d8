"""Asterisk's configuration rendered from the gateway's (gateway.asterisk.render): every file parses as
Asterisk config, says what the gateway's config says, and refuses values that would break it. No
Asterisk needed; test_chroot.py boots a real one."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from faxgw.gateway.asterisk import FILES, contract, render, render_texts
from faxgw.gateway.asterisk.patterns import CATCH_ALL, extension
from faxgw.gateway.asterisk.render import failover_expression
from faxgw.gateway.cli import main
from faxgw.gateway.config import AsteriskConfig, Config, ConfigError, EngineKind, RouteConfig, load_config
from faxgw.gateway.engines.trunks import fails_over
from faxgw.gateway.peers import DeviceConfig, Relay, TrunkConfig
from faxgw.sip.fax_terms import CallStatus, T38Policy
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "faxgw.sample.toml"


# --- a tiny Asterisk config parser: [section](options), key => value / key = value, ; comments ---


@dataclass
class Section:
    name: str
    options: str | None
    entries: list[tuple[str, str]] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [value for name, value in self.entries if name == key]

    def value(self, key: str) -> str:
        (value,) = self.values(key)
        return value


SECTION = re.compile(r"\[([^\[\]]+)\](?:\(([^()]*)\))?")
KEY = re.compile(r"[A-Za-z0-9_.-]+")


def parse(text: str) -> list[Section]:
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()  # ";" starts a comment, "\;" does not
        if not line:
            continue
        if line.startswith("["):
            match = SECTION.fullmatch(line)
            assert match, f"line {number}: bad section header {raw!r}"
            sections.append(Section(match[1], match[2]))
            continue
        key, equals, value = line.partition("=")
        assert equals and KEY.fullmatch(key.strip()), f"line {number}: not key = value: {raw!r}"
        assert sections, f"line {number}: {raw!r} before any section"
        sections[-1].entries.append((key.strip(), value.removeprefix(">").strip()))
    return sections


def sections(text: str, name: str, type_: str | None = None) -> list[Section]:
    found = [s for s in parse(text) if s.name == name]
    return [s for s in found if type_ is None or s.values("type") == [type_]]


def one(text: str, name: str, type_: str | None = None) -> Section:
    (section,) = sections(text, name, type_)
    return section


def arguments(call: str) -> list[str]:
    """'App(a,b(c,d),e)' -> ['a', 'b(c,d)', 'e']: split at the commas outside parentheses and braces."""
    inner = call[call.index("(") + 1 : call.rindex(")")]
    parts, depth, current = [], 0, ""
    for char in inner:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char in "({"
        depth -= char in ")}"
        current += char
    return [*parts, current]


def dialplan(text: str, context: str) -> list[str]:
    """The application calls of a context, in order ('exten => X,1,App(...)', 'same => n,App(...)')."""
    calls = []
    for key, value in one(text, context).entries:
        assert key in ("exten", "same"), key
        calls.append(value.split(",", 2 if key == "exten" else 1)[-1])
    return calls


def user_event_fields(call: str) -> list[str]:
    name, *fields = arguments(call)
    return [name] + [entry.split(":", 1)[0] for entry in fields]


# --- configs ---


def sample() -> Config:
    return load_config(SAMPLE, environ={})


def with_credentials(**asterisk: object) -> Config:
    return dataclasses.replace(
        sample(),
        trunk="sip.example.net:5062",
        trunk_username="acme-fax",
        trunk_password="s3cret!#",
        asterisk=AsteriskConfig(**asterisk),
    )


# --- tests ---


def test_every_file_rendered_from_the_sample_parses(tmp_path: Path) -> None:
    paths = render(sample(), tmp_path / "etc")
    assert [path.name for path in paths] == list(FILES)
    for path in paths:
        text = path.read_text()
        assert parse(text), path.name
        assert not re.search(r"\$\{?[a-z]", text), f"{path.name}: a placeholder left unfilled"
        for name in ("extensions.conf",):
            if path.name == name:
                for line in text.splitlines():
                    if not line.startswith(";"):
                        assert line.count("(") == line.count(")") and line.count("{") == line.count("}"), line
    # a template section ("(!)") would be silently ignored: the prototype's pitfall
    directories = one(paths[0].read_text(), "directories")
    assert directories.options is None
    assert directories.value("astetcdir") == "/opt/fax/etc"
    assert directories.value("astspooldir") == "/opt/fax/spool"


def test_routes_dids_are_the_extensions_of_fax_in() -> None:
    text = render_texts(sample())["extensions.conf"]
    extensions = [value.split(",")[0] for key, value in one(text, "fax-in").entries if key == "exten"]
    # the sample's routes: one exact DID, one regex
    assert extensions == ["+15550100", "_+1555010[1-9]"]
    assert (
        dialplan(text, "fax-in") == ["Set(FAXGW_DID=${FILTER(0-9+*#,${EXTEN})})", "Goto(fax-receive,s,1)"] * 2
    )


def test_send_and_receive_with_faxopts_and_one_result_per_leg() -> None:
    text = render_texts(sample())["extensions.conf"]
    out = dialplan(text, "fax-out")
    # the route that answered (FAXGW_TRY, set by the ;2 half) gives the fax options
    assert out[1] == "Set(FAXGW_ROUTE=${FAXGW_ROUTE_${FAXGW_TRY}})"
    for call in (
        "Set(FAXOPT(ecm)=${CUT(FAXGW_ROUTE,/,4)})",
        "Set(FAXOPT(maxrate)=${CUT(FAXGW_ROUTE,/,5)})",
        "Set(FAXOPT(localstationid)=${FAXGW_IDENT})",
        "Set(FAXOPT(headerinfo)=${FAXGW_HEADER})",
    ):
        assert out.index(call) < len(out) - 2
    wait = 'WaitForCondition(#,#["#{IMPORT(#{FAXGW_ROUTED},BRIDGEPEER)}" != ""],5,0.02)'
    assert out[-3:] == [wait, "SendFAX(${FAXGW_FILE},${CUT(FAXGW_ROUTE,/,3)})", "Hangup()"]

    receive = dialplan(text, "fax-receive")
    push = "Set(CHANNEL(hangup_handler_push)=fax-result,s,1)"
    inbound = next(call for call in receive if call.startswith("UserEvent("))
    decided = 'WaitForCondition(#,#["#{FAXGW_DECISION}" != ""],10,0.02)'
    assert receive.index(push) < receive.index(inbound) < receive.index(decided)
    assert receive.index(decided) < receive.index("ReceiveFAX(${FAXGW_FILE},fs)")
    assert receive[receive.index(decided) + 1] == 'GotoIf($["${FAXGW_DECISION}" = "bridge"]?fax-bridge,s,1)'
    assert receive[-1] == "Hangup(34)"  # no decision: 503
    assert user_event_fields(inbound) == [contract.INBOUND_EVENT, *contract.INBOUND_FIELDS]
    assert "Set(FAXGW_FILE=/opt/fax/data/in/${UNIQUEID}.tif)" in receive
    assert "Set(FAXOPT(ecm)=${FAXGW_ECM})" in receive  # the calling endpoint's (set_var)

    # the engine's Originate pushes the handler before dialling
    assert contract.originate_variables("fx_1", "/f.tif").startswith(
        'FAXGW_OP=send,CHANNEL(hangup_handler_push)="fax-result,s,1",'
    )
    result, ret = dialplan(text, "fax-result")
    assert user_event_fields(result) == [contract.RESULT_EVENT, *contract.RESULT_FIELDS]
    assert ret == "Return()"
    # text from the far end cannot add fields of its own
    for name in ("REMOTESTATIONID", "FAXSTATUSSTRING"):
        assert f"${{FILTER({contract.TEXT_CHARS},${{{name}}})}}" in result
    assert "," not in contract.TEXT_CHARS and "," not in contract.NUMBER_CHARS


def test_originate_variables_refuse_what_asterisk_would_split() -> None:
    value = contract.originate_variables("fx_1", "/opt/fax/data/out/fx_1.tif", "+15550100", "ACME fax")
    assert value.split('1",', 1)[1] == (
        "FAXGW_FAXID=fx_1,FAXGW_FILE=/opt/fax/data/out/fx_1.tif,FAXGW_IDENT=+15550100,FAXGW_HEADER=ACME fax"
    )
    for bad in ("ACME, Inc", 'say "hi"', "a;b", "${SHELL(id)}", "line\nbreak"):
        with pytest.raises(ValueError):
            contract.originate_variables("fx_1", "/f.tif", header=bad)


def test_ami_user_has_the_least_privileges_that_work() -> None:
    config = dataclasses.replace(
        sample(), asterisk=AsteriskConfig(ami_port=15038, ami_username="gw1", ami_secret="pa$$word")
    )
    text = render_texts(config)["manager.conf"]
    general = one(text, "general")
    assert general.value("enabled") == "yes"
    assert (general.value("bindaddr"), general.value("port")) == ("127.0.0.1", "15038")
    user = one(text, "gw1")
    assert user.value("secret") == "pa$$word"
    assert user.value("read") == "call,user"
    assert user.value("write") == "originate,call,reporting"
    assert user.values("deny") == ["0.0.0.0/0.0.0.0", "::/0"]
    assert user.value("permit") == "127.0.0.1/32"
    assert [s.name for s in parse(text)] == ["general", "gw1"]


DEFAULT = contract.trunk_endpoint("default")


def test_pjsip_without_credentials() -> None:
    text = render_texts(sample())["pjsip.conf"]
    assert one(text, "faxgw-udp", "transport").value("bind") == "127.0.0.1:5060"
    endpoint = one(text, DEFAULT, "endpoint")
    assert endpoint.value("context") == contract.IN_CONTEXT
    assert endpoint.value("identify_by") == "ip"  # never found by the user in a From header
    assert endpoint.value("allow") == "ulaw,alaw"
    assert endpoint.value("t38_udptl") == "yes"
    assert endpoint.value("t38_udptl_ec") == "redundancy"
    assert endpoint.value("t38_udptl_maxdatagram") == "400"
    assert endpoint.value("t38_udptl_nat") == "no"
    assert endpoint.values("set_var") == ["FAXGW_ECM=yes", "FAXGW_MAXRATE=14400"]
    assert endpoint.values("outbound_auth") == []
    assert endpoint.value("aors") == contract.trunk_aor("default", 1)
    aor = one(text, contract.trunk_aor("default", 1), "aor")
    # the one-trunk shorthand's trunk is not pinged, as before
    assert (aor.value("contact"), aor.value("qualify_frequency")) == ("sip:127.0.0.1:5080", "0")
    assert one(text, DEFAULT, "identify").value("match") == "127.0.0.1"
    types = {section.value("type") for section in parse(text)}
    assert types == {"global", "transport", "endpoint", "aor", "identify"}


def test_pjsip_with_credentials_authenticates_and_registers() -> None:
    text = render_texts(with_credentials())["pjsip.conf"]
    assert one(text, DEFAULT, "endpoint").value("outbound_auth") == f"{DEFAULT}-auth"
    auth = one(text, f"{DEFAULT}-auth", "auth")
    assert (auth.value("username"), auth.value("password")) == ("acme-fax", "s3cret!#")
    registration = one(text, f"{DEFAULT}-reg", "registration")
    assert registration.value("server_uri") == "sip:sip.example.net:5062"
    assert registration.value("client_uri") == "sip:acme-fax@sip.example.net:5062"
    assert registration.value("outbound_auth") == f"{DEFAULT}-auth"
    assert registration.value("endpoint") == DEFAULT
    assert one(text, DEFAULT, "identify").value("match") == "sip.example.net"

    unregistered = render_texts(with_credentials(register=False))["pjsip.conf"]
    assert sections(unregistered, f"{DEFAULT}-reg") == []
    assert one(unregistered, f"{DEFAULT}-auth", "auth").value("username") == "acme-fax"


def test_test_peer_on_the_trunks_host_is_told_apart_by_port() -> None:
    config = dataclasses.replace(sample(), asterisk=AsteriskConfig(test_peer="127.0.0.1:5070"))
    text = render_texts(config)["pjsip.conf"]
    assert one(text, contract.PEER_ENDPOINT, "endpoint").value("context") == contract.IN_CONTEXT
    assert one(text, contract.PEER_ENDPOINT, "aor").value("contact") == "sip:127.0.0.1:5070"
    assert one(text, contract.PEER_ENDPOINT, "identify").value("match") == "127.0.0.1:5070"
    assert one(text, DEFAULT, "identify").value("match") == "127.0.0.1:5080"


def test_trunk_networks_are_what_identifies_the_trunk() -> None:
    config = dataclasses.replace(sample(), trunk_networks=("203.0.113.0/28", "2001:db8::/64"))
    text = render_texts(config)["pjsip.conf"]
    assert one(text, DEFAULT, "identify").value("match") == "203.0.113.0/28,2001:db8::/64"


def two_trunks_and_devices() -> Config:
    return dataclasses.replace(
        sample(),
        trunk=None,
        trunks=(
            TrunkConfig(
                "carrier-a",
                ("sip1.example.net", "[2001:db8::5]:5070"),
                username="acme",
                password="pw-a",
                register=True,
                max_calls=3,
                keepalive=20,
                codecs=("PCMA", "PCMU"),
                max_rate=9600,
                ecm=False,
            ),
            TrunkConfig("b", ("203.0.113.9",), port=5080, transport="tcp", t38=T38Policy.AUDIO, keepalive=0),
        ),
        devices=(
            DeviceConfig("ata1", "ata-pw", ("+15550170", "+15550171"), keepalive=25, max_contacts=2),
            DeviceConfig("ata2", "pw2", ("+15550172",), t38=T38Policy.AUDIO, relay=Relay.REAL_TIME),
        ),
    )


def test_each_trunk_has_its_endpoint_hosts_credentials_and_media() -> None:
    text = render_texts(two_trunks_and_devices())["pjsip.conf"]
    a, b = contract.trunk_endpoint("carrier-a"), contract.trunk_endpoint("b")
    endpoint = one(text, a, "endpoint")
    assert endpoint.value("allow") == "alaw,ulaw"  # the trunk's codecs, in its order
    assert endpoint.value("t38_udptl") == "yes"
    assert endpoint.values("set_var") == ["FAXGW_ECM=no", "FAXGW_MAXRATE=9600"]
    assert endpoint.value("outbound_auth") == f"{a}-auth"
    assert endpoint.value("aors") == "faxgw-host1-carrier-a,faxgw-host2-carrier-a"
    host1, host2 = one(text, "faxgw-host1-carrier-a", "aor"), one(text, "faxgw-host2-carrier-a", "aor")
    assert (host1.value("contact"), host1.value("qualify_frequency")) == ("sip:sip1.example.net:5060", "20")
    assert (host2.value("contact"), host2.value("qualify_frequency")) == ("sip:[2001:db8::5]:5070", "20")
    assert one(text, a, "identify").value("match") == "sip1.example.net,2001:db8::5"
    registration = one(text, f"{a}-reg", "registration")
    assert registration.value("client_uri") == "sip:acme@sip1.example.net:5060"
    assert registration.value("endpoint") == a

    endpoint = one(text, b, "endpoint")
    assert (endpoint.value("transport"), endpoint.value("t38_udptl")) == (contract.TCP_TRANSPORT, "no")
    assert endpoint.values("outbound_auth") == []
    assert one(text, "faxgw-host1-b", "aor").value("contact") == "sip:203.0.113.9:5080\\;transport=tcp"
    assert one(text, contract.TCP_TRANSPORT, "transport").value("protocol") == "tcp"
    assert sections(text, f"{b}-reg") == [] and sections(text, f"{b}-auth") == []


def test_each_trunk_is_dialled_host_by_host_within_its_call_limit() -> None:
    text = render_texts(two_trunks_and_devices())["extensions.conf"]
    a = dialplan(text, contract.trunk_context("carrier-a"))
    assert a[0] == "Set(GROUP(faxgw-trunks)=carrier-a)"
    assert a[1] == "GotoIf($[${GROUP_COUNT(carrier-a@faxgw-trunks)} > 3]?full)"
    tries = [call for call in a if call.startswith("Gosub(fax-try")]
    assert tries == [
        "Gosub(fax-try,s,1(faxgw-trunk-carrier-a,faxgw-host1-carrier-a,${FAXGW_NUMBER},sip1.example.net:5060))",
        "Gosub(fax-try,s,1(faxgw-trunk-carrier-a,faxgw-host2-carrier-a,${FAXGW_NUMBER},[2001:db8::5]:5070))",
    ]
    # the second host only after the first failed as a trunk; no host reachable: the trunk is down
    assert a[a.index(tries[1]) - 1] == "GotoIf($[${FAXGW_OVER}]?:done)"
    assert "Gosub(fax-leg,s,1(down,1,))" in a and "Gosub(fax-leg,s,1(full,1,))" in a
    b = dialplan(text, contract.trunk_context("b"))
    assert not any("GROUP_COUNT" in call for call in b)  # no max_calls

    dial = dialplan(text, "fax-dial")
    assert "Set(FAXGW_ROUTE=${FAXGW_ROUTE_${FAXGW_TRY}})" in dial
    assert "GotoIf($[${FAXGW_OVER}]?next)" in dial  # only a route failed as a route hands on
    try_ = dialplan(text, "fax-try")
    assert "Dial(${FAXGW_DIAL},60,U(fax-answered^${FAXGW_VIA}^${ARG4}))" in try_
    assert f"Set(FAXGW_OVER={failover_expression('FAXGW_CODE')})" in try_


def fails_over_in_the_dialplan(code: int) -> bool:
    """The rendered failover test, evaluated as Asterisk would for a numeric FAXGW_CODE."""
    expression = failover_expression("FAXGW_CODE")[2:-1].replace("${FAXGW_CODE}", str(code))
    python = expression.replace(" = ", " == ").replace(" | ", " or ").replace(" & ", " and ")
    return bool(eval(python))  # digits, comparisons, and/or, parentheses only


def test_the_dialplan_fails_over_exactly_when_the_native_engine_does() -> None:
    assert set(failover_expression("FAXGW_CODE")) <= set("$[]{}()FAXGW_CODE =|&<>0123456789")
    for code in range(100, 700):
        assert fails_over_in_the_dialplan(code) is fails_over(code), code


def test_devices_register_with_digest_and_call_into_fax_device() -> None:
    texts = render_texts(two_trunks_and_devices())
    text = texts["pjsip.conf"]
    endpoint = one(text, "ata1", "endpoint")
    assert endpoint.value("context") == contract.DEVICE_CONTEXT
    assert endpoint.value("identify_by") == "username,auth_username"
    assert (endpoint.value("auth"), endpoint.value("aors")) == ("ata1", "ata1")
    # NAT: contacts from where the REGISTER came, media back where it comes from
    for key in ("force_rport", "rewrite_contact", "rtp_symmetric", "t38_udptl_nat"):
        assert endpoint.value(key) == "yes", key
    assert (endpoint.value("direct_media"), endpoint.value("t38_udptl")) == ("no", "yes")
    auth = one(text, "ata1", "auth")
    assert (auth.value("username"), auth.value("password")) == ("ata1", "ata-pw")
    aor = one(text, "ata1", "aor")
    assert (aor.value("max_contacts"), aor.value("remove_existing"), aor.value("qualify_frequency")) == (
        "2",
        "yes",
        "25",
    )
    assert one(text, "ata2", "endpoint").value("t38_udptl") == "no"
    assert sections(text, "ata1", "identify") == []  # found by user name, let in by digest only
    assert one(text, "global", "global").value("endpoint_identifier_order") == "ip,username"
    assert "res_pjsip_endpoint_identifier_user.so" not in texts["modules.conf"]
    assert "noload => res_pjsip_endpoint_identifier_anonymous.so" in texts["modules.conf"]

    dialplan_text = texts["extensions.conf"]
    device = dialplan(dialplan_text, contract.DEVICE_CONTEXT)
    assert device == [
        "Set(FAXGW_DID=${FILTER(0-9+*#,${EXTEN})})",
        "Set(FAXGW_DEVICE=${CHANNEL(endpoint)})",
        "Goto(fax-receive,s,1)",
    ]
    assert one(dialplan_text, contract.DEVICE_CONTEXT).entries[0][1].startswith(f"{CATCH_ALL},1,")
    # real time: Asterisk's T.38 gateway on the device's channel, then the routes as an outgoing fax's
    assert dialplan(dialplan_text, "fax-bridge") == [
        "Set(FAXGW_OP=bridge)",
        "Set(FAXOPT(gateway)=yes)",
        "Gosub(fax-dial,s,1)",
        "Hangup(${FAXGW_CAUSE})",
    ]
    assert "Gosub(fax-try,s,1(${FAXGW_VIA},${FAXGW_VIA},,))" in dialplan(dialplan_text, "route-device")


async def test_the_engine_reads_the_dialplans_legs_as_the_native_engine_words_them(tmp_path: Path) -> None:
    from faxgw.gateway.engines.asterisk import AsteriskEngine, _Leg
    from faxgw.gateway.engines.base import DEVICE_NOT_REGISTERED, NO_TRUNK_AVAILABLE, OutboundCall, Route

    engine = AsteriskEngine(two_trunks_and_devices())
    words = " carrier-a/503/1/sip1.example.net:5060 carrier-a/CHANUNAVAIL/1/[2001:db8::5]:5070 b/486/0/ x/y"
    assert [(leg.via, leg.sip_code, leg.reason, leg.failed_over) for leg in engine._legs(words)] == [
        ("carrier-a", 503, "503 Service Unavailable at sip1.example.net:5060", True),
        ("carrier-a", None, "no response at [2001:db8::5]:5070", True),
        ("b", 486, "486 Busy Here", False),
    ]

    def leg(*routes: Route) -> _Leg:
        call = OutboundCall("fx_1", "+15550100", "+15550170", tmp_path / "f.tif", routes=routes)
        future = asyncio.get_running_loop().create_future()
        return _Leg(tmp_path / "f.tif", lambda page: None, sending=True, result=future, call=call)

    busy = engine._result_from({"Status": "", "HangupCause": "17", "Legs": words}, leg(), call_id="c")
    assert (busy.status, busy.sip_code, len(busy.legs)) == (CallStatus.BUSY, 486, 3)
    refused = engine._result_from({"HangupCause": "21", "Legs": "b/603/0/"}, leg(), call_id="c")
    assert (refused.status, refused.sip_code) == (CallStatus.REJECTED, 603)  # cause 21 is 403 as well
    unregistered = {"Status": "", "HangupCause": "34", "Legs": "ata1/unregistered/1/"}
    result = engine._result_from(unregistered, leg(Route("ata1", device=True)), call_id="c")
    assert result.hangup_cause == DEVICE_NOT_REGISTERED and result.legs[0].reason == "not registered"
    down = {"HangupCause": "34", "Legs": "carrier-a/down/1/ b/full/1/"}
    result = engine._result_from(down, leg(Route("carrier-a"), Route("b")), call_id="c")
    assert result.hangup_cause == NO_TRUNK_AVAILABLE
    assert "carrier-a: down; b: at max_calls" in result.t30_text


def test_settings_reach_every_file() -> None:
    config = dataclasses.replace(
        sample(),
        t38=T38Policy.AUDIO,
        ecm=False,
        sip_host="::1",
        sip_port=15060,
        node="fax-a",
        asterisk=AsteriskConfig(
            root=Path("/opt/faxtest"),
            spool_dir=Path("/srv/fax"),
            max_rate=9600,
            rtp_start=31000,
            rtp_end=31200,
            udptl_start=32000,
            udptl_end=32200,
            t38_ec="fec",
            t38_maxdatagram=300,
            t38_nat=True,
            run_user="asterisk",
        ),
    )
    texts = render_texts(config)
    assert one(texts["pjsip.conf"], "faxgw-udp").value("bind") == "[::1]:15060"
    endpoint = one(texts["pjsip.conf"], DEFAULT, "endpoint")
    keys = ("t38_udptl", "t38_udptl_ec", "t38_udptl_maxdatagram", "t38_udptl_nat")
    assert [endpoint.value(k) for k in keys] == ["no", "fec", "300", "yes"]
    # ECM off and the rate capped for the faxes the trunk sends us
    assert endpoint.values("set_var") == ["FAXGW_ECM=no", "FAXGW_MAXRATE=9600"]
    assert "Set(FAXGW_FILE=/srv/fax/in/${UNIQUEID}.tif)" in dialplan(texts["extensions.conf"], "fax-receive")
    res_fax = one(texts["res_fax.conf"], "general")
    assert (res_fax.value("maxrate"), res_fax.value("ecm")) == ("9600", "no")
    assert one(texts["rtp.conf"], "general").entries == [("rtpstart", "31000"), ("rtpend", "31200")]
    assert one(texts["udptl.conf"], "general").entries == [("udptlstart", "32000"), ("udptlend", "32200")]
    options = one(texts["asterisk.conf"], "options")
    assert (options.value("systemname"), options.value("runuser"), options.value("rungroup")) == (
        "fax-a",
        "asterisk",
        "asterisk",
    )
    assert one(texts["asterisk.conf"], "directories").value("astlogdir") == "/opt/faxtest/log"


BAD = [
    ("asterisk", {"ami_secret": "one\ntwo"}, "line breaks"),
    ("asterisk", {"ami_secret": "half;comment"}, "';'"),
    ("asterisk", {"ami_secret": ""}, "empty"),
    ("asterisk", {"ami_secret": " padded"}, "spaces"),
    ("asterisk", {"ami_username": "general"}, "general"),
    ("asterisk", {"ami_username": "gw]x"}, "letters"),
    ("asterisk", {"ami_host": "localhost"}, "IP address"),
    ("asterisk", {"ami_permit": "everyone"}, "network"),
    ("asterisk", {"ami_port": 70000}, "between"),
    ("asterisk", {"root": Path("opt/fax")}, "absolute"),
    ("asterisk", {"spool_dir": Path("/srv/fax,in")}, "absolute"),
    ("asterisk", {"rtp_start": 20000, "rtp_end": 10000}, "between"),
    ("asterisk", {"run_user": "root\n"}, "letters"),
    ("asterisk", {"test_peer": "127.0.0.1:5080"}, "a trunk's host itself"),
    ("config", {"trunk_username": "acme", "trunk_password": "pa\nss"}, "line breaks"),
    ("config", {"trunk_username": "a@b", "trunk_password": "x"}, "trunk default: username"),
    ("config", {"trunk": "sip.example.net:abc"}, "port"),
    ("config", {"trunk": "bad host"}, "HOST"),
    ("config", {"sip_host": "fax.example.net"}, "IP address"),
    ("config", {"node": "a b"}, "node"),
    ("config", {"routes": (RouteConfig("sales", "acme"),)}, "did"),
    ("config", {"routes": (RouteConfig("^(+1", "acme"),)}, "regex"),
    ("config", {"devices": (DeviceConfig("faxgw-peer", "pw", ("+15550170",)),)}, "the gateway's own"),
    ("config", {"devices": (DeviceConfig("ata", "pw;x", ("+15550170",)),)}, "device ata: password"),
    ("config", {"trunk": None, "trunks": (TrunkConfig("t", ("h",), transport="tls"),)}, "udp and tcp"),
    ("config", {"trunk": None, "trunks": (TrunkConfig("t", ("h:x",)),)}, "trunk t: hosts"),
]


@pytest.mark.parametrize(("where", "change", "says"), BAD, ids=[f"{w}-{c}" for w, c, _ in BAD])
def test_values_that_would_break_a_file_are_config_errors(
    tmp_path: Path, where: str, change: dict, says: str
) -> None:
    config = sample()
    if where == "asterisk":
        config = dataclasses.replace(config, asterisk=dataclasses.replace(config.asterisk, **change))
    else:
        config = dataclasses.replace(config, **change)
    with pytest.raises(ConfigError, match=re.escape(says)):
        render(config, tmp_path / "etc")
    assert not (tmp_path / "etc").exists()  # nothing written


@pytest.mark.parametrize(
    ("did", "exten"),
    [
        ("+15550100", "+15550100"),
        ("*97#", "*97#"),
        (r"^\+1555010[1-9]$", "_+1555010[1-9]"),
        (r"^\+1\d{3}555\d{4}$", "_+1XXX555XXXX"),
        (r"^\+49301234\d+$", "_+49301234X!"),
        (r"^\+1555\d{2,4}$", "_+1555XX!"),
        (r"^\+1555(0100|0101)$", "_+1555!"),
        (r"^\+1555.*", "_+1555!"),
        (r"^\+?15550100$", CATCH_ALL),
        (r"^(\+1|1)555$", CATCH_ALL),
        (r"^\+15550100$|^\+15550200$", CATCH_ALL),
    ],
)
def test_route_dids_as_extensions(did: str, exten: str) -> None:
    assert extension(did) == exten


def asterisk_matches(exten: str, number: str) -> bool:
    """Asterisk's matching of an extension (literal, or _pattern with X Z N [..] . !) against a number."""
    if not exten.startswith("_"):
        return exten == number
    wildcards = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
    regex = "".join(
        token if token.startswith("[") else wildcards.get(token, re.escape(token))
        for token in re.findall(r"\[[^\]]*\]|.", exten[1:])
    )
    return re.fullmatch(regex, number) is not None


ROUTE_REGEXES = [
    r"^\+1555010[1-9]$",
    r"^\+1\d{3}555\d{4}$",
    r"^\+49(30|40)\d{4,8}$",
    r"^\+33[1-5]\d{8}$",
    r"^\d+$",
    r"^\+?1?555\d{4}$",
    r"^\+44(20|121)\d{7}$|^\+448\d+$",
]


@pytest.mark.parametrize("regex", ROUTE_REGEXES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_route_pattern_never_misses_a_number_its_regex_wants(regex: str, data: st.DataObject) -> None:
    number = data.draw(st.from_regex(regex, fullmatch=True, alphabet="+0123456789*#"))
    assert asterisk_matches(extension(regex), number), (regex, extension(regex), number)


def test_asterisk_table_loads_from_toml_and_environment(tmp_path: Path) -> None:
    # the sample's [asterisk] section, uncommented: every documented setting loads and renders
    text = SAMPLE.read_text()
    head, _, tail = text.partition("\n# [asterisk]")
    section = re.split(r"\n#? ?\[", tail, maxsplit=1)[0]  # up to the next table, commented out or not
    settings_lines = [line[2:] for line in section.splitlines() if re.match(r"# [a-z_0-9]+ = ", line)]
    path = tmp_path / "faxgw.toml"
    path.write_text(
        head.replace('engine = "native"', 'engine = "asterisk"')
        + "\n[asterisk]\n"
        + "\n".join(settings_lines)
    )
    config = load_config(
        path, environ={"FAXGW_ASTERISK_AMI_SECRET": "from-env", "FAXGW_ASTERISK_AMI_PORT": "15038"}
    )
    assert config.engine is EngineKind.ASTERISK
    assert config.asterisk.ami_secret == "from-env" and config.asterisk.ami_port == 15038
    assert config.asterisk.spool == Path("/opt/fax/data")
    assert config.asterisk.local_spool == Path("/srv/chroot/opt/fax/data")
    assert config.asterisk.test_peer == "127.0.0.1:5070" and config.asterisk.run_user == "asterisk"
    assert len(settings_lines) == len(dataclasses.fields(AsteriskConfig))
    render_texts(config)

    assert sample().asterisk == AsteriskConfig() and sample().engine is EngineKind.NATIVE
    bad = tmp_path / "bad.toml"
    for table, says in (
        ("[asterisk]\nami_sekret = 'x'\n", "unknown setting"),
        ("[asterisk]\nt38_ec = 'crc'\n", "t38_ec"),
        ("[asterisk]\nmax_rate = 33600\n", "max_rate"),
        ("[asterisk]\nt38_nat = 'maybe'\n", "boolean"),
        ("engine = 'freeswitch'\n", "engine = 'freeswitch': use native or asterisk"),
        ("t38 = 'fax'\n", "t38 = 'fax': use t38, audio or auto"),
    ):
        bad.write_text(table)
        with pytest.raises(ConfigError, match=says):
            load_config(bad, environ={})


def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    assert main(["asterisk-config", "--config", str(SAMPLE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / name) for name in FILES]
    assert all(Path(name).is_file() for name in printed)

    bad = tmp_path / "bad.toml"
    bad.write_text("[asterisk]\nami_secret = 'a;b'\n")
    assert main(["asterisk-config", "--config", str(bad), "--out", str(tmp_path / "none")]) == 2
    assert "asterisk.ami_secret" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
