"""The gateway's channel count: a bridged call holds two channels at once, or none."""

from __future__ import annotations

from faxgw.gateway.jobs.channels import Channels


def test_channels_are_taken_and_released_by_count_all_or_none() -> None:
    channels = Channels(3)
    assert channels.take() and channels.free == 2
    assert not channels.take(3) and channels.free == 2  # not enough: nothing taken
    assert channels.take(2) and channels.free == 0
    channels.release(2)
    assert channels.free == 2
