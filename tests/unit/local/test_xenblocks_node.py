"""The local XenBlocks node judges ``/verify`` as the reference node does, check by check and
in its order; its difficulty moves when told; its reads and faults. No sockets: the node's
``handle``/``verify`` are called directly."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.local import xenblocks_node
from functions.local.xenblocks_node import (
    ALREADY_EXISTS,
    HASH_FAILED,
    INVALID_KEY,
    INVALID_SALT,
    MISSING_FIELDS,
    SAVED,
    XUNI_LATE,
    XUNI_OUTSIDE,
    AutoDifficulty,
    Fault,
    NodeRules,
    NodeStore,
    XenBlocksNode,
    is_superblock,
    salt_is_valid,
)
from miner.network import verify_body
from protocol.addresses import salt_bytes
from protocol.xenblocks import argon2_raw, b64_nopad
from tests.factories import PROVIDER, RENTER
from tools.cli import build_parser

# Easy patterns so blocks, XUNI and both at once are mined in milliseconds at 8 KiB.
EASY = NodeRules(block_pattern="XE", xuni_pattern=r"Y[0-9]")
TRIES = 200_000


class Clock:
    def __init__(self, minute: int = 30) -> None:
        self.now = at_minute(minute)

    def __call__(self) -> float:
        return self.now


def at_minute(minute: int, second: int = 0) -> float:
    return datetime(2025, 6, 1, 12, minute, second, tzinfo=UTC).timestamp()


def node_at(minute: int = 30, *, rules: NodeRules = EASY, difficulty: int = 8) -> XenBlocksNode:
    return XenBlocksNode(difficulty=difficulty, rules=rules, clock=Clock(minute))


def mined(
    accept: Callable[[str], bool],
    *,
    difficulty: int = 8,
    address: str = PROVIDER,
    key_chars: int = 64,
    upper: bool = False,
) -> dict[str, Any]:
    """A /verify body (as the rig's client sends it) for a hash ``accept`` likes."""
    salt = salt_bytes(address)
    for _ in range(TRIES):
        key = secrets.token_hex(key_chars // 2)
        key = key.upper() if upper else key
        raw = argon2_raw(key, salt, difficulty)
        if accept(b64_nopad(raw)):
            return verify_body(
                hash_raw=raw,
                salt=salt,
                difficulty=difficulty,
                key=key,
                account=address,
                attempts=1000,
                hashes_per_second=123.456,
                worker="rig-1",
            )
    raise AssertionError("nothing mined; is the pattern too hard?")


def block(hash_b64: str) -> bool:
    return (
        "XE" in hash_b64
        and not any(f"Y{d}" in hash_b64 for d in range(10))
        and not (is_superblock(hash_b64, EASY))
    )


def xuni(hash_b64: str) -> bool:
    return any(f"Y{d}" in hash_b64 for d in range(10)) and "XE" not in hash_b64


def both(hash_b64: str) -> bool:
    return "XE" in hash_b64 and any(f"Y{d}" in hash_b64 for d in range(10))


def synthetic(tail: str, *, memory: int = 8, salt: str = "q6urq6urq6urq6urq6urq6urq6s") -> str:
    """An encoded hash that is no real Argon2 output: for the checks before Argon2."""
    digest = (tail + "A" * 86)[:86]
    return f"$argon2id$v=19$m={memory},t=1,p=1${salt}${digest}"


def body_of(hash_to_verify: str, **fields: Any) -> dict[str, Any]:
    return {"hash_to_verify": hash_to_verify, "key": "ab" * 32, "account": PROVIDER, **fields}


def answer(node: XenBlocksNode, body: Any) -> tuple[int, Any]:
    result = node.verify(body)
    return result.status, result.body


# -- /verify, check by check ---------------------------------------------------------------


def test_a_mined_block_is_saved_and_readable_as_the_explorer_shows_it():
    node = node_at()
    body = mined(block)
    assert answer(node, body) == (200, {"message": SAVED})
    entry = node.leaderboard_entry(PROVIDER.lower())
    assert entry is not None
    assert entry["account"] == PROVIDER  # checksummed, as the explorer shows it
    assert (entry["blocks"], entry["superBlocks"], entry["xuni"], entry["rank"]) == (1, 0, 0, 1)
    assert entry["xnm"] == 10 * 10**18
    assert entry["hashRate"] == 123.46
    stored = node.handle("GET", f"/get_block?key={body['key']}")
    assert stored.status == 200
    assert stored.body["hash_to_verify"] == body["hash_to_verify"]
    assert stored.body["account"] == PROVIDER.lower()  # the node keeps it lower-cased
    assert stored.body["created_at"] == "2025-06-01 12:30:00"


def test_128_hex_and_uppercase_keys_are_accepted():
    node = node_at()
    long_key = mined(block, key_chars=128)
    assert len(long_key["key"]) == 128
    assert answer(node, long_key) == (200, {"message": SAVED})
    upper = mined(block, upper=True)
    assert upper["key"].isupper()
    assert answer(node, upper) == (200, {"message": SAVED})


@pytest.mark.parametrize(
    "key",
    ["a" * 129, "xyz" * 10, "0x" + "ab" * 31, "ab cd", 12345, ["ab"]],
    ids=["129 chars", "not hex", "0x prefix", "space", "number", "list"],
)
def test_a_key_that_is_no_hex_of_128_or_fewer_characters_is_refused_first(key):
    node = node_at()
    # Its salt is bad too and its account missing: the key is checked before either.
    body = {"hash_to_verify": "$argon2id$nonsense", "key": key}
    assert answer(node, body) == (400, {"error": INVALID_KEY})


@pytest.mark.parametrize(
    "hash_to_verify",
    [
        synthetic("XE", salt="q6urq6urq6urq6urq6urq6urq6"),  # 26 characters
        synthetic("XE", salt="q6urq6urq6urq6urq6urq6urq6s="),  # padded
        synthetic("XE", salt="q6urq6urq6urq6urq6urq6urq6-"),  # not base64
        "$argon2id$v=19$m=8,t=1,p=1$q6urq6urq6urq6urq6urq6urq6s",  # five fields
        "$argon2id$v=19$m=8,t=1,p=1$q6urq6urq6urq6urq6urq6urq6s$XE$XE",  # seven
        12345,
    ],
)
def test_a_salt_that_is_no_address_is_refused(hash_to_verify):
    node = node_at()
    assert answer(node, body_of(hash_to_verify, account=None)) == (400, {"error": INVALID_SALT})


def test_the_salt_check_knows_addresses_and_the_first_salt():
    assert salt_is_valid(mined(block)["hash_to_verify"])
    assert salt_is_valid(synthetic("XE", salt="WEVOMTAwODIwMjJYRU4"))  # "XEN10082022XEN"
    assert not salt_is_valid(synthetic("XE", salt="WEVOMTAwODIwMjJYRU5"))


@pytest.mark.parametrize("missing", ["hash_to_verify", "key", "account"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_a_missing_field_is_refused(missing, how):
    node = node_at()
    body = body_of(synthetic("XE"))
    if how == "absent":
        del body[missing]
    else:
        body[missing] = ""
    assert answer(node, body) == (400, {"error": MISSING_FIELDS})


def test_an_account_over_43_characters_counts_as_missing():
    node = node_at()
    body = body_of(synthetic("XE"), account="0x" + "a" * 42)
    assert answer(node, body) == (400, {"error": MISSING_FIELDS})


def test_a_memory_cost_below_the_difficulty_is_refused_with_the_nodes_words():
    node = node_at(difficulty=16)
    status, body = answer(node, mined(block, difficulty=8))
    assert status == 401
    assert body == {
        "message": "Hash does not contain 'm=16'. Your memory_cost setting in your miner"
        " will be autoadjusted."
    }


def test_a_memory_cost_above_the_difficulty_is_fine():
    node = node_at(difficulty=8)
    assert answer(node, mined(block, difficulty=24)) == (200, {"message": SAVED})


@pytest.mark.parametrize("minute", [0, 4, 55, 59])
def test_xuni_in_the_window_is_stored_as_xuni(minute):
    node = node_at(minute)
    body = mined(xuni)
    assert answer(node, body) == (200, {"message": SAVED})
    entry = node.leaderboard_entry(PROVIDER)
    assert entry is not None
    assert (entry["blocks"], entry["xuni"]) == (0, 10**18)
    counts = node.handle("GET", "/get_xuni_counts").body
    assert counts == [{"account": PROVIDER.lower(), "count": 1}]


@pytest.mark.parametrize("minute", [5, 30, 54])
def test_xuni_outside_the_window_is_refused(minute):
    node = node_at(minute)
    assert answer(node, mined(xuni)) == (401, {"message": XUNI_OUTSIDE})


def test_xuni_outside_the_window_is_refused_before_the_rest_with_the_networks_pattern():
    node = node_at(30, rules=NodeRules())  # XEN11, XUNI[0-9]
    # XEN11 and XUNI both: still refused (and the hash would not even verify).
    forged = body_of(synthetic("XEN11XUNI7"))
    assert answer(node, forged) == (401, {"message": XUNI_OUTSIDE})


def test_a_block_that_is_also_xuni_is_refused_outside_the_window():
    node = node_at(30)
    assert answer(node, mined(both)) == (401, {"message": XUNI_OUTSIDE})


def test_a_block_that_is_also_xuni_is_stored_as_xuni_inside_the_window():
    node = node_at(57)
    assert answer(node, mined(both)) == (200, {"message": SAVED})
    entry = node.leaderboard_entry(PROVIDER)
    assert entry is not None
    assert (entry["blocks"], entry["xuni"]) == (0, 10**18)


def test_xuni_verified_as_the_window_closes_is_refused(monkeypatch):
    # The reference reads the clock twice: for the window check and again to store.
    clock = Clock()
    clock.now = at_minute(4, 59)
    node = XenBlocksNode(difficulty=8, rules=EASY, clock=clock)
    verify = xenblocks_node.argon2_matches

    def slow_verify(*args: Any) -> bool:
        clock.now = at_minute(5)  # the window closes while Argon2 runs
        return verify(*args)

    monkeypatch.setattr(xenblocks_node, "argon2_matches", slow_verify)
    assert answer(node, mined(xuni)) == (401, {"message": XUNI_LATE})


def test_a_hash_with_no_target_in_its_last_87_characters_is_refused():
    node = node_at(rules=NodeRules())
    status, body = answer(node, body_of(synthetic("ABCDEF")))
    assert status == 401
    assert body == {
        "message": "Hash does not contain any of the valid targets ['XEN11'] in the last 87"
        " characters. Adjust target_substr in your miner."
    }


def test_a_hash_over_150_characters_is_refused_after_the_target_check():
    node = node_at(rules=NodeRules())
    too_long = body_of(synthetic("A") + "A" * 35 + "XEN11")
    assert len(too_long["hash_to_verify"]) > 150
    status, body = answer(node, too_long)
    assert (status, body["message"][:9]) == (401, "Length of")


@pytest.mark.parametrize(
    "forge",
    [
        lambda body: {**body, "key": ("1" if body["key"][0] == "0" else "0") + body["key"][1:]},
        lambda body: {**body, "key": body["key"].upper()},  # the key in other letters
        lambda body: {**body, "hash_to_verify": body["hash_to_verify"][:-1] + "Q"},
        lambda body: {**body, "hash_to_verify": body["hash_to_verify"].replace("m=8,", "m=9,")},
        lambda body: {**body, "hash_to_verify": body["hash_to_verify"].replace("t=1", "t=2")},
    ],
    ids=["key", "key case", "hash", "memory", "time cost"],
)
def test_a_forged_hash_is_refused(forge):
    node = node_at()
    body = mined(lambda h: block(h) and not h.endswith("Q"))
    assert answer(node, forge(body)) == (401, {"message": HASH_FAILED})


def test_a_memory_cost_over_the_local_limit_is_not_allocated():
    node = node_at()
    body = body_of(synthetic("XE", memory=2**22 + 1))
    assert answer(node, body) == (401, {"message": HASH_FAILED})


def test_a_key_already_stored_is_refused_as_the_node_words_it():
    node = node_at()
    body = mined(block)
    assert answer(node, body)[0] == 200
    assert answer(node, body) == (400, {"message": ALREADY_EXISTS})
    # The key is what is unique: the same key for another account is a duplicate too.
    assert answer(node, {**body, "account": RENTER}) == (400, {"message": ALREADY_EXISTS})


def test_a_superblock_is_counted():
    rules = NodeRules(block_pattern="X", xuni_pattern="#")  # "#" is never in base64
    node = node_at(rules=rules)
    body = mined(lambda h: "X" in h and is_superblock(h, rules))
    assert answer(node, body) == (200, {"message": SAVED})
    entry = node.leaderboard_entry(PROVIDER)
    assert entry is not None
    assert (entry["blocks"], entry["superBlocks"], entry["xblk"]) == (1, 1, 10**18)
    assert node.handle("GET", f"/get_super_blocks/{PROVIDER}").body == {
        "account": PROVIDER,
        "super_blocks": 1,
    }
    rows = node.handle("GET", f"/blocks?account={PROVIDER}").body["items"]
    assert [row["kind"] for row in rows] == ["super"]


def test_superblocks_are_50_capitals_in_the_last_segment():
    rules = NodeRules()
    assert is_superblock("$x$" + "A" * 50 + "a" * 36, rules)
    assert not is_superblock("A" * 60 + "$" + "A" * 49 + "a" * 37, rules)


def test_the_account_is_lower_cased_and_stripped_of_quotes():
    node = node_at()
    body = mined(block)
    assert answer(node, {**body, "account": f"'{PROVIDER}'"})[0] == 200
    assert node.store.count_blocks(PROVIDER.lower()) == 1


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"[" * 100 + b"]" * 100, b""])
def test_a_body_that_is_no_json_object_is_refused(raw):
    result = node_at().handle("POST", "/verify", raw)
    assert result.status == 400


# -- the difficulty ------------------------------------------------------------------------


def test_the_difficulty_is_published_as_a_string():
    node = node_at(difficulty=1727, rules=NodeRules())
    assert node.handle("GET", "/difficulty").body == {"difficulty": "1727"}
    assert node.handle("GET", f"/difficulty/{PROVIDER}").body == {"difficulty": "1727"}


def test_a_scripted_schedule_moves_the_difficulty_at_its_times():
    clock = Clock()
    node = XenBlocksNode(difficulty=8, rules=EASY, clock=clock)
    node.schedule_difficulty([(10, 100), (20, 50), (0, 16)])
    assert node.difficulty.current() == 16  # due now
    clock.now += 9
    assert node.handle("GET", "/difficulty").body == {"difficulty": "16"}
    clock.now += 1
    assert node.difficulty.current() == 100
    clock.now += 15
    assert node.difficulty.current() == 50
    assert node.difficulty.pending() == []
    # A submission is judged at the difficulty of its moment.
    node.schedule_difficulty([(5, 4096)])
    assert node.difficulty.current() == 50
    clock.now += 5
    status, _ = answer(node, mined(block, difficulty=64))
    assert status == 401


def test_setting_the_difficulty_pins_it_and_drops_the_schedule():
    clock = Clock()
    node = XenBlocksNode(difficulty=8, rules=EASY, clock=clock)
    node.schedule_difficulty([(10, 100)])
    node.set_difficulty(32)
    clock.now += 60
    assert node.difficulty.current() == 32
    with pytest.raises(ValueError, match="difficulty"):
        node.set_difficulty(7)
    with pytest.raises(ValueError, match="seconds"):
        node.schedule_difficulty([(-1, 100)])


@pytest.mark.parametrize(
    ("rate", "in_window", "after"),
    [
        (85, False, 6000),  # over 84 a minute: +1000
        (84, False, 5000),
        (61, False, 5000),
        (60, False, 3000),  # under 61 outside the XUNI window: -2000
        (60, True, 5000),  # inside it the bound is 56
        (55, True, 3000),
    ],
)
def test_the_reference_steps(rate, in_window, after):
    assert AutoDifficulty().next_level(5000, rate, in_window) == after


def test_the_reference_steps_never_go_under_the_floor():
    assert AutoDifficulty().next_level(1500, 10, False) == 100
    assert AutoDifficulty(floor=8).next_level(1500, 10, False) == 8


def _store_blocks(node: XenBlocksNode, count: int, every_seconds: float) -> None:
    start = node.clock()
    for index in range(count):
        node.store.add(
            "blocks",
            hash_to_verify=f"h{index}",
            key=f"{index:064x}",
            account=PROVIDER.lower(),
            at=datetime.fromtimestamp(start + index * every_seconds, UTC),
            superblock=False,
            hashes_per_second=None,
        )


def test_automatic_steps_follow_the_block_rate_when_turned_on():
    clock = Clock(30)
    node = XenBlocksNode(difficulty=5000, rules=EASY, clock=clock)
    _store_blocks(node, 300, 0.5)  # 120 blocks a minute
    node.tick()
    assert node.difficulty.current() == 5000  # off by default
    node.enable_auto(AutoDifficulty(every_seconds=300))
    clock.now += 299
    node.tick()
    assert node.difficulty.current() == 5000
    clock.now += 1
    node.tick()
    assert node.difficulty.current() == 6000
    node.reset()
    _store_blocks(node, 10, 60)  # 1 a minute
    assert node.step_difficulty() == (1, 4000)


def test_no_rate_no_step():
    node = node_at(difficulty=5000)
    assert node.step_difficulty() == (None, 5000)


# -- reads ---------------------------------------------------------------------------------


def test_the_explorer_reads():
    node = node_at(57)
    for _ in range(2):
        assert answer(node, mined(block))[0] == 200
    assert answer(node, mined(block, address=RENTER))[0] == 200
    assert answer(node, mined(xuni, address=RENTER))[0] == 200
    board = node.handle("GET", "/v1/leaderboard").body
    assert [(m["account"], m["blocks"], m["xuni"]) for m in board["miners"]] == [
        (PROVIDER, 2, 0),
        (RENTER, 1, 10**18),
    ]
    assert board["totalBlocks"] == 3
    assert board["totalMiners"] == 2
    assert board["difficulty"] == "8"
    assert board["totalXnm"] == 3 * 10 * 10**18
    assert board["totalXuni"] == 10**18
    assert node.handle("GET", "/v1/leaderboard?limit=1&offset=1").body["miners"][0]["rank"] == 2
    assert node.handle("GET", "/v1/leaderboard?require_sol_address=1").body["miners"] == []
    assert node.handle("GET", "/leaderboard").headers["Location"] == "/v1/leaderboard"
    assert node.handle("GET", f"/v1/leaderboard/{RENTER}").body["rank"] == 2
    missing = node.handle("GET", f"/v1/leaderboard/0x{'1' * 40}")
    assert (missing.status, missing.body) == (404, {"error": "Account not found"})
    balance = node.handle("GET", f"/get_balance/{PROVIDER}").body
    assert balance == {"account": PROVIDER, "balance": 20}
    assert node.handle("GET", "/total_blocks").body == {"total_blocks_top100": 3}
    assert node.handle("GET", f"/total_blocks2?account={RENTER.lower()}").body == {
        "total_blocks": 1
    }
    listing = node.handle("GET", f"/blocks?account={RENTER}").body
    assert listing["total"] == 2
    assert sorted(row["kind"] for row in listing["items"]) == ["normal", "xuni"]
    assert node.handle("GET", "/health").body == "ok"


@pytest.mark.parametrize(
    ("target", "status", "error"),
    [
        ("/get_block", 400, "Please provide a key"),
        ("/get_block?key=abc", 400, "Invalid key provided"),
        (f"/get_block?key={'a' * 64}", 404, "Data not found for provided key"),
        (f"/get_balance/{PROVIDER}", 404, "No record found for the provided account"),
        ("/total_blocks2", 400, "Missing account"),
        ("/blocks", 400, "Missing account"),
        ("/no/such/page", 404, "Not Found"),
    ],
)
def test_reads_that_find_nothing(target, status, error):
    result = node_at().handle("GET", target)
    assert (result.status, result.body) == (status, {"error": error})


def test_a_wrong_method_is_405():
    assert node_at().handle("GET", "/verify").status == 405
    assert node_at().handle("POST", "/difficulty").status == 405


def test_blocks_survive_a_restart_in_a_sqlite_file(tmp_path: Path):
    path = tmp_path / "node.sqlite3"
    node = XenBlocksNode(difficulty=8, rules=EASY, store=NodeStore(path), clock=Clock())
    body = mined(block)
    assert answer(node, body)[0] == 200
    node.store.close()
    again = XenBlocksNode(difficulty=8, rules=EASY, store=NodeStore(path), clock=Clock())
    assert answer(again, body) == (400, {"message": ALREADY_EXISTS})
    again.store.close()


# -- faults and the controls ----------------------------------------------------------------


def test_the_next_n_requests_to_a_path_answer_an_injected_5xx():
    node = node_at()
    node.faults.inject(Fault("/verify", "error", count=2, status=503, retry_after=3))
    body = json.dumps(mined(block)).encode()
    for _ in range(2):
        failed = node.handle("POST", "/verify", body)
        assert (failed.status, failed.headers) == (503, {"Retry-After": "3"})
    assert node.handle("GET", "/difficulty").status == 200  # another path: untouched
    assert node.handle("POST", "/verify", body).status == 200


def test_hang_slow_and_drop():
    node = node_at()
    node.faults.inject(Fault("/difficulty", "hang", seconds=12))
    node.faults.inject(Fault("*", "slow", seconds=2))
    node.faults.inject(Fault("*", "drop"))
    hung = node.handle("GET", "/difficulty")
    assert (hung.drop, hung.delay) == (True, 12)
    slow = node.handle("GET", "/difficulty?x=1")
    assert (slow.status, slow.delay, slow.drop) == (200, 2, False)
    assert slow.body == {"difficulty": "8"}
    assert node.handle("GET", "/_local/state").status == 200  # the controls never fault
    dropped = node.handle("POST", "/verify", b"{}")
    assert (dropped.drop, dropped.delay) == (True, 0)
    assert node.handle("GET", "/difficulty").status == 200


@pytest.mark.parametrize(
    "options",
    [
        {"path": "/verify", "kind": "explode"},
        {"path": "/_local/state", "kind": "error"},
        {"path": "verify", "kind": "error"},
        {"path": "/verify", "kind": "error", "status": 404},
        {"path": "/verify", "kind": "error", "count": 0},
        {"path": "/verify", "kind": "hang", "seconds": 601},
        {"path": "/verify", "kind": "error", "colour": "red"},
    ],
)
def test_a_fault_that_makes_no_sense_is_refused(options):
    result = node_at().handle("POST", "/_local/faults", json.dumps(options).encode())
    assert result.status == 400


def test_the_controls_over_http_shaped_requests():
    node = node_at()

    def post(path: str, payload: Any) -> Any:
        result = node.handle("POST", path, json.dumps(payload).encode())
        assert result.status == 200, result.body
        return result.body

    assert post("/_local/difficulty", {"difficulty": 64})["difficulty"] == 64
    state = post("/_local/difficulty/schedule", {"steps": [[30, 128]]})
    assert state["schedule"] == [[30.0, 128]]
    assert post("/_local/difficulty/auto", {"every_seconds": 60, "floor": 8})["auto"]["floor"] == 8
    assert post("/_local/difficulty/auto", {"enabled": False})["auto"] is None
    assert post("/_local/difficulty/step", {}) == {"rate": None, "difficulty": 64}
    assert post("/_local/clock", {"minute": 57})["now"].startswith("2025-06-01T12:57")
    assert post("/_local/difficulty", {"difficulty": 8})["schedule"] == []
    assert answer(node, mined(xuni))[0] == 200  # XUNI's minute, by the node's clock
    post("/_local/clock", {"now": "2025-06-01T13:10:00"})  # naive: UTC
    assert answer(node, mined(xuni)) == (401, {"message": XUNI_OUTSIDE})
    post("/_local/faults", {"path": "/verify", "kind": "error"})
    assert node.handle("DELETE", "/_local/faults").body["faults"] == []
    assert post("/_local/reset", {})["blocks"] == 0
    bad = node.handle("POST", "/_local/difficulty", b'{"difficulty": "high"}')
    assert bad.status == 400


# -- the command line ----------------------------------------------------------------------


def test_xenblocks_node_and_local_options():
    node = build_parser().parse_args(
        ["node", "--port", "9000", "--difficulty", "100", "--block-pattern", "XEN1"]
    )
    assert (node.port, node.difficulty, node.block_pattern) == (9000, 100, "XEN1")
    assert (node.xuni_pattern, node.auto_difficulty, node.state_dir) == (r"XUNI[0-9]", False, None)
    local = build_parser().parse_args(["local", "--node-port", "9001"])
    assert (local.node_port, local.node) == (9001, True)
    assert build_parser().parse_args(["local", "--no-node"]).node is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["node", "--xuni-pattern", "XUNI["])
