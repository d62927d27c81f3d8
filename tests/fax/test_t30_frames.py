"""T.30 frames in words, as a call's diagnostics name them (ITU-T T.30 5.3.6, Table 2), and the bounded
log that keeps them. The frames are built here bit by bit from the table, not taken from SpanDSP."""

from __future__ import annotations

import pytest
from faxgw.sip.fax.t30_frames import FrameLog, describe

HDLC = bytes([0xFF, 0x13])  # address, control (final frame)


def _frame(fcf: int, fif: bytes = b"") -> bytes:
    return HDLC + bytes([fcf]) + fif


def _fif(*bits: int, length: int = 6) -> bytes:
    """A FIF with the given T.30 Table 2 bits set (bit 1 is the first octet's least significant)."""
    octets = bytearray(length)
    for bit in bits:
        octets[(bit - 1) // 8] |= 1 << ((bit - 1) % 8)
    return bytes(octets)


@pytest.mark.parametrize(
    ("rate_bits", "told"),
    [
        ((14,), "V.17 14400 bit/s"),
        ((12, 14), "V.17 12000 bit/s"),
        ((11, 14), "V.17 9600 bit/s"),
        ((11,), "V.29 9600 bit/s"),
        ((11, 12), "V.29 7200 bit/s"),
        ((12,), "V.27ter 4800 bit/s"),
        ((), "V.27ter 2400 bit/s"),
    ],
)
def test_dcs_tells_the_modem_and_rate(rate_bits: tuple[int, ...], told: str) -> None:
    # 0x83: DCS (0x82) with the X bit of the calling station.
    assert describe(_frame(0x83, _fif(*rate_bits))) == ("DCS", told)


def test_dcs_tells_ecm_resolution_and_coding() -> None:
    name, detail = describe(_frame(0x83, _fif(14, 15, 27, 31)))
    assert (name, detail) == ("DCS", "V.17 14400 bit/s, ECM, fine, T.6")
    assert describe(_frame(0x83, _fif(12, 16)))[1] == "V.27ter 4800 bit/s, T.4 2-D"


def test_dis_and_dtc_are_told_apart_by_the_x_bit() -> None:
    capabilities = _fif(11, 12, 14, 27, 15, 41)
    assert describe(_frame(0x80, capabilities)) == ("DIS", "V.17, V.29, V.27ter, ECM, fine, superfine")
    assert describe(_frame(0x81, capabilities))[0] == "DTC"


def test_idents_are_read_back_to_front() -> None:
    ident = b"+1 555 0100".ljust(20)[::-1]
    assert describe(_frame(0x43, ident)) == ("TSI", "'+1 555 0100'")
    assert describe(_frame(0x40, ident))[0] == "CSI"


def test_training_and_page_answers() -> None:
    assert describe(_frame(0x85)) == ("CFR", "training good")
    assert describe(_frame(0x44))[0] == "FTT" and "failed" in describe(_frame(0x44))[1]
    assert describe(_frame(0x8D)) == ("MCF", "page good")
    assert describe(_frame(0x4D))[0] == "RTN" and describe(_frame(0xCD))[0] == "RTP"
    assert [describe(_frame(fcf))[0] for fcf in (0x4F, 0x2F, 0x8F, 0xFB, 0x1B)] == [
        "MPS",
        "EOP",
        "EOM",
        "DCN",
        "CRP",
    ]


def test_pps_names_its_post_page_command_and_counts() -> None:
    # T.30 A.4.3: FCF2, page counter, block counter, frames in the block less one.
    assert describe(_frame(0xBF, bytes([0x4F, 2, 0, 255]))) == ("PPS-MPS", "page 3, block 1, 256 frames")
    assert describe(_frame(0xBF, bytes([0x00, 0, 1, 9])))[0] == "PPS-NULL"
    assert describe(_frame(0xBF, bytes([0x2F, 0, 0, 0])))[0] == "PPS-EOP"


def test_ppr_counts_the_frames_to_send_again() -> None:
    bitmap = bytes([0b1011, 0x80]) + bytes(30)
    assert describe(_frame(0xBD, bitmap)) == ("PPR", "4 frames to send again")
    assert describe(_frame(0xBD, bytes([1]) + bytes(31)))[1] == "1 frame to send again"


def test_an_unknown_or_short_frame_is_named_not_refused() -> None:
    assert describe(_frame(0x77))[0] == "FCF 0x77"
    assert describe(b"\xff")[0] == "?"


def test_the_log_is_bounded_and_counts_ecm_image_frames() -> None:
    log = FrameLog(limit=3)
    log.record(False, _frame(0x80, _fif(14)))
    for _ in range(10):
        log.record(True, _frame(0x06, bytes(64)))  # T.4 FCD: image data, counted only
    for _ in range(4):
        log.record(True, _frame(0xFB))
    steps = log.steps(since=0.0)
    assert [(step.name, step.sent) for step in steps] == [("DIS", False), ("DCN", True), ("DCN", True)]
    assert log.notes() == ("t30: ECM image frames: 10", "t30: ... 2 more frames not kept")


def test_the_story_tells_failed_trainings_and_the_rate_that_worked() -> None:
    log = FrameLog()
    log.record(False, _frame(0x80, _fif(11, 12, 14)))  # DIS
    for rate_bits, answer in (((14,), 0x44), ((14,), 0x44), ((11,), 0x84)):  # FTT, FTT, CFR
        log.record(True, _frame(0x83, _fif(*rate_bits)))
        log.record(False, _frame(answer))
    log.record(False, _frame(0x8D))
    assert log.story() == "training failed twice at 14400, then 9600"


def test_the_story_tells_ecm_frames_sent_again_and_pages_retrained() -> None:
    log = FrameLog()
    log.record(True, _frame(0x83, _fif(14, 27)))
    log.record(False, _frame(0x84))
    log.record(False, _frame(0xBD, bytes([0b111]) + bytes(31)))  # PPR: 3 frames
    log.record(False, _frame(0x4C))  # RTN
    assert log.story() == "at 14400, 3 ECM frames sent again, 1 page not good (RTN)"


def test_a_plain_exchange_has_no_story() -> None:
    log = FrameLog()
    for fcf in (0x80, 0x83, 0x84, 0x2F, 0x8C, 0xFB):
        log.record(fcf & 1 == 1, _frame(fcf, _fif(14)))
    assert log.story() == ""
