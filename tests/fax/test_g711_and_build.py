"""G.711 codec against the standard's properties, and the binding's build-time error."""

from __future__ import annotations

import array
import math

import pytest
from faxgw.sip.fax import AudioTerminal, G711Codec, Law
from faxgw.sip.fax.audio import BLOCK_SAMPLES


def tone(samples: int = 800, amplitude: int = 8000) -> bytes:
    return array.array(
        "h", (int(amplitude * math.sin(2 * math.pi * 1100 * n / 8000)) for n in range(samples))
    ).tobytes()


@pytest.mark.parametrize("law", list(Law))
def test_round_trip_error_is_small(law: Law) -> None:
    codec = G711Codec(law)
    pcm = tone()
    payload = codec.encode(pcm)
    assert len(payload) == len(pcm) // 2
    decoded = array.array("h", codec.decode(payload))
    original = array.array("h", pcm)
    # G.711 is logarithmic: the error stays within a few percent of the sample's size.
    for got, want in zip(decoded, original, strict=True):
        assert abs(got - want) <= max(16, abs(want) // 16)


def test_ulaw_and_alaw_silence_codes() -> None:
    # The well-known idle patterns: u-law silence is 0xFF, A-law silence is 0xD5.
    silence = bytes(320)
    assert set(G711Codec(Law.ULAW).encode(silence)) == {0xFF}
    assert set(G711Codec(Law.ALAW).encode(silence)) == {0xD5}


def test_missing_headers_name_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from faxgw.sip.fax import _build

    monkeypatch.setattr(_build, "INCLUDE_DIRS", ["/nonexistent"])
    with pytest.raises(SystemExit, match="apt-get install libspandsp-dev libtiff-dev"):
        _build._require_headers()


@pytest.mark.parametrize("law", list(Law))
def test_g711_step_is_the_four_calls_it_replaces(law: Law, tmp_path) -> None:
    # Two answering fax terminals hear the same line (a tone, silence, lost packets) and must say the
    # same: one through decode, receive_audio/receive_gap, transmit_audio and encode, the other through
    # the single C call of the media path. 6 s covers the answer tone (CED) and the first DIS frames.
    codec = G711Codec(law)
    line = [codec.encode(tone(160)), codec.encode(bytes(320)), None]
    with (
        AudioTerminal(calling=False, receive=tmp_path / "a.tif") as separate,
        AudioTerminal(calling=False, receive=tmp_path / "b.tif") as stepped,
    ):
        sent = set()
        for tick in range(300):
            heard = line[tick % 3 if tick % 50 else 2]
            if heard is None:
                separate.receive_gap(BLOCK_SAMPLES)
            else:
                separate.receive_audio(codec.decode(heard))
            expected = codec.encode(separate.transmit_audio(BLOCK_SAMPLES))
            assert stepped.g711_step(codec, heard) == expected, f"tick {tick}"
            sent.add(expected)
    assert len(sent) > 10  # the terminals did say something: a tone, then V.21 frames
