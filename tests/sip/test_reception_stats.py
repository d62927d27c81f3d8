"""RFC 3550 receiver figures of an RTP stream, for a call's diagnostics: losses by sequence number (A.3)
and the interarrival jitter (A.8), fed with packets and arrival times made here."""

from __future__ import annotations

from faxgw.sip.rtp import ReceptionStats, RtpPacket

SAMPLES = 160  # 20 ms of G.711 at 8000 Hz


def _packet(seq: int, ssrc: int = 1, timestamp: int | None = None) -> RtpPacket:
    return RtpPacket(
        payload_type=0,
        sequence_number=seq & 0xFFFF,
        timestamp=(seq * SAMPLES if timestamp is None else timestamp) & 0xFFFFFFFF,
        ssrc=ssrc,
    )


def test_a_steady_stream_loses_nothing_and_has_no_jitter() -> None:
    stats = ReceptionStats()
    for i in range(100):
        stats.update(_packet(65500 + i), arrival=i * 0.020)  # through the 16-bit wrap
    assert (stats.received, stats.lost) == (100, 0)
    assert stats.jitter_ms < 0.001


def test_gaps_are_lost_and_late_packets_make_them_good() -> None:
    stats = ReceptionStats()
    for i in (0, 1, 2, 5, 6, 4, 9):  # 3, 7, 8 never come; 4 comes late
        stats.update(_packet(i), arrival=i * 0.020)
    assert stats.lost == 3


def test_jitter_follows_rfc_3550_a8() -> None:
    stats = ReceptionStats()
    # Every other packet 10 ms late: |D| = 80 timestamp units each time after the first.
    for i in range(400):
        stats.update(_packet(i), arrival=i * 0.020 + (0.010 if i % 2 else 0.0))
    assert 9.5 < stats.jitter_ms < 10.5  # J converges on |D|: 80 units = 10 ms


def test_a_new_source_keeps_the_losses_so_far() -> None:
    stats = ReceptionStats()
    for i in (0, 1, 3):
        stats.update(_packet(i), arrival=i * 0.02)
    for i in (1000, 1001, 1002):
        stats.update(_packet(i, ssrc=2), arrival=i * 0.02)
    assert (stats.received, stats.lost) == (6, 1)
