"""T.30 frames in words, and a bounded log of the frames one call exchanged (ITU-T T.30 5.3.6, Table 2).

SpanDSP hands every HDLC frame it sends or receives to the real-time frame handler (``T30Session``);
``FrameLog`` keeps them as raw bytes with the time they went by - nothing else on the media path - and
names them only when the call's diagnostics are read: "DCS" with "V.17 14400 bit/s, ECM, fine",
"FTT" after a training that failed, "PPR" with the count of ECM frames to send again.
"""

from __future__ import annotations

import time

from faxgw.sip.diagnostics import T30Step
from faxgw.sip.fax.binding import lib

# An HDLC frame is address (0xFF), control, FCF, then the FIF (T.30 5.3.6). The FCF's low bit (the "X"
# bit) says which station sent it; SpanDSP's T30_* values are the FCF with it clear, except for the
# identification frames, where it tells the answering station's (DIS, CSI, NSF: X clear) from the
# caller's (DTC, CIG, NSC: X set) - these are matched whole.
_FCF = 2
_FIF = 3
_X_BIT = 0xFE
#: ECM image data (T.4 A.3.6): facsimile coded data, and the return to control after a block.
_IMAGE_DATA = frozenset((lib.T4_FCD, lib.T4_RCP))
#: T.30 5.3.6.2.4 (TSI, CSI, CIG): 20 characters, sent last character first.
_IDENT_LEN = 20

_WHOLE = {
    lib.T30_DIS: "DIS",
    lib.T30_CSI: "CSI",
    lib.T30_NSF: "NSF",
    lib.T30_DTC: "DTC",
    lib.T30_CIG: "CIG",
    lib.T30_NSC: "NSC",
    lib.T30_PWD: "PWD",
    lib.T30_SEP: "SEP",
}
_NAMES = {
    lib.T30_DCS: "DCS",
    lib.T30_TSI: "TSI",
    lib.T30_NSS: "NSS",
    lib.T30_SUB: "SUB",
    lib.T30_SID: "SID",
    lib.T30_CTC: "CTC",
    lib.T30_CFR: "CFR",
    lib.T30_FTT: "FTT",
    lib.T30_CTR: "CTR",
    lib.T30_EOM: "EOM",
    lib.T30_MPS: "MPS",
    lib.T30_EOP: "EOP",
    lib.T30_PRI_EOM: "PRI-EOM",
    lib.T30_PRI_MPS: "PRI-MPS",
    lib.T30_PRI_EOP: "PRI-EOP",
    lib.T30_EOS: "EOS",
    lib.T30_PPS: "PPS",
    lib.T30_EOR: "EOR",
    lib.T30_RR: "RR",
    lib.T30_MCF: "MCF",
    lib.T30_RTP: "RTP",
    lib.T30_RTN: "RTN",
    lib.T30_PIP: "PIP",
    lib.T30_PIN: "PIN",
    lib.T30_PPR: "PPR",
    lib.T30_RNR: "RNR",
    lib.T30_ERR: "ERR",
    lib.T30_DCN: "DCN",
    lib.T30_CRP: "CRP",
    lib.T30_FNV: "FNV",
    lib.T30_TNR: "TNR",
    lib.T30_TR: "TR",
}
#: What the bare answers mean for the fax (T.30 5.3.6.1.4, 5.3.6.1.8).
_MEANINGS = {
    lib.T30_CFR: "training good",
    lib.T30_FTT: "training failed: the sender tries again, slower",
    lib.T30_MCF: "page good",
    lib.T30_RTP: "page good, retrain before the next",
    lib.T30_RTN: "page not good: retrain, send it again",
    lib.T30_CRP: "repeat your last command",
}

#: DCS/CTC bits 11-14 (bit 11 lowest): the image modem and rate (T.30 Table 2, note 3).
_RATES = {
    0b0000: "V.27ter 2400",
    0b0010: "V.27ter 4800",
    0b0011: "V.29 7200",
    0b0001: "V.29 9600",
    0b1011: "V.17 7200",
    0b1001: "V.17 9600",
    0b1010: "V.17 12000",
    0b1000: "V.17 14400",
}
#: DIS/DTC bits 11-14: the image modems the station can receive with.
_MODEMS = {
    0b0000: "V.27ter 2400 only",
    0b0010: "V.27ter",
    0b0001: "V.29",
    0b0011: "V.29, V.27ter",
    0b1011: "V.17, V.29, V.27ter",
}
# Single capability bits of DIS/DTC/DCS (T.30 Table 2), numbered from 1 as the table numbers them.
_BIT_FINE = 15  # R8 x 7.7 lines/mm
_BIT_2D = 16  # T.4 two-dimensional coding
_BIT_ECM = 27
_BIT_T6 = 31
_BIT_SUPERFINE = 41  # R8 x 15.4 lines/mm


def _bit(fif: bytes, number: int) -> bool:
    """Bit ``number`` of a FIF as T.30 Table 2 numbers them: bit 1 is the first octet's first bit sent."""
    index = (number - 1) // 8
    return index < len(fif) and bool(fif[index] & (1 << ((number - 1) % 8)))


def _rate_code(fif: bytes) -> int | None:
    return (fif[1] >> 2) & 0x0F if len(fif) > 1 else None


def _facilities(fif: bytes) -> list[str]:
    """ECM, resolution and coding of a DIS/DTC (what the station can do) or DCS (what this call uses)."""
    words = ["ECM"] if _bit(fif, _BIT_ECM) else []
    words += [name for bit, name in ((_BIT_FINE, "fine"), (_BIT_SUPERFINE, "superfine")) if _bit(fif, bit)]
    if _bit(fif, _BIT_T6):
        words.append("T.6")
    elif _bit(fif, _BIT_2D):
        words.append("T.4 2-D")
    return words


