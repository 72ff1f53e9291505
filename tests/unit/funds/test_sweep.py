"""``xenblocks sweep``: the plan worked out by hand, the inputs refused, and the runner on a
fake chain that checks every signature (the sender recovered, its nonce and gas) and mines
what it is sent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from functions.logic.deposits import ChainRpcError
from functions.logic.evm_tx import tx_hash
from functions.logic.hd_keys import deposit_address, deposit_xpub_from_seed
from protocol.addresses import to_checksum
from tools.cli import build_parser
from tools.cli import main as xenblocks
from tools.sweep import Waiter, run
from tools.sweep_plan import (
    TOP_UP_GAS,
    Action,
    BadInput,
    Fees,
    Holding,
    deposit_keys,
    parse_indexes,
    plan_sweep,
    read_private_key,
    read_seed,
)

GWEI = 10**9
SEED = bytes(range(32))
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# hardhat's account #0 (its well-known key): the gas key's account in these tests.
FUNDER_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
FUNDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FEES = Fees(base_fee=10 * GWEI, tip=1 * GWEI)  # max fee 21 gwei
LIMIT = 65_000  # a sweep's gas limit in the plan tests
NEEDED = LIMIT * 21 * GWEI  # 1_365_000 gwei
ADDRESSES = [deposit_address(deposit_xpub_from_seed(SEED), i) for i in range(4)]


def _holding(index: int = 0, **changes: Any) -> Holding:
    fields: dict[str, Any] = {
        "index": index,
        "address": ADDRESSES[index],
        "units": 500 * 10**6,
        "gas_wei": 0,
        "gas_limit": LIMIT,
    }
    fields.update(changes)
    return Holding(**fields)


# -- the plan --------------------------------------------------------------------------------


def test_fees_offer_twice_the_base_fee_and_the_tip() -> None:
    assert FEES.max_fee == 21 * GWEI


def test_an_address_with_its_gas_is_swept_as_it_is() -> None:
    [step] = plan_sweep([_holding(gas_wei=NEEDED)], FEES, min_units=1, funder_balance=None)
    assert (step.action, step.gas_needed, step.top_up) == (Action.SWEEP, NEEDED, 0)


def test_without_a_gas_key_an_address_lacking_gas_is_left() -> None:
    # 1_365_000 gwei needed, none held: the shortfall and 10 % of the gas, 136_500 gwei.
    [step] = plan_sweep([_holding()], FEES, min_units=1, funder_balance=None)
    assert (step.action, step.top_up) == (Action.NEEDS_GAS, 1_501_500 * GWEI)
    assert step.left
    assert not step.sweeps


def test_a_top_up_is_the_shortfall_and_the_margin() -> None:
    held = 1_000_000 * GWEI
    [step] = plan_sweep([_holding(gas_wei=held)], FEES, min_units=1, funder_balance=10**18)
    assert (step.action, step.top_up) == (Action.TOP_UP, (365_000 + 136_500) * GWEI)
    [exact] = plan_sweep(
        [_holding(gas_wei=held)], FEES, min_units=1, funder_balance=10**18, margin_percent=0
    )
    assert exact.top_up == 365_000 * GWEI


def test_the_funder_tops_up_while_it_can_pay_in_index_order() -> None:
    # Each top-up costs the funder 1_501_500 gwei and its own gas, 21_000 × 21 = 441_000.
    each = (1_501_500 + 441_000) * GWEI
    holdings = [_holding(0), _holding(1), _holding(2, gas_wei=NEEDED)]
    steps = plan_sweep(holdings, FEES, min_units=1, funder_balance=each + each - 1)
    assert [s.action for s in steps] == [Action.TOP_UP, Action.FUNDER_SHORT, Action.SWEEP]
    steps = plan_sweep(holdings, FEES, min_units=1, funder_balance=2 * each)
    assert [s.action for s in steps] == [Action.TOP_UP, Action.TOP_UP, Action.SWEEP]


def test_small_pending_and_unestimated_addresses_are_not_swept() -> None:
    holdings = [
        _holding(0, units=0),
        _holding(1, units=9),
        _holding(2, pending=True),
        _holding(3, gas_limit=None, estimate_error="execution reverted"),
    ]
    steps = plan_sweep(holdings, FEES, min_units=10, funder_balance=10**18)
    assert [s.action for s in steps] == [
        Action.BELOW_MINIMUM,
        Action.BELOW_MINIMUM,
        Action.PENDING,
        Action.NO_ESTIMATE,
    ]
    assert [s.left for s in steps] == [False, False, True, True]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**9),
            st.integers(0, 10**16),
            st.integers(21_000, 200_000),
            st.booleans(),
        ),
        max_size=8,
    ),
    st.one_of(st.none(), st.integers(0, 10**17)),
    st.integers(0, 100),
    st.integers(0, 100 * GWEI),
    st.integers(1, 100),
)
def test_a_plan_never_overspends_and_always_funds_what_it_sends(
    rows: list[tuple[int, int, int, bool]],
    funder: int | None,
    base: int,
    tip: int,
    min_units: int,
) -> None:
    fees = Fees(base, tip)
    holdings = [
        _holding(0, units=units, gas_wei=gas, gas_limit=limit, pending=pending)
        for units, gas, limit, pending in rows
    ]
    steps = plan_sweep(holdings, fees, min_units=min_units, funder_balance=funder)
    spent = 0
    for step in steps:
        holding = step.holding
        assert holding.gas_limit is not None
        needed = holding.gas_limit * fees.max_fee
        assert (step.action is Action.BELOW_MINIMUM) == (holding.units < min_units)
        if step.action is not Action.BELOW_MINIMUM:
            assert (step.action is Action.PENDING) == holding.pending
        if step.sweeps:
            assert holding.gas_wei + step.top_up >= needed
        assert (step.action is Action.SWEEP) == (
            holding.units >= min_units and not holding.pending and holding.gas_wei >= needed
        )
        if step.action is Action.TOP_UP:
            spent += step.top_up + TOP_UP_GAS * fees.max_fee
    assert spent <= (funder or 0)


# -- inputs ------------------------------------------------------------------------------------


def test_indexes_are_ranges_and_numbers_sorted_once() -> None:
    assert parse_indexes("5,0-2, 4,1") == [0, 1, 2, 4, 5]
    assert parse_indexes("2147483647") == [2**31 - 1]


@pytest.mark.parametrize("text", ["", "a", "3-1", "-1", "1-", "2147483648", "0-10000"])
def test_bad_indexes_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="--indexes"):
        parse_indexes(text)


def test_a_seed_file_is_hex_of_16_to_64_bytes(tmp_path: Path) -> None:
    path = tmp_path / "deposit.seed"
    path.write_text(SEED.hex() + "\n")
    path.chmod(0o600)
    assert read_seed(path) == SEED
    path.write_text("0x" + SEED.hex())
    assert read_seed(path) == SEED
    for bad, message in [("ab" * 15, "15 bytes"), ("ab" * 65, "65 bytes"), ("xyz", "not hex")]:
        path.write_text(bad)
        with pytest.raises(BadInput, match=message):
            read_seed(path)
    with pytest.raises(BadInput, match="cannot read"):
        read_seed(tmp_path / "missing")


def test_a_seed_file_others_can_read_is_warned_of(tmp_path: Path, capsys) -> None:
    path = tmp_path / "deposit.seed"
    path.write_text(SEED.hex())
    path.chmod(0o644)
    read_seed(path)
    assert "others can read" in capsys.readouterr().err


def test_a_gas_key_file_holds_one_secp256k1_key(tmp_path: Path) -> None:
    path = tmp_path / "gas.key"
    path.write_text("0x" + FUNDER_KEY)
    path.chmod(0o600)
    key = read_private_key(path)
    assert key.address == FUNDER
    assert FUNDER_KEY not in repr(key)
    order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    for bad in ("00" * 32, order, FUNDER_KEY[:-2], "zz"):
        path.write_text(bad)
        with pytest.raises(BadInput, match="gas key file"):
            read_private_key(path)


def test_deposit_keys_are_the_platforms_deposit_addresses() -> None:
    xpub, keys = deposit_keys(SEED, [0, 1, 3])
    assert xpub == deposit_xpub_from_seed(SEED)
    assert {i: k.address for i, k in keys.items()} == {i: ADDRESSES[i] for i in (0, 1, 3)}
    # A well-known wallet: hardhat's mnemonic gives its account #0 and that one's key.
    mnemonic = b"test test test test test test test test test test test junk"
    _, known = deposit_keys(hashlib.pbkdf2_hmac("sha512", mnemonic, b"mnemonic", 2048), [0])
    assert (known[0].address, known[0].secret.hex()) == (FUNDER, FUNDER_KEY)


# -- the runner on a fake chain -----------------------------------------------------------------


@dataclass
class Mined:
    status: int
    held: bool = False


class FakeSweepChain:
    """``SweepChain``: balances per address, a transaction mined as it is accepted (or held
    back), the sender recovered from each signature as a node does."""

    def __init__(self) -> None:
        self.chain = 31337
        self.base_fee, self.tip = 10 * GWEI, 1 * GWEI
        self.tokens: dict[str, int] = {}
        self.gas: dict[str, int] = {FUNDER: 10**18}
        self.nonces: dict[str, int] = {}
        self.pending: set[str] = set()
        self.estimate = 52_000
        self.used = 50_000  # gas a token transfer uses
        self.revert: set[str] = set()  # senders whose token transfer reverts
        self.refuse: set[str] = set()  # senders whose transaction the node refuses
        self.hold = False  # accept, never mine
        self.sent: list[dict[str, Any]] = []
        self.receipts: dict[str, Mined] = {}

    def chain_id(self) -> Any:
        return hex(self.chain)

    def latest_block(self) -> Any:
        return {"number": "0x10", "baseFeePerGas": hex(self.base_fee)}

    def nonce(self, address: str, tag: str) -> Any:
        mined = self.nonces.get(address, 0)
        return hex(mined + (tag == "pending" and address in self.pending))

    def gas_balance(self, address: str) -> Any:
        return hex(self.gas.get(address, 0))

    def token_balance(self, token: str, address: str) -> Any:
        assert token == TOKEN
        return f"0x{self.tokens.get(address, 0):064x}"

    def max_priority_fee(self) -> Any:
        return hex(self.tip)

    def estimate_gas(self, sender: str, to: str, data: str) -> Any:
        assert to == TOKEN
        assert data.startswith("0xa9059cbb")
        if sender in self.revert:
            raise ChainRpcError("eth_estimateGas: execution reverted")
        return hex(self.estimate)

    def receipt(self, tx_hash: str) -> Any:
        mined = self.receipts.get(tx_hash)
        if mined is None or mined.held:
            return None
        return {"transactionHash": tx_hash, "status": hex(mined.status)}

    def send_raw(self, raw_tx: str) -> Any:
        raw = bytes.fromhex(raw_tx.removeprefix("0x"))
        assert raw[0] == 2
        fields = rlp.decode(raw[1:])
        chain, nonce, tip, max_fee, gas_limit = (int.from_bytes(f, "big") for f in fields[:5])
        to, value, data = to_checksum("0x" + fields[5].hex()), int.from_bytes(fields[6]), fields[7]
        sender = Account.recover_transaction(raw)
        assert chain == self.chain
        if sender in self.refuse:
            raise ChainRpcError("eth_sendRawTransaction: refused")
        if nonce != self.nonces.get(sender, 0):
            raise ChainRpcError(f"eth_sendRawTransaction: nonce {nonce} is not the next")
        if self.gas.get(sender, 0) < gas_limit * max_fee + value:
            raise ChainRpcError("eth_sendRawTransaction: insufficient funds for gas * price")
        self.nonces[sender] = nonce + 1
        price = min(max_fee, self.base_fee + tip)
        status = 1
        if data:
            assert to == TOKEN
            assert data[:4] == bytes.fromhex("a9059cbb")
            recipient = to_checksum("0x" + data[16:36].hex())
            units = int.from_bytes(data[36:68], "big")
            self.gas[sender] -= self.used * price
            if sender in self.revert or self.tokens.get(sender, 0) < units:
                status = 0
            else:
                self.tokens[sender] -= units
                self.tokens[recipient] = self.tokens.get(recipient, 0) + units
            self.sent.append({"kind": "sweep", "from": sender, "to": recipient, "units": units})
        else:
            self.gas[sender] -= TOP_UP_GAS * price + value
            self.gas[to] = self.gas.get(to, 0) + value
            self.sent.append({"kind": "top-up", "from": sender, "to": to, "value": value})
        self.receipts[tx_hash(raw)] = Mined(status, held=self.hold)
        return tx_hash(raw)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    seed, key = tmp_path / "deposit.seed", tmp_path / "gas.key"
    seed.write_text(SEED.hex())
    key.write_text(FUNDER_KEY)
    for path in (seed, key):
        path.chmod(0o600)
    return {"seed": str(seed), "key": str(key)}


def _sweep(
    files: dict[str, str],
    *extra: str,
    chain: FakeSweepChain | None = None,
    **replace: str,
) -> int:
    """``xenblocks sweep`` with these files, the flags ``replace`` names (``to=…``) changed;
    on ``chain`` when given, else with no chain (bad input never reaches one)."""
    flags = {
        "seed_file": files["seed"],
        "to": HOT,
        "rpc_url": "http://node.invalid",
        "chain_id": "31337",
        "token": TOKEN,
        **replace,
    }
    argv = ["sweep"]
    for name, value in flags.items():
        argv += ["--" + name.replace("_", "-"), value]
    argv += extra
    if chain is None:
        return xenblocks(argv)
    return run(build_parser().parse_args(argv), connect=lambda url: chain)


def test_the_plan_sends_nothing(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[0]: 500 * 10**6, ADDRESSES[2]: 3}
    assert _sweep(files, "--count", "4", chain=fake) == 0
    out = capsys.readouterr().out
    assert fake.sent == []
    assert deposit_xpub_from_seed(SEED) in out
    assert f"{ADDRESSES[0]}  {500 * 10**6:>20}" in out
    assert out.count(str(Action.NEEDS_GAS)) == 2
    assert out.count(str(Action.BELOW_MINIMUM)) == 2
    assert "Nothing sent" in out


def test_apply_sweeps_each_address_that_has_its_gas(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[1]: 7 * 10**6, ADDRESSES[3]: 2 * 10**6}
    fake.gas = {ADDRESSES[1]: 10**17, ADDRESSES[3]: 10**17}
    assert _sweep(files, "--indexes", "0-3", "--apply", chain=fake) == 0
    assert fake.sent == [
        {"kind": "sweep", "from": ADDRESSES[1], "to": HOT, "units": 7 * 10**6},
        {"kind": "sweep", "from": ADDRESSES[3], "to": HOT, "units": 2 * 10**6},
    ]
    assert fake.tokens == {ADDRESSES[1]: 0, ADDRESSES[3]: 0, HOT: 9 * 10**6}
    out = capsys.readouterr().out
    assert "Swept 2, failed 0." in out
    assert f"--to {HOT}: {9 * 10**6}" in out


def test_apply_tops_up_gas_first_from_the_gas_key(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[0]: 500 * 10**6, ADDRESSES[1]: 1}
    fake.gas[ADDRESSES[1]] = 10**15
    fake.nonces[FUNDER] = 5
    assert _sweep(files, "--count", "2", "--gas-key-file", files["key"], "--apply", chain=fake) == 0
    # The sweep's gas: 52_000 estimated and a quarter, 65_000, at 21 gwei: 1_365_000 gwei;
    # the top-up is that less what the address has, and 10 % of it.
    assert fake.sent == [
        {"kind": "top-up", "from": FUNDER, "to": ADDRESSES[0], "value": 1_501_500 * GWEI},
        {"kind": "top-up", "from": FUNDER, "to": ADDRESSES[1], "value": 501_500 * GWEI},
        {"kind": "sweep", "from": ADDRESSES[0], "to": HOT, "units": 500 * 10**6},
        {"kind": "sweep", "from": ADDRESSES[1], "to": HOT, "units": 1},
    ]
    assert fake.nonces[FUNDER] == 7
    assert fake.tokens[HOT] == 500 * 10**6 + 1
    assert "Swept 2, failed 0." in capsys.readouterr().out


def test_apply_without_a_gas_key_leaves_addresses_lacking_gas(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[0]: 500 * 10**6}
    assert _sweep(files, "--count", "1", "--apply", chain=fake) == 1
    assert fake.sent == []
    assert str(Action.NEEDS_GAS) in capsys.readouterr().out


def test_a_reverted_or_refused_sweep_fails_and_the_others_go_on(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = dict.fromkeys(ADDRESSES[:3], 10**6)
    fake.gas = dict.fromkeys(ADDRESSES[:3], 10**17)
    fake.refuse, fake.revert = {ADDRESSES[0]}, set()
    # The estimate passes, then the transfer reverts when mined (the token paused between).
    original = fake.send_raw

    def send_then_revert(raw_tx: str) -> Any:
        fake.revert = {ADDRESSES[1]}
        try:
            return original(raw_tx)
        finally:
            fake.revert = set()

    fake.send_raw = send_then_revert  # type: ignore[method-assign]
    assert _sweep(files, "--count", "3", "--apply", chain=fake) == 1
    out = capsys.readouterr().out
    assert "Swept 1, failed 2." in out
    assert "#0: the node refused the sweep" in out
    assert "reverted" in out
    assert fake.tokens[HOT] == 10**6


def test_a_sweep_not_mined_in_time_fails(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens, fake.gas = {ADDRESSES[0]: 10**6}, {ADDRESSES[0]: 10**17}
    fake.hold = True
    assert _sweep(files, "--count", "1", "--timeout", "0.01", "--apply", chain=fake) == 1
    assert "not mined within 0.01 s" in capsys.readouterr().out


def test_pending_and_unestimated_addresses_are_left(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[0]: 10**6, ADDRESSES[1]: 10**6}
    fake.gas = {ADDRESSES[0]: 10**17, ADDRESSES[1]: 10**17}
    fake.pending, fake.revert = {ADDRESSES[0]}, {ADDRESSES[1]}
    assert _sweep(files, "--count", "2", "--apply", chain=fake) == 1
    out = capsys.readouterr().out
    assert fake.sent == []
    assert str(Action.PENDING) in out
    assert "execution reverted" in out


def test_a_failed_top_up_sends_no_sweep(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.tokens = {ADDRESSES[0]: 10**6}
    fake.hold = True
    argv = ["--count", "1", "--gas-key-file", files["key"], "--timeout", "0.01", "--apply"]
    assert _sweep(files, *argv, chain=fake) == 1
    assert [s["kind"] for s in fake.sent] == ["top-up"]
    assert "was not mined in time" in capsys.readouterr().out


def test_the_chain_must_be_the_one_named(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.chain = 1
    assert _sweep(files, "--count", "1", "--apply", chain=fake) == 2
    assert "on chain 1, not 31337" in capsys.readouterr().err


def test_a_chain_without_eip_1559_is_refused(files, capsys) -> None:
    fake = FakeSweepChain()
    fake.latest_block = lambda: {"number": "0x1"}  # type: ignore[method-assign]
    assert _sweep(files, "--count", "1", chain=fake) == 2
    assert "baseFeePerGas" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"to": ADDRESSES[2]}, "is deposit address #2, one being swept"),
        ({"to": ADDRESSES[3]}, "is deposit address #3: the sweep would be credited"),
        ({"to": TOKEN}, "token's contract"),
        ({"to": HOT[:-1]}, "--to is not an Ethereum address"),
        ({"to": HOT[:2] + HOT[2:].swapcase()}, "--to is not an Ethereum address"),
        ({"token": "0x1234"}, "--token is not an Ethereum address"),
        ({"seed_file": "/nonexistent/deposit.seed"}, "cannot read the seed file"),
        ({"gas_key_file": "/nonexistent/gas.key"}, "cannot read the gas key file"),
    ],
)
def test_bad_input_exits_2_before_any_chain(files, capsys, replace, message) -> None:
    assert _sweep(files, "--indexes", "0-2", **replace) == 2
    assert message in capsys.readouterr().err


def test_the_gas_key_may_not_be_a_deposit_address(files, tmp_path, capsys) -> None:
    _, keys = deposit_keys(SEED, [1])
    key = tmp_path / "child.key"
    key.write_text(keys[1].secret.hex())
    key.chmod(0o600)
    assert _sweep(files, "--count", "2", "--gas-key-file", str(key)) == 2
    assert "deposit address #1's" in capsys.readouterr().err


def test_indexes_or_count_is_required(files, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _sweep(files)
    assert exit_info.value.code == 2
    assert "--indexes" in capsys.readouterr().err


def test_the_waiter_stops_at_its_timeout() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    fake = FakeSweepChain()
    fake.receipts = {"0xaa": Mined(1), "0xbb": Mined(1, held=True)}
    waiter = Waiter(timeout=5, poll=2, sleep=sleep, clock=lambda: clock[0])
    assert waiter.statuses(fake, ["0xaa", "0xbb"]) == {"0xaa": 1}
    assert slept == [2, 2, 1]
    assert waiter.statuses(fake, ["0xaa"]) == {"0xaa": 1}
    assert slept == [2, 2, 1]  # all in: no wait
