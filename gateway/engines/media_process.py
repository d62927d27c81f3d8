"""The native engine in a media process of its own: the ``Engine`` the job layer sees in the gateway process.

The gateway process (REST API, jobs, store, webhooks) may be as busy as it likes: the SIP user agent,
the media of every call and SpanDSP run in the media process (``media_worker``), whose event loop does
nothing else. This side places calls and answers arriving ones over ``ipc``; page handlers and the
job layer's decisions run here, when their message arrives. A media process that dies, or sends a
frame that is not one of ours, is killed (by its PID), every call it carried is settled as failed with
``hangup_cause`` ``media_process_exited``, and a new one is started: no fax stays in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import socket
import sys
from dataclasses import dataclass, field

from faxgw.gateway.config import Config, ConfigError
from faxgw.gateway.engines import ipc
from faxgw.gateway.engines.base import (
    Bridge,
    CallResult,
    EngineStatus,
    InboundCall,
    InboundDone,
    InboundHandler,
    OutboundCall,
    PageHandler,
    PageTransferred,
    Refusal,
)
from faxgw.gateway.engines.native import FAILED_RETRY_AFTER
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.engines.media_process")

WORKER = "faxgw.gateway.engines.media_worker"
#: How a call the media process carried ends when that process is gone.
LOST = "media_process_exited"
#: The media process has this long to say its user agent is up (Python and SpanDSP load in ~0.5 s).
START_TIMEOUT = 20.0
#: ... and this long to hang up and exit when the gateway stops, before it is killed.
STOP_TIMEOUT = 5.0
#: The media process's nice value when the gateway may raise it (CAP_SYS_NICE): a busy gateway process
#: (the API at full load) then never makes it wait for a core (see DESIGN.md, Media isolation).
MEDIA_NICE = -10
#: Pause before starting a media process again, doubled while starting fails, up to RESTART_MAX.
RESTART_DELAY = 0.2
RESTART_MAX = 30.0
#: The longest ``status`` waits for the media process's answer (it answers from its loop at once; a
#: scrape or a console page must not hang on a media process that is stuck).
STATUS_TIMEOUT = 2.0


@dataclass
class _Sending:
    """An outbound call the media process carries for us: send() waits for ``result``."""

    on_page: PageHandler
    result: asyncio.Future[CallResult]
    pages: int = 0  # reported so far


@dataclass
class _Receiving:
    """An arriving call we accepted: on_inbound_done hears of ``call``'s end."""

    on_page: PageHandler | None  # None: relayed (Bridge), nothing written, no pages reported
    call: InboundCall
    pages: int = 0


@dataclass
class _Child:
    """One media process: its PID, its connection, and the calls in flight through it."""

    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: tuple[str, int]
    sending: dict[int, _Sending] = field(default_factory=dict)
    receiving: dict[int, _Receiving] = field(default_factory=dict)
    ended: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    drained: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    statuses: dict[int, asyncio.Future[EngineStatus]] = field(default_factory=dict)  # asked, by ref
    reading: asyncio.Task[None] | None = None  # its messages, until it goes

    @property
    def pid(self) -> int:
        return self.process.pid

    def post(self, message: ipc.Message) -> None:
        if not self.ended.done() and not self.writer.is_closing():
            self.writer.write(ipc.encode(message))


