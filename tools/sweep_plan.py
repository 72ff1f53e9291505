"""The sweep's plan (``xenblocks sweep``, ``tools/sweep.py``): the deposit addresses'
keys from the seed, what the chain holds on each, and which to sweep, top up or leave.
Reading the chain and planning only; nothing here sends."""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from coincurve import PrivateKey

from functions.logic.deposits import ChainDataError, ChainRpcError, parse_quantity, parse_uint256
from functions.logic.evm_tx import (
    SECP256K1_ORDER,
    TokenTransferTx,
    ValueTransferTx,
    transfer_call_data,
)
from functions.logic.hd_keys import (
    DEPOSIT_CHAIN_PATH,
    HARDENED,
    ExtendedPrivateKey,
    eth_address,
)
from protocol.addresses import to_checksum

# The sweep's gas limit: the node's estimate and a quarter more (as the payouts job's).
GAS_HEADROOM_PERCENT = 25
# A transfer of the chain's coin to an account without code.
TOP_UP_GAS = 21_000
# A top-up is the shortfall plus this much of the sweep's gas cost: some chains (L2s
# posting to L1) charge a data fee on top of gas × price.
DEFAULT_MARGIN_PERCENT = 10
MAX_INDEXES = 10_000
# ``--to`` may not be a deposit address up to this many past the highest index swept: the
# watcher would credit the sweep to that account as a deposit.
GUARD_INDEXES = 1_000


class BadInput(ValueError):
    """An input the sweep refuses (exit 2): nothing has been sent."""


class SweepChain(Protocol):
    """What the sweep asks of the node (``functions.ports.chain.Web3Chain`` answers)."""

    def chain_id(self) -> Any: ...  # eth_chainId
    def latest_block(self) -> Any: ...  # eth_getBlockByNumber("latest", false)
    def nonce(self, address: str, tag: str) -> Any: ...  # eth_getTransactionCount
    def gas_balance(self, address: str) -> Any: ...  # eth_getBalance
    def token_balance(self, token: str, address: str) -> Any: ...  # eth_call balanceOf
    def max_priority_fee(self) -> Any: ...  # eth_maxPriorityFeePerGas
    def estimate_gas(self, sender: str, to: str, data: str) -> Any: ...  # eth_estimateGas
    def receipt(self, tx_hash: str) -> Any: ...  # eth_getTransactionReceipt or None
    def send_raw(self, raw_tx: str) -> Any: ...  # eth_sendRawTransaction


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A secp256k1 key in this process's memory, and its address (never printed)."""

    address: str
    secret: bytes = field(repr=False)

    @classmethod
    def of(cls, secret: bytes) -> Key:
        return cls(eth_address(PrivateKey(secret).public_key.format()), secret)

    def sign(self, tx: TokenTransferTx | ValueTransferTx) -> bytes:
        """The raw signed transaction (RFC 6979, low s: libsecp256k1's)."""
        signature = PrivateKey(self.secret).sign_recoverable(tx.signing_hash(), hasher=None)
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        return tx.signed_raw(signature[64], r, s)


def deposit_keys(seed: bytes, indexes: Iterable[int]) -> tuple[str, dict[int, Key]]:
    """The deposit wallet's xpub (to compare with the stage's) and the keys of ``indexes``
    (child ``i`` of ``m/44'/60'/0'/0``: the addresses the platform gives out)."""
    account = ExtendedPrivateKey.from_seed(seed).derive(DEPOSIT_CHAIN_PATH)
    keys: dict[int, Key] = {}
    for index in indexes:
        child = account.child(index)
        keys[index] = Key(eth_address(child.public_key), child.secret)
    return account.neuter().serialize(), keys


def read_seed(path: Path) -> bytes:
    """A seed file: hex (``0x`` optional) of 16 to 64 bytes, as ``xenblocks local`` keeps."""
    data = _read_hex(path, "seed file")
    if not 16 <= len(data) <= 64:
        raise BadInput(f"the seed file {path} holds {len(data)} bytes; a BIP32 seed is 16-64")
    return data


def read_private_key(path: Path) -> Key:
    """A private key file: 32 bytes in hex (``0x`` optional), a valid secp256k1 scalar."""
    data = _read_hex(path, "gas key file")
    if len(data) != 32 or not 0 < int.from_bytes(data, "big") < SECP256K1_ORDER:
        raise BadInput(f"the gas key file {path} does not hold a secp256k1 private key")
    return Key.of(data)


def _read_hex(path: Path, what: str) -> bytes:
    try:
        text = path.read_text().strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"cannot read the {what} {path}: {error}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"xenblocks sweep: warning: others can read the {what} {path}", file=sys.stderr)
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise BadInput(f"the {what} {path} is not hex") from None


def parse_indexes(text: str) -> list[int]:
    """``0-99``, ``7`` or ``0-9,12,20-24``: the account numbers, sorted, each once."""
    found: set[int] = set()
    for part in text.split(","):
        matched = re.fullmatch(r"\s*([0-9]{1,10})(?:-([0-9]{1,10}))?\s*", part)
        if matched is None:
            raise BadInput(f"--indexes: {part!r} is not N or N-M")
        low, high = int(matched[1]), int(matched[2] or matched[1])
        if not 0 <= low <= high < HARDENED:
            raise BadInput(f"--indexes: {part!r} is not within 0-{HARDENED - 1}, low to high")
        if high - low + 1 + len(found) > MAX_INDEXES:
            raise BadInput(f"--indexes: at most {MAX_INDEXES} addresses a run")
        found.update(range(low, high + 1))
    return sorted(found)


