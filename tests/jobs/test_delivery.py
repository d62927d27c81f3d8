"""Learned delivery's rules (gateway.jobs.delivery) and the sorting of failures (gateway.jobs.status):
pure functions over CallResults as the engines report them, and profiles kept in a real store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from faxgw.gateway.engines import CallResult, CallStatus, T30Error, T38Policy
from faxgw.gateway.engines.base import LegResult, Route
from faxgw.gateway.jobs import delivery, status
from faxgw.gateway.store import DeliveryProfile, Store
from faxgw.sip.fax.binding import c_string, lib

DESTINATION = "+15550199"
T38_TRUNK = Route("a", t38=T38Policy.T38)


def result(status: CallStatus = CallStatus.FAILED, **fields: object) -> CallResult:
    base = CallResult(
        status=status,
        sip_code=200,
        hangup_cause="remote_bye",
        t30_code=None,
        t30_text="",
        pages=0,
        pages_expected=None,
        t38=False,
        bit_rate=None,
        ecm=None,
        remote_ident="",
        call_id="call-1",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def training_failure(*, t38: bool, code: T30Error = T30Error.CANNOT_TRAIN) -> CallResult:
    return result(t30_code=code, t30_text=c_string(lib.t30_completion_code_to_str(code)), t38=t38)


def test_the_t30_codes_are_spandsps() -> None:
    # The codes are SpanDSP's enum values: its own text for each says what the rules take it for.
    texts = {code: c_string(lib.t30_completion_code_to_str(code)) for code in T30Error}
    assert texts[T30Error.T1_EXPIRED] == "Timed out waiting for the first message"
    assert texts[T30Error.CANNOT_TRAIN] == "Failed to train with any of the compatible modems"
    assert texts[T30Error.TX_BADDCS] == "Received bad response to DCS or training"
    assert "TCF" in texts[T30Error.TX_PHBDEAD]
    assert all("ECM" in texts[code] for code in delivery.ECM_FAILURES)
    assert texts[T30Error.RETRYDCN] == "Disconnected after permitted retries"


def test_nothing_learned_leaves_the_route_as_configured() -> None:
    route = Route("a", t38=T38Policy.T38, ecm=True, max_rate=9600)
    assert delivery.apply(delivery.fresh(route), route) == route


def test_t38_refused_means_g711_next_time() -> None:
    learned = delivery.learn(delivery.fresh(T38_TRUNK), result(t38_refused=488))
    assert (learned.t38, learned.failures, learned.reason) == (False, 1, "T.38 refused with 488")
    assert delivery.apply(learned, T38_TRUNK).t38 is T38Policy.AUDIO


def test_training_failures_go_to_g711_then_down_the_rates() -> None:
    profile = delivery.fresh(T38_TRUNK)
    profile = delivery.learn(profile, training_failure(t38=True))
    assert (profile.t38, profile.max_rate) == (False, 14400)  # T.38 would not train: G.711 first
    rates = []
    for code in (T30Error.CANNOT_TRAIN, T30Error.TX_BADDCS, T30Error.TX_PHBDEAD):
        profile = delivery.learn(profile, training_failure(t38=False, code=code))
        rates.append(profile.max_rate)
    assert rates == [9600, 4800, 4800]  # and no lower than the lowest cap
    assert profile.failures == 4
    assert profile.reason == "training failed at 4800: Received no response to DCS or TCF"
    applied = delivery.apply(profile, T38_TRUNK)
    assert (applied.t38, applied.max_rate) == (T38Policy.AUDIO, 4800)


@pytest.mark.parametrize("code", sorted(delivery.ECM_FAILURES))
def test_ecm_trouble_toggles_ecm(code: T30Error) -> None:
    learned = delivery.learn(delivery.fresh(T38_TRUNK), result(t30_code=code, ecm=True, t38=True))
    assert not learned.ecm and learned.t38 and learned.max_rate == 14400
    assert not delivery.apply(learned, T38_TRUNK).ecm


def test_retries_spent_are_ecm_trouble_only_with_ecm_on() -> None:
    profile = delivery.fresh(T38_TRUNK)
    assert not delivery.learn(profile, result(t30_code=T30Error.RETRYDCN, ecm=True)).ecm
    assert delivery.learn(profile, result(t30_code=T30Error.RETRYDCN, ecm=False)).ecm


@pytest.mark.parametrize(
    "failure",
    [
        result(CallStatus.BUSY, sip_code=486),
        result(CallStatus.NO_ANSWER, sip_code=480),
        result(t30_code=T30Error.CALLDROPPED),
        result(CallStatus.PARTIAL, pages=1, pages_expected=3, t38=True),
    ],
    ids=["busy", "no answer", "dropped", "partial"],
)
def test_other_failures_are_counted_and_change_nothing(failure: CallResult) -> None:
    profile = delivery.fresh(T38_TRUNK)
    assert delivery.learn(profile, failure) == replace(profile, failures=1)


def test_success_remembers_what_worked_and_resets_failures() -> None:
    profile = DeliveryProfile(t38=False, ecm=True, max_rate=14400, failures=3, reason="T.38 refused with 488")
    worked = delivery.learn(profile, result(CallStatus.SUCCESS, bit_rate=7200, ecm=False), now=5.0)
    assert worked == DeliveryProfile(
        t38=False, ecm=False, max_rate=9600, failures=0, succeeded_at=5.0, reason="T.38 refused with 488"
    )
    # A success on T.38 makes T.38 usable again; one on G.711 alone says nothing against it.
    assert delivery.learn(worked, result(CallStatus.SUCCESS, t38=True, bit_rate=14400)).t38
    assert delivery.learn(delivery.fresh(T38_TRUNK), result(CallStatus.SUCCESS, bit_rate=9600)).t38


def test_a_step_down_says_when_and_is_forgotten_once_older_than_the_memory() -> None:
    stepped = delivery.learn(delivery.fresh(T38_TRUNK), result(t38_refused=488), now=1000.0)
    assert stepped.stepped_at == 1000.0
    assert delivery.remembered(stepped, T38_TRUNK, forget_before=999.0) == stepped
    again = delivery.remembered(stepped, T38_TRUNK, forget_before=1001.0)
    assert delivery.apply(again, T38_TRUNK) == T38_TRUNK and again.failures == 1
    # A success or a failure that steps nothing down leaves the time of the last step down alone.
    assert delivery.learn(stepped, result(CallStatus.BUSY), now=2000.0).stepped_at == 1000.0
    assert delivery.learn(delivery.fresh(T38_TRUNK), result(CallStatus.BUSY)).stepped_at is None


def test_a_route_configured_for_audio_is_never_upgraded() -> None:
    audio = Route("a", t38=T38Policy.AUDIO, ecm=False, max_rate=9600)
    generous = DeliveryProfile(t38=True, ecm=True, max_rate=14400)
    assert delivery.apply(generous, audio) == audio


def test_permanent_and_retryable_failures() -> None:
    permanent = [
        result(CallStatus.REJECTED, sip_code=404),
        result(CallStatus.REJECTED, sip_code=484),
        result(CallStatus.REJECTED, sip_code=403),
        result(CallStatus.REJECTED, sip_code=603),
        result(t30_code=T30Error.T1_EXPIRED),  # answered by no fax machine
        result(t30_code=T30Error.T0_EXPIRED),
    ]
    retryable = [
        result(CallStatus.BUSY, sip_code=486),
        result(CallStatus.NO_ANSWER, sip_code=408),
        result(CallStatus.REJECTED, sip_code=503),
        result(t30_code=T30Error.CALLDROPPED),
        training_failure(t38=False),
        result(CallStatus.PARTIAL, pages=2, pages_expected=3, t30_code=T30Error.T1_EXPIRED),
    ]
    assert [status.permanent(r) for r in permanent] == [True] * len(permanent)
    assert [status.permanent(r) for r in retryable] == [False] * len(retryable)
    assert all(status.retryable(status.outbound_status(r).status) for r in retryable)


def test_the_summary_tells_the_attempt() -> None:
    routes = (Route("a"), Route("b", t38=T38Policy.T38))
    legs = (
        LegResult("a", 503, "503 Service Unavailable", failed_over=True),
        LegResult("b", 200, "answered", failed_over=False),
    )
    worked = result(CallStatus.SUCCESS, t38_refused=488, bit_rate=9600, legs=legs)
    assert delivery.summary(worked, legs, routes) == (
        "503 on trunk a; T.38 refused with 488 on trunk b; G.711 at 9600 succeeded"
    )
    busy = result(CallStatus.BUSY, sip_code=486, legs=(LegResult("b", 486, "486 Busy Here", False),))
    assert delivery.summary(busy, busy.legs, routes) == "busy (486) on trunk b"
    cut = result(CallStatus.PARTIAL, t38=True, bit_rate=14400, pages=1, pages_expected=3, t30_text="x")
    assert delivery.summary(cut, ()) == "T.38 at 14400 sent 1 of 3 pages, then failed: x"
    # Where learned delivery changed the route, the sentence says so and why.
    profiles = {"b": DeliveryProfile(t38=False, ecm=True, max_rate=9600, reason="T.38 refused with 488")}
    dropped = result(t30_text="The call dropped prematurely", legs=(legs[1],))
    assert delivery.summary(dropped, dropped.legs, routes, profiles) == (
        "G.711, at most 9600 on trunk b as learned (T.38 refused with 488);"
        " G.711 failed: The call dropped prematurely"
    )
    device = (Route("alice", device=True),)
    assert delivery.summary(result(CallStatus.NO_ANSWER, sip_code=480), (), device) == (
        "no answer on device alice"
    )


async def test_learned_keeps_what_the_attempt_taught_across_a_reopen(tmp_path: Path) -> None:
    routes = (Route("a", t38=T38Policy.T38), Route("b", t38=T38Policy.T38))
    legs = (LegResult("a", 503, "503", failed_over=True), LegResult("b", 200, "answered", False))
    store = Store(tmp_path / "faxgw.sqlite")
    await store.open()
    try:
        first = await delivery.Learned.load(store, DESTINATION, routes, memory_days=30)
        assert first.routes == routes
        story = await first.learn(result(t38_refused=488, t30_code=T30Error.CALLDROPPED, legs=legs))
        assert story.startswith("503 on trunk a; T.38 refused with 488 on trunk b; G.711 failed")
    finally:
        await store.close()
    store = Store(tmp_path / "faxgw.sqlite")
    await store.open()
    try:
        second = await delivery.Learned.load(store, DESTINATION, routes, memory_days=30)
        # Trunk a failed as a trunk: nothing learned about the destination there; b goes G.711 now.
        assert [route.t38 for route in second.routes] == [T38Policy.T38, T38Policy.AUDIO]
        assert (await store.delivery_profiles(DESTINATION, ["b"]))["b"].failures == 1
        other = await delivery.Learned.load(store, "+15550111", routes, memory_days=30)
        assert other.routes == routes  # another number learned nothing from this one
        # A step down older than the memory is tried again (the failures stay counted).
        forgetful = await delivery.Learned.load(store, DESTINATION, routes, memory_days=-1)
        assert forgetful.routes == routes and forgetful.profiles["b"].failures == 1
    finally:
        await store.close()
