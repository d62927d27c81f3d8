"""The registrar (sip.registrar, RFC 3261 10.3): REGISTER requests handled one by one on a clock the test
moves, then over real UDP on loopback for qualify and NAT (a device whose Contact names another address
than the one it registers from)."""

from __future__ import annotations

import asyncio

import pytest
from faxgw.sip.admission import Admission
from faxgw.sip.auth import Challenge, DigestClient
from faxgw.sip.call import IncomingCall
from faxgw.sip.message import (
    Address,
    SipRequest,
    SipResponse,
    SipUri,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    response_to,
)
from faxgw.sip.registrar import Account, Registrar
from faxgw.sip.sdp import SessionDescription
from faxgw.sip.transaction import Timers
from faxgw.sip.transport import Peer
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.clock import FakeClock
from tests.helpers.rawsip import RawSip
from tests.helpers.sip import LOCALHOST

ACCOUNTS = {"ata1": Account("s3cret", max_contacts=2), "ata2": Account("other")}
SOURCE = Peer("UDP", "127.0.0.2", 40000)


class Device:
    """A device's REGISTER requests (one Call-ID, rising CSeq), answered by the registrar directly."""

    def __init__(self, registrar: Registrar, user: str = "ata1", password: str = "s3cret") -> None:
        self.registrar = registrar
        self.user, self.password = user, password
        self.call_id = new_call_id("127.0.0.2")
        self.tag = new_tag()
        self.cseq = 0
        self.challenge: Challenge | None = None

    def register(
        self,
        *contacts: str,
        expires: int | None = None,
        aor: str | None = None,
        source: Peer = SOURCE,
        cseq: int | None = None,
    ) -> SipResponse:
        """REGISTER ``contacts``, answering one challenge as a device does."""
        response = self._send(contacts, expires, aor, source, cseq, None)
        if response.status == 401:
            self.challenge = Challenge.parse(response.headers.get_all("WWW-Authenticate")[0])
            authorization = DigestClient(self.user, self.password).authorization(
                self.challenge, "REGISTER", "sip:127.0.0.1"
            )
            response = self._send(contacts, expires, aor, source, None, authorization)
        return response

    def _send(self, contacts, expires, aor, source, cseq, authorization) -> SipResponse:
        self.cseq = cseq if cseq is not None else self.cseq + 1
        lines = [
            "REGISTER sip:127.0.0.1 SIP/2.0",
            f"Via: SIP/2.0/UDP {source.host}:{source.port};branch={new_branch()};rport",
            f"From: <sip:{aor or self.user}@127.0.0.1>;tag={self.tag}",
            f"To: <sip:{aor or self.user}@127.0.0.1>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            *(f"Contact: {contact}" for contact in contacts),
            *([f"Expires: {expires}"] if expires is not None else []),
            *([f"Authorization: {authorization}"] if authorization else []),
            "Content-Length: 0",
            "",
            "",
        ]
        return self.registrar.handle(SipRequest.parse("\r\n".join(lines).encode()), source)


