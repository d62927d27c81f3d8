"""gateway.api.inputs: JSON bodies and integers written as text, read so that nothing a client sends makes
them raise anything but their own error."""

from __future__ import annotations

import contextlib
import json

import pytest
from faxgw.gateway.api.inputs import MAX_DEPTH, JsonBodyError, decimal, loads, lone_surrogate
from hypothesis import given
from hypothesis import strategies as st


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_as_python_reads_it() -> None:
    body = {"from": "+15550100", "to": ["+15550199"], "options": {"retry": {"count": 1}}, "x": 1.5}
    assert loads(json.dumps(body).encode()) == body
    assert loads('"\\ud83d\\ude00 \\u00e9"') == "\U0001f600 \u00e9"  # an escaped pair is one character


def test_depth_up_to_the_limit() -> None:
    assert loads(nested(MAX_DEPTH)) is not None
    for depth in (MAX_DEPTH + 1, 900, 100_000):
        with pytest.raises(JsonBodyError, match=f"deeper than {MAX_DEPTH}") as raised:
            loads(nested(depth))
        assert raised.value.pos is None


@pytest.mark.parametrize(
    ("raw", "reason", "pos"),
    [
        (b'{"a": "\\ud800"}', "lone surrogate (\\ud800)", None),
        (b'{"\\udfff": 1}', "lone surrogate (\\udfff)", None),
        (b'["\\ude00\\ud83d"]', "lone surrogate (\\ude00)", None),  # a pair backwards
        (b'"\xed\xa0\x80"', "not UTF-8", 1),  # a surrogate encoded as UTF-8 bytes
        (b'{"a": "\xff"}', "not UTF-8", 7),
        (b'{"a": NaN}', "NaN is not a JSON value", None),
        (b"[-Infinity]", "-Infinity is not a JSON value", None),
        (b"1" * 5000, "Exceeds the limit", None),
        (b'{"a": }', "Expecting value", 6),
    ],
)
def test_what_is_not_json_we_take(raw: bytes, reason: str, pos: int | None) -> None:
    with pytest.raises(JsonBodyError) as raised:
        loads(raw)
    assert reason in raised.value.msg
    assert raised.value.pos == pos
    assert isinstance(raised.value, json.JSONDecodeError)  # what FastAPI and the dialects answer as 400/422


#: Pieces of JSON, good and bad, to make texts that get further into the decoder than random bytes.
TOKENS = ["[", "]", "{", "}", '"a"', ":", ",", "1", "-0", "1e999", "NaN", '"\\ud800"', '"\\u', "true", " "]


@given(st.binary(max_size=300) | st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_random_input_raises_only_our_error(raw: bytes | str) -> None:
    with contextlib.suppress(JsonBodyError):
        loads(raw)


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())


@given(st.text(alphabet=st.characters() | SURROGATES, max_size=60))
def test_random_text_in_a_json_string(text: str) -> None:
    """Any code point, surrogates included, escaped into a JSON string: read back, or refused as ours."""
    raw = json.dumps({"k": text})
    try:
        assert loads(raw) == {"k": text}
    except JsonBodyError as error:
        assert lone_surrogate(text) is not None and "lone surrogate" in error.msg


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("007", 7), ("9" * 18, 10**18 - 1)],
)
def test_decimal(text: str, value: int) -> None:
    assert decimal(text) == value


@pytest.mark.parametrize(
    "text", ["", "\u00b2", "\u0661\u0662", "\U0001d7d7", "-1", "+1", " 1", "1_0", "1.0", "9" * 19]
)
def test_not_decimal(text: str) -> None:
    assert decimal(text) is None
