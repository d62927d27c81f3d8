"""Bare UDP sockets as SIP peers that do exactly what a test says: ``RawSip`` sends hand-written requests
from the address it is given (127.0.0.2 plays a stranger) and collects the responses; ``RawPeer`` records
what arrives with arrival times, for timer tests (``FAST``: short transaction timers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from faxgw.sip.message import (
    SipRequest,
    SipResponse,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)
from faxgw.sip.transaction import Timers

from tests.helpers.sip import LOCALHOST


class RawSip:
    def __init__(self, host: str) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))
        self.socket.setblocking(False)
        self.host, self.port = self.socket.getsockname()

    def request(
        self,
        method: str,
        target: tuple[str, int],
        *,
        user: str = "+15550199",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> SipRequest:
        """Send a new out-of-dialog request (fresh Call-ID, tags and branch) to ``target``; its Contact is
        this socket's unless ``headers`` name one."""
        uri = f"sip:{user}@{target[0]}:{target[1]}"
        own_contact = not any(name.lower() == "contact" for name in headers or {})
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:+15557777@{self.host}>;tag={new_tag()}",
            f"To: <{uri}>",
            f"Call-ID: {new_call_id(self.host)}",
            f"CSeq: 1 {method}",
            *([f"Contact: <sip:+15557777@{self.host}:{self.port}>"] if own_contact else []),
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        request = SipRequest.parse("\r\n".join(lines).encode() + body)
        self.socket.sendto(bytes(request), target)
        return request

    async def responses(self, wait: float) -> list[SipResponse]:
        """Everything that arrives within ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        got: list[SipResponse] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    got.append(SipResponse.parse(await loop.sock_recv(self.socket, 65535)))
        return got

    async def final(self, wait: float = 2.0) -> SipResponse:
        """The next final response (provisional ones are skipped)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(wait):
            while True:
                response = SipResponse.parse(await loop.sock_recv(self.socket, 65535))
                if response.status >= 200:
                    return response

    def close(self) -> None:
        self.socket.close()


FAST = Timers(t1=0.05, t2=0.2, t4=0.25)


class RawPeer(asyncio.DatagramProtocol):
    """A bare UDP socket that records what arrives, with arrival times."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[float, SipRequest | SipResponse]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.received.put_nowait((asyncio.get_running_loop().time(), parse_message(data)))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def send(self, message: str | bytes, port: int) -> None:
        """Send a message: bytes as they are, text written with plain newlines."""
        assert self.transport is not None
        data = message if isinstance(message, bytes) else message.replace("\n", "\r\n").encode()
        self.transport.sendto(data, (LOCALHOST, port))

    async def next(self, method: str) -> SipRequest:
        """The next request of ``method``, skipping retransmissions of others (Timer A is 50 ms here)."""
        while True:
            _, message = await asyncio.wait_for(self.received.get(), 2)
            if isinstance(message, SipRequest) and message.method == method:
                return message

    async def collect(self, seconds: float) -> list[tuple[float, SipRequest | SipResponse]]:
        messages = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                messages.append(await asyncio.wait_for(self.received.get(), left))
            except TimeoutError:
                break
        return messages
