"""How far a fax has got, read from the T.30 frames its two ends exchange (ITU-T T.30 5.3.6).

A fax relayed between two calls (``sip.bridge``) has no SpanDSP T.30 session of ours to ask: the fax
machines at both ends run T.30, we only carry it. ``FaxProgress`` reads the frames as they go past
(decoded from T.38 by ``T38Monitor``) and keeps what the outcome needs: the pages the receiver
confirmed, whether the document was finished, the stations' idents, the image data rate and ECM.
"""

from __future__ import annotations

import logging

from faxgw.sip.fax.binding import lib

log = logging.getLogger("sip.fax.progress")

# T.30 5.3.6: an HDLC frame is address (0xFF), control, FCF, then the FIF. The low bit of the FCF (the
# "X" bit) says which station sent it, not what it is; SpanDSP's T30_* values are the FCF with it clear.
_FCF = 2
_FIF = 3
_X_BIT = 0xFE
#: T.30 5.3.6.2.4 (TSI, CSI): 20 characters, sent last character first.
_IDENT_LEN = 20

#: Post-page commands (T.30 5.3.6.1.7) that end a page: the receiver's MCF or RTP confirms it.
_PAGE_END = frozenset(
    (lib.T30_MPS, lib.T30_EOM, lib.T30_EOP, lib.T30_PRI_MPS, lib.T30_PRI_EOM, lib.T30_PRI_EOP)
)
#: ... of those, the ones after the document's last page.
_DOCUMENT_END = frozenset((lib.T30_EOP, lib.T30_PRI_EOP))
#: Responses that accept the page just sent: MCF, and RTP (page good, retrain before the next).
_PAGE_GOOD = frozenset((lib.T30_MCF, lib.T30_RTP))


def _ident(fif: bytes) -> str:
    return bytes(reversed(fif[:_IDENT_LEN])).decode("latin-1").strip()


class FaxProgress:
    """The state of one fax as both directions of its T.30 exchange show it.

    Feed every frame either station sends to ``frame`` and note image data with ``image_data``. A page
    counts once the receiver confirms it (MCF/RTP) after the sender's post-page command, and only if
    image data went by since the last confirmed page: a post-page command repeated because its MCF was
    lost is confirmed twice but is one page. With ECM (T.30 Annex A) the post-page command rides in
    PPS: PPS-NULL ends a block within a page, PPS-MPS/EOM/EOP a page.
    """

    def __init__(self) -> None:
        self.pages = 0
        #: The receiver confirmed the last page (EOP answered with MCF/RTP): the whole document went.
        self.document_done = False
        self.calling_ident = ""  # TSI: the sending station (T.30 5.3.6.2.4)
        self.called_ident = ""  # CSI: the answering station
        self.bit_rate: int | None = None
        self.ecm: bool | None = None
        self.disconnected = False  # DCN went by: T.30 phase E
        self._pending: int | None = None  # a page-ending post-page command awaiting its response
        self._image_since_page = False
        #: Between DCS and the receiver's CFR/FTT: the fast modem carries TCF (T.30 5.3.6.1.3), not a page.
        self._training = False

    def image_data(self, bit_rate: int, ecm: bool) -> None:
        """Data went by on the fast modem at ``bit_rate``: ECM frames or plain T.4 data of a page, or TCF."""
        self.bit_rate = bit_rate
        if not self._training:
            self.ecm = ecm
            self._image_since_page = True

    def frame(self, frame: bytes) -> None:
        """One T.30 HDLC frame (address, control, FCF, FIF; no FCS), from either station."""
        if len(frame) <= _FCF:
            return
        fcf = frame[_FCF] & _X_BIT
        fif = frame[_FIF:]
        if fcf == lib.T30_TSI:
            self.calling_ident = _ident(fif)
        elif fcf == lib.T30_CSI:
            self.called_ident = _ident(fif)
        elif fcf == lib.T30_DCS:
            self._training = True
        elif fcf in (lib.T30_CFR, lib.T30_FTT):
            self._training = False
        elif fcf in _PAGE_END:
            self._post_page(fcf)
        elif fcf == lib.T30_PPS and fif:
            post_page = fif[0] & _X_BIT
            self._pending = None  # PPS-NULL: a block of a page, nothing to count yet
            if post_page in _PAGE_END:
                self._post_page(post_page)
        elif fcf in _PAGE_GOOD:
            self._confirmed()
        elif fcf == lib.T30_RTN:
            self._pending = None  # the page was not good: the sender sends it again or gives up
        elif fcf == lib.T30_DCN:
            self.disconnected = True

    def _post_page(self, command: int) -> None:
        self._pending = command if self._image_since_page else None

    def _confirmed(self) -> None:
        command, self._pending = self._pending, None
        if command is None:
            return
        self.pages += 1
        self._image_since_page = False
        if command in _DOCUMENT_END:
            self.document_done = True
        log.debug("page %d confirmed%s", self.pages, " (the last)" if self.document_done else "")
