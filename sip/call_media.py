"""The media sockets of one SIP call and the SDP that describes them: what a fax call (``sip.fax_call``)
and each leg of a relayed fax (``sip.bridge``) share.

A call has an RTP socket (G.711) and a UDPTL socket (T.38) from the start, so that a switch to T.38
and back needs no new port. ``CallMedia`` writes our offers and answers for them (RFC 3264), points
them at the peer once an offer/answer settled (``point``), and asks the peer to move to T.38
(``request_t38``). What runs on the media, a SpanDSP session or a relay, is the subclass's business.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace

from faxgw.sip.call import Call, CallError, CallState
from faxgw.sip.diagnostics import MediaFigures
from faxgw.sip.fax import G711Codec, Law
from faxgw.sip.fax_terms import T38Policy
from faxgw.sip.media import RtpEndpoint, UdptlEndpoint
from faxgw.sip.sdp import (
    CODECS,
    NegotiatedMedia,
    NotAcceptable,
    SdpError,
    SessionDescription,
    T38Params,
    answer_offer,
    answer_removal,
    audio_offer,
    negotiated_from_answer,
    t38_offer,
)

log = logging.getLogger("sip.call_media")

#: The smallest T38FaxMaxDatagram we honour, paced and unpaced: the largest UDPTL datagram our T.38
#: terminal needs for one IFP packet without redundancy, with a few octets to spare (measured with
#: SpanDSP 0.0.6: paced, image data goes in 30 ms chunks of at most 59 octets of IFP at 14,400 bit/s,
#: a 64-octet datagram; unpaced, in chunks of up to 305, a 311-octet one). A peer that states less
#: (1, a few octets) states a mistake: honoured, no image data could be sent and the fax would fail.
#: We clamp to this and log it rather than stay on audio: the peer did accept T.38, and a datagram of
#: this size is ordinary UDPTL that any T.38 stack takes (Asterisk reads a stated 0 as 400).
MIN_T38_MAX_DATAGRAM = {True: 72, False: 320}
#: Failed re-INVITEs that say nothing of T.38: glare left unresolved (491: the peer's own offer may have
#: done the job), the dialog gone (481) or no answer (408; the call then ends, RFC 3261 12.2.1.2).
_NOT_A_REFUSAL = frozenset((408, 481, 491))


class CallMedia:
    """The RTP and UDPTL sockets of one call, its SDP, and where the negotiated media goes."""

    def __init__(
        self,
        *,
        host: str,
        t38: T38Policy,
        t38_params: T38Params,
        latch: bool,
        paced: bool,
        codecs: tuple[str, ...] = tuple(CODECS),
    ) -> None:
        self.host = host
        self.codecs = codecs  # G.711 laws our audio offers name, in order of preference
        self.t38_policy = t38
        self.t38_params = t38_params
        self.latch = latch
        self.paced = paced
        self.call: Call | None = None
        #: The status that refused our T.38 re-INVITE (488, 415 ...), if one did.
        self.t38_refused: int | None = None
        self.codec = G711Codec(Law.ULAW)
        self._sdp_id = random.randint(1, 2**31)
        self._sdp_version = 0
        self.rtp: RtpEndpoint
        self.udptl: UdptlEndpoint

    async def open(self) -> None:
        """Bind both sockets on ``host``; IFP packets that arrive go to ``_ifp_received``."""
        self.rtp = await RtpEndpoint.open(self.host, latch=self.latch)
        try:
            self.udptl = await UdptlEndpoint.open(self.host, self._ifp_received, latch=self.latch)
        except BaseException:
            self.rtp.close()  # out of descriptors or ports: keep no half of the pair
            raise

    def close(self) -> None:
        self.rtp.close()
        self.udptl.close()

    def _ifp_received(self, sequence: int, ifp: bytes) -> None:
        """One IFP packet from the peer, in order, with its UDPTL sequence number."""
        raise NotImplementedError

    @property
    def call_id(self) -> str:
        return self.call.call_id if self.call is not None else ""

    def figures(self, leg: str = "") -> tuple[MediaFigures, ...]:
        """The counters of each stream that carried anything, for the call's diagnostics; ``leg``: which
        leg of a relayed call this is."""
        streams = (self.rtp.figures(), self.udptl.figures())
        return tuple(
            replace(figures, leg=leg)
            for figures in streams
            if figures.packets_sent or figures.packets_received
        )

    @property
    def packets_in(self) -> int:
        """Media packets received so far, RTP and UDPTL."""
        return self.rtp.packets_in + self.udptl.datagrams_in

    async def hang_up_on_silence(self, timeout: float) -> None:
        """Hang the call up once no media has come for ``timeout`` seconds: the peer is gone (killed,
        unplugged) and neither T.30 nor SIP would notice for a long time, or ever. Looked at a few times a
        second, off the media path; the call's end then ends T.30 with the pages that made it."""
        call = self.call
        if call is None:
            return
        loop = asyncio.get_running_loop()
        heard, since = self.packets_in, loop.time()
        while call.state is CallState.ESTABLISHED:
            await asyncio.sleep(min(1.0, timeout / 4))
            if self.packets_in != heard:
                heard, since = self.packets_in, loop.time()
            elif loop.time() - since >= timeout:
                log.warning("call %s: no media for %.0f s: hanging up", call.call_id, timeout)
                await call.hangup(f"no media from the peer for {timeout:.0f} s: it is gone")
                return

    # -- SDP ---------------------------------------------------------------------------------------
    def _next_version(self) -> int:
        self._sdp_version += 1
        return self._sdp_version

    def audio_offer(self) -> SessionDescription:
        return audio_offer(
            self.host,
            self.rtp.port,
            session_id=self._sdp_id,
            version=self._next_version(),
            codecs=self.codecs,
        )

    def t38_offer(self) -> SessionDescription:
        return t38_offer(
            self.host,
            self.udptl.port,
            session_id=self._sdp_id,
            version=self._next_version(),
            params=self.t38_params,
        )

    def answer(self, offer: SessionDescription) -> tuple[SessionDescription, NegotiatedMedia]:
        """Our answer to ``offer`` (T.38 taken unless the policy is audio only); ``NotAcceptable``: 488."""
        return answer_offer(
            offer,
            address=self.host,
            audio_port=self.rtp.port,
            image_port=self.udptl.port,
            session_id=self._sdp_id,
            version=self._next_version(),
            accept_t38=self.t38_policy is not T38Policy.AUDIO,
            t38=self.t38_params,
        )

    def streams_removed(self, offer: SessionDescription) -> SessionDescription:
        """RFC 3264 8.2: a re-offer with port 0 on every m= line removes the streams. It is answered
        (port 0 for each, 8.2: "the answerer MUST ... mark the stream with a port of zero"), not
        refused: Asterisk ends the T.38 that we started this way once its fax is done, then sends BYE.
        Media stops."""
        log.info("call %s: the peer removed every media stream: media stops", self.call_id)
        self.rtp.set_remote(self.host, 0)
        self.udptl.set_remote(self.host, 0)
        return answer_removal(offer, address=self.host, session_id=self._sdp_id, version=self._next_version())

    # -- where media goes ----------------------------------------------------------------------------
    def point(self, media: NegotiatedMedia) -> None:
        """Send the negotiated stream where the peer wants it (and take it only from there)."""
        if media.kind == "t38":
            self.udptl.set_remote(media.remote_address, media.remote_port)
            self.udptl.limit_datagram(self._far_max_datagram(media.t38))
            return
        if media.payload_type is not None:
            self.rtp.set_payload_type(media.payload_type)
            self.rtp.use_redundancy(media.red)
            self.codec = G711Codec(Law.ALAW if media.codec == "PCMA" else Law.ULAW)
        self.rtp.set_remote(media.remote_address, media.remote_port)

    def _far_max_datagram(self, params: T38Params | None) -> int | None:
        """The far end's T38FaxMaxDatagram, clamped to ``MIN_T38_MAX_DATAGRAM`` (0: not stated)."""
        stated = params.max_datagram if params is not None else None
        least = MIN_T38_MAX_DATAGRAM[self.paced]
        if stated and stated < least:
            log.warning(
                "call %s: the peer's T38FaxMaxDatagram %d cannot hold one IFP packet: %d used instead",
                self.call_id,
                stated,
                least,
            )
            return least
        return stated

    async def request_t38(self, still_wanted: Callable[[], bool]) -> NegotiatedMedia | None:
        """Our re-INVITE to T.38: the negotiated T.38 stream, or None when it failed (refused with 488 or
        the like: the call stays as it was, and ``t38_refused`` keeps the status) or we hung up."""
        assert self.call is not None
        offer = self.t38_offer()
        try:
            answer = await self.call.reinvite(offer, still_wanted=still_wanted)
            return negotiated_from_answer(offer, answer)
        except CallError as error:
            log.info("call %s: T.38 offer refused (%s): staying on audio", self.call_id, error)
            if error.status not in _NOT_A_REFUSAL:
                self.t38_refused = error.status
        except NotAcceptable as error:
            log.info("call %s: T.38 offer refused (%s): staying on audio", self.call_id, error)
        except SdpError as error:
            # The peer took the offer (2xx, ACKed) with an answer we cannot use: it may be on T.38 now or
            # still on audio, and guessing wrong fails the fax only after T.30's timeouts. We hang up
            # at once and say why, as RFC 3261 13.2.2.4 does with an unusable offer in a 2xx.
            reason = f"unusable answer to our T.38 offer: {error}"
            log.warning("call %s: %s; hanging up", self.call_id, reason)
            await self.call.hangup(reason)
        return None
