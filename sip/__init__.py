"""The native SIP engine: a SIP user agent with RTP and UDPTL media, and the fax engine in ``sip.fax``.

Nothing here knows about HTTP, jobs or databases. One module per protocol: ``message`` (RFC 3261
syntax), ``auth`` (digest), ``transport``, ``transaction``, ``dialog``, ``call``, ``session_timer``
(RFC 4028), ``ua``, ``sdp``, ``rtp``, ``udptl``, ``media``; ``fax_call`` runs a fax over a call.
"""
