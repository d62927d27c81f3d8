"""The shared media clock (``sip.media.Ticker``): exact 20 ms pacing for many calls at once, and the
media sockets it reads itself, right before each call's tick, instead of the event loop."""

from __future__ import annotations

import asyncio

from faxgw.sip.media import TICK, RtpEndpoint, Ticker
from faxgw.sip.rtp import RtpStream

from tests.helpers.sip import LOCALHOST

CALLS = 200


async def test_one_clock_paces_many_calls_at_20_ms_without_drift() -> None:
    # 200 calls on one clock for a second: every call gets every tick, in step, and the clock keeps
    # real time (its schedule is kept against the loop clock: a late tick is followed by a short one).
    loop = asyncio.get_running_loop()
    ticks: list[list[float]] = [[] for _ in range(CALLS)]
    ticker = Ticker()
    try:
        for times in ticks:
            ticker.add(lambda times=times: times.append(loop.time()))
        await asyncio.sleep(50 * TICK)
        counts = {len(times) for times in ticks}
        assert max(counts) - min(counts) <= 1  # all calls ticked together
        first = ticks[0]
        steps = len(first) - 1
        if not ticker.late_ticks:  # a machine too busy to keep up restarts the schedule (counted)
            # 50 ticks in 50 x 20 ms of loop time, whatever each one cost: no drift.
            assert 48 <= steps <= 51
            assert abs((first[-1] - first[0]) - steps * TICK) < TICK / 2
    finally:
        ticker.close()


async def test_a_polled_socket_is_read_by_the_clock_right_before_its_tick() -> None:
    endpoint = await RtpEndpoint.open(LOCALHOST)
    sender = await RtpEndpoint.open(LOCALHOST)
    sender.set_remote(LOCALHOST, endpoint.port)
    endpoint.set_remote(LOCALHOST, sender.port)
    ticker = Ticker()
    heard: list[int] = []
    try:
        endpoint.poll()
        for _ in range(3):
            sender.send(b"\xff" * 160)
        await asyncio.sleep(0.03)
        assert endpoint.packets_in == 0  # the event loop no longer reads it: they wait in the socket
        endpoint.drain()
        assert endpoint.packets_in == 3 and endpoint.jitter.stats.received == 3
        endpoint.unpoll()
        sender.send(b"\xff" * 160)
        await asyncio.sleep(0.03)
        assert endpoint.packets_in == 4  # the event loop reads it again

        # On the clock: each tick takes what came, then calls the call back; removed, the loop reads.
        handle = ticker.add(lambda: heard.append(endpoint.packets_in), reads=(endpoint,))
        assert endpoint.polled
        sender.send(b"\xff" * 160)
        sender.send(b"\xff" * 160)
        await asyncio.sleep(4 * TICK)
        assert heard[-1] == 6
        ticker.remove(handle)
        assert not endpoint.polled
        sender.send(b"\xff" * 160)
        await asyncio.sleep(0.03)
        assert endpoint.packets_in == 7
    finally:
        ticker.close()
        endpoint.close()
        sender.close()


async def test_a_flood_costs_a_tick_no_more_than_max_drain_datagrams() -> None:
    from faxgw.sip.media import MAX_DRAIN

    endpoint = await RtpEndpoint.open(LOCALHOST)
    sender = await RtpEndpoint.open(LOCALHOST)
    sender.set_remote(LOCALHOST, endpoint.port)
    endpoint.set_remote(LOCALHOST, sender.port)
    endpoint.poll()
    try:
        stream = RtpStream(0)
        for _ in range(3 * MAX_DRAIN):
            sender._sendto(stream.datagram(b"\xff" * 160))
        await asyncio.sleep(0.02)
        endpoint.drain()
        assert endpoint.packets_in == MAX_DRAIN
        endpoint.drain()
        assert endpoint.packets_in == 2 * MAX_DRAIN
    finally:
        endpoint.close()
        sender.close()