def listed(response: SipResponse) -> dict[str, str | None]:
    """The bindings a 200 lists: contact URI -> its expires parameter."""
    return {
        str(address.uri): address.params.get("expires")
        for address in map(Address.parse, response.headers.get_all("Contact"))
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def registrar(clock: FakeClock) -> Registrar:
    return Registrar("faxgw", ACCOUNTS.get, min_expires=60, max_expires=3600, clock=clock)


def test_a_register_without_credentials_is_challenged_and_leaves_nothing(registrar: Registrar) -> None:
    response = Device(registrar)._send(("<sip:ata1@127.0.0.2:40000>",), 600, None, SOURCE, None, None)
    assert response.status == 401
    algorithms = [Challenge.parse(v).algorithm for v in response.headers.get_all("WWW-Authenticate")]
    assert algorithms == ["MD5", "SHA-256"]  # MD5 first: devices answer the first challenge
    assert registrar.contacts("ata1") == [] and registrar._bindings == {}


def test_good_credentials_bind_the_contact_and_list_it(registrar: Registrar) -> None:
    response = Device(registrar).register("<sip:ata1@127.0.0.2:40000>", expires=600)
    assert response.status == 200
    assert listed(response) == {"sip:ata1@127.0.0.2:40000": "600"}
    assert [str(b.target) for b in registrar.contacts("ata1")] == ["sip:ata1@127.0.0.2:40000"]


@pytest.mark.parametrize(
    ("user", "password"), [("ata1", "wrong"), ("nobody", "s3cret")], ids=["wrong password", "unknown user"]
)
def test_wrong_credentials_are_refused_and_leave_nothing(
    registrar: Registrar, user: str, password: str
) -> None:
    response = Device(registrar, user, password).register("<sip:ata1@127.0.0.2:40000>", expires=600)
    assert response.status == 403
    assert registrar._bindings == {}


def test_a_device_binds_only_its_own_address_of_record(registrar: Registrar) -> None:
    response = Device(registrar).register("<sip:ata2@127.0.0.2:40000>", aor="ata2", expires=600)
    assert response.status == 403
    assert registrar.contacts("ata2") == []


def test_expiry_is_held_between_min_and_max(registrar: Registrar) -> None:
    device = Device(registrar)
    brief = device.register("<sip:ata1@127.0.0.2:40000>", expires=30)
    assert (brief.status, brief.headers.get("Min-Expires")) == (423, "60")
    long = device.register("<sip:ata1@127.0.0.2:40000>;expires=86400")  # the contact's own parameter
    assert listed(long) == {"sip:ata1@127.0.0.2:40000": "3600"}
    assert device.register("<sip:ata1@127.0.0.2:40000>", expires="soon").status == 400  # type: ignore[arg-type]


def test_a_binding_expires_by_itself_unless_refreshed(registrar: Registrar, clock: FakeClock) -> None:
    device = Device(registrar)
    device.register("<sip:ata1@127.0.0.2:40000>", expires=60)
    clock.advance(50)
    refreshed = device.register("<sip:ata1@127.0.0.2:40000>", expires=60)
    assert listed(refreshed) == {"sip:ata1@127.0.0.2:40000": "60"}
    clock.advance(50)  # 100 s after the first REGISTER: alive only through the refresh
    assert len(registrar.contacts("ata1")) == 1
    clock.advance(11)
    assert registrar.contacts("ata1") == [] and registrar._bindings == {}


def test_a_replayed_or_reordered_register_is_refused(registrar: Registrar) -> None:
    device = Device(registrar)
    device.register("<sip:ata1@127.0.0.2:40000>", expires=600)
    stale = device.register("<sip:ata1@127.0.0.2:40000>", expires=0, cseq=1)  # lower CSeq, same Call-ID
    assert stale.status == 500
    assert len(registrar.contacts("ata1")) == 1


def test_unregister_one_contact_then_all(registrar: Registrar) -> None:
    device = Device(registrar)
    device.register("<sip:ata1@127.0.0.2:40000>", "<sip:ata1@127.0.0.2:40002>", expires=600)
    assert len(registrar.contacts("ata1")) == 2
    one = device.register("<sip:ata1@127.0.0.2:40000>", expires=0)
    assert listed(one) == {"sip:ata1@127.0.0.2:40002": "600"}
    assert device.register("*", expires=600).status == 400  # '*' only with Expires: 0
    everything = device.register("*", expires=0)
    assert everything.status == 200 and listed(everything) == {}
    assert registrar._bindings == {}


def test_contacts_are_bounded_per_user_the_stalest_replaced(registrar: Registrar, clock: FakeClock) -> None:
    first, second = Device(registrar), Device(registrar)
    first.register("<sip:ata1@127.0.0.2:40000>", expires=600)
    clock.advance(10)
    second.register("<sip:ata1@127.0.0.3:40000>", expires=600, source=Peer("UDP", "127.0.0.3", 40000))
    assert len(registrar.contacts("ata1")) == 2  # max_contacts = 2
    clock.advance(10)
    # A third (say, the first ATA after a reboot with a new address) replaces the one expiring first.
    third = Device(registrar).register(
        "<sip:ata1@127.0.0.4:40000>", expires=600, source=Peer("UDP", "127.0.0.4", 40000)
    )
    assert set(listed(third)) == {"sip:ata1@127.0.0.3:40000", "sip:ata1@127.0.0.4:40000"}
    many = Device(registrar).register(*(f"<sip:ata1@127.0.0.9:{port}>" for port in (1, 2, 3)), expires=600)
    assert many.status == 403  # more new contacts in one REGISTER than the user may have
    assert len(registrar.contacts("ata1")) == 2


def test_contacts_come_reachable_first_then_by_q(registrar: Registrar, clock: FakeClock) -> None:
    device = Device(registrar)
    device.register("<sip:ata1@127.0.0.2:1>;q=0.5", "<sip:ata1@127.0.0.2:2>;q=0.9", expires=600)
    assert [b.uri.port for b in registrar.contacts("ata1")] == [2, 1]
    registrar.contacts("ata1")[0].reachable = False
    assert [b.uri.port for b in registrar.contacts("ata1")] == [1, 2]


def test_behind_nat_the_device_is_reached_where_it_registered_from(registrar: Registrar) -> None:
    Device(registrar).register("<sip:ata1@192.168.1.10:5060;line=1>", expires=600)
    (binding,) = registrar.contacts("ata1")
    assert binding.behind_nat
    assert str(binding.target) == "sip:ata1@127.0.0.2:40000;line=1"
    assert registrar.flow(binding.target) == SOURCE
    assert registrar.flow(SipUri.parse("sip:ata1@127.0.0.2:40001")) is None


# -- over UDP: a registering user agent, qualify, NAT -------------------------------------------------

FAST = Timers(t1=0.02, t2=0.1, t4=0.1)  # an unanswered OPTIONS gives up after 64*T1 = 1.3 s
#: The numbers RawSip calls from (its From user) belong to ata1 here.
RAW_CALLER = "+15557777"


async def gateway_with(account: Account, **config) -> UserAgent:
    """A user agent with a registrar for ata1, and ata1 as a device admission knows."""
    registrar = Registrar("faxgw", {"ata1": account}.get, min_expires=1)
    ua = UserAgent(UaConfig(host=LOCALHOST, registrar=registrar, timers=FAST, **config))
    await ua.start()
    return ua


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def next_request(raw: RawSip, method: str) -> SipRequest:
    """The next request of ``method`` at a raw socket (what else arrives is skipped)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            message = parse_message(await loop.sock_recv(raw.socket, 65535))
            if isinstance(message, SipRequest) and message.method == method:
                return message


async def authorized(
    raw: RawSip, ua: UserAgent, method: str, headers: dict[str, str], password: str = "s3cret"
) -> SipResponse:
    """``method`` from ``raw`` as ata1, answering the challenge; the final response."""
    raw.request(method, ua.address, user="ata1", headers=headers)
    first = await raw.final()
    assert first.status == 401, first
    challenge = Challenge.parse(first.headers.get_all("WWW-Authenticate")[0])
    host, port = ua.address
    authorization = DigestClient("ata1", password).authorization(challenge, method, f"sip:ata1@{host}:{port}")
    raw.request(method, ua.address, user="ata1", headers={**headers, "Authorization": authorization})
    return await raw.final()


@pytest.mark.slow  # three unanswered OPTIONS in real time, ~5 s
async def test_a_contact_that_stops_answering_options_is_marked_then_dropped() -> None:
    gateway = await gateway_with(Account("s3cret", keepalive=0.2))
    registrar = gateway.config.registrar
    assert registrar is not None
    device = UserAgent(UaConfig(host=LOCALHOST, username="ata1", password="s3cret"))
    try:
        await device.start()
        host, port = gateway.address
        await device.register(f"sip:{host}:{port}", expires=60)
        (binding,) = registrar.contacts("ata1")
        await asyncio.sleep(0.7)  # pinged three times, answered each time (our UA answers OPTIONS)
        assert binding.reachable and binding.misses == 0
        device.close()  # the device goes away without unregistering
        await until(lambda: not binding.reachable)
        assert registrar.contacts("ata1") == [binding]  # unreachable, still bound
        await until(lambda: registrar.contacts("ata1") == [])
    finally:
        device.close()
        gateway.close()


OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    "m=audio 40010 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


async def test_a_device_behind_nat_is_called_and_its_dialog_kept_at_its_source() -> None:
    """The device registers from 127.0.0.2 with a Contact naming 127.0.0.99 (its "private" address: nobody
    there). Our INVITE, and the ACK of its 200 whose Contact names 127.0.0.99 too, reach it at 127.0.0.2."""
    gateway = await gateway_with(Account("s3cret", keepalive=0))
    registrar = gateway.config.registrar
    assert registrar is not None
    device = RawSip("127.0.0.2")
    private = "<sip:ata1@127.0.0.99:5060>"
    try:
        response = await authorized(device, gateway, "REGISTER", {"Contact": private, "Expires": "60"})
        assert response.status == 200
        (binding,) = registrar.contacts("ata1")
        assert (binding.target.host, binding.target.port) == ("127.0.0.2", device.port)

        call = gateway.call(binding.target, SessionDescription.parse(OFFER.encode()))
        connecting = asyncio.ensure_future(call.connect(ring_timeout=5))
        invite = await next_request(device, "INVITE")
        ok = response_to(invite, 200, to_tag=new_tag())
        ok.headers.add("Contact", private)
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = OFFER.encode()
        device.socket.sendto(bytes(ok), gateway.address)
        await connecting
        await next_request(device, "ACK")  # at 127.0.0.2, not at the 200's Contact
        assert call.dialog is not None
        assert call.dialog.next_hop() == Peer("UDP", "127.0.0.2", device.port)  # and so will the BYE
    finally:
        device.close()
        gateway.close()


async def test_an_invite_as_a_device_is_challenged_even_from_a_trusted_network_and_marked() -> None:
    calls: list[IncomingCall] = []

    def busy(call: IncomingCall) -> None:
        calls.append(call)
        call.reject(486)

    registrar = Registrar("faxgw", {"ata1": Account("s3cret")}.get)
    devices = {"ata1": "ata1", RAW_CALLER: "ata1"}
    admission = Admission([f"{LOCALHOST}/32"], digest=registrar.digest, devices=devices)
    ua = UserAgent(UaConfig(host=LOCALHOST, admission=admission, registrar=registrar), on_invite=busy)
    await ua.start()
    trunk = RawSip(LOCALHOST)  # a trusted address, calling from ata1's number
    try:
        response = await authorized(trunk, ua, "INVITE", {})
        assert response.status == 486
        assert [call.authenticated_user for call in calls] == ["ata1"]
        assert (await authorized(trunk, ua, "INVITE", {}, password="wrong")).status == 403
        assert len(calls) == 1
    finally:
        trunk.close()
        ua.close()


async def test_two_devices_on_one_account_each_read_their_own_expiry() -> None:
    gateway = await gateway_with(Account("s3cret", keepalive=0))
    devices = [UserAgent(UaConfig(host=LOCALHOST, username="ata1", password="s3cret")) for _ in range(2)]
    try:
        host, port = gateway.address
        for device in devices:
            await device.start()
        first = await devices[0].register(f"sip:{host}:{port}", expires=60)
        second = await devices[1].register(f"sip:{host}:{port}", expires=120)
        # The 200 to the second lists both bindings, the first device's first.
        assert (first.granted, second.granted) == (60, 120)
        assert gateway.config.registrar is not None
        assert len(gateway.config.registrar.contacts("ata1")) == 2
        await second.stop()  # unregisters its own contact only
        assert [b.uri.port for b in gateway.config.registrar.contacts("ata1")] == [devices[0].address[1]]
    finally:
        for device in devices:
            device.close()
        gateway.close()