class MediaProcessEngine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._child: _Child | None = None
        self._up = asyncio.Event()  # a media process is running and takes calls
        self._closing = False
        self._draining = False
        self._refs = itertools.count(1)
        self._tasks = Tasks(log, "media process task")
        self._on_inbound: InboundHandler | None = None
        self._on_inbound_done: InboundDone | None = None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def sip_address(self) -> tuple[str, int]:
        assert self._child is not None
        return self._child.address

    async def start(self, on_inbound: InboundHandler, on_inbound_done: InboundDone) -> None:
        """Start the media process; ``ConfigError``/``OSError`` if its user agent cannot start."""
        self._on_inbound, self._on_inbound_done = on_inbound, on_inbound_done
        self._run(await self._spawn())
        self._tasks.spawn(self._supervise())

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), START_TIMEOUT)
        child = self._child
        if child is None or child.ended.done():
            return CallResult.failed(LOST, "No media process is running to place the call.")
        ref = next(self._refs)
        leg = _Sending(on_page, asyncio.get_running_loop().create_future())
        child.sending[ref] = leg
        child.post(ipc.Send(ref, call))
        try:
            return await leg.result
        except asyncio.CancelledError:
            if child.sending.pop(ref, None) is not None:
                child.post(ipc.Cancel(ref))
            raise

    async def drain(self) -> None:
        """The media process's user agent refuses new calls (``NativeEngine.drain``), a media process
        started after this one too; returns when it says so (or is gone)."""
        self._draining = True
        child = self._child
        if child is None or child.ended.done():
            return
        child.post(ipc.Drain())
        await asyncio.wait((child.drained, child.ended), return_when=asyncio.FIRST_COMPLETED)

    async def status(self) -> EngineStatus:
        """The media process's engine's status (asked over ``ipc``); without an answer within
        STATUS_TIMEOUT, or with no media process running, an empty status saying so."""
        child = self._child
        if child is None or child.ended.done():
            return EngineStatus(note="No media process is running.")
        ref = next(self._refs)
        answer: asyncio.Future[EngineStatus] = asyncio.get_running_loop().create_future()
        child.statuses[ref] = answer
        child.post(ipc.AskStatus(ref))
        try:
            await asyncio.wait(
                (answer, child.ended), timeout=STATUS_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            child.statuses.pop(ref, None)
        if answer.done():
            return answer.result()
        return EngineStatus(note=f"The media process did not tell its status within {STATUS_TIMEOUT:g} s.")

    async def close(self) -> None:
        self._closing = True
        child = self._child
        if child is not None and child.reading is not None:
            # Half-close: the media process reads the end, ends its calls, closes its side and exits;
            # reading to that end settles what it still carried.
            if not child.writer.is_closing():
                child.writer.write_eof()
            try:
                await asyncio.wait_for(asyncio.shield(child.reading), STOP_TIMEOUT)
            except TimeoutError:
                await self._end(child, f"it did not stop within {STOP_TIMEOUT:.0f} s", grace=0)
        await self._tasks.cancel()

    # -- the media process's life ------------------------------------------------------------------
    async def _spawn(self) -> _Child:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER,
                str(theirs.fileno()),
                str(logging.getLogger().getEffectiveLevel()),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        _prefer(process.pid)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            assert process.stdin is not None
            process.stdin.write(pickle.dumps(self.config))
            await process.stdin.drain()
            process.stdin.close()
            first = await asyncio.wait_for(ipc.read(reader), START_TIMEOUT)
        except (ipc.IpcError, OSError, TimeoutError) as error:
            await _stop(process, writer, 0)
            raise OSError(f"the media process did not start: {error!r}") from None
        except BaseException:
            await _stop(process, writer, 0)
            raise
        if isinstance(first, ipc.Ready):
            log.info("media process %d: SIP at %s:%d", process.pid, first.host, first.port)
            return _Child(process, reader, writer, (first.host, first.port))
        exits = first is None or isinstance(first, ipc.StartFailed)  # by itself: give it the time
        await _stop(process, writer, STOP_TIMEOUT if exits else 0)
        if isinstance(first, ipc.StartFailed):
            raise (ConfigError if first.config else OSError)(first.error)
        told = "nothing" if first is None else type(first).__name__
        raise OSError(f"the media process did not start: it said {told} instead of Ready")

    def _run(self, child: _Child) -> None:
        self._child = child
        child.reading = self._tasks.spawn(self._read(child))
        if self._draining:  # a media process started again while the node drains: it drains too
            child.post(ipc.Drain())
        self._up.set()

    async def _supervise(self) -> None:
        """Start a new media process whenever the running one ends, until the gateway stops."""
        while not self._closing:
            assert self._child is not None
            reason = await asyncio.shield(self._child.ended)
            if self._closing:
                return
            log.error("media process %d ended (%s): starting another", self._child.pid, reason)
            delay = RESTART_DELAY
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    self._run(await self._spawn())
                    break
                except (ConfigError, OSError) as error:
                    log.error("media process failed to start (%s): next try in %.1f s", error, delay)
                    delay = min(2 * delay, RESTART_MAX)

    async def _read(self, child: _Child) -> None:
        """Take the media process's messages in order until it goes, then settle what it carried."""
        grace = STOP_TIMEOUT  # after its end of the connection, time to exit before it is killed
        try:
            while (message := await ipc.read(child.reader)) is not None:
                self._dispatch(child, message)
            reason = "the gateway stopped" if self._closing else "the media process closed its connection"
        except ipc.IpcError as error:
            reason, grace = f"malformed frame from the media process: {error}", 0
            log.error("media process %d: %s", child.pid, reason)
        except OSError as error:
            reason, grace = f"connection to the media process failed: {error}", 0
        await self._end(child, reason, grace)

    def _dispatch(self, child: _Child, message: ipc.Message) -> None:
        if isinstance(message, ipc.Page):
            legs: dict[int, _Sending] | dict[int, _Receiving] = (
                child.sending if message.page.sending else child.receiving
            )
            leg = legs.get(message.ref)
            if leg is not None and leg.on_page is not None:  # else: a sender gone (cancelled), a relay
                leg.pages += 1
                _deliver(leg.on_page, message.page)
        elif isinstance(message, ipc.Sent):
            sending = child.sending.pop(message.ref, None)
            if sending is not None and not sending.result.done():
                sending.result.set_result(message.result)
        elif isinstance(message, ipc.Offer):
            self._tasks.spawn(self._decide(child, message.ref, message.call))
        elif isinstance(message, ipc.Received):
            receiving = child.receiving.pop(message.ref, None)
            if receiving is not None:
                self._tasks.spawn(self._done(receiving.call, message.result))
        elif isinstance(message, ipc.Drained):
            if not child.drained.done():
                child.drained.set_result(None)
        elif isinstance(message, ipc.Status):
            asked = child.statuses.get(message.ref)
            if asked is not None and not asked.done():
                asked.set_result(message.status)
        else:
            raise ipc.IpcError(f"{type(message).__name__} is not for the gateway")

    async def _decide(self, child: _Child, ref: int, call: InboundCall) -> None:
        """The job layer's answer to an arriving call, sent back to the media process that has it."""
        assert self._on_inbound is not None
        try:
            decision = await self._on_inbound(call)
        except Exception as error:  # the store failing, a bug: the caller still gets a final response
            log.exception("call %s: the gateway failed to decide", call.call_id)
            decision = Refusal(503, FAILED_RETRY_AFTER) if isinstance(error, OSError) else Refusal(500)
        if isinstance(decision, Refusal):
            child.post(ipc.Refuse(ref, decision))
            return
        if child.ended.done():  # accepted, but the media process that had the call is gone
            await self._done(call, _lost(child.ended.result(), call.call_id, 0))
            return
        if isinstance(decision, Bridge):
            child.receiving[ref] = _Receiving(None, call)
            child.post(ipc.Relay(ref, decision))
            return
        document, on_page = decision
        child.receiving[ref] = _Receiving(on_page, call)
        child.post(ipc.Accept(ref, document))

    async def _done(self, call: InboundCall, result: CallResult) -> None:
        assert self._on_inbound_done is not None
        try:
            await self._on_inbound_done(call, result)
        except Exception:  # one fax's settling must not keep the next one's from running
            log.exception("call %s: settling the fax failed", call.call_id)

    async def _end(self, child: _Child, reason: str, grace: float) -> None:
        """The media process is gone or unusable: settle its calls, and make sure it is gone (killed by
        PID if it has not exited within ``grace`` seconds)."""
        if child.ended.done():
            return
        child.ended.set_result(reason)
        if self._child is child:
            self._up.clear()
        sending, receiving = list(child.sending.values()), list(child.receiving.values())
        child.sending.clear()
        child.receiving.clear()
        for outbound in sending:
            if not outbound.result.done():
                outbound.result.set_result(_lost(reason, "", outbound.pages))
        for inbound in receiving:
            await self._done(inbound.call, _lost(reason, inbound.call.call_id, inbound.pages))
        await _stop(child.process, child.writer, grace)


def _prefer(pid: int) -> None:
    """Run the media process (its main thread, and the threads it starts) ahead of the gateway's."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, MEDIA_NICE)
    except PermissionError:
        log.info("media process %d runs at the gateway's priority (raising it needs CAP_SYS_NICE)", pid)


def _lost(reason: str, call_id: str, pages: int) -> CallResult:
    return CallResult.failed(
        LOST, f"The media process ended during the call: {reason}.", call_id=call_id, pages=pages
    )


def _deliver(on_page: PageHandler, page: PageTransferred) -> None:
    try:
        on_page(page)
    except Exception:  # the job layer's trouble with one page must not stop the others' messages
        log.exception("page %d of %s: the page handler failed", page.page, page.document)


async def _stop(process: asyncio.subprocess.Process, writer: asyncio.StreamWriter, grace: float) -> None:
    """Reap the media process, killing it by its PID unless it exits within ``grace`` seconds."""
    writer.close()
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), grace)
    except TimeoutError:
        log.warning("media process %d killed", process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()
