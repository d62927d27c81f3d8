"""The media process: the native engine (SIP user agent, RTP/UDPTL, the 20 ms ticker, SpanDSP) with
nothing else in its event loop, driven by the gateway process over ``ipc``.

``MediaProcessEngine`` starts it as ``python -m faxgw.gateway.engines.media_worker FD LOG_LEVEL``: the
gateway's Config arrives pickled on stdin (a pipe from our own parent, so as trusted as the parent), the
messages over the socket FD. It lives as long as that socket: when the gateway closes it, or dies, the
media process closes its user agent and exits. Page callbacks here only write a frame: whatever the
gateway does with a page (store, events, webhooks) happens there, on its own time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pickle
import signal
import socket
import sys

from faxgw.gateway.config import Config, ConfigError
from faxgw.gateway.engines import ipc
from faxgw.gateway.engines.base import CallResult, InboundCall, InboundDecision, PageTransferred
from faxgw.gateway.engines.native import NativeEngine
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.engines.media_worker")


class MediaWorker:
    """Runs ``engine`` for the gateway at the other end of ``reader``/``writer``."""

    def __init__(
        self, engine: NativeEngine, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.writer = writer
        self._tasks = Tasks(log, "outbound call")
        self._sending: dict[int, asyncio.Task[None]] = {}
        self._decisions: dict[int, asyncio.Future[ipc.Accept | ipc.Refuse | ipc.Relay]] = {}
        self._receiving: dict[str, int] = {}  # Call-ID -> ref of an accepted or relayed call
        self._last_ref = 0

    async def run(self) -> None:
        """Start the user agent, then serve the gateway's messages until it closes the connection."""
        try:
            await self.engine.start(self._offer, self._done)
        except (ConfigError, OSError) as error:  # a certificate that does not load, a port already taken
            self._post(ipc.StartFailed(str(error), config=isinstance(error, ConfigError)))
            await self._close()
            return
        host, port = self.engine.sip_address
        self._post(ipc.Ready(host, port))
        try:
            while (message := await ipc.read(self.reader)) is not None:
                self._handle(message)
        except (ipc.IpcError, OSError) as error:
            log.error("the gateway's connection failed: %s; ending every call", error)
        await self._close()

    def _handle(self, message: ipc.Message) -> None:
        if isinstance(message, ipc.Send):
            self._sending[message.ref] = self._tasks.spawn(self._send(message))
        elif isinstance(message, ipc.Cancel):
            task = self._sending.pop(message.ref, None)
            if task is not None:
                task.cancel()
        elif isinstance(message, ipc.Accept | ipc.Refuse | ipc.Relay):
            decision = self._decisions.pop(message.ref, None)
            if decision is not None and not decision.done():
                decision.set_result(message)
        elif isinstance(message, ipc.Drain):
            self._tasks.spawn(self._drain())
        elif isinstance(message, ipc.AskStatus):
            self._tasks.spawn(self._status(message.ref))
        else:
            raise ipc.IpcError(f"{type(message).__name__} is not for the media process")

    async def _send(self, message: ipc.Send) -> None:
        ref = message.ref
        try:
            result = await self.engine.send(message.call, lambda page: self._post(ipc.Page(ref, page)))
        except Exception as error:  # e.g. a number and no trunk to reach it: the attempt fails, saying why
            log.exception("fax %s: the call could not be placed", message.call.fax_id)
            result = CallResult.failed("gateway_error", f"The call could not be placed: {error}")
        finally:
            self._sending.pop(ref, None)
        self._post(ipc.Sent(ref, result))

    async def _drain(self) -> None:
        await self.engine.drain()
        self._post(ipc.Drained())

    async def _status(self, ref: int) -> None:
        self._post(ipc.Status(ref, await self.engine.status()))

    async def _offer(self, call: InboundCall) -> InboundDecision:
        """Ask the gateway about an arriving call; meanwhile the call waits (100 Trying), media does not."""
        self._last_ref += 1
        ref = self._last_ref
        decision = asyncio.get_running_loop().create_future()
        self._decisions[ref] = decision
        self._post(ipc.Offer(ref, call))
        try:
            answer = await decision
        finally:
            self._decisions.pop(ref, None)
        if isinstance(answer, ipc.Refuse):
            return answer.refusal
        self._receiving[call.call_id] = ref
        if isinstance(answer, ipc.Relay):
            return answer.bridge

        def page(page: PageTransferred) -> None:
            self._post(ipc.Page(ref, page))

        return answer.document, page

    async def _done(self, call: InboundCall, result: CallResult) -> None:
        ref = self._receiving.pop(call.call_id, None)
        if ref is not None:
            self._post(ipc.Received(ref, result))

    def _post(self, message: ipc.Message) -> None:
        # Never waits: the gateway may be busy for seconds; frames wait in the socket and the transport.
        if not self.writer.is_closing():
            self.writer.write(ipc.encode(message))

    async def _close(self) -> None:
        await self._tasks.cancel()
        await self.engine.close()
        self.writer.close()


async def serve(config: Config, fd: int) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    await MediaWorker(NativeEngine(config), reader, writer).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="faxgw's media process (started by the gateway)")
    parser.add_argument("fd", type=int, help="the socket to the gateway")
    parser.add_argument("log_level", type=int)
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group, and so may a SIGTERM (systemd's stop): the gateway decides
    # when we stop (it closes the socket), after draining on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s media[%(process)d] %(name)s %(message)s"
    )
    config = pickle.load(sys.stdin.buffer)
    if not isinstance(config, Config):
        parser.error("stdin holds no Config")
    asyncio.run(serve(config, args.fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
