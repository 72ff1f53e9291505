"""``protocol.jsonlimits``: the depth scan agrees with the parser, and deep documents are
refused before any parser recurses into them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.jsonlimits import (
    MAX_JSON_DEPTH,
    SAFE_RECURSION_LIMIT,
    TooDeep,
    check_json_depth,
    json_depth_exceeds,
)

# The finding: 100,000 nested arrays in a 200 KB body.
CRASH_BODY = '{"address": ' + "[" * 100_000 + "]" * 100_000 + "}"


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


# Strings full of the characters the scan must not miscount: brackets, quotes, backslashes.
tricky_text = st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=8)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3)
    ),
    max_leaves=40,
)


@given(documents, st.integers(min_value=0, max_value=12))
def test_the_scan_measures_what_the_parser_builds(document, limit):
    text = json.dumps(document, ensure_ascii=False)
    assert json_depth_exceeds(text, limit) == (depth_of(document) > limit)
    assert json_depth_exceeds(text.encode(), limit) == (depth_of(document) > limit)


def test_brackets_and_escaped_quotes_inside_strings_do_not_count():
    assert not json_depth_exceeds('{"a": "[[[[[[\\"[[[[", "b": ["]]]{{{"]}', 2)
    assert json_depth_exceeds('{"a": "\\\\", "b": [[1]]}', 2)  # an escaped backslash ends


def test_the_crash_body_is_refused_at_once():
    assert json_depth_exceeds(CRASH_BODY)
    with pytest.raises(TooDeep, match=f"deeper than {MAX_JSON_DEPTH}"):
        check_json_depth(CRASH_BODY)
    check_json_depth("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)  # at the limit: fine


@pytest.mark.parametrize(
    "module",
    [
        "functions.handlers.api",
        "functions.handlers.live",
        "functions.handlers.ingest",
        "functions.handlers.jobs",
        "functions.local.stack",
        "miner.cli",
    ],
)
def test_no_entry_point_leaves_the_recursion_limit_raised(module):
    """py_ecc (under eth_account) sets 100,000 at import; every importer puts it back, so
    a runaway parse is a RecursionError, not a segfault."""
    probe = (
        f"import sys, json, {module}\n"
        "import functions.logic.siwe, miner.enrolment.keys\n"
        "from functions.local.miners import wallet_address\n"
        "wallet_address('0x' + '11' * 32)\n"
        "print(sys.getrecursionlimit())\n"
        "try:\n"
        f"    json.loads({CRASH_BODY[:12]!r} + '[' * 100000 + ']' * 100000 + '}}')\n"
        "except RecursionError:\n"
        "    print('recursion error')\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    limit, outcome = result.stdout.split("\n")[:2]
    assert int(limit) <= SAFE_RECURSION_LIMIT
    assert outcome == "recursion error"
