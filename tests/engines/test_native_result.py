"""The native engine reports the SIP stack's outcome whole: every fact a ``FaxOutcome`` and a ``CallResult``
share crosses, so the job layer sees what the stack saw (a refused T.38 offer among them)."""

from __future__ import annotations

from dataclasses import fields

from faxgw.gateway.engines import CallStatus
from faxgw.gateway.engines.base import CallResult
from faxgw.gateway.engines.native import _result
from faxgw.sip.fax_call import FaxOutcome


def test_every_shared_field_crosses() -> None:
    outcome = FaxOutcome(
        status=CallStatus.PARTIAL,
        sip_code=200,
        hangup_cause="remote_bye",
        t30_code=49,
        t30_text="The call dropped prematurely",
        pages=2,
        pages_expected=3,
        t38=False,
        bit_rate=9600,
        ecm=True,
        remote_ident="+1 555 0199",
        call_id="abc@127.0.0.1",
        t38_refused=488,
        audio_packets_in=7,
        t38_packets_in=0,
    )
    result = _result(outcome)
    shared = {field.name for field in fields(CallResult)} & {field.name for field in fields(FaxOutcome)}
    assert "t38_refused" in shared
    for name in shared:
        assert getattr(result, name) == getattr(outcome, name), name
