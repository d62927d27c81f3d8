"""Inbound routes' DIDs as Asterisk dialplan extensions.

A route's ``did`` is an exact number or a Python regex (starting with ``^``, matched in full). Asterisk
extensions are literal numbers or patterns (``_`` then digits, ``X`` ``Z`` ``N``, ``[1-5]`` classes,
``.`` one or more characters, ``!`` zero or more). A regex becomes a pattern that matches *at least*
every number the regex does: where the regex says more than a pattern can (alternation, optional
parts, repeats), the pattern stops at that point and ends in ``!``. Asterisk then passes a few calls too
many; the gateway checks every call against its routes again and hangs up the ones no route wants.
Letting a wanted call get 404 would be the worse mistake.
"""

from __future__ import annotations

import re

from faxgw.gateway.config import ConfigError

#: Literal DIDs: the characters a dialled number has. Letters are out: in a pattern they could be
#: wildcards, and "s", "h", "i", "t" are extensions with a meaning of their own.
EXACT_DID = re.compile(r"\+?[0-9*#]+")

#: Every number a route could want, for a regex nothing of which can be said as a pattern.
CATCH_ALL = "_[+0-9*#]!"

_LITERALS = {r"\+": "+", r"\*": "*", r"\#": "#", "#": "#"}
_CLASS = re.compile(r"\[([0-9+*#-]+)\]")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


def extension(did: str) -> str:
    """The extension (literal or ``_`` pattern) for one route's ``did``; ConfigError if unusable."""
    if not did.startswith("^"):
        if not EXACT_DID.fullmatch(did):
            raise ConfigError(
                f"route did {did!r}: use digits (with a leading +, * or #) or a regex starting with ^"
            )
        return did
    try:
        re.compile(did)
    except re.error as error:
        raise ConfigError(f"route did {did!r}: not a valid regex ({error})") from None
    return regex_pattern(did)


def regex_pattern(regex: str) -> str:
    """An Asterisk pattern matching every string ``re.fullmatch(regex, s)`` matches (perhaps more)."""
    body = regex[1:] if regex.startswith("^") else regex
    if _top_level_alternation(body):
        return CATCH_ALL
    atoms: list[str] = []
    pos = 0
    while pos < len(body):
        if body[pos] == "$" and pos == len(body) - 1:
            break  # the end: the pattern is exact
        atom, pos = _atom(body, pos)
        if atom is None:
            return _pattern(atoms, open_end=True)
        kind, minimum, pos = _quantifier(body, pos)
        atoms.extend([atom] * minimum)
        if kind == "open":
            return _pattern(atoms, open_end=True)  # optional or repeated: "anything from here"
    return _pattern(atoms, open_end=False)  # without $ as well: fullmatch anchors the end anyway


def _pattern(atoms: list[str], open_end: bool) -> str:
    if not atoms:
        return CATCH_ALL
    return "_" + "".join(atoms) + ("!" if open_end else "")


def _atom(body: str, pos: int) -> tuple[str | None, int]:
    """One character position the pattern can say exactly, or None at anything else."""
    char = body[pos]
    if char.isdigit() or char == "#":
        return char, pos + 1
    pair = body[pos : pos + 2]
    if pair == r"\d":
        return "X", pos + 2
    if pair in _LITERALS:
        return _LITERALS[pair], pos + 2
    if char == "[":
        match = _CLASS.match(body, pos)
        if match and _valid_class(match.group(1)):
            return match.group(0), match.end()
    return None, pos


def _valid_class(inside: str) -> bool:
    """Ranges only between digits, and no leading or trailing "-" that Asterisk would read otherwise."""
    if inside.startswith("-") or inside.endswith("-"):
        return False
    return all(a.isdigit() and b.isdigit() and a <= b for a, b in re.findall(r"(.)-(.)", inside))


def _quantifier(body: str, pos: int) -> tuple[str, int, int]:
    """(exact | open, how many times the atom surely occurs, position after the quantifier)."""
    if pos >= len(body):
        return "exact", 1, pos
    char = body[pos]
    if char in "?*":
        return "open", 0, pos + 1
    if char == "+":
        return "open", 1, pos + 1
    match = _REPEAT.match(body, pos)
    if match:
        low = int(match.group(1))
        if match.group(2) is None:
            return "exact", low, match.end()
        return "open", low, match.end()
    return "exact", 1, pos


def _top_level_alternation(body: str) -> bool:
    """Whether a "|" outside any group or class splits the whole regex: then no prefix is common."""
    depth, in_class, escaped = 0, False, False
    for char in body:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False
