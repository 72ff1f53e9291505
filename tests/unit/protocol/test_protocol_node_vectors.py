"""Vectors for the node's rules (DESIGN.md, "XenBlocks rules"), as the platform applies them:
XUNI looked for first and judged at arrival, the block pattern next, superblocks by their
capitals, and the difficulty gate (m at least the network's; no upper limit at the node, a
sanity cap at ours)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.logic.network import DifficultyRule, observe
from protocol.xenblocks import BlockKind, BlockRules, classify

RULES = BlockRules()  # the network's: XEN11, XUNI[0-9], windows 0-4 and 55-59


def _hash(marker: str, capitals: int = 0) -> str:
    text = marker + "Q" * capitals
    return text + "a1+/" * ((86 - len(text)) // 4) + "z" * ((86 - len(text)) % 4)


def _at(minute: int, second: int = 0) -> datetime:
    return datetime(2025, 11, 21, 9, minute, second, tzinfo=UTC)


# (marker, capitals, arrival minute:second, kind, reason)
VECTORS = [
    ("XEN11", 0, (30, 0), BlockKind.NORMAL, "normal"),
    ("XEN11", 0, (2, 0), BlockKind.NORMAL, "normal"),  # blocks count at any minute
    ("XEN11", 47, (30, 0), BlockKind.SUPER, "super"),  # 3 + 47 = 50 capitals
    ("XEN11", 46, (30, 0), BlockKind.NORMAL, "normal"),
    ("XUNI0", 0, (0, 0), BlockKind.XUNI, "xuni"),
    ("XUNI9", 0, (4, 59), BlockKind.XUNI, "xuni"),
    ("XUNI5", 0, (5, 0), None, "xuni_outside_window"),
    ("XUNI5", 0, (54, 59), None, "xuni_outside_window"),
    ("XUNI5", 0, (55, 0), BlockKind.XUNI, "xuni"),
    ("XUNI5", 0, (59, 59), BlockKind.XUNI, "xuni"),
    # XUNI precedence: the node looks for XUNI first, XEN11 in the same hash notwithstanding.
    ("XEN11XUNI3", 0, (1, 0), BlockKind.XUNI, "xuni"),
    ("XEN11XUNI3", 0, (30, 0), None, "xuni_outside_window"),
    ("XUNI3XEN11", 60, (30, 0), None, "xuni_outside_window"),  # not a superblock either
    ("XUNIx", 0, (1, 0), None, "no_block_pattern"),  # XUNI needs a digit
    ("XEN1", 0, (30, 0), None, "no_block_pattern"),
    ("xen11", 0, (30, 0), None, "no_block_pattern"),
]


@pytest.mark.parametrize(("marker", "capitals", "arrival", "kind", "reason"), VECTORS)
def test_the_nodes_classification(
    marker: str, capitals: int, arrival: tuple[int, int], kind: BlockKind | None, reason: str
) -> None:
    result = classify(_hash(marker, capitals), _at(*arrival), RULES)
    assert (result.kind, result.reason) == (kind, reason)


def test_xuni_is_judged_at_arrival_not_when_found() -> None:
    # Found at 09:04:50, arriving at 09:05:05: the node refuses it.
    assert classify(_hash("XUNI1"), _at(5, 5), RULES).kind is None
    # Found at 08:54:50, arriving at 08:55:05 (minute 55): XUNI.
    assert classify(_hash("XUNI1"), _at(55, 5), RULES).kind is BlockKind.XUNI


# The difficulty gate: (network reads as (value, at), found_at, memory cost, accepted?)
GATES = [
    ([(1727, 0)], 100, 1727, True),  # m equal to the network's
    ([(1727, 0)], 100, 1726, False),
    ([(1727, 0)], 100, 5000, True),  # above: the node has no upper limit
    ([(1727, 0)], 100, 4 * 1727, True),  # our cap: 4x the highest recent value
    ([(1727, 0)], 100, 4 * 1727 + 1, False),
    ([(1727, 0), (1727, 60), (2727, 120)], 150, 1727, True),  # 120 s of grace after a rise
    ([(1727, 0), (1727, 60), (2727, 120)], 240, 1727, False),  # the grace is over
    ([(2727, 0), (2727, 60), (727, 120)], 70, 727, True),  # a drop may date from the last read
    ([(2727, 0), (2727, 60), (727, 120)], 59, 727, False),  # before it, 2727 held
]


@pytest.mark.parametrize(("reads", "found_at", "memory_cost", "accepted"), GATES)
def test_the_difficulty_gate(
    reads: list[tuple[int, int]], found_at: int, memory_cost: int, accepted: bool
) -> None:
    state = None
    for value, at in reads:
        state = observe(state, value, at, fallback=1727)
    assert state is not None
    rule = DifficultyRule(state, grace=120)
    ok = rule.required(found_at) <= memory_cost <= rule.cap
    assert ok is accepted