def checksum_address(what: str, text: str) -> str:
    try:
        return to_checksum(text)
    except (ValueError, TypeError) as error:
        raise BadInput(f"{what} is not an Ethereum address: {error}") from error


# -- what the chain holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Fees:
    base_fee: int
    tip: int

    @property
    def max_fee(self) -> int:
        """What a transaction offers per gas: twice the base fee (six full blocks of
        rises) plus the tip."""
        return 2 * self.base_fee + self.tip


@dataclass(frozen=True)
class Holding:
    """One deposit address as the chain has it."""

    index: int
    address: str
    units: int  # the token's smallest units
    gas_wei: int  # the chain's coin
    nonce: int = 0  # its transactions mined (read only for an address worth sweeping)
    pending: bool = False  # the node holds an unmined transaction of it
    gas_limit: int | None = None  # the sweep's (None: not asked, or the estimate failed)
    estimate_error: str | None = None


def market_fees(chain: SweepChain) -> Fees:
    latest = chain.latest_block()
    if not isinstance(latest, dict) or latest.get("baseFeePerGas") is None:
        raise ChainDataError("the latest block has no baseFeePerGas: not an EIP-1559 chain")
    return Fees(
        parse_quantity(latest["baseFeePerGas"], "baseFeePerGas"),
        parse_quantity(chain.max_priority_fee(), "eth_maxPriorityFeePerGas"),
    )


def token_units(chain: SweepChain, token: str, address: str) -> int:
    answer = chain.token_balance(token, address)
    if not isinstance(answer, str) or len(answer) != 66 or not answer.startswith("0x"):
        raise ChainDataError(f"balanceOf({address}): not one 32-byte word: {str(answer)[:80]!r}")
    try:
        return int(answer, 16)
    except ValueError:
        raise ChainDataError(f"balanceOf({address}): not hex") from None


def survey(
    chain: SweepChain, token: str, to: str, keys: dict[int, Key], *, min_units: int
) -> list[Holding]:
    """Each address's balances; for one worth sweeping, also its nonces and the sweep's
    gas (estimated with the address as the sender, as it will be)."""
    holdings: list[Holding] = []
    for index, key in sorted(keys.items()):
        units = token_units(chain, token, key.address)
        gas = parse_uint256(chain.gas_balance(key.address), "eth_getBalance")
        if units < min_units:
            holdings.append(Holding(index, key.address, units, gas))
            continue
        mined = parse_quantity(chain.nonce(key.address, "latest"), "eth_getTransactionCount")
        pending = parse_quantity(chain.nonce(key.address, "pending"), "eth_getTransactionCount")
        call = "0x" + transfer_call_data(to, units).hex()
        try:
            estimate = parse_quantity(chain.estimate_gas(key.address, token, call), "gas")
        except ChainRpcError as error:
            holdings.append(
                Holding(index, key.address, units, gas, mined, pending > mined, None, str(error))
            )
            continue
        limit = -(-estimate * (100 + GAS_HEADROOM_PERCENT) // 100)
        holdings.append(Holding(index, key.address, units, gas, mined, pending > mined, limit))
    return holdings


# -- the plan (pure) ---------------------------------------------------------------------------


class Action(StrEnum):
    SWEEP = "sweep"
    TOP_UP = "top up gas, then sweep"
    NEEDS_GAS = "left: needs gas (no --gas-key-file)"
    FUNDER_SHORT = "left: needs gas (the gas key's account has too little)"
    NO_ESTIMATE = "left: the gas estimate failed (would the transfer revert?)"
    PENDING = "left: a transaction of it is pending (run again once it is mined)"
    BELOW_MINIMUM = "nothing to sweep"


@dataclass(frozen=True)
class Step:
    holding: Holding
    action: Action
    gas_needed: int = 0  # wei the node wants the address to hold: gas limit × max fee
    top_up: int = 0  # wei the gas key's account sends it first

    @property
    def sweeps(self) -> bool:
        return self.action in (Action.SWEEP, Action.TOP_UP)

    @property
    def left(self) -> bool:
        """Worth sweeping, but the plan cannot."""
        return not self.sweeps and self.action is not Action.BELOW_MINIMUM


def plan_sweep(
    holdings: Sequence[Holding],
    fees: Fees,
    *,
    min_units: int,
    funder_balance: int | None,
    margin_percent: int = DEFAULT_MARGIN_PERCENT,
) -> list[Step]:
    """What to do with each address. A sweep needs the address to hold ``gas limit × max
    fee`` (what a node checks before taking the transaction); an address short of it is
    topped up from the funder (``funder_balance``: None without a gas key) while the
    funder can pay the top-ups and their own gas, in index order."""
    steps: list[Step] = []
    left = funder_balance
    for holding in holdings:
        if holding.units < min_units:
            steps.append(Step(holding, Action.BELOW_MINIMUM))
            continue
        if holding.pending:
            steps.append(Step(holding, Action.PENDING))
            continue
        if holding.gas_limit is None:
            steps.append(Step(holding, Action.NO_ESTIMATE))
            continue
        needed = holding.gas_limit * fees.max_fee
        if holding.gas_wei >= needed:
            steps.append(Step(holding, Action.SWEEP, needed))
            continue
        top_up = needed - holding.gas_wei + -(-needed * margin_percent // 100)
        if left is None:
            steps.append(Step(holding, Action.NEEDS_GAS, needed, top_up))
        elif left >= top_up + TOP_UP_GAS * fees.max_fee:
            left -= top_up + TOP_UP_GAS * fees.max_fee
            steps.append(Step(holding, Action.TOP_UP, needed, top_up))
        else:
            steps.append(Step(holding, Action.FUNDER_SHORT, needed, top_up))
    return steps
