"""Bounds on JSON from outside, checked before it is parsed: nesting depth, and the process's
recursion limit.

CPython's ``json`` parser recurses once per nesting level, and 100,000 nested arrays fit in
200 KB. Under the interpreter's default recursion limit (1,000) such a document is a
``RecursionError``; but ``py_ecc`` (imported by ``eth_account``) raises the limit to 100,000
when it is imported, and then the same document overflows the C stack: a segfault that
takes the whole process with it (a warm Lambda, or ``xenblocks local`` with everything it
runs). So every reader of outside JSON refuses deep documents first, with a linear scan
that does not recurse, and every importer of ``eth_account`` puts the limit back.
"""

from __future__ import annotations

import re
import sys

# No message of ours nests deeper than a handful of levels (a heartbeat's GPU list: 3).
MAX_JSON_DEPTH = 32
# The interpreter's own default: deep enough for every library we run, shallow enough that
# runaway recursion is a RecursionError rather than a C stack overflow.
SAFE_RECURSION_LIMIT = 1000

# What changes the scan's state: quotes, backslashes (inside strings) and brackets.
_STRUCTURAL = re.compile(rb'[\\"\[\]{}]')
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS = frozenset(b"[{")


class TooDeep(ValueError):
    """A JSON document nests deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nests deeper than {max_depth} levels")
        self.max_depth = max_depth


def json_depth_exceeds(document: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``document`` opens more than ``max_depth`` arrays or objects inside each other.

    Brackets inside strings do not count. The scan is linear and stops at the first level
    too deep; it does not check that the document is valid JSON (the parser does that).
    """
    data = document.encode() if isinstance(document, str) else document
    depth = 0
    in_string = False
    escaped_until = -1  # the character after a backslash in a string is taken as it is
    for match in _STRUCTURAL.finditer(data):
        position = match.start()
        if position < escaped_until:
            continue
        char = data[position]
        if in_string:
            if char == _BACKSLASH:
                escaped_until = position + 2
            elif char == _QUOTE:
                in_string = False
        elif char == _QUOTE:
            in_string = True
        elif char in _OPENERS:
            depth += 1
            if depth > max_depth:
                return True
        elif char != _BACKSLASH:
            depth -= 1
    return False


def check_json_depth(document: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``TooDeep`` when ``document`` nests deeper than ``max_depth``."""
    if json_depth_exceeds(document, max_depth):
        raise TooDeep(max_depth)


def restore_recursion_limit() -> None:
    """Put the recursion limit back after an import that raised it (``py_ecc`` does).

    Call it right after importing ``eth_account``; it never raises a lower limit.
    """
    if sys.getrecursionlimit() > SAFE_RECURSION_LIMIT:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