def _ident(fif: bytes) -> str:
    return bytes(reversed(fif[:_IDENT_LEN])).decode("latin-1").strip()


def describe(frame: bytes) -> tuple[str, str]:
    """A T.30 HDLC frame (address, control, FCF, FIF; no FCS) as its name and, in words, what it says."""
    if len(frame) <= _FCF:
        return "?", f"{len(frame)}-octet frame"
    raw = frame[_FCF]
    fcf = raw & _X_BIT
    fif = frame[_FIF:]
    name = _WHOLE.get(raw) or _NAMES.get(fcf) or f"FCF 0x{raw:02X}"
    if fcf in (lib.T30_DIS, lib.T30_DCS, lib.T30_CTC):  # DIS's FCF with the X bit is DTC's
        code = _rate_code(fif)
        if fcf == lib.T30_DIS:
            modem = _MODEMS.get(code, f"modem code {code}") if code is not None else ""
        else:
            modem = f"{_RATES[code]} bit/s" if code in _RATES else f"rate code {code}"
        words = [modem] if modem else []
        if fcf != lib.T30_CTC:
            words += _facilities(fif)
        return name, ", ".join(words)
    if fcf in (lib.T30_TSI, lib.T30_CSI):  # CSI's FCF with the X bit is CIG's
        return name, repr(_ident(fif))
    if fcf == lib.T30_PPS and fif:
        # T.30 A.4.3: PPS carries the post-page command (NULL: more blocks of this page), then the page
        # and block counters and the count of frames in the block less one.
        command = fif[0] & _X_BIT
        post = "NULL" if command == lib.T30_NULL else _NAMES.get(command, f"0x{command:02X}")
        counts = f"page {fif[1] + 1}, block {fif[2] + 1}, {fif[3] + 1} frames" if len(fif) >= 4 else ""
        return f"PPS-{post}", counts
    if fcf == lib.T30_PPR:
        # T.30 A.4.4: a 256-bit map, one bit per frame of the block that must come again.
        again = sum(bin(octet).count("1") for octet in fif[:32])
        return name, f"{again} frame{'s' if again != 1 else ''} to send again"
    return name, _MEANINGS.get(fcf, "")


def _times(rates: list[str]) -> str:
    """["14400", "14400", "12000"] as "twice at 14400, once at 12000"."""
    runs: list[list] = []
    for rate in rates:
        if runs and runs[-1][0] == rate:
            runs[-1][1] += 1
        else:
            runs.append([rate, 1])
    counted = {1: "once", 2: "twice"}
    return ", ".join(f"{counted.get(count, f'{count} times')} at {rate}" for rate, count in runs)


class FrameLog:
    """The T.30 frames of one call, both directions, as they went by; at most ``limit`` kept.

    ``record`` runs inside SpanDSP's frame callback, on the media path: it only stores the bytes and
    the time. ``steps`` names them, for the call's diagnostics, once the call is over. ECM image frames
    (up to 256 a block) are only counted: each block's PPS says how many it had.
    """

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.dropped = 0
        self.image_frames = 0
        self._frames: list[tuple[float, bool, bytes]] = []

    def record(self, sent: bool, frame: bytes) -> None:
        if len(frame) > _FCF and frame[_FCF] in _IMAGE_DATA:
            self.image_frames += 1
        elif len(self._frames) < self.limit:
            self._frames.append((time.monotonic(), sent, frame))
        else:
            self.dropped += 1

    def steps(self, since: float) -> tuple[T30Step, ...]:
        """The frames as steps, timed in seconds from ``since`` (a ``time.monotonic()`` reading)."""
        return tuple(
            T30Step(at=round(max(at - since, 0.0), 3), sent=sent, name=name, detail=detail)
            for at, sent, frame in self._frames
            for name, detail in (describe(frame),)
        )

    def story(self) -> str:
        """What T.30 had to do beyond the plain exchange, for the attempt's one-sentence summary; "" when
        nothing: "training failed twice at 14400, then 9600", "at 14400, 12 ECM frames sent again"."""
        failed: list[str] = []  # the rate of each training the receiver answered with FTT
        rate = good = ""
        resent = retrained = 0
        for _, _, frame in self._frames:
            fcf = frame[_FCF] & _X_BIT if len(frame) > _FCF else None
            if fcf == lib.T30_DCS:
                code = _rate_code(frame[_FIF:])
                rate = _RATES[code].split()[-1] if code in _RATES else "?"
            elif fcf == lib.T30_FTT:
                failed.append(rate)
            elif fcf == lib.T30_CFR:
                good = rate
            elif fcf == lib.T30_PPR:
                resent += sum(bin(octet).count("1") for octet in frame[_FIF : _FIF + 32])
            elif fcf == lib.T30_RTN:
                retrained += 1
        if not (failed or resent or retrained):
            return ""
        parts = [
            f"training failed {_times(failed)}{f', then {good}' if good else ''}" if failed else f"at {good}"
        ]
        if resent:
            parts.append(f"{resent} ECM frame{'s' if resent != 1 else ''} sent again")
        if retrained:
            parts.append(f"{retrained} page{'s' if retrained != 1 else ''} not good (RTN)")
        return ", ".join(parts)

    def notes(self) -> tuple[str, ...]:
        notes = (f"t30: ECM image frames: {self.image_frames}",) if self.image_frames else ()
        return notes + ((f"t30: ... {self.dropped} more frames not kept",) if self.dropped else ())
