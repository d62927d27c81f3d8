"""A bare UDP socket that sends hand-written SIP requests and collects the responses: a peer that does
exactly what a test says, from the address it says (127.0.0.2 plays a stranger)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from faxgw.sip.message import SipRequest, SipResponse, new_branch, new_call_id, new_tag


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
        """Send a new out-of-dialog request (fresh Call-ID, tags and branch) to ``target``."""
        uri = f"sip:{user}@{target[0]}:{target[1]}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:+15557777@{self.host}>;tag={new_tag()}",
            f"To: <{uri}>",
            f"Call-ID: {new_call_id(self.host)}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:+15557777@{self.host}:{self.port}>",
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
